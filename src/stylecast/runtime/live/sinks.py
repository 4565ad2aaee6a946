"""Live sinks for ``stylecast live``: a file, an RTMP server, an HTTP MJPEG stream, a virtual camera,
a window, and ``null`` (discard; for benchmarks).

One class per role, as in vidgear. A sink is made from its ``--sink`` argument by :func:`parse_sink`
(which checks the argument, opening nothing), then :meth:`Sink.open` ed with the output size, written
to from one thread, and :meth:`Sink.close` d exactly once, always (the pipeline closes it in a
``finally``). ``close(success=True)`` after Ctrl-C or SIGTERM leaves a playable file and ends an RTMP
stream properly; ``success=False`` (the sink itself failed) throws a half-written file away.

The window and the virtual camera need the optional ``live`` extra (``pip install 'stylecast[live]'``:
pygame, pyvirtualcam); they are imported only when asked for, and their absence is a clear message.

Nothing here imports torch.
"""

from __future__ import annotations

import http.server
import os
import threading
from fractions import Fraction
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import av
import av.error
import cv2
import numpy as np

from stylecast.errors import InputError, MissingDependencyError, StylecastError
from stylecast.io.paths import WRITABLE_VIDEO_EXTENSIONS
from stylecast.io.probe import describe_error
from stylecast.io.writer import VideoWriter
from stylecast.runtime.httpserve import BackgroundHTTPServer, ServerThread, parse_host_port

MJPEG_BOUNDARY = "stylecastframe"
MJPEG_QUALITY = 80  # browsers and OBS decode it fast; 80 is where JPEG artefacts stop showing on stylized edges
MJPEG_MAX_CLIENTS = 16  # each client is a thread and a socket: bounded, whoever connects
_LIVE_EXTRA = "install the live extra: pip install 'stylecast[live]'"


class SinkError(StylecastError):
    """A sink failed while the stream ran (a server went away, a disk filled up)."""


class Sink:
    """Base of the live sinks.

    ``write`` receives ``(H, W, 3)`` uint8 RGB frames of the size given to ``open`` and the
    ``time.monotonic()`` at which the frame was captured (files and streams are timed by it).
    """

    name = "sink"
    #: The window must be drawn from the main thread (macOS requires it of SDL); the others get a thread.
    main_thread = False

    def open(self, width: int, height: int, fps: float) -> None:
        """Open the device, file or socket for ``width x height`` frames at about ``fps``."""

    def write(self, image: np.ndarray, captured_at: float) -> None:
        """Send one frame."""

    def close(self, success: bool = True) -> None:
        """Finish and release; idempotent. ``success=False`` discards what a file sink wrote."""

    def describe(self) -> str:
        """Where the frames go, for the log (``http://127.0.0.1:8080/`` for MJPEG)."""
        return self.name


class NullSink(Sink):
    """Discards frames: measures the engine and the pipeline alone (``--sink null``)."""

    name = "null"


class FileSink(Sink):
    """H.264 in MP4 / MOV / MKV through :class:`~stylecast.io.writer.VideoWriter`.

    Frames are stamped with their capture time (milliseconds from the first), so the file plays back
    at the speed of life whatever was dropped. It is written under a temporary name and renamed on
    close: an interrupted run leaves a complete, playable file or nothing.
    """

    def __init__(self, path: str | Path) -> None:
        target = Path(path).expanduser()
        if target.suffix.lower() not in WRITABLE_VIDEO_EXTENSIONS:
            raise InputError(f"sink {str(path)!r} is not window, virtualcam, null, rtmp://..., mjpeg://HOST:PORT "
                             f"or a video file ({', '.join(WRITABLE_VIDEO_EXTENSIONS)}): give one of these")
        if not target.parent.is_dir():
            raise InputError(f"cannot record to {str(target)!r}: folder {str(target.parent)!r} does not exist; "
                             "create it or choose another path")
        self.path = target
        self.name = f"file {target.name}"
        self._writer: VideoWriter | None = None
        self._start: float | None = None

    def open(self, width: int, height: int, fps: float) -> None:
        # ultrafast: the encoder shares the CPU with the stylizer, and every millisecond here is latency.
        self._writer = VideoWriter(self.path, width, height, Fraction(1, 1000), fps, crf=20, preset="ultrafast")

    def write(self, image: np.ndarray, captured_at: float) -> None:
        assert self._writer is not None, "open() first"
        if self._start is None:
            self._start = captured_at
        self._writer.write(image, round((captured_at - self._start) * 1000))

    def close(self, success: bool = True) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            # A run stopped before its first frame leaves no empty file behind.
            writer.close(success=success and writer.frames_written > 0)

    def describe(self) -> str:
        return str(self.path)


class RtmpSink(Sink):
    """H.264 in FLV to an RTMP server (nginx-rtmp, YouTube, Twitch, OBS ingest), tuned for low delay.

    x264 ``ultrafast`` + ``zerolatency`` (no B-frames, no lookahead: a frame leaves as it is encoded),
    a keyframe every 2 s so players join quickly, and a bit rate scaled to the picture size.
    """

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        if not url.lower().startswith(("rtmp://", "rtmps://")) or not urlsplit(url).hostname:
            raise InputError(f"{url!r} is not an RTMP address: give rtmp://HOST[:PORT]/APP/STREAM_KEY")
        self.url = url
        self.timeout = timeout
        self.name = "rtmp"
        self._container: Any = None
        self._stream: Any = None
        self._start: float | None = None
        self._last_pts = -1

    def open(self, width: int, height: int, fps: float) -> None:
        try:
            container = av.open(self.url, "w", format="flv", timeout=(self.timeout, self.timeout),
                                options={"flvflags": "no_duration_filesize"})
        except (av.error.FFmpegError, OSError) as error:
            raise InputError(f"cannot stream to {self.url} ({describe_error(error)}): check the server is running and "
                             "the address (rtmp://HOST[:PORT]/APP/KEY)") from error
        try:
            rate = Fraction(max(1, round(fps)))
            stream = container.add_stream("libx264", rate=rate,
                                          options={"preset": "ultrafast", "tune": "zerolatency"})
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            # About 0.1 bit per pixel per frame: 640x480 at 30 fps is about 1 Mb/s.
            stream.bit_rate = max(300_000, int(0.1 * width * height * max(fps, 1.0)))
            stream.codec_context.gop_size = max(1, round(2 * fps))
            stream.codec_context.time_base = Fraction(1, 1000)  # FLV counts milliseconds
            container.start_encoding()  # connects and sends the header now: a wrong address fails here
        except (av.error.FFmpegError, OSError) as error:
            container.close()
            raise InputError(f"cannot stream to {self.url} ({describe_error(error)}): check the server is running and "
                             "the address (rtmp://HOST[:PORT]/APP/KEY)") from error
        except BaseException:
            container.close()
            raise
        self._container, self._stream = container, stream

    def write(self, image: np.ndarray, captured_at: float) -> None:
        if self._start is None:
            self._start = captured_at
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        # Capture time in ms; never repeated (two captures within 1 ms would be refused by the muxer).
        pts = max(round((captured_at - self._start) * 1000), self._last_pts + 1)
        frame.pts, frame.time_base = pts, Fraction(1, 1000)
        self._last_pts = pts
        try:
            self._container.mux(self._stream.encode(frame))
        except (av.error.FFmpegError, OSError) as error:
            raise SinkError(f"the RTMP stream to {self.url} broke ({describe_error(error)}): check the server and the "
                            "network, then run again") from error

    def close(self, success: bool = True) -> None:
        container, self._container = self._container, None
        if container is None:
            return
        try:
            if success:
                container.mux(self._stream.encode(None))  # flush, so the server gets the last frames
        except (av.error.FFmpegError, OSError):
            pass  # the connection is already gone: nothing more to deliver
        finally:
            try:
                container.close()
            except (av.error.FFmpegError, OSError):
                pass

    def describe(self) -> str:
        return self.url


class _MjpegServer(BackgroundHTTPServer):
    sink: MjpegSink


class _MjpegHandler(http.server.BaseHTTPRequestHandler):
    server: _MjpegServer
    protocol_version = "HTTP/1.0"  # the stream ends when the connection does, as MJPEG clients expect
    timeout = 10.0  # a client that stops reading is dropped rather than holding a thread forever

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        sink = self.server.sink
        path = urlsplit(self.path).path
        if path in ("/snapshot.jpg", "/snapshot.jpeg"):
            jpeg, _ = sink.latest_jpeg(0, timeout=5.0)
            if jpeg is None:
                self.send_error(503, "no frame yet")
                return
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(jpeg)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(jpeg)
            return
        if path not in ("/", "/stream", "/stream.mjpg"):
            self.send_error(404, "the stream is at / (a single frame at /snapshot.jpg)")
            return
        if not sink.client_joined():
            self.send_error(503, f"too many viewers (at most {MJPEG_MAX_CLIENTS})")
            return
        try:
            self.send_response(200)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={MJPEG_BOUNDARY}")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Connection", "close")
            self.end_headers()
            sequence = 0
            while not sink.closed:
                jpeg, sequence = sink.latest_jpeg(sequence, timeout=1.0)
                if jpeg is None:
                    continue
                # Only ever the newest frame: a slow viewer skips frames instead of falling behind.
                self.wfile.write(f"--{MJPEG_BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                                 f"Content-Length: {len(jpeg)}\r\n\r\n".encode("ascii") + jpeg + b"\r\n")
                self.wfile.flush()
        except (OSError, ValueError):
            pass  # the viewer left
        finally:
            sink.client_left()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the name http.server uses
        pass  # a request line per viewer on the terminal would bury the stats


class MjpegSink(Sink):
    """An HTTP MJPEG stream (``multipart/x-mixed-replace``) that browsers, VLC, FFmpeg and OBS's media
    source read: ``mjpeg://127.0.0.1:8080`` serves ``http://127.0.0.1:8080/`` (``/snapshot.jpg``: one frame).

    Each frame is JPEG-encoded once, whatever the number of viewers; every viewer's thread sends the
    newest frame when it is ready for one.
    """

    def __init__(self, spec: str) -> None:
        host, port = parse_host_port(spec.split("://", 1)[1], what=f"sink {spec!r}",
                                     example="mjpeg://127.0.0.1:8080")
        self.host = host
        self.name = "mjpeg"
        self.closed = False
        self._serving = ServerThread(_MjpegServer, _MjpegHandler, host, port, "stylecast-mjpeg", "serve MJPEG",
                                     "mjpeg://127.0.0.1:8081")
        self._condition = threading.Condition()
        self._jpeg: bytes | None = None
        self._sequence = 0
        self._clients = 0

    @property
    def port(self) -> int:
        return int(self._serving.port)

    def open(self, width: int, height: int, fps: float) -> None:
        self._serving.start().sink = self

    @property
    def url(self) -> str:
        return self._serving.url("/")

    def write(self, image: np.ndarray, captured_at: float) -> None:
        ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                                   [cv2.IMWRITE_JPEG_QUALITY, MJPEG_QUALITY])
        if not ok:
            raise SinkError("JPEG encoding failed for the MJPEG stream: please report this")
        with self._condition:
            self._jpeg = encoded.tobytes()
            self._sequence += 1
            self._condition.notify_all()

    def latest_jpeg(self, after: int, timeout: float) -> tuple[bytes | None, int]:
        """The newest JPEG newer than sequence number ``after`` (waiting up to ``timeout``), and its number."""
        with self._condition:
            if self._sequence <= after and not self.closed:
                self._condition.wait(timeout)
            if self._sequence <= after or self._jpeg is None:
                return None, after
            return self._jpeg, self._sequence

    def client_joined(self) -> bool:
        with self._condition:
            if self._clients >= MJPEG_MAX_CLIENTS:
                return False
            self._clients += 1
            return True

    def client_left(self) -> None:
        with self._condition:
            self._clients -= 1

    def close(self, success: bool = True) -> None:
        with self._condition:
            if self.closed:
                return
            self.closed = True
            self._condition.notify_all()  # viewers' threads wake up, see `closed` and hang up
        self._serving.close()

    def describe(self) -> str:
        return self.url


class VirtualCamSink(Sink):
    """A virtual camera (pyvirtualcam): video-call apps and OBS pick "stylecast" as a webcam.

    Needs a driver: v4l2loopback on Linux, OBS's virtual camera on Windows and macOS.
    """

    name = "virtualcam"

    def __init__(self) -> None:
        self._camera: Any = None

    def open(self, width: int, height: int, fps: float) -> None:
        try:
            import pyvirtualcam
        except ImportError as error:
            raise MissingDependencyError(f"--sink virtualcam needs pyvirtualcam: {_LIVE_EXTRA}") from error
        try:
            self._camera = pyvirtualcam.Camera(width, height, max(1.0, fps), fmt=pyvirtualcam.PixelFormat.RGB)
        except RuntimeError as error:
            raise InputError(
                f"no virtual camera driver found ({str(error).splitlines()[0]}): on Linux install v4l2loopback and "
                "run `sudo modprobe v4l2loopback exclusive_caps=1`; on Windows or macOS install OBS Studio and "
                "start its virtual camera once; or choose another --sink") from error

    def write(self, image: np.ndarray, captured_at: float) -> None:
        self._camera.send(np.ascontiguousarray(image))

    def close(self, success: bool = True) -> None:
        camera, self._camera = self._camera, None
        if camera is not None:
            camera.close()

    def describe(self) -> str:
        device = getattr(self._camera, "device", None)
        return f"virtual camera {device}" if device else "virtual camera"


class WindowSink(Sink):
    """A window (pygame / SDL2) with a stats overlay and keyboard controls; drawn from the main thread.

    The frame is scaled to the window, which can be resized. :meth:`poll` returns the keys pressed
    (``pygame.key.name`` names, e.g. ``"n"``, ``"left"``, ``"escape"``; ``"+"`` for the plus sign)
    and ``"quit"`` when the window was closed.
    """

    name = "window"
    main_thread = True

    def __init__(self, title: str = "stylecast live") -> None:
        self.title = title
        self.overlay: list[str] = []
        self.show_overlay = True
        self._pygame: Any = None
        self._screen: Any = None
        self._font: Any = None

    def open(self, width: int, height: int, fps: float) -> None:
        # pygame prints a banner on import; a command-line tool's output is its own.
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        try:
            import pygame
        except ImportError as error:
            raise MissingDependencyError(f"--sink window needs pygame: {_LIVE_EXTRA}") from error
        try:
            pygame.display.init()
            pygame.font.init()
            self._screen = pygame.display.set_mode((width, height), pygame.RESIZABLE)
        except pygame.error as error:
            pygame.quit()
            raise InputError(f"cannot open a window ({error}): run on a desktop session, or watch through "
                             "--sink mjpeg://127.0.0.1:8080 in a browser") from error
        pygame.display.set_caption(f"{self.title}  (q quits, h help)")
        self._font = pygame.font.Font(None, 20)
        self._pygame = pygame

    def write(self, image: np.ndarray, captured_at: float) -> None:
        pygame = self._pygame
        height, width = image.shape[:2]
        surface = pygame.image.frombuffer(np.ascontiguousarray(image).tobytes(), (width, height), "RGB")
        window_size = self._screen.get_size()
        if window_size != (width, height):
            surface = pygame.transform.smoothscale(surface, window_size)
        self._screen.blit(surface, (0, 0))
        if self.show_overlay and self.overlay:
            self._draw_overlay()
        pygame.display.flip()

    def _draw_overlay(self) -> None:
        pygame = self._pygame
        lines = [self._font.render(line, True, (255, 255, 255)) for line in self.overlay]
        box = pygame.Surface((max(line.get_width() for line in lines) + 12, 18 * len(lines) + 8), pygame.SRCALPHA)
        box.fill((0, 0, 0, 150))  # a translucent panel keeps the text legible on any style
        self._screen.blit(box, (6, 6))
        for row, line in enumerate(lines):
            self._screen.blit(line, (12, 10 + 18 * row))

    def poll(self) -> list[str]:
        """Keys pressed since the last call (and ``"quit"`` if the window was closed)."""
        if self._pygame is None:
            return []
        pygame = self._pygame
        keys: list[str] = []
        for event in pygame.event.get():
            if event.type == pygame.QUIT:
                keys.append("quit")
            elif event.type == pygame.KEYDOWN:
                # The character typed where there is one ("+" is shift-"=" on many layouts), else the key.
                keys.append(event.unicode if event.unicode and event.unicode.isprintable()
                            else pygame.key.name(event.key))
        return keys

    def close(self, success: bool = True) -> None:
        pygame, self._pygame = self._pygame, None
        if pygame is not None:
            pygame.display.quit()
            pygame.quit()


def parse_sink(spec: str) -> Sink:
    """The (unopened) sink a ``--sink`` argument names: ``window``, ``virtualcam``, ``null``,
    ``rtmp://...``, ``mjpeg://HOST:PORT`` or a video file path.

    Raises:
        InputError: the argument is none of these, or a file cannot be written there.
    """
    text = spec.strip()
    lowered = text.lower()
    if lowered == "window":
        return WindowSink()
    if lowered == "virtualcam":
        return VirtualCamSink()
    if lowered == "null":
        return NullSink()
    if lowered.startswith(("rtmp://", "rtmps://")):
        return RtmpSink(text)
    if lowered.startswith("mjpeg://"):
        return MjpegSink(text)
    if "://" in text:
        raise InputError(f"sink {spec!r}: stylecast sends streams as rtmp://... or serves mjpeg://HOST:PORT; "
                         "give one of these, window, virtualcam, or a video file")
    return FileSink(text)
