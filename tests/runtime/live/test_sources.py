"""Live sources: a lost stream, a missing camera, bad --source arguments, the newest-frame mailbox."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import cv2
import pytest

from stylecast.errors import InputError
from stylecast.runtime import live
from stylecast.runtime.live.frames import Mailbox
from stylecast.runtime.live.sources import CameraSource, SourceLostError, open_source
from stylecast.stylizer import Stylizer
from tests.runtime.conftest import gradient_frame
from tests.runtime.live.conftest import decode_all, events, live_args, no_stylecast_threads_left


class _FlakyMjpegCamera:
    """An HTTP MJPEG "IP camera" that serves ``frames`` frames per connection to ``connections`` clients,
    then goes away for good (its port closes)."""

    def __init__(self, frames: int, connections: int) -> None:
        parent = self
        self.served = 0

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                parent.served += 1
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=cam")
                self.end_headers()
                for index in range(frames):
                    ok, jpeg = cv2.imencode(".jpg", gradient_frame(index)[..., ::-1])
                    data = jpeg.tobytes()
                    self.wfile.write(b"--cam\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(data)
                                     + data + b"\r\n")
                    time.sleep(1 / 30)
                if parent.served >= connections:
                    threading.Thread(target=parent.server.shutdown, daemon=True).start()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.server.serve_forever(poll_interval=0.05)
        self.server.server_close()  # after shutdown: new connections are refused


def test_source_that_disappears_ends_cleanly(stylizer: Stylizer, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    camera = _FlakyMjpegCamera(frames=20, connections=2)
    target = tmp_path / "recording.mp4"
    started = time.monotonic()
    with pytest.raises(SourceLostError) as caught:
        live.run(live_args("--source", f"http://127.0.0.1:{camera.port}/", "--sink", str(target),
                           "--reconnect", "2", "--json"), stylizer=stylizer)
    assert time.monotonic() - started < 12  # bounded: two connections, then two quick refused attempts
    message = str(caught.value)
    assert "was lost" in message and "2 reconnect attempt(s) failed" in message and "--reconnect" in message
    end = events(capsys.readouterr().out)[-1]
    assert end["reason"] == "source lost" and end["reconnects"] == 1
    assert end["frames_in"] > 20  # the second connection delivered too: one reconnect worked
    frames, _ = decode_all(target)  # what was recorded before the loss is a complete, playable file
    assert len(frames) == end["delivered"][f"file {target.name}"] >= 5
    assert no_stylecast_threads_left()


def test_missing_camera_is_a_clear_error() -> None:
    with pytest.raises(InputError, match="cannot open the camera /dev/video97: check it is connected"):
        CameraSource("/dev/video97").start()


@pytest.mark.parametrize(("spec", "message"), [
    ("nope.mp4", "not a camera, a stream URL or an existing file"),
])
def test_bad_source_arguments(spec: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        open_source(spec)


def test_mailbox_keeps_only_the_newest() -> None:
    box: Mailbox[int] = Mailbox()
    assert box.put(1) is False and box.put(2) is True and box.put(3) is True
    assert box.take(0) == 3 and box.replaced == 2
    assert box.take(0.01) is None
    box.close()
    assert box.take(None) is None  # a closed mailbox never blocks
