"""A live run: its options (``LiveOptions``, filled by ``cli/live.py``), signals, reporting, and ``run``."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stylecast.argtypes import frame_size
from stylecast.errors import InputError
from stylecast.runtime.live.controls import LiveControls
from stylecast.runtime.live.governor import ResolutionGovernor, even_side
from stylecast.runtime.live.pipeline import LivePipeline, SinkWorker, format_ms
from stylecast.runtime.live.stats import LiveStats
from stylecast.runtime.pipeline import plan_workers
from stylecast.runtime.upscale import single_threaded_opencv

# numpy, OpenCV, FFmpeg and ONNX Runtime load where first used: parsing `live` must stay cheap.
if TYPE_CHECKING:
    from stylecast.runtime.live.frames import CapturedFrame
    from stylecast.runtime.live.sinks import Sink, WindowSink
    from stylecast.runtime.live.sources import LiveSource
    from stylecast.stylizer import Stylizer

FIRST_FRAME_TIMEOUT = 15.0  # a stream's open timeout plus its first keyframe


@dataclass(frozen=True)
class LiveOptions:
    """What a live run is asked to do (``stylecast live --help`` explains each; the CLI validates
    numbers and choices before they get here, ``run`` checks how they combine).

    Attributes:
        source: camera index or device, stream URL or video file.
        sinks: sink specs (``window``, a video file, ``rtmp://``, ``mjpeg://HOST:PORT``, ``virtualcam``,
            ``null``).
        size: output ``"WxH"``, or ``None`` for the source's size.
        style, strength, knob, preserve_color, stabilize: the look at the start (all change live).
        target_fps: lower the working size when behind this rate (``None``: always full size).
        control: ``[HOST:]PORT`` for ``GET``/``POST /state``, or ``None``.
        duration: stop after this many seconds (``None``: until stopped or the end of a file).
        model, backend, precision, threads, compile, working_size: the engine (see ``Stylizer``).
        workers: frames stylized at once, each on its own share of the threads (``None``: two with
            ONNX Runtime on two or more cores, else one; one gives the lowest latency).
        json: stats as JSON lines on stdout instead of a status line.
    """

    source: str
    sinks: Sequence[str] = field(default_factory=lambda: ["window"])
    size: str | None = None
    style: str | None = None
    strength: float = 1.0
    knob: float | None = None
    preserve_color: bool = False
    stabilize: bool = False
    target_fps: float | None = None
    loop: bool = False
    control: str | None = None
    reconnect: int = 3
    duration: float | None = None
    stats_interval: float = 1.0
    model: str | None = None
    backend: str = "onnx"
    precision: str = "fp32"
    threads: int | None = None
    compile: bool = False
    working_size: int | str = "auto"
    workers: int | None = None
    json: bool = False


# Command line


#: Frames in flight at most when ``--workers`` is not given: each more adds a frame's latency.
LIVE_WORKERS = 2


def live_workers(backend: str, threads: int | None, workers: int | None) -> tuple[int, int]:
    """``(frames in flight, threads per frame)`` for ``live``: as files split them (``plan_workers``),
    but at most :data:`LIVE_WORKERS` frames unless ``workers`` asks for more."""
    total = threads or os.cpu_count() or 1
    if workers is None:
        workers = min(LIVE_WORKERS, total) if backend == "onnx" else 1
    return plan_workers(backend, threads, workers, parallel_jobs=True)


def parse_size(text: str) -> tuple[int, int]:
    """``"640x480"`` -> ``(640, 480)``, each side even (what H.264 and the streaming sinks need)."""
    return frame_size(text, "--size")


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Ctrl-C and SIGTERM set ``stop`` (a clean end); a second Ctrl-C raises KeyboardInterrupt at once.

    Signal handlers can only be set from the main thread; elsewhere (an embedding program) the caller
    owns the signals and stops the run through ``stop``.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: Any) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _Reporter:
    """Stats lines: JSON on stdout with ``--json``, else one status line on stderr."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.tty = sys.stderr.isatty()
        self._last_text = 0.0

    def event(self, data: dict[str, Any]) -> None:
        if self.as_json:
            print(json.dumps(data), flush=True)

    def __call__(self, snapshot: dict[str, Any]) -> None:
        if self.as_json:
            self.event({"event": "stats", **snapshot})
            return
        now = time.monotonic()
        if not self.tty and now - self._last_text < 5.0:
            return  # a log file gets a line every 5 s, not a screenful
        self._last_text = now
        latency = snapshot["latency_ms"]
        line = (f"in {snapshot['fps_in']:.1f} fps | out {snapshot['fps_out']:.1f} fps | dropped {snapshot['dropped']}"
                f" | latency p50 {format_ms(latency['p50'])} p95 {format_ms(latency['p95'])}"
                f" | {snapshot['processing_size']}")
        sys.stderr.write(line.ljust(78) + ("\r" if self.tty else "\n"))
        sys.stderr.flush()


# Longer than 60 lines on purpose: one ExitStack owns the source, every sink, its thread and the control
# server, so the order in which they open and close is read in one place.
def run(args: LiveOptions, *, stop: threading.Event | None = None, stylizer: Stylizer | None = None) -> int:
    """Run ``stylecast live`` until stopped; 0 after a clean stop or the end of a file.

    Args:
        args: what to run.
        stop: set it (from another thread) to end the run cleanly; one is made if not given.
        stylizer: an engine to use instead of loading ``args.model`` (embedding, tests).

    Raises:
        StylecastError: bad arguments (before anything opens), or a lost source or failed sink (after
            every sink was closed properly).
    """
    from stylecast.runtime.live.control import ControlServer
    from stylecast.runtime.live.sinks import WindowSink
    from stylecast.runtime.live.sources import open_source
    from stylecast.stylizer import Stylizer

    stop = stop or threading.Event()
    size = parse_size(args.size) if args.size else None
    sinks = _checked_sinks(args)  # every argument is checked before anything opens
    source = open_source(args.source, size, loop=args.loop, reconnect=args.reconnect)
    if stylizer is None:
        parallel, threads = live_workers(args.backend, args.threads, args.workers)
        stylizer = Stylizer(args.model, args.backend, args.precision, threads, args.compile, args.working_size,
                            workers=parallel)
    else:  # an engine made by the caller, with its own threads
        parallel = args.workers or 1
    if parallel > 1:  # a frame per core already: OpenCV's own threads in the upscale only cost CPU
        single_threaded_opencv()
    controls = LiveControls(stylizer, args.style or stylizer.styles[0], args.strength, args.preserve_color,
                            args.stabilize, knob=args.knob)
    reporter = _Reporter(args.json)
    stats = LiveStats(source)
    error: BaseException | None = None
    with _stop_on_signals(stop):
        with contextlib.ExitStack() as stack:
            stack.enter_context(source)
            first = _first_frame(source, stop)
            if first is None:
                if source.error is not None:
                    raise source.error
                return 0  # stopped before anything arrived
            output_size = size or (even_side(first.image.shape[1]), even_side(first.image.shape[0]))
            if args.compile:
                _compile_before_the_stream(stylizer, controls, output_size, args.json)
                first = source.read(timeout=0.5) or first  # frames that arrived meanwhile were dropped
            # G's default size for this output (auto: timed once here, before the stream's first frame).
            work_size = stylizer.work_size_for(*output_size, controls.settings(time.monotonic()).code)
            workers: list[SinkWorker] = []
            windows: list[WindowSink] = []
            for sink in sinks:
                sink.open(*output_size, source.nominal_fps)
                if isinstance(sink, WindowSink):
                    windows.append(sink)
                    stack.callback(sink.close)
                else:
                    worker = SinkWorker(sink, stats)
                    stack.callback(worker.close)
                    worker.start()
                    workers.append(worker)
            server = None
            if args.control:
                server = stack.enter_context(ControlServer(args.control, controls, stats.snapshot))
            reporter.event({"event": "start", "source": source.description,
                            "sinks": [sink.describe() for sink in sinks],
                            "control": server.url if server else None,
                            "size": f"{output_size[0]}x{output_size[1]}", "engine": stylizer.engine.name})
            if not args.json:
                where = ", ".join(sink.describe() for sink in sinks)
                control = f" | controls: {server.url}" if server else ""
                print(f"stylecast live: {source.description} -> {where}{control} | Ctrl-C stops", file=sys.stderr)
            pipeline = LivePipeline(stylizer, source, workers, windows, controls,
                                    ResolutionGovernor(*work_size, args.target_fps), stats, output_size, stop,
                                    args.duration, args.stats_interval, reporter, parallel=parallel)
            reason = pipeline.run(first)
            error = pipeline.error
        # Everything is closed here: files are renamed into place, streams ended, devices released.
        closing = next((worker.close_error for worker in workers if worker.close_error is not None), None)
        if error is None and closing is not None:
            error, reason = closing, "sink failed"
        summary = {"event": "end", "reason": reason, **stats.summary(), **controls.state()}
    if args.json:
        reporter.event(summary)
    else:
        if reporter.tty:
            sys.stderr.write("\n")
        latency = summary["latency_ms"]
        print(f"stylecast live: {reason}: {summary['frames_in']} frames in, {summary['frames_out']} stylized, "
              f"{summary['dropped']} dropped; latency p50 {format_ms(latency['p50'])}, p95 {format_ms(latency['p95'])}")
    if error is not None:
        raise error
    return 0


def _checked_sinks(args: LiveOptions) -> list[Sink]:
    """The sinks of ``args`` (unopened), after every argument that could refuse the run was checked."""
    from stylecast.runtime.live.sinks import WindowSink, parse_sink

    if args.stats_interval <= 0:
        raise InputError(f"--stats-interval {args.stats_interval} must be positive")
    if args.duration is not None and args.duration <= 0:
        raise InputError(f"--duration {args.duration} must be a positive number of seconds")
    if args.compile and args.target_fps:
        raise InputError("--compile builds G for one frame size, and --target-fps changes the size as it goes: "
                         "use one of them (fix the size with --size)")
    sinks = [parse_sink(spec) for spec in args.sinks]
    for index, sink in enumerate(sinks):
        if any(other.name == sink.name for other in sinks[:index]):
            sink.name = f"{sink.name} #{index + 1}"  # stats are kept by name
    if sum(isinstance(sink, WindowSink) for sink in sinks) > 1:
        raise InputError("--sink window is given twice: one window shows the stream")
    return sinks


def _compile_before_the_stream(stylizer: Stylizer, controls: LiveControls, output_size: tuple[int, int],
                               quiet: bool) -> None:
    """Compile G now, not on a live frame: a 30 s stall mid-stream would read as a hang."""
    import numpy as np

    if not quiet:
        print(f"stylecast live: compiling G for {output_size[0]}x{output_size[1]} (once, ~30 s)", file=sys.stderr)
    stylizer.stylize(np.zeros((output_size[1], output_size[0], 3), np.uint8),
                     controls.settings(time.monotonic()).code)


def _first_frame(source: LiveSource, stop: threading.Event) -> CapturedFrame | None:
    """The first frame (it tells the output size), or None if the source ended or ``stop`` was set."""
    deadline = time.monotonic() + FIRST_FRAME_TIMEOUT
    while not stop.is_set() and time.monotonic() < deadline:
        frame = source.read(timeout=0.1)
        if frame is not None:
            return frame
        if source.finished:
            if source.error is None:
                raise InputError(f"{source.description} ended before its first frame: check it plays")
            return None
    if stop.is_set():
        return None
    raise InputError(f"{source.description} sent no frame in {FIRST_FRAME_TIMEOUT:.0f} s: check that it is running")
