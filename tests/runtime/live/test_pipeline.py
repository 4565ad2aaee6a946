"""The live pipeline end to end: sources to sinks, pacing, drops, the working size, live controls, signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from stylecast.errors import InputError
from stylecast.runtime import live
from stylecast.stylizer import Stylizer
from tests.runtime.conftest import gradient_frame, write_clip
from tests.runtime.live.conftest import (
    LIVE_CHILD,
    InThread,
    PixelCostEngine,
    SlowEngine,
    constant_clip,
    decode_all,
    events,
    ffmpeg_frames,
    free_port,
    live_args,
    no_stylecast_threads_left,
    read_mjpeg,
    send_request,
    wait_for_port,
)


def test_file_source_to_file_and_mjpeg_sinks(stylizer: Stylizer, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    source = write_clip(tmp_path / "in.mp4", frames=45, fps=30)
    target = tmp_path / "out.mp4"
    port = free_port()
    viewer = InThread(lambda: read_mjpeg(port, 5))
    ffmpeg_viewer = InThread(lambda: ffmpeg_frames(f"http://127.0.0.1:{port}/", 3))  # how OBS's media source reads
    assert live.run(live_args("--source", str(source), "--sink", str(target), "--sink", f"mjpeg://127.0.0.1:{port}",
                              "--style", "beta", "--json"), stylizer=stylizer) == 0
    end = events(capsys.readouterr().out)[-1]
    assert end["event"] == "end" and end["reason"] == "source ended"
    assert end["frames_in"] == 45 and end["frames_out"] + end["dropped"] == 45
    assert end["latency_ms"]["p95"] < 500

    frames, times = decode_all(target)
    assert len(frames) == end["delivered"][f"file {target.name}"] and frames[0].shape == (48, 64, 3)
    assert 1.0 < times[-1] - times[0] < 2.0  # stamped with capture times: the file plays in real time
    originals = [gradient_frame(i) for i in range(45)]
    assert np.abs(frames[5].astype(int) - originals[5]).mean() > 10  # stylized
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left

    for image in viewer.result() + ffmpeg_viewer.result():
        assert image.shape == (48, 64, 3)
        assert np.abs(image.astype(int) - frames[5]).mean() < 25  # the same stylized picture (JPEG vs H.264)
    assert no_stylecast_threads_left()


def test_slow_backend_drops_frames_and_latency_stays_bounded(model: str, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    slow = Stylizer(model, "onnx", "fp32", threads=1)
    slow.engine = SlowEngine(slow.engine, 0.1)  # 10 fps at best, from a 30 fps source
    source = write_clip(tmp_path / "in.mp4", frames=30, fps=30)
    assert live.run(live_args("--source", str(source), "--loop", "--sink", "null", "--sink", str(tmp_path / "o.mkv"),
                              "--duration", "3", "--stats-interval", "0.5", "--json"), stylizer=slow) == 0
    lines = events(capsys.readouterr().out)
    end = lines[-1]
    assert end["frames_in"] >= 75  # the source kept its pace
    assert end["frames_out"] <= 32
    assert end["dropped"] >= end["frames_in"] - end["frames_out"] - 1  # the rest was dropped, not queued
    assert end["latency_ms"]["p95"] < 250  # about one engine call plus a frame's wait, not seconds
    stats = [line for line in lines if line["event"] == "stats" and line["latency_ms"]["p95"] is not None]
    assert len(stats) >= 4
    assert stats[-1]["latency_ms"]["p95"] < stats[0]["latency_ms"]["p95"] + 60  # no growth over the run
    assert 5 <= stats[-1]["fps_out"] <= 11 and stats[-1]["fps_in"] > 25


@pytest.mark.parametrize("stabilize", [True, False])
def test_two_frames_in_flight_double_the_rate_and_keep_their_order(model: str, tmp_path: Path, stabilize: bool,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    slow = Stylizer(model, "onnx", "fp32", threads=1)
    slow.engine = SlowEngine(slow.engine, 0.1)  # 10 fps at best one frame at a time
    source = write_clip(tmp_path / "in.mp4", frames=30, fps=30)
    target = tmp_path / "out.mkv"
    argv = ["--source", str(source), "--loop", "--sink", str(target), "--workers", "2", "--duration", "3",
            "--stats-interval", "0.5", "--json"] + (["--stabilize"] if stabilize else [])
    assert live.run(live_args(*argv), stylizer=slow) == 0
    lines = events(capsys.readouterr().out)
    end = lines[-1]
    stats = [line for line in lines if line["event"] == "stats"]
    assert 15 <= stats[-1]["fps_out"] <= 21  # two at once: twice the one-at-a-time rate
    assert end["latency_ms"]["p95"] < 350  # about one engine call more than one at a time, not seconds
    frames, times = decode_all(target)
    assert len(frames) == end["delivered"][f"file {target.name}"] >= 40
    assert (np.diff(times) > 0).all()  # in capture order
    assert no_stylecast_threads_left()


def _fine_detail(image: np.ndarray) -> np.ndarray:
    """Grey minus its 3x3 average: what a picture scaled down and up again loses."""
    gray = image.astype(np.float32).mean(axis=2)
    return gray - cv2.blur(gray, (3, 3), borderType=cv2.BORDER_REPLICATE)


def test_target_fps_lowers_the_working_size_not_the_output_nor_its_detail(
        model: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    engine = Stylizer(model, "onnx", "fp32", threads=1)
    engine.engine = PixelCostEngine(engine.engine, 0.1)  # 10 fps at full size
    # One-pixel stripes over a gradient: detail that G at any smaller size cannot see.
    picture = gradient_frame(0, 160, 120)
    picture[:, ::2] = (picture[:, ::2] * 0.5).astype(np.uint8)
    source = constant_clip(tmp_path / "in.mp4", frames=30, image=picture)
    target = tmp_path / "out.mp4"
    assert live.run(live_args("--source", str(source), "--loop", "--sink", str(target), "--target-fps", "15",
                              "--duration", "3", "--stats-interval", "0.5", "--json"), stylizer=engine) == 0
    stats = [line for line in events(capsys.readouterr().out) if line["event"] == "stats"]
    width, height = (int(side) for side in stats[-1]["processing_size"].split("x"))
    assert width < 160 and height < 120 and width / height == pytest.approx(4 / 3, rel=0.05)
    assert stats[-1]["fps_out"] >= 12
    frames, _ = decode_all(target)
    assert {frame.shape for frame in frames} == {(120, 160, 3)}  # the sinks always get the output size
    # The output is G's picture brought back with the frame's own detail (the fast path), not G's
    # small picture scaled up: the stripes are still there, where they were.
    kept = np.corrcoef(_fine_detail(frames[-1]).ravel(), _fine_detail(decode_all(source)[0][0]).ravel())[0, 1]
    assert kept > 0.5


def test_post_state_changes_style_mid_stream(stylizer: Stylizer, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    source = constant_clip(tmp_path / "still.mp4", frames=30)
    stream_port, control_port = free_port(), free_port()
    stop = threading.Event()

    def drive() -> dict[str, Any]:
        before = read_mjpeg(stream_port, 3)
        wait_for_port(control_port)
        results: dict[str, Any] = {"before": before}
        results["get"] = send_request(control_port, "GET", None)
        results["bad_style"] = send_request(control_port, "POST", {"style": "no_such_style"})
        results["bad_field"] = send_request(control_port, "POST", {"colour": True})
        results["not_json"] = send_request(control_port, "POST", "style=beta", content_type="text/plain")
        results["post"] = send_request(control_port, "POST", {"style": "beta", "strength": 0.9})
        results["during"] = read_mjpeg(stream_port, 8)  # about the 0.5 s of the crossfade
        time.sleep(0.8)  # the crossfade is over
        results["after"] = read_mjpeg(stream_port, 2)
        stop.set()
        return results

    driver = InThread(drive)
    assert live.run(live_args("--source", str(source), "--loop", "--sink", f"mjpeg://127.0.0.1:{stream_port}",
                              "--control", f"127.0.0.1:{control_port}", "--style", "alpha", "--duration", "8",
                              "--json"), stop=stop, stylizer=stylizer) == 0
    results = driver.result()
    end = events(capsys.readouterr().out)[-1]
    assert end["reason"] == "stopped" and end["style"] == "beta" and end["strength"] == 0.9

    status, state = results["get"]
    assert status == 200 and state["style"] == "alpha" and state["styles"] == ["alpha", "beta"]
    assert "fps_out" in state["stats"]
    status, body = results["bad_style"]
    assert status == 400 and "unknown style 'no_such_style'" in body["error"] and "alpha, beta" in body["error"]
    status, body = results["bad_field"]
    assert status == 400 and "colour" in body["error"] and "preserve_color" in body["error"]
    assert results["not_json"][0] == 415
    status, state = results["post"]
    assert status == 200 and state["style"] == "beta"

    before, during, after = results["before"], results["during"], results["after"]
    noise = np.abs(before[0].astype(int) - before[-1]).mean()  # same style and picture: H.264 and JPEG noise
    change = np.abs(before[-1].astype(int) - after[-1]).mean()
    assert noise < 10 and change > 5 * noise + 20
    # Mid-fade pictures lie between the two styles: the stream crossfades instead of jumping.
    between = [frame for frame in during if min(np.abs(frame.astype(int) - before[-1]).mean(),
                                                 np.abs(frame.astype(int) - after[-1]).mean()) > 0.15 * change]
    assert between, "no frame between the two styles: the style jumped"


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_cleanly_with_a_playable_file(stylizer: Stylizer, model: str, tmp_path: Path,
                                                   stop_signal: int) -> None:
    source = write_clip(tmp_path / "in.mp4", frames=30, fps=30)
    target = tmp_path / "out.mkv"
    process = subprocess.Popen(
        [sys.executable, "-c", LIVE_CHILD, "live", "--source", str(source), "--loop", "--sink", str(target),
         "--model", model, "--threads", "1", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # the "start" event: the pipeline is running
        assert json.loads(first)["event"] == "start", first
        time.sleep(1.0)
        process.send_signal(stop_signal)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    end = events(out)[-1]
    assert end["event"] == "end" and end["reason"] == "stopped"
    frames, _ = decode_all(target)
    assert len(frames) == end["delivered"][f"file {target.name}"] >= 15


def test_window_sink_keys_with_dummy_video_driver(stylizer: Stylizer, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    pygame = pytest.importorskip("pygame", reason="the window sink needs the live extra (pygame)")
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    source = write_clip(tmp_path / "in.mp4", frames=30, fps=30)

    def press_keys() -> None:
        deadline = time.monotonic() + 10
        while pygame.display.get_surface() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)
        for char, key in (("n", pygame.K_n), ("c", pygame.K_c), ("-", pygame.K_MINUS)):
            pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=key, unicode=char, mod=0, scancode=0))
        time.sleep(0.3)
        pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_q, unicode="q", mod=0, scancode=0))

    presser = InThread(press_keys)
    assert live.run(live_args("--source", str(source), "--loop", "--sink", "window", "--duration", "8", "--json"),
                    stylizer=stylizer) == 0
    presser.result()
    end = events(capsys.readouterr().out)[-1]
    assert end["reason"] == "stopped"  # q quit before --duration
    assert end["style"] == "beta" and end["preserve_color"] is True and end["strength"] == 0.9
    assert end["delivered"]["window"] >= 5


def test_compiled_torch_backend_runs_live_and_compiles_before_the_stream(model: str, tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    source = write_clip(tmp_path / "in.mp4", frames=20, fps=30)
    target = tmp_path / "out.mp4"
    assert live.run(live_args("--source", str(source), "--loop", "--duration", "2", "--sink", str(target),
                              "--model", model, "--style", "beta", "--backend", "torch", "--compile", "--json")) == 0
    lines = events(capsys.readouterr().out)
    assert lines[0]["engine"].endswith("+compile")
    end = lines[-1]
    # Compiled before the first frame was taken from the source: no stall mid-stream, so latency stays low.
    # (A stall of seconds, as compiling on a live frame would be, would show in p95; the frame count
    # depends on the machine's load, so it is only required to be more than a handful.)
    assert end["frames_out"] >= 5 and end["latency_ms"]["p95"] < 1000
    frames, _ = decode_all(target)
    assert len(frames) == end["delivered"][f"file {target.name}"] >= 5
    assert np.abs(frames[5].astype(int) - gradient_frame(5)).mean() > 10


def test_compile_with_target_fps_is_refused(model: str) -> None:
    with pytest.raises(InputError, match="--compile builds G for one frame size"):
        live.run(live_args("--source", "0", "--sink", "null", "--model", model, "--backend", "torch", "--compile",
                           "--target-fps", "30"))
