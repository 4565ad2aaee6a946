"""``stylecast live``: real-time stylization from a camera, stream or file to windows, files and streams.

The pipeline::

    capture thread ──(newest frame only)──> engine (main thread) ──(newest frame only)──> one thread per sink
    (sources.py)                            scale, stylize, stabilise,                    (sinks.py; the window
                                            scale back, window                            is drawn by the engine)

Decisions a user (and the next developer) should know:

- **Drop, never queue.** Between capture and engine, and between engine and each sink, sits a one-slot
  mailbox that keeps the newest frame. When stylizing is slower than the source, frames are dropped
  and counted (``dropped``; ``sink_dropped`` per slow sink) instead of piling up, so the latency from
  capture to sink stays about one frame time of the slowest stage, however long the run.
- **``--target-fps``.** The engine works on a scaled copy of the frame, picked from a ladder of sizes
  (100 %, 85 %, 70 % ... 25 % of the output size, never under 64 px a side) and scaled back for the
  sinks, whose size never changes. When the measured time per frame exceeds the budget (1/F) the size
  drops straight to the largest rung predicted to fit; when the next rung up is predicted to take
  under 80 % of the budget it goes up one rung. A rung that proved too slow is not retried for 10 s,
  so the size does not oscillate. Without ``--target-fps`` the full size is always used.
- **Live controls.** Keys in the window (``stylecast.runtime.control.KEY_HELP``) and an HTTP endpoint
  (``--control``: ``GET``/``POST /state``). A style change crossfades the style code over 0.5 s
  (smoothstep), starting from wherever a running fade had got to, so the picture never jumps.
- **Latency** is glass-to-glass as far as this process sees it: from the moment a frame leaves the
  decoder or camera driver (``time.monotonic()``) to the moment its sink write returns.
- **Lifecycle.** Ctrl-C, SIGTERM, ``q`` in the window, closing the window, ``--duration`` and the end
  of a file all stop the run cleanly: the last frames are delivered, files are finished and renamed
  into place (playable), RTMP streams are ended, cameras, sockets and the window are released. A second
  Ctrl-C stops at once (files are still closed). A lost camera or stream is reopened a bounded number
  of times (``--reconnect``, see ``stylecast.runtime.sources``), then the run ends with a message and
  exit code 2 after the same clean shutdown. A failing sink ends the run the same way.

The live path needs no torch: the engine is ONNX Runtime.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stylecast.argtypes import MAX_THREADS, add_look_options, count, frame_size, number
from stylecast.errors import InputError, StylecastError, StyleError

# The CLI imports this module to register ``live``: numpy, OpenCV, FFmpeg and ONNX Runtime (a quarter
# of a second) are imported where they are first used, so other subcommands do not pay for them.
if TYPE_CHECKING:
    import numpy as np

    from stylecast.runtime.sinks import Sink, WindowSink
    from stylecast.runtime.sources import CapturedFrame, LiveSource
    from stylecast.stylizer import Stylizer

CROSSFADE_SECONDS = 0.5
# Sizes the engine may work at, as fractions of the output size (--target-fps). Few and fixed: ONNX
# Runtime plans memory per input shape, and each new shape costs a slow first run.
SCALE_LADDER: tuple[float, ...] = (1.0, 0.85, 0.7, 0.6, 0.5, 0.42, 0.35, 0.3, 0.25)
MIN_PROCESSING_SIDE = 64
FIRST_FRAME_TIMEOUT = 15.0  # a stream's open timeout plus its first keyframe
STALL_TIMEOUT = 20.0  # no frame and no reconnect attempt for this long: the source hangs in its driver


# --------------------------------------------------------------------------------------------------
# Style crossfade and the shared controls


def smoothstep(t: float) -> float:
    """0 -> 0, 1 -> 1, with zero slope at both ends (a fade that eases in and out)."""
    t = min(1.0, max(0.0, t))
    return t * t * (3.0 - 2.0 * t)


class StyleFader:
    """A style code that moves to a new one over ``seconds`` instead of jumping.

    Codes are blended linearly, as ``stylecast`` blends styles anyway, so every intermediate code is
    a valid style (a blend of the old and the new one).
    """

    def __init__(self, code: np.ndarray, seconds: float = CROSSFADE_SECONDS) -> None:
        """``code``: ``(1, D)`` float32, the starting style."""
        self.seconds = seconds
        self._from = self._to = code.astype("float32").reshape(1, -1)
        self._started = -math.inf

    def set(self, code: np.ndarray, now: float) -> None:
        """Start fading from the code shown at ``now`` (mid-fade included) to ``code`` ``(1, D)``."""
        self._from = self.code(now)
        self._to = code.astype("float32").reshape(1, -1)
        self._started = now

    def code(self, now: float) -> np.ndarray:
        """The ``(1, D)`` float32 code to use at ``now`` (``time.monotonic()``)."""
        if self.seconds <= 0:
            return self._to
        weight = smoothstep((now - self._started) / self.seconds)
        if weight >= 1.0:
            return self._to
        blended: np.ndarray = ((1.0 - weight) * self._from + weight * self._to).astype("float32")
        return blended

    def fading(self, now: float) -> bool:
        return now - self._started < self.seconds


@dataclass(frozen=True)
class FrameSettings:
    """What the engine applies to one frame: ``code`` ``(1, D)`` float32 and the finishing options."""

    code: np.ndarray
    strength: float
    preserve_color: bool
    stabilize: bool


_CONTROL_FIELDS = ("style", "strength", "knob", "preserve_color", "stabilize")


class LiveControls:
    """The settings shared by the engine, the window keys and the HTTP endpoint (thread-safe)."""

    def __init__(self, stylizer: Stylizer, style: str, strength: float = 1.0, preserve_color: bool = False,
                 stabilize: bool = False, fade_seconds: float = CROSSFADE_SECONDS, knob: float | None = None) -> None:
        self._stylizer = stylizer
        self.styles: Sequence[str] = stylizer.styles
        self._lock = threading.Lock()
        self._style = style
        self._fader = StyleFader(stylizer.code(style), fade_seconds)
        self._strength = _check_strength(strength)
        from stylecast.styles import DEFAULT_KNOB, check_knob

        # The trained content-vs-style knob; None for a model without one (the field reads null).
        self._knob: float | None = None
        if stylizer.has_knob:
            self._knob = DEFAULT_KNOB if knob is None else check_knob(knob)
        elif knob is not None:
            stylizer.vector(style, knob)  # raises: this model has no knob
        self._preserve_color = preserve_color
        self._stabilize = stabilize

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {"style": self._style, "strength": self._strength, "knob": self._knob,
                    "preserve_color": self._preserve_color, "stabilize": self._stabilize}

    def update(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Apply any of ``style`` (a SPEC), ``strength`` (0..1), ``preserve_color``, ``stabilize`` (booleans).

        Everything is checked (the style resolved) before anything changes: a bad request changes nothing.

        Raises:
            InputError: an unknown field or a value of the wrong kind; StyleError: an unknown style.
        """
        unknown = sorted(set(fields) - set(_CONTROL_FIELDS))
        if unknown:
            raise InputError(f"unknown field(s) {', '.join(unknown)}: send any of {', '.join(_CONTROL_FIELDS)}")
        code = None
        if "style" in fields:
            if not isinstance(fields["style"], str):
                raise InputError("style must be a string: a style name, a style image path or a blend "
                                 "like 'a:0.7,b:0.3'")
            code = self._stylizer.code(fields["style"])
        strength = None
        if "strength" in fields:
            value = fields["strength"]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InputError("strength must be a number from 0 (the original) to 1 (full style)")
            strength = _check_strength(float(value))
        knob = None
        if "knob" in fields:
            from stylecast.styles import check_knob

            knob = check_knob(fields["knob"])
            if self._knob is None:
                raise StyleError("this model was trained without the content-vs-style knob: use strength instead")
        for name in ("preserve_color", "stabilize"):
            if name in fields and not isinstance(fields[name], bool):
                raise InputError(f"{name} must be true or false")
        now = time.monotonic()
        with self._lock:
            if code is not None:
                self._style = fields["style"]
                self._fader.set(code, now)
            if strength is not None:
                self._strength = strength
            if knob is not None:
                self._knob = knob
            self._preserve_color = fields.get("preserve_color", self._preserve_color)
            self._stabilize = fields.get("stabilize", self._stabilize)
        return self.state()

    def settings(self, now: float) -> FrameSettings:
        with self._lock:
            code = self._fader.code(now)
            if self._knob is not None:
                from stylecast.styles import set_knob

                code = set_knob(code, self._knob, self._stylizer.meta["generator"])
            return FrameSettings(code, self._strength, self._preserve_color, self._stabilize)


def _check_strength(value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise InputError(f"strength {value} is outside 0..1: 1 is full style, 0 the original")
    return value


# --------------------------------------------------------------------------------------------------
# Processing size (--target-fps)


def _even(side: float) -> int:
    rounded = int(round(side))
    return max(2, rounded - rounded % 2)


class ResolutionGovernor:
    """Chooses the engine's working size from :data:`SCALE_LADDER` to meet ``target_fps`` (see module docs).

    Args:
        width, height: the output size (rung 0).
        target_fps: frames per second to sustain; ``None`` keeps the full size.
        min_side: no rung goes below this many pixels on the shorter side.
    """

    def __init__(self, width: int, height: int, target_fps: float | None, min_side: int = MIN_PROCESSING_SIDE,
                 ladder: Sequence[float] = SCALE_LADDER) -> None:
        if target_fps is not None and not target_fps > 0:
            raise InputError(f"--target-fps {target_fps} must be a positive number of frames per second")
        self.width, self.height = width, height
        self.target_fps = target_fps
        self.rungs = [r for r in ladder if min(width, height) * r >= min_side] or [1.0]
        self.rung = 0
        self._average: float | None = None
        self._samples = 0
        self._changed_at = -math.inf
        self._blocked_until: dict[int, float] = {}

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` the engine works at now."""
        if self.rung == 0:
            return self.width, self.height
        scale = self.rungs[self.rung]
        return _even(self.width * scale), _even(self.height * scale)

    def observe(self, seconds: float, now: float) -> bool:
        """Record the time one frame took at the current size; True when the size changed."""
        if self.target_fps is None:
            return False
        self._samples += 1
        if self._samples == 1:
            return False  # the first run at a new size pays ONNX Runtime's set-up, not the size's cost
        self._average = seconds if self._average is None else 0.7 * self._average + 0.3 * seconds
        if self._samples < 4 or now - self._changed_at < 0.5:
            return False
        budget = 1.0 / self.target_fps
        current = self.rungs[self.rung]
        last = len(self.rungs) - 1
        if self._average > 1.05 * budget and self.rung < last:
            rung = self.rung + 1
            # Time scales with pixels: jump to the largest rung predicted to fit, not one step at a time.
            while rung < last and self._average * (self.rungs[rung] / current) ** 2 > 0.9 * budget:
                rung += 1
            self._blocked_until[self.rung] = now + 10.0
            return self._move(rung, now)
        if self.rung > 0 and now >= self._blocked_until.get(self.rung - 1, -math.inf):
            if self._average * (self.rungs[self.rung - 1] / current) ** 2 < 0.8 * budget:
                return self._move(self.rung - 1, now)
        return False

    def _move(self, rung: int, now: float) -> bool:
        self.rung = rung
        self._average = None
        self._samples = 0
        self._changed_at = now
        return True


# --------------------------------------------------------------------------------------------------
# Stats


class LiveStats:
    """Counters and timings of a run, updated from the engine and the sink threads.

    ``snapshot`` gives rates and latency percentiles over the last ``window`` seconds (the overlay,
    the ``--json`` lines, ``GET /state``); ``summary`` gives them over the whole run.
    """

    def __init__(self, source: LiveSource, window: float = 2.0) -> None:
        from stylecast.runtime.sources import RateMeter

        self.source = source
        self.window = window
        self.started = time.monotonic()
        self.processed = 0
        self.out_rate = RateMeter(window)
        self.delivered: dict[str, int] = collections.Counter()
        self.sink_dropped: dict[str, int] = collections.Counter()
        self.engine_ms = 0.0
        self.processing_size = (0, 0)
        self._recent: collections.deque[tuple[float, float]] = collections.deque()
        self._all: collections.deque[float] = collections.deque(maxlen=200_000)
        self._lock = threading.Lock()

    def frame_processed(self, seconds: float, size: tuple[int, int], now: float) -> None:
        with self._lock:
            self.processed += 1
            self.engine_ms = seconds * 1000 if self.processed == 1 else 0.9 * self.engine_ms + 100 * seconds
            self.processing_size = size
        self.out_rate.tick(now)

    def frame_delivered(self, sink: str, latency: float, now: float) -> None:
        with self._lock:
            self.delivered[sink] += 1
            self._recent.append((now, latency))
            self._all.append(latency)

    def set_sink_dropped(self, sink: str, count: int) -> None:
        with self._lock:
            self.sink_dropped[sink] = count

    def snapshot(self, now: float | None = None) -> dict[str, Any]:
        now = time.monotonic() if now is None else now
        with self._lock:
            while self._recent and self._recent[0][0] < now - self.window:
                self._recent.popleft()
            recent = [latency for _, latency in self._recent]
            return {
                "time_s": round(now - self.started, 3),
                "fps_in": round(self.source.rate.rate(now), 2),
                "fps_out": round(self.out_rate.rate(now), 2),
                "frames_in": self.source.captured,
                "frames_out": self.processed,
                "dropped": self.source.dropped,
                "sink_dropped": dict(self.sink_dropped),
                "latency_ms": _percentiles(recent),
                "engine_ms": round(self.engine_ms, 2),
                "processing_size": f"{self.processing_size[0]}x{self.processing_size[1]}",
                "reconnects": self.source.reconnects,
            }

    def summary(self, now: float | None = None) -> dict[str, Any]:
        now = time.monotonic() if now is None else now
        seconds = max(now - self.started, 1e-9)
        with self._lock:
            return {
                "seconds": round(seconds, 3),
                "frames_in": self.source.captured,
                "frames_out": self.processed,
                "dropped": self.source.dropped,
                "sink_dropped": dict(self.sink_dropped),
                "delivered": dict(self.delivered),
                "fps_in": round(self.source.captured / seconds, 2),
                "fps_out": round(self.processed / seconds, 2),
                "latency_ms": _percentiles(list(self._all)),
                "reconnects": self.source.reconnects,
            }


def _percentiles(latencies: Sequence[float]) -> dict[str, float | None]:
    """p50, p95 and max of ``latencies`` (seconds) in milliseconds; ``None`` for no samples."""
    if not latencies:
        return {"p50": None, "p95": None, "max": None}
    values = sorted(latencies)

    def at(share: float) -> float:  # linear interpolation between ranks, as numpy.percentile does
        position = share * (len(values) - 1)
        low = math.floor(position)
        high = min(low + 1, len(values) - 1)
        return values[low] + (values[high] - values[low]) * (position - low)

    return {"p50": round(at(0.5) * 1000, 1), "p95": round(at(0.95) * 1000, 1), "max": round(values[-1] * 1000, 1)}


# --------------------------------------------------------------------------------------------------
# Sinks in their own threads


class SinkWorker:
    """Runs one sink in its own thread, fed the newest frame: a slow sink drops frames, it never delays
    the engine or the other sinks. The first error stops this sink and is kept for the pipeline."""

    def __init__(self, sink: Sink, stats: LiveStats, join_timeout: float = 8.0) -> None:
        from stylecast.runtime.sources import Mailbox

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
        from stylecast.runtime.control import handle_key
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
                from stylecast.runtime.sinks import SinkError

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
        import cv2

        from stylecast.runtime.sources import fit_cover

        started = time.monotonic()
        settings = self.controls.settings(started)
        width, height = self.output_size
        image = frame.image
        if image.shape[:2] != (height, width):
            image = fit_cover(image, width, height)  # a camera that ignored the size it was asked for
        work_size = self.governor.size
        small = image if work_size == (width, height) else cv2.resize(image, work_size, interpolation=cv2.INTER_AREA)
        out = self.stylizer.stylize(small, settings.code, settings.strength, settings.preserve_color)
        if settings.stabilize:
            out = self.stabilizer(small, out)  # it starts afresh by itself when the size changes
        else:
            self.stabilizer.reset()
        if out.shape[:2] != (height, width):
            out = cv2.resize(out, (width, height), interpolation=cv2.INTER_LINEAR)
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
        from stylecast.runtime.control import KEY_HELP

        state = self.controls.state()
        stats = self.stats.snapshot(now)
        latency = stats["latency_ms"]
        colour = "kept" if state["preserve_color"] else "styled"
        lines = [
            f"{state['style']}   strength {state['strength']:.1f}"
            + (f"   knob {state['knob']:.1f}" if state.get("knob") is not None else "") + f"   colour {colour}"
            f"   stabilise {'on' if state['stabilize'] else 'off'}",
            f"in {stats['fps_in']:.1f} fps   out {stats['fps_out']:.1f} fps   dropped {stats['dropped']}",
            f"latency p50 {_ms(latency['p50'])}  p95 {_ms(latency['p95'])}   working at {stats['processing_size']}",
        ]
        if self.show_help:
            lines += [f"{keys:<10} {action}" for keys, action in KEY_HELP]
        for window in self.windows:
            window.overlay = lines


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


# --------------------------------------------------------------------------------------------------
# Command line


def parse_size(text: str) -> tuple[int, int]:
    """``"640x480"`` -> ``(640, 480)``, each side even (what H.264 and the streaming sinks need)."""
    return frame_size(text, "--size")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``live`` on the ``stylecast`` command's subparsers; returns its parser."""
    live = subparsers.add_parser(
        "live", help="stylize a camera, stream or file in real time to windows, files and streams",
        description="Stylize live video. Stop with Ctrl-C (files are finished properly).")
    live.add_argument("--source", required=True,
                      help="camera index (0) or device (/dev/video0), rtsp:// rtmp:// http(s):// srt:// URL, "
                           "or a video file")
    live.add_argument("--sink", action="append", required=True,
                      help="window, a video file (.mp4 .mov .mkv), rtmp://HOST/APP/KEY, mjpeg://HOST:PORT "
                           "(browsers, OBS media source), virtualcam, or null; repeat for several")
    add_look_options(live, style_required=False)  # all four change live: keys, or POST /state
    live.add_argument("--stabilize", action="store_true",
                      help="reduce flicker: blend with the previous output moved along the optical flow")
    live.add_argument("--size", help="output size WxH (default: the source's); the picture is scaled to cover it")
    live.add_argument("--target-fps", type=number(0.1, 1000),
                      help="lower the working resolution when behind this rate, raise it when there is room")
    live.add_argument("--loop", action="store_true", help="play a file source again when it ends")
    live.add_argument("--control", metavar="[HOST:]PORT",
                      help="serve GET/POST /state for live control (loopback unless a host is given)")
    live.add_argument("--reconnect", type=count(0, 1000), default=3,
                      help="times to reopen a lost camera or stream before giving up (default 3)")
    live.add_argument("--duration", type=number(0, 10**7), help="stop after this many seconds")
    live.add_argument("--stats-interval", type=number(0.05, 3600), default=1.0, help="seconds between stats lines")
    live.add_argument("--model", help="model file (default: the shipped model)")
    live.add_argument("--threads", type=count(1, MAX_THREADS), help="inference threads (default: all cores)")
    live.add_argument("--backend", choices=["onnx", "torch"], default="onnx")
    live.add_argument("--precision", choices=["fp32", "bf16"], default="fp32", help="bf16 with --backend torch")
    live.add_argument("--compile", action="store_true",
                      help="with --backend torch: compile G for the stream's size before it starts (~30 s once); "
                           "the fastest path on a CPU, for a fixed working size (not with --target-fps)")
    live.add_argument("--json", action="store_true", help="print stats as JSON lines on stdout")
    live.set_defaults(func=run)
    return live


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
                f" | latency p50 {_ms(latency['p50'])} p95 {_ms(latency['p95'])} | {snapshot['processing_size']}")
        sys.stderr.write(line.ljust(78) + ("\r" if self.tty else "\n"))
        sys.stderr.flush()


def run(args: argparse.Namespace, *, stop: threading.Event | None = None, stylizer: Stylizer | None = None) -> int:
    """Run ``stylecast live`` until stopped; 0 after a clean stop or the end of a file.

    Args:
        args: the parsed ``live`` arguments.
        stop: set it (from another thread) to end the run cleanly; one is made if not given.
        stylizer: an engine to use instead of loading ``args.model`` (embedding, tests).

    Raises:
        StylecastError: bad arguments (before anything opens), or a lost source or failed sink (after
            every sink was closed properly).
    """
    from stylecast.runtime.control import ControlServer
    from stylecast.runtime.sinks import WindowSink, parse_sink
    from stylecast.runtime.sources import open_source
    from stylecast.stylizer import Stylizer

    stop = stop or threading.Event()
    size = parse_size(args.size) if args.size else None
    if args.stats_interval <= 0:
        raise InputError(f"--stats-interval {args.stats_interval} must be positive")
    if args.duration is not None and args.duration <= 0:
        raise InputError(f"--duration {args.duration} must be a positive number of seconds")
    if args.compile and args.target_fps:
        raise InputError("--compile builds G for one frame size, and --target-fps changes the size as it goes: "
                         "use one of them (fix the size with --size)")
    sinks = [parse_sink(spec) for spec in args.sink]  # checks every argument before opening anything
    for index, sink in enumerate(sinks):
        if any(other.name == sink.name for other in sinks[:index]):
            sink.name = f"{sink.name} #{index + 1}"  # stats are kept by name
    if sum(isinstance(sink, WindowSink) for sink in sinks) > 1:
        raise InputError("--sink window is given twice: one window shows the stream")
    source = open_source(args.source, size, loop=args.loop, reconnect=args.reconnect)
    if stylizer is None:
        stylizer = Stylizer(args.model, args.backend, args.precision, args.threads, args.compile)
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
            output_size = size or (_even(first.image.shape[1]), _even(first.image.shape[0]))
            if args.compile:
                import numpy as np

                # Compile now, not on a live frame: a 30 s stall mid-stream would read as a hang. Frames
                # that arrive meanwhile are dropped (and counted); the stream starts from a fresh one.
                if not args.json:
                    print(f"stylecast live: compiling G for {output_size[0]}x{output_size[1]} (once, ~30 s)",
                          file=sys.stderr)
                code = controls.settings(time.monotonic()).code
                stylizer.stylize(np.zeros((output_size[1], output_size[0], 3), np.uint8), code)
                first = source.read(timeout=0.5) or first
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
                                    ResolutionGovernor(*output_size, args.target_fps), stats, output_size, stop,
                                    args.duration, args.stats_interval, reporter)
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
              f"{summary['dropped']} dropped; latency p50 {_ms(latency['p50'])}, p95 {_ms(latency['p95'])}")
    if error is not None:
        raise error
    return 0


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
