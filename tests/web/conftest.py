"""Real `stylecast serve` processes on free loopback ports, real HTTP (urllib), generated media only.

Servers run the shipped model on one thread: a training job may share the machine. Unless a test
needs painting styles, the server runs with torch made unimportable, which proves that the web app,
live stylization and video jobs never import it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image

from tests.runtime.conftest import write_clip

# `sys.modules["torch"] = None` makes every `import torch` fail, as on an install without the train extra.
_SERVER = """
import sys
if sys.argv[1] == "no-torch":
    sys.modules["torch"] = None
from stylecast.cli import main
code = main(sys.argv[2:])
if sys.argv[1] == "no-torch":
    assert "torch" not in [m for m in sys.modules if sys.modules[m] is not None], "the web app imported torch"
sys.exit(code)
"""


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def detail(self) -> str:
        detail = self.json()["detail"]
        assert isinstance(detail, str), detail
        return detail


def request(url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None,
            timeout: float = 30.0) -> Response:
    """One HTTP request; any status comes back as a Response (urllib raises for 4xx and 5xx)."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as answer:
            return Response(answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read())
    except urllib.error.HTTPError as error:
        return Response(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body (as a browser's FormData sends it) and its Content-Type."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, data) in files.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                     "Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


@dataclass
class Server:
    """A running `stylecast serve` process."""

    process: subprocess.Popen[str]
    url: str
    data_dir: Path
    home: Path
    stderr_lines: list[str] = field(default_factory=list)

    def get(self, path: str, **options: Any) -> Response:
        return request(self.url + path.lstrip("/"), **options)

    def post_json(self, path: str, payload: Any, headers: dict[str, str] | None = None) -> Response:
        return request(self.url + path.lstrip("/"), "POST", json.dumps(payload).encode(),
                       {"Content-Type": "application/json", **(headers or {})})

    def post_files(self, path: str, fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> Response:
        body, content_type = multipart(fields, files)
        return request(self.url + path.lstrip("/"), "POST", body, {"Content-Type": content_type}, timeout=60)

    def delete(self, path: str) -> Response:
        return request(self.url + path.lstrip("/"), "DELETE")

    def wait_job(self, job_id: str, states: tuple[str, ...] = ("done", "failed"), timeout: float = 60.0,
                 until: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.get(f"/api/jobs/{job_id}").json()
            if job["state"] in states if until is None else until(job):
                return dict(job)
            time.sleep(0.05)
        raise AssertionError(f"job {job_id} did not reach {states} in {timeout} s: {job}")

    def wait_peers(self, count: int, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while (peers := self.get("/api/health").json()["peers"]) != count:
            assert time.monotonic() < deadline, f"{peers} live sessions after {timeout} s, expected {count}"
            time.sleep(0.1)

    @property
    def stderr(self) -> str:
        return "".join(self.stderr_lines)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)


def start_server(data_dir: Path, home: Path, *options: str, torch: bool = False, timeout: float = 90.0) -> Server:
    """Start `stylecast serve --port 0` and wait for its 'serving on URL' line."""
    env = {**os.environ, "STYLECAST_HOME": str(home), "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        [sys.executable, "-c", _SERVER, "torch" if torch else "no-torch", "serve", "--port", "0", "--data-dir",
         str(data_dir), "--threads", "1", *options],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert process.stdout is not None and process.stderr is not None
    server = Server(process, "", data_dir, home)
    stderr = process.stderr
    threading.Thread(target=lambda: server.stderr_lines.extend(iter(stderr.readline, "")), daemon=True).start()
    found: list[str] = []
    reader = threading.Thread(target=lambda: found.append(process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    line = found[0] if found else ""
    if "serving on" not in line:
        process.kill()
        process.wait()
        raise AssertionError(f"the server did not start: {line!r}\n{server.stderr}")
    server.url = line.split("serving on ")[1].split()[0]
    return server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One torch-free server for the tests that do not restart it; uploads limited to 2 MB."""
    root = tmp_path_factory.mktemp("web")
    running = start_server(root / "data", root / "home", "--max-upload-mb", "2")
    yield running
    assert running.stop() == 0, running.stderr
    assert "Traceback" not in running.stderr, running.stderr


@pytest.fixture()
def fresh_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """``fresh_server(*options, torch=False, data_dir=None)``: servers for one test, all stopped after it."""
    started: list[Server] = []

    def start(*options: str, torch: bool = False, data_dir: Path | None = None) -> Server:
        running = start_server(data_dir or tmp_path / "data", tmp_path / "home", *options, torch=torch)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop(signal.SIGKILL)


# --------------------------------------------------------------------------------------------------
# Media


def camera_picture(width: int = 320, height: int = 240) -> np.ndarray:
    """What the fake camera shows, every frame: a colour gradient with a yellow block (RGB uint8)."""
    x = np.linspace(0.0, 1.0, width)[None, :]
    y = np.linspace(0.0, 1.0, height)[:, None]
    image = np.stack([40 + 160 * x + 0 * y, 30 + 180 * y + 0 * x, 200 - 120 * x * y], axis=-1)
    image = np.clip(image, 0, 255).astype(np.uint8)
    image[height // 3: 2 * height // 3, width // 3: 2 * width // 3] = (230, 200, 40)
    return image


def write_y4m(path: Path, frames: int = 15, width: int = 320, height: int = 240) -> Path:
    """A Y4M file of :func:`camera_picture` for Chromium's --use-file-for-fake-video-capture (it loops)."""
    yuv = cv2.cvtColor(camera_picture(width, height), cv2.COLOR_RGB2YUV_I420).tobytes()
    with path.open("wb") as handle:
        handle.write(f"YUV4MPEG2 W{width} H{height} F30:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            handle.write(b"FRAME\n" + yuv)
    return path


@pytest.fixture(scope="session")
def clip_with_sound(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2 s, 160x120, 24 fps H.264 clip with an AAC tone, index first (as phones write them)."""
    return write_clip(tmp_path_factory.mktemp("clips") / "holiday clip.mp4", frames=48, size=(160, 120),
                      audio="aac", faststart=True)


def png_bytes(image: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()
