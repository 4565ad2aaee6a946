"""The engine loop (capture -> stylize -> sinks, newest frame only) and the sink threads.

With ``parallel`` above 1 the loop keeps that many frames in flight, each stylized on its own thread
(one core each, as files do): a small network's layers are too short to keep two threads busy, so
two frames at once give about twice the frames of one frame on two threads, for about one frame's
more latency. The governor then affords a larger size for G at the same target rate (1280x720 at
30 fps on 2 cores: 384x216 against 320x180; BENCHMARKS.md, "Live: two frames in flight").
Frames still reach the sinks in order, and the stabiliser still blends each frame with the previous
output, in frame order (``runtime.pipeline.Turns``).
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for_futures
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stylecast.errors import StylecastError
from stylecast.runtime.live.controls import LiveControls
from stylecast.runtime.live.governor import ResolutionGovernor
from stylecast.runtime.live.stats import LiveStats

if TYPE_CHECKING:
    import numpy as np

    from stylecast.runtime.live.frames import CapturedFrame
    from stylecast.runtime.live.sinks import Sink, WindowSink
    from stylecast.runtime.live.sources import LiveSource
    from stylecast.stylizer import Stylizer

STALL_TIMEOUT = 20.0  # no frame and no reconnect attempt for this long: the source hangs in its driver
#: How long the loop waits for a frame while others are in flight: the oldest one's delivery waits no
#: longer than this.
IN_FLIGHT_POLL = 0.005


@dataclass
class _InFlight:
    frame: CapturedFrame
    work_size: tuple[int, int]
    started: float
    result: Future[np.ndarray]


# Sinks in their own threads


class SinkWorker:
    """Runs one sink in its own thread, fed the newest frame: a slow sink drops frames, it never delays
    the engine or the other sinks. The first error stops this sink and is kept for the pipeline."""

    def __init__(self, sink: Sink, stats: LiveStats, join_timeout: float = 8.0) -> None:
        from stylecast.runtime.live.frames import Mailbox

        self.sink = sink
        self.stats = stats
        self.error: BaseException | None = None
        self.close_error: BaseException | None = None
        self.join_timeout = join_timeout  # above an RTMP write's own 5 s timeout
        self._mailbox: Mailbox[tuple[np.ndarray, float]] = Mailbox()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"stylecast-sink {sink.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def offer(self, image: np.ndarray, captured_at: float) -> None:
        if self._mailbox.put((image, captured_at)):
            self.stats.set_sink_dropped(self.sink.name, self._mailbox.replaced)

    def _run(self) -> None:
        while True:
            item = self._mailbox.take(timeout=0.2)
            if item is None:
                if self._stopping.is_set():
                    return
                continue
            image, captured_at = item
            try:
                self.sink.write(image, captured_at)
            except BaseException as error:  # noqa: BLE001 - handed to the pipeline, raised in the main thread
                self.error = error
                return
            now = time.monotonic()
            self.stats.frame_delivered(self.sink.name, now - captured_at, now)

    def close(self) -> None:
        """Deliver the frame still waiting, stop the thread, close the sink; never raises.

        The sink is closed as a success (a file kept, a stream ended properly) unless it failed
        itself; an error while closing is kept in :attr:`close_error`.
        """
        self._stopping.set()
        self._mailbox.close()
        if self._thread.is_alive():
            self._thread.join(self.join_timeout)
        if self._thread.is_alive():
            return  # stuck in a write past its own timeout: closing under it could crash; process exit frees it
        try:
            self.sink.close(success=self.error is None)
        except Exception as error:  # noqa: BLE001 - reported after the other sinks are closed too
            self.close_error = error


# --------------------------------------------------------------------------------------------------
# The engine loop


class LivePipeline:
    """The engine stage: newest frame in, stylized frame out to every sink, until told to stop.

    Args:
        stylizer: the engine (ONNX Runtime).
        source: a started source.
        workers: threaded sinks; ``windows``: sinks drawn from this (the main) thread.
        controls: shared settings; ``governor``: the working size; ``stats``: counters.
        output_size: ``(width, height)`` of every frame the sinks get.
        stop: set from anywhere (a signal, a test) to end the run cleanly.
        duration: stop after this many seconds (``None``: run until stopped or the source ends).
        report: called with a stats snapshot every ``stats_interval`` seconds.
        parallel: frames stylized at once, each on its own thread (see the module docs).
    """

    def __init__(self, stylizer: Stylizer, source: LiveSource, workers: Sequence[SinkWorker],
                 windows: Sequence[WindowSink], controls: LiveControls, governor: ResolutionGovernor,
                 stats: LiveStats, output_size: tuple[int, int], stop: threading.Event,
                 duration: float | None = None, stats_interval: float = 1.0,
                 report: Callable[[dict[str, Any]], None] | None = None, parallel: int = 1) -> None:
        self.stylizer, self.source, self.workers, self.windows = stylizer, source, workers, windows
        self.controls, self.governor, self.stats = controls, governor, stats
        self.output_size = output_size
        self.stop = stop
        self.duration = duration
        self.stats_interval = stats_interval
        self.report = report
        from stylecast.runtime.pipeline import Turns  # the file pipeline's: frames' turns in order
        from stylecast.runtime.stabilize import FlowStabilizer

        self.stabilizer = FlowStabilizer()
        self.show_help = False
        self.error: BaseException | None = None
        self.parallel = max(1, parallel)
        self._turns = Turns()
        self._in_flight: collections.deque[_InFlight] = collections.deque()
        self._submitted = 0
        self._pool: ThreadPoolExecutor | None = None

    def run(self, first: CapturedFrame | None = None) -> str:
        """Process frames until stopped; the reason it stopped (``error`` holds a failure, if any)."""
        if self.parallel > 1:
            self._pool = ThreadPoolExecutor(self.parallel, thread_name_prefix="stylecast-live")
        try:
            return self._loop(first)
        finally:
            for item in self._in_flight:  # frames still being stylized are dropped, not delivered
                item.result.cancel()
            if self._pool is not None:
                self._pool.shutdown(wait=True)
            self._in_flight.clear()

    def _loop(self, first: CapturedFrame | None) -> str:
        from stylecast.runtime.live.control import handle_key
        started = time.monotonic()
        next_report = started + self.stats_interval
        next_overlay = started
        pending = first
        while True:
            now = time.monotonic()
            reason = self._should_stop(now, started)
            if reason is not None:
                return reason
            for window in self.windows:
                for key in window.poll():
                    action = handle_key(key, self.controls)
                    if action == "quit":
                        self.stop.set()
                    elif action == "overlay":
                        window.show_overlay = not window.show_overlay
                    elif action == "help":
                        self.show_help = not self.show_help
            self._deliver_ready()
            if len(self._in_flight) >= self.parallel:
                wait_for_futures([self._in_flight[0].result], timeout=0.02)
                continue
            if pending is not None:
                frame: CapturedFrame | None = pending
            else:
                timeout = IN_FLIGHT_POLL if self._in_flight else 0.02 if self.windows else 0.1
                frame = self.source.read(timeout=timeout)
            pending = None
            now = time.monotonic()
            if self.windows and now >= next_overlay:
                self._update_overlay(now)
                next_overlay = now + 0.25
            if self.report is not None and now >= next_report:
                self.report(self.stats.snapshot(now))
                next_report = now + self.stats_interval
            if frame is None:
                if self.source.finished and not self._in_flight:
                    if self.source.error is not None:
                        self.error = self.source.error
                        return "source lost"
                    return "source ended"
                continue
            self._submit(frame)
            self._deliver_ready()  # one frame at a time: it is done already

    def _should_stop(self, now: float, started: float) -> str | None:
        if self.stop.is_set():
            return "stopped"
        if self.duration is not None and now - started >= self.duration:
            return "duration"
        for worker in self.workers:
            if worker.error is not None:
                error = worker.error
                from stylecast.runtime.live.sinks import SinkError

                self.error = error if isinstance(error, StylecastError) else SinkError(
                    f"the {worker.sink.name} sink failed ({type(error).__name__}: {error}): check where it writes "
                    "to, or leave it out")
                return "sink failed"
        if self.source.stalled(STALL_TIMEOUT):
            self.error = StylecastError(
                f"{self.source.description} sent nothing for {STALL_TIMEOUT:.0f} s and its driver does not answer: "
                "check the device or the sender, then run again")
            return "source stalled"
        return None

    def _submit(self, frame: CapturedFrame) -> None:
        """Start stylizing ``frame``: on a worker thread, or here when frames go one at a time."""
        started = time.monotonic()
        index, self._submitted = self._submitted, self._submitted + 1  # consecutive, for the turns
        work_size = self.governor.size
        job: Future[np.ndarray]
        if self._pool is None:
            job = Future()
            job.set_result(self._stylize(frame, index, work_size, started))
        else:
            job = self._pool.submit(self._stylize, frame, index, work_size, started)
        self._in_flight.append(_InFlight(frame, work_size, started, job))

    def _stylize(self, frame: CapturedFrame, index: int, work_size: tuple[int, int], started: float) -> np.ndarray:
        from stylecast.runtime.live.frames import fit_cover

        settings = self.controls.settings(started)
        width, height = self.output_size
        image = frame.image
        if image.shape[:2] != (height, width):
            image = fit_cover(image, width, height)  # a camera that ignored the size it was asked for

        def settle(small: np.ndarray, stylized: np.ndarray) -> np.ndarray:
            # In frame order, whichever thread holds each frame: the blend needs the previous output.
            def step() -> np.ndarray:
                if not settings.stabilize:
                    self.stabilizer.reset()
                    return stylized
                # The stabiliser runs at the size G runs at (it starts afresh when that size changes).
                result: np.ndarray = self.stabilizer(small, stylized)
                return result
            return self._turns.take(index, step)

        try:
            # The governor picks the size G runs at; below the output size the stylizer's fast path
            # brings G's picture back to the output size with the frame's own fine detail
            # (runtime/upscale.py).
            return self.stylizer.stylize(image, settings.code, settings.strength, settings.preserve_color,
                                         settle=settle, work_size=work_size)
        finally:
            self._turns.end(index)

    def _deliver_ready(self) -> None:
        """Hand the frames that are done to the sinks, oldest first, up to the first still in flight."""
        while self._in_flight and self._in_flight[0].result.done():
            self._deliver(self._in_flight.popleft())

    def _deliver(self, item: _InFlight) -> None:
        out = item.result.result()  # a worker's error is raised here, in the engine loop's thread
        frame = item.frame
        for worker in self.workers:
            worker.offer(out, frame.captured_at)
        for window in self.windows:
            window.write(out, frame.captured_at)
            done = time.monotonic()
            self.stats.frame_delivered(window.name, done - frame.captured_at, done)
        now = time.monotonic()
        seconds = now - item.started
        self.stats.frame_processed(seconds, item.work_size, now)
        # With frames in flight together, one finishes every ``seconds / parallel`` on average.
        self.governor.observe(seconds / self.parallel, now)

    def _update_overlay(self, now: float) -> None:
        from stylecast.runtime.live.control import KEY_HELP

        state = self.controls.state()
        stats = self.stats.snapshot(now)
        latency = stats["latency_ms"]
        colour = "kept" if state["preserve_color"] else "styled"
        lines = [
            f"{state['style']}   strength {state['strength']:.1f}"
            + (f"   knob {state['knob']:.1f}" if state.get("knob") is not None else "") + f"   colour {colour}"
            f"   stabilise {'on' if state['stabilize'] else 'off'}",
            f"in {stats['fps_in']:.1f} fps   out {stats['fps_out']:.1f} fps   dropped {stats['dropped']}",
            f"latency p50 {format_ms(latency['p50'])}  p95 {format_ms(latency['p95'])}"
            f"   working at {stats['processing_size']}",
        ]
        if self.show_help:
            lines += [f"{keys:<10} {action}" for keys, action in KEY_HELP]
        for window in self.windows:
            window.overlay = lines


def format_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


