"""Helpers and fixtures of the live tests: a stylizer, ports, clips, MJPEG reading, slow engines."""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import threading
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest

from stylecast.cli import live as live_command
from stylecast.runtime.live.command import LiveOptions
from stylecast.runtime.live.sinks import MJPEG_BOUNDARY
from stylecast.stylizer import Stylizer
from tests.runtime.conftest import gradient_frame

NGINX_RTMP_MODULE = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")  # Debian's libnginx-mod-rtmp


@pytest.fixture(scope="module")
def stylizer(model: str) -> Stylizer:
    """One engine for the in-process tests (it also exports the model's ONNX graph once, into the cache)."""
    return Stylizer(model, "onnx", "fp32", threads=1)


def live_args(*argv: str) -> LiveOptions:
    """The options ``stylecast live ARGV`` runs with (parsed by the real command line)."""
    parser = argparse.ArgumentParser(prog="stylecast")
    live_command.add_parser(parser.add_subparsers(dest="command", required=True))
    return live_command.options(parser.parse_args(["live", *argv]))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise AssertionError(f"nothing listens on port {port} after {timeout} s")


def constant_clip(path: Path, frames: int = 30, size: tuple[int, int] = (64, 48), fps: int = 30,
                  image: np.ndarray | None = None) -> Path:
    """A clip whose every frame is the same picture (``image``, by default a colour gradient of
    ``size``): any change in the output comes from the controls."""
    width, height = size if image is None else (image.shape[1], image.shape[0])
    image = gradient_frame(0, width, height) if image is None else image
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def events(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def decode_all(path: Path) -> tuple[list[np.ndarray], list[float]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        time_base = stream.time_base
        assert time_base is not None
        pairs = [(f.to_ndarray(format="rgb24"), float((f.pts or 0) * time_base)) for f in container.decode(stream)]
    return [image for image, _ in pairs], [t for _, t in pairs]


def read_mjpeg(port: int, count: int, timeout: float = 10.0, path: str = "/") -> list[np.ndarray]:
    """``count`` frames of an HTTP MJPEG stream, parsed as a browser does (multipart parts)."""
    wait_for_port(port, timeout)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    connection.request("GET", path)
    response = connection.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type") == f"multipart/x-mixed-replace; boundary={MJPEG_BOUNDARY}"
    frames: list[np.ndarray] = []
    try:
        while len(frames) < count:
            line = response.readline()
            if not line:
                break
            if line.strip() != f"--{MJPEG_BOUNDARY}".encode():
                continue
            headers = {}
            while (header := response.readline().strip()):
                name, _, value = header.decode().partition(":")
                headers[name.lower()] = value.strip()
            assert headers["content-type"] == "image/jpeg"
            jpeg = response.read(int(headers["content-length"]))
            bgr = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            assert bgr is not None, "a part is not a JPEG"
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    finally:
        connection.close()
    return frames


class InThread:
    """Runs ``target`` in a daemon thread; ``result()`` joins and returns its value or raises its error."""

    def __init__(self, target: Callable[[], Any]) -> None:
        self._value: Any = None
        self._error: BaseException | None = None

        def body() -> None:
            try:
                self._value = target()
            except BaseException as error:  # noqa: BLE001 - re-raised in the test's thread
                self._error = error

        self._thread = threading.Thread(target=body, daemon=True)
        self._thread.start()

    def result(self, timeout: float = 20.0) -> Any:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the helper thread hung"
        if self._error is not None:
            raise self._error
        return self._value


def no_stylecast_threads_left() -> bool:
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        if not [t for t in threading.enumerate() if t.name.startswith("stylecast")]:
            return True
        time.sleep(0.05)
    return False


class SlowEngine:
    """An engine that takes ``seconds`` a call: stands in for a big model on a small machine."""

    def __init__(self, engine: Any, seconds: float) -> None:
        self.engine, self.seconds, self.name = engine, seconds, f"slow {engine.name}"

    def __call__(self, frames: np.ndarray, code: np.ndarray, strength: float = 1.0,
                 preserve_color: bool = False) -> np.ndarray:
        time.sleep(self.seconds)
        result: np.ndarray = self.engine(frames, code, strength, preserve_color)
        return result


class PixelCostEngine(SlowEngine):
    """Takes ``seconds`` for a 160x120 frame and proportionally less for fewer pixels, like a real network."""

    def __call__(self, frames: np.ndarray, code: np.ndarray, strength: float = 1.0,
                 preserve_color: bool = False) -> np.ndarray:
        time.sleep(self.seconds * frames.shape[1] * frames.shape[2] / (160 * 120))
        result: np.ndarray = self.engine(frames, code, strength, preserve_color)
        return result


def send_request(port: int, method: str, body: Any, content_type: str = "application/json") -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        data = None if body is None else (body if isinstance(body, str) else json.dumps(body)).encode()
        headers = {"Content-Type": content_type} if data is not None else {}
        connection.request(method, "/state", body=data, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


LIVE_CHILD = """
import argparse, sys
from stylecast.cli import live
parser = argparse.ArgumentParser(prog="stylecast")
live.add_parser(parser.add_subparsers(dest="command", required=True))
args = parser.parse_args(sys.argv[1:])
code = args.func(args)
assert "torch" not in sys.modules, "the live path imported torch"
sys.exit(code)
"""

def ffmpeg_frames(url: str, count: int) -> list[np.ndarray]:
    wait_for_port(int(url.rsplit(":", 1)[1].strip("/")))
    frames = []
    with av.open(url, timeout=(5, 5)) as container:
        assert container.format.name == "mpjpeg"
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) == count:
                break
    return frames
