"""Live sources for ``stylecast live``: a file (paced to its own clock), a camera, a network stream.

One class per kind, as in vidgear, on one base that owns the capture thread. The thread never queues:
it keeps only the **newest** frame in a one-slot :class:`Mailbox`. When stylizing is slower than the
source, a frame that nobody took before the next one arrived is replaced and counted in
:attr:`LiveSource.dropped`, so the time from capture to output stays bounded however long the run.

Reconnect policy (the documented answer to "a lost camera or a dropped stream"):

- **Files** never reconnect: the end of a file is the end of the run (``loop=True`` plays it again).
- **Cameras and network streams** reopen up to ``reconnect`` times after a loss, waiting 0.5 s, 1 s,
  2 s ... (at most 5 s) between attempts. Every attempt is bounded (the open and read timeouts of a
  stream, the driver's own for a camera), and a frame from a reopened source earns the full budget
  back. When the budget is spent the source ends with a :class:`SourceLostError` that says what was
  lost and what to do; the pipeline then closes every sink properly and exits: never a hang.

Nothing here imports torch.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import av
import av.error
import cv2
import numpy as np

from stylecast.errors import InputError, StylecastError
from stylecast.io.frames import source_range
from stylecast.io.paths import is_video
from stylecast.io.probe import describe_error
from stylecast.io.reader import VideoReader
from stylecast.runtime.live.frames import CapturedFrame, Mailbox, RateMeter, fit_cover

# Schemes FFmpeg reads as live network streams.
STREAM_SCHEMES: tuple[str, ...] = ("rtsp://", "rtsps://", "rtmp://", "rtmps://", "http://", "https://", "srt://",
                                   "udp://", "tcp://")
_FIRST_RETRY_DELAY = 0.5
_MAX_RETRY_DELAY = 5.0

class SourceLostError(StylecastError):
    """A camera or stream stopped delivering frames and could not be reopened."""


class LiveSource:
    """Base of the live sources: a capture thread feeding a newest-frame :class:`Mailbox`.

    Subclasses implement ``_open`` (returns a handle, raises :class:`InputError` with a fix),
    ``_pump`` (delivers frames from a handle until it ends: ``None`` for a clean end, else the reason
    it was lost) and ``_release``. The first open happens in :meth:`start`, in the caller's thread,
    so a wrong address fails at once with its own message; reopening happens in the capture thread.

    Use as a context manager; leaving it stops the thread and releases the device or connection.
    """

    kind = "source"

    def __init__(self, description: str, size: tuple[int, int] | None = None, reconnect: int = 0) -> None:
        """
        Args:
            description: how messages name the source (``camera 0``, ``the stream rtsp://...``).
            size: ``(width, height)`` every frame is scaled and centre-cropped to; ``None`` keeps the
                source's own size.
            reconnect: how many times a lost source is reopened before giving up (see module docs).
        """
        if reconnect < 0:
            raise InputError(f"--reconnect {reconnect} is negative: give 0 (never) or a number of attempts")
        self.description = description
        self.size = size
        self.reconnect = reconnect
        self.nominal_fps = 30.0  # what the source says it sends; sinks use it for rate control only
        self.error: StylecastError | None = None
        self.captured = 0
        self.reconnects = 0
        self.rate = RateMeter()
        self._slot: Mailbox[CapturedFrame] = Mailbox()
        self._stop = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._lost_fix = "check it and run again"
        self._activity = time.monotonic()  # last frame or (re)open attempt: the stall watchdog's clock
        self._watch_stalls = True

    # ---------------------------------------------------------------------------------- lifecycle

    def __enter__(self) -> LiveSource:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def start(self) -> None:
        """Open the source (raising :class:`InputError` with a fix) and start capturing."""
        if self._thread is not None:
            raise RuntimeError(f"{self.description} is already started")
        handle = self._open()
        self._thread = threading.Thread(target=self._run, args=(handle,), name=f"stylecast-capture {self.kind}",
                                        daemon=True)
        self._thread.start()

    def close(self, timeout: float = 3.0) -> None:
        """Stop capturing and release the device; idempotent.

        The wait is bounded: a driver call stuck in C (an unplugged camera can block a read) cannot
        hang the exit. The thread is a daemon and ends with the process in that case.
        """
        self._stop.set()
        self._slot.close()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    # ------------------------------------------------------------------------------------ reading

    def read(self, timeout: float | None = None) -> CapturedFrame | None:
        """The newest frame not yet read, or ``None`` if none came within ``timeout`` seconds."""
        return self._slot.take(timeout)

    @property
    def finished(self) -> bool:
        """The capture thread has stopped (end, loss or close) and no unread frame is left."""
        return self._done.is_set() and self._slot.empty

    def stalled(self, limit: float) -> bool:
        """Neither a frame nor a reopen attempt for ``limit`` seconds: stuck in a driver call."""
        return self._watch_stalls and not self._done.is_set() and time.monotonic() - self._activity > limit

    @property
    def dropped(self) -> int:
        """Frames replaced before the pipeline took them: never stylized."""
        return self._slot.replaced

    # ------------------------------------------------------------------------- the capture thread

    def _deliver(self, image: np.ndarray) -> None:
        captured_at = time.monotonic()  # before any scaling: that work is part of the latency
        self._activity = captured_at
        if self.size is not None:
            image = fit_cover(image, *self.size)
        self._slot.put(CapturedFrame(image, captured_at, self.captured))
        self.captured += 1
        self.rate.tick(captured_at)

    def _run(self, handle: Any) -> None:
        budget = self.reconnect
        try:
            while True:
                before = self.captured
                try:
                    reason = self._pump(handle)
                finally:
                    self._release(handle)
                    handle = None
                if self._stop.is_set() or reason is None:
                    return
                if self.captured > before:
                    budget = self.reconnect  # it worked for a while: a new loss gets every attempt again
                delay = _FIRST_RETRY_DELAY
                while handle is None:
                    if budget <= 0:
                        tried = f" and {self.reconnect} reconnect attempt(s) failed" if self.reconnect else ""
                        self.error = SourceLostError(f"{self.description} was lost ({reason}){tried}: "
                                                     f"{self._lost_fix}")
                        return
                    budget -= 1
                    self._activity = time.monotonic()
                    if self._stop.wait(delay):
                        return
                    delay = min(delay * 2, _MAX_RETRY_DELAY)
                    self._activity = time.monotonic()
                    try:
                        handle = self._open()
                        self.reconnects += 1
                    except StylecastError as error:
                        reason = describe_error(error.__cause__) if error.__cause__ is not None else str(error)
        except StylecastError as error:  # a file that turned out damaged: its own message says what to do
            self.error = error
        except Exception as error:  # noqa: BLE001 - turned into the run's error, raised in the main thread
            self.error = StylecastError(f"{self.description} failed unexpectedly ({type(error).__name__}: {error}): "
                                        "please report this with the command you ran")
        finally:
            if handle is not None:
                self._release(handle)
            self._done.set()
            self._slot.close()

    # ---------------------------------------------------------------------------- for subclasses

    def _open(self) -> Any:
        raise NotImplementedError

    def _pump(self, handle: Any) -> str | None:
        raise NotImplementedError

    def _release(self, handle: Any) -> None:
        raise NotImplementedError


class FileSource(LiveSource):
    """A video file played at its own pace (its timestamps against the wall clock), like a camera.

    Decoding reuses :class:`~stylecast.io.reader.VideoReader` (rotation, variable frame rate,
    damaged packets), so a file looks the same here as in ``stylecast stylize``.
    """

    kind = "file"

    def __init__(self, path: str | Path, size: tuple[int, int] | None = None, loop: bool = False) -> None:
        super().__init__(f"the file {str(path)!r}", size, reconnect=0)
        self._watch_stalls = False  # a file's gaps are its timestamps (a pause in a screen recording)
        self.path = Path(path)
        self.loop = loop

    def _open(self) -> VideoReader:
        reader = VideoReader(self.path, queue_size=2)  # probes: a bad file raises InputError here
        self.nominal_fps = reader.info.fps
        return reader

    def _pump(self, handle: Any) -> str | None:
        reader: VideoReader = handle
        anchor: float | None = None  # wall-clock time of the file's time 0
        offset = 0.0  # seconds of the passes already played (loop)
        while True:
            first_pts: int | None = None
            last = 0.0
            try:
                for frame in reader:
                    if self._stop.is_set():
                        return None
                    if frame.pts is not None and first_pts is None:
                        first_pts = frame.pts
                    if frame.pts is not None and first_pts is not None:
                        at = float((frame.pts - first_pts) * reader.info.time_base)
                    else:
                        at = frame.index / reader.info.fps
                    now = time.monotonic()
                    if anchor is None:
                        anchor = now - offset - at
                    wait = anchor + offset + at - now
                    if wait > 0:
                        if self._stop.wait(wait):
                            return None
                    elif wait < -1.0:
                        anchor -= wait  # decoding fell far behind: carry on from now rather than burst
                    self._deliver(frame.image)
                    last = max(last, at)
            finally:
                reader.close()
            if not self.loop or self._stop.is_set():
                return None
            offset += last + 1.0 / reader.info.fps
            reader = VideoReader(self.path, queue_size=2)

    def _release(self, handle: Any) -> None:
        handle.close()


class StreamSource(LiveSource):
    """A network stream read with FFmpeg (RTSP over TCP, RTMP, HTTP MJPEG or MPEG-TS, SRT, UDP).

    Every open and every read is bounded by a timeout, so a silent sender is a loss, never a hang. The
    open timeout is the longer: joining a stream means waiting for its next keyframe (OBS sends one
    every 2 s by default, some encoders every 10 s).
    """

    kind = "stream"

    def __init__(self, url: str, size: tuple[int, int] | None = None, reconnect: int = 3,
                 open_timeout: float = 10.0, read_timeout: float = 5.0) -> None:
        super().__init__(f"the stream {url}", size, reconnect)
        self.url = url
        self.open_timeout, self.read_timeout = open_timeout, read_timeout
        self._lost_fix = ("check that the sender is still running and the network is up, then run again; "
                          "--reconnect N allows more attempts")

    def _open(self) -> Any:
        options = {
            # Low-latency demuxing: no input buffering, and a short probe so the first frame comes soon.
            "fflags": "nobuffer", "flags": "low_delay", "probesize": "500000", "analyzeduration": "1000000",
        }
        if self.url.startswith(("rtsp://", "rtsps://")):
            options["rtsp_transport"] = "tcp"  # UDP loses packets (smeared frames) on most real networks
        try:
            container = av.open(self.url, options=options, timeout=(self.open_timeout, self.read_timeout))
        except (av.error.FFmpegError, OSError) as error:
            raise InputError(f"cannot open {self.url} ({describe_error(error)}): check the address and that the sender "
                             "is running") from error
        if not container.streams.video:
            container.close()
            raise InputError(f"{self.url} carries no video: check the address")
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        if rate and 0 < rate < 1000:
            self.nominal_fps = float(rate)
        return container

    def _pump(self, handle: Any) -> str | None:
        stream = handle.streams.video[0]
        try:
            for packet in handle.demux(stream):
                if self._stop.is_set():
                    return None
                try:
                    frames = packet.decode()
                except av.error.InvalidDataError:
                    continue  # a damaged packet is a glitch, not a loss
                for frame in frames:
                    self._deliver(_frame_to_rgb(frame))
        except (av.error.FFmpegError, OSError) as error:
            return describe_error(error)
        # A recording served over HTTP ends; a live stream that ends was stopped by its sender.
        return None if handle.duration else "the sender stopped the stream"

    def _release(self, handle: Any) -> None:
        handle.close()


class CameraSource(LiveSource):
    """A camera through OpenCV (V4L2 on Linux, AVFoundation on macOS, Media Foundation on Windows)."""

    kind = "camera"

    def __init__(self, device: int | str, size: tuple[int, int] | None = None, fps: float | None = None,
                 reconnect: int = 3) -> None:
        name = f"camera {device}" if isinstance(device, int) else f"the camera {device}"
        super().__init__(name, size, reconnect)
        self.device = device
        self.fps = fps
        self._lost_fix = "check the cable (or that no other program took the camera), then run again"

    def _open(self) -> Any:
        # OpenCV prints its own warnings for a camera it cannot open; ours follows, naming the fix.
        from cv2.utils import logging as cv_logging

        previous = cv_logging.getLogLevel()
        cv_logging.setLogLevel(cv_logging.LOG_LEVEL_SILENT)
        try:
            capture = cv2.VideoCapture(self.device)
        finally:
            cv_logging.setLogLevel(previous)
        if not capture.isOpened():
            capture.release()
            raise InputError(
                f"cannot open {self.description}: check it is connected and not used by another program "
                "(on Linux `v4l2-ctl --list-devices` lists cameras), or give a file or stream as --source")
        if self.size is not None:
            # Ask the driver for the size we want: scaling in the camera is free, scaling here is not.
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, self.size[0])
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self.size[1])
        if self.fps:
            capture.set(cv2.CAP_PROP_FPS, self.fps)
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # old frames queued in the driver are latency
        fps = capture.get(cv2.CAP_PROP_FPS)
        if 0 < fps < 1000:
            self.nominal_fps = float(fps)
        return capture

    def _pump(self, handle: Any) -> str | None:
        while not self._stop.is_set():
            ok, bgr = handle.read()
            if not ok or bgr is None:
                return "it stopped delivering frames"
            self._deliver(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        return None

    def _release(self, handle: Any) -> None:
        handle.release()


def _frame_to_rgb(frame: Any) -> np.ndarray:
    rgb = frame.reformat(format="rgb24", src_color_range=source_range(frame))
    image: np.ndarray = rgb.to_ndarray()
    return image


def is_camera(spec: str) -> bool:
    """A camera index (``0``) or a camera device path (``/dev/video0``, any character device)."""
    if spec.isdigit():
        return True
    try:
        return spec.startswith("/dev/") or stat.S_ISCHR(os.stat(spec).st_mode)
    except OSError:
        return False


def open_source(spec: str, size: tuple[int, int] | None = None, loop: bool = False, reconnect: int = 3,
                fps: float | None = None, open_timeout: float = 10.0, read_timeout: float = 5.0) -> LiveSource:
    """The (not yet started) source a ``--source`` argument names.

    Args:
        spec: a camera index or device path, a stream URL (``rtsp://``, ``rtmp://``, ``http(s)://``,
            ``srt://``, ``udp://``, ``tcp://``), or a video file.
        size: ``(width, height)`` to scale and centre-crop to; ``None`` keeps the source's size.
        loop: play a file again from the start when it ends (files only).
        reconnect: reopen attempts after a camera or stream is lost.
        fps: the rate to ask a camera for.

    Raises:
        InputError: the argument names none of these, or ``loop`` is given for a live source.
    """
    spec = spec.strip()
    if spec.lower().startswith(STREAM_SCHEMES):
        if loop:
            raise InputError("--loop repeats a file; a stream is already endless: drop --loop")
        return StreamSource(spec, size, reconnect, open_timeout, read_timeout)
    if is_camera(spec):
        if loop:
            raise InputError("--loop repeats a file; a camera is already endless: drop --loop")
        return CameraSource(int(spec) if spec.isdigit() else spec, size, fps, reconnect)
    path = Path(spec).expanduser()
    if not path.exists():
        raise InputError(f"source {spec!r} is not a camera, a stream URL or an existing file: give a camera index "
                         "(0), a device (/dev/video0), rtsp:// rtmp:// http(s):// srt:// udp:// URL, or a video file")
    if not is_video(path):
        raise InputError(f"source {spec!r} is not a video file stylecast reads: give a video (.mp4, .mov, .mkv, "
                         ".webm, .avi, .m4v), a camera or a stream URL")
    return FileSource(path, size, loop)
