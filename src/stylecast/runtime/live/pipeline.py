"""The engine loop (capture -> stylize -> sinks, newest frame only) and the sink threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
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
    """

    def __init__(self, stylizer: Stylizer, source: LiveSource, workers: Sequence[SinkWorker],
                 windows: Sequence[WindowSink], controls: LiveControls, governor: ResolutionGovernor,
                 stats: LiveStats, output_size: tuple[int, int], stop: threading.Event,
                 duration: float | None = None, stats_interval: float = 1.0,
                 report: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.stylizer, self.source, self.workers, self.windows = stylizer, source, workers, windows
        self.controls, self.governor, self.stats = controls, governor, stats
        self.output_size = output_size
        self.stop = stop
        self.duration = duration
        self.stats_interval = stats_interval
        self.report = report
        from stylecast.runtime.stabilize import FlowStabilizer

        self.stabilizer = FlowStabilizer()
        self.show_help = False
        self.error: BaseException | None = None

    def run(self, first: CapturedFrame | None = None) -> str:
        """Process frames until stopped; the reason it stopped (``error`` holds a failure, if any)."""
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
            frame = pending if pending is not None else self.source.read(timeout=0.02 if self.windows else 0.1)
            pending = None
            now = time.monotonic()
            if self.windows and now >= next_overlay:
                self._update_overlay(now)
                next_overlay = now + 0.25
            if self.report is not None and now >= next_report:
                self.report(self.stats.snapshot(now))
                next_report = now + self.stats_interval
            if frame is None:
                if self.source.finished:
                    if self.source.error is not None:
                        self.error = self.source.error
                        return "source lost"
                    return "source ended"
                continue
            self._process(frame)

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

    def _process(self, frame: CapturedFrame) -> None:
        from stylecast.runtime.live.frames import fit_cover

        started = time.monotonic()
        settings = self.controls.settings(started)
        width, height = self.output_size
        image = frame.image
        if image.shape[:2] != (height, width):
            image = fit_cover(image, width, height)  # a camera that ignored the size it was asked for
        # The governor picks the size G runs at; below the output size the stylizer's fast path brings
        # G's picture back to the output size with the frame's own fine detail (runtime/upscale.py).
        work_size = self.governor.size
        if not settings.stabilize:
            self.stabilizer.reset()
        # The stabiliser runs at the size G runs at (it starts afresh by itself when that size changes).
        out = self.stylizer.stylize(image, settings.code, settings.strength, settings.preserve_color,
                                    settle=self.stabilizer if settings.stabilize else None, work_size=work_size)
        for worker in self.workers:
            worker.offer(out, frame.captured_at)
        for window in self.windows:
            window.write(out, frame.captured_at)
            done = time.monotonic()
            self.stats.frame_delivered(window.name, done - frame.captured_at, done)
        now = time.monotonic()
        self.stats.frame_processed(now - started, work_size, now)
        self.governor.observe(now - started, now)

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


