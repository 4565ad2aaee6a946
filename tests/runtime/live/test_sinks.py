"""Live sinks: RTMP through a real nginx, the virtual camera, bad --sink arguments."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from stylecast.errors import InputError, MissingDependencyError
from stylecast.runtime import live
from stylecast.runtime.live.sinks import RtmpSink, VirtualCamSink, parse_sink
from stylecast.runtime.live.sources import open_source
from stylecast.stylizer import Stylizer
from tests.runtime.conftest import gradient_frame
from tests.runtime.live.conftest import NGINX_RTMP_MODULE, InThread, events, free_port, live_args, wait_for_port


@pytest.fixture()
def nginx_rtmp(tmp_path: Path) -> Iterator[int]:
    """A real nginx with the RTMP module on loopback, with a temporary config; yields its port."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx is None:
        pytest.skip("nginx is not installed (apt-get install nginx libnginx-mod-rtmp)")
    if not NGINX_RTMP_MODULE.exists():
        pytest.skip(f"the nginx RTMP module is missing ({NGINX_RTMP_MODULE}): apt-get install libnginx-mod-rtmp")
    port = free_port()
    prefix = tmp_path / "nginx"
    (prefix / "logs").mkdir(parents=True)
    config = prefix / "nginx.conf"
    config.write_text(f"""
load_module {NGINX_RTMP_MODULE};
daemon off;
master_process off;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log info;
events {{ worker_connections 64; }}
rtmp {{ server {{ listen 127.0.0.1:{port}; chunk_size 4096;
                 application live {{ live on; record off; }} }} }}
""")
    process = subprocess.Popen([nginx, "-p", str(prefix), "-c", str(config), "-e", str(prefix / "logs/error.log")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        try:
            wait_for_port(port, 10.0)
        except AssertionError:
            process.kill()
            _, error = process.communicate(timeout=5)
            pytest.fail(f"nginx did not start: {error.decode(errors='replace')}")
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_rtmp_in_and_out_through_nginx(stylizer: Stylizer, nginx_rtmp: int,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """A camera-like publisher -> nginx -> live (RTMP source) -> nginx (RTMP sink) -> a player decodes it."""
    camera_url = f"rtmp://127.0.0.1:{nginx_rtmp}/live/camera"
    output_url = f"rtmp://127.0.0.1:{nginx_rtmp}/live/stylized"
    publishing = threading.Event()

    def publish() -> int:
        sent = 0
        with av.open(camera_url, "w", format="flv", timeout=(5, 5)) as container:
            stream = container.add_stream("libx264", rate=30, options={"preset": "ultrafast", "tune": "zerolatency"})
            stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
            stream.codec_context.time_base = Fraction(1, 1000)
            stream.codec_context.gop_size = 15  # a player joining mid-stream starts at a keyframe: have many
            started = time.monotonic()
            while publishing.is_set() and time.monotonic() - started < 15:
                frame = av.VideoFrame.from_ndarray(gradient_frame(0), format="rgb24")
                frame.pts, frame.time_base = round((time.monotonic() - started) * 1000), Fraction(1, 1000)
                container.mux(stream.encode(frame))
                sent += 1
                time.sleep(1 / 30)
            container.mux(stream.encode(None))
        return sent

    def watch() -> list[np.ndarray]:
        frames = []
        # A player may join before the publisher: nginx-rtmp holds it until the stream starts.
        options = {"probesize": "100000", "analyzeduration": "500000", "fflags": "nobuffer"}
        with av.open(output_url, options=options, timeout=(15, 10)) as container:
            assert container.streams.video[0].codec_context.name == "h264"
            for frame in container.decode(video=0):
                frames.append(frame.to_ndarray(format="rgb24"))
                if len(frames) == 15:
                    break
        return frames

    viewer = InThread(watch)
    publishing.set()
    publisher = InThread(publish)
    try:
        assert live.run(live_args("--source", camera_url, "--sink", output_url, "--duration", "5", "--json"),
                        stylizer=stylizer) == 0
    finally:
        publishing.clear()
    assert publisher.result() >= 60
    end = events(capsys.readouterr().out)[-1]
    assert end["frames_in"] >= 30 and end["delivered"]["rtmp"] >= 30
    frames = viewer.result()
    assert len(frames) == 15 and frames[0].shape == (48, 64, 3)
    expected = stylizer.stylize(gradient_frame(0), stylizer.code("alpha"))
    for frame in frames:
        assert np.abs(frame.astype(int) - gradient_frame(0)).mean() > 10  # stylized, not passed through
        assert np.abs(frame.astype(int) - expected).mean() < 25  # the stylized picture, through two H.264 trips


def test_virtualcam_without_driver_says_how_to_get_one() -> None:
    sink = VirtualCamSink()
    try:
        sink.open(64, 48, 30.0)
    except MissingDependencyError as error:
        assert "pip install 'stylecast[live]'" in str(error)
    except InputError as error:
        assert "no virtual camera driver" in str(error) and "v4l2loopback" in str(error)
    else:
        sink.close()
        pytest.skip("a virtual camera driver is installed here: nothing to complain about")


def test_unreachable_rtmp_server_fails_at_once() -> None:
    started = time.monotonic()
    with pytest.raises(InputError, match="check the server is running"):
        RtmpSink(f"rtmp://127.0.0.1:{free_port()}/live/x").open(64, 48, 30.0)
    assert time.monotonic() - started < 6


def test_bad_sink_arguments(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="rtmp://"):
        parse_sink("ftp://example.com/x")
    with pytest.raises(InputError, match="video file"):
        parse_sink(str(tmp_path / "out.txt"))
    with pytest.raises(InputError, match="does not exist"):
        parse_sink(str(tmp_path / "missing" / "out.mp4"))
    with pytest.raises(InputError, match="HOST:PORT"):
        parse_sink("mjpeg://localhost")
    with pytest.raises(InputError, match="--loop repeats a file"):
        open_source("rtsp://127.0.0.1/cam", loop=True)
