"""The fast path for large frames: the working size, the guided upscale, and how Stylizer uses them."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from stylecast.cli import main
from stylecast.io.frames import i420_size, i420_to_rgb, is_i420, rgb_to_i420
from stylecast.runtime import upscale
from stylecast.runtime.bench import psnr
from stylecast.runtime.upscale import WorkingSize, guided_upscale, shrink, working_dims
from stylecast.stylizer import Stylizer


def _photo(width: int = 640, height: int = 480) -> np.ndarray:
    """Smooth colour fields with sharp, one-pixel detail: a grid of thin dark lines and a bright disc."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.stack([x / width, y / height, 0.5 + 0.3 * np.sin(x / 40.0)], axis=-1) * 200 + 20
    image[(x.astype(int) % 23 == 0) | (y.astype(int) % 29 == 0)] = 10
    image[(x - width / 2) ** 2 + (y - height / 2) ** 2 < (height / 5) ** 2] = 240
    return image.astype(np.uint8)


def test_working_dims_keep_the_aspect_and_even_sides() -> None:
    assert working_dims(1280, 720, 360) == (640, 360)
    assert working_dims(1920, 1080, 360) == (640, 360)
    assert working_dims(720, 1280, 360) == (360, 640)
    assert working_dims(1001, 667, 360) == (540, 360)
    assert working_dims(640, 360, 360) is None and working_dims(480, 360, 360) is None
    assert working_dims(1280, 720, None) is None


def test_the_frames_detail_comes_back_where_bilinear_loses_it() -> None:
    frame = _photo()
    small = shrink(frame, (320, 240))
    # A G that traces the photo (here: the photo itself, tinted) leaves the fine lines to the upscale.
    styled = np.clip(small.astype(np.int16) + [30, -20, 10], 0, 255).astype(np.uint8)
    tinted = np.clip(frame.astype(np.int16) + [30, -20, 10], 0, 255).astype(np.uint8)
    fast = guided_upscale(frame, small, styled)
    plain = cv2.resize(styled, (640, 480), interpolation=cv2.INTER_LINEAR)
    assert fast.shape == frame.shape and fast.dtype == np.uint8
    error_fast = np.abs(fast.astype(float) - tinted).mean()
    error_plain = np.abs(plain.astype(float) - tinted).mean()
    assert error_fast < 0.6 * error_plain, (error_fast, error_plain)


def test_a_flat_frame_adds_nothing_to_gs_picture() -> None:
    frame = np.full((480, 640, 3), 90, np.uint8)
    small = shrink(frame, (320, 240))
    styled = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)  # G's own texture
    assert np.array_equal(guided_upscale(frame, small, styled),
                          cv2.resize(styled, (640, 480), interpolation=cv2.INTER_LINEAR))


def test_the_gain_is_at_least_the_detail_floor_and_at_most_its_cap() -> None:
    small = _photo(320, 240)
    inverted = 255 - small  # a G that inverts the photo has a negative gain: the floor keeps some detail
    gain = upscale.local_gain(small, inverted)
    assert gain.shape == (240, 320) and gain.dtype == np.float32
    assert gain.min() >= upscale.DETAIL and gain.max() <= upscale.MAX_GAIN
    # Where the photo has detail (its lines), a G that traces it has a gain near 1.
    gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255
    busy = cv2.blur(gray * gray, (9, 9)) - cv2.blur(gray, (9, 9)) ** 2 > 0.01
    assert busy.mean() > 0.2
    traced = upscale.local_gain(small, small)
    assert np.median(traced[busy]) > 0.8 and traced.max() < 1.02  # and never more than the detail there was


def test_auto_measures_once_per_frame_size_and_picks_by_speed() -> None:
    calls: list[tuple[int, int]] = []

    def slow(dims: tuple[int, int]) -> float:
        calls.append(dims)
        return 0.02  # a 2-core CPU: over the budget even at 360

    auto = WorkingSize("auto")
    assert auto.dims(640, 480, slow) is None and calls == []  # small frames: full size, nothing timed
    assert auto.dims(1280, 720, slow) == (640, 360)
    assert auto.dims(1280, 720, slow) == (640, 360) and calls == [(640, 360)]
    assert WorkingSize("auto").dims(1920, 1080, lambda dims: 0.001) is None  # a GPU: full size fits
    assert WorkingSize("auto").dims(3840, 2160, lambda dims: 0.003) == (1280, 720)
    assert WorkingSize("full").dims(3840, 2160, slow) is None
    assert WorkingSize(480).dims(1280, 720, slow) == (854, 480)
    with pytest.raises(ValueError):
        WorkingSize("half")


def test_auto_aims_video_at_the_goal_rates() -> None:
    """Video up to 1080 px: G gets 30% of a frame at 30 fps (720p) or 15 fps (1080p), with its frames
    in flight; never under a quarter of the short side. Stills and 4K keep the still rule (360 px on a
    slow machine)."""
    def two_core(dims: tuple[int, int]) -> float:
        assert dims == (640, 360)  # timed at the default side, whatever the frame
        return 0.05  # G at 640x360 on one core of a 2-core Zen 3

    two = WorkingSize("auto", parallel=2)
    assert two.dims(1280, 720, two_core, video=True) == (384, 216)  # 50 ms x 0.36 = 18 ms <= 0.3 x 2 / 30
    assert two.dims(1920, 1080, two_core, video=True) == (512, 288)  # 360 px: 50 ms > 40 ms; 288: 32 ms
    assert two.dims(1280, 720, two_core) == (640, 360)  # a still picture: as before
    assert two.dims(3840, 2160, two_core, video=True) == (640, 360)  # beyond the goals: the still rule
    assert two.describe(1280, 720, video=True) == "384x216" and two.describe(1280, 720) == "640x360"
    one = WorkingSize("auto", parallel=1)  # one frame at a time: half the budget
    assert one.dims(1280, 720, two_core, video=True) == (384, 216)  # nothing fits: the floor
    assert one.dims(1920, 1080, two_core, video=True) == (512, 288)  # 216 fits, but is under 1080 / 4
    assert one.dims(1920, 1080, lambda dims: 0.09, video=True) == (512, 288)  # a slower machine: the same
    gpu = WorkingSize("auto")
    assert gpu.dims(1920, 1080, lambda dims: 0.001, video=True) is None
    assert gpu.dims(1280, 720, lambda dims: 0.004, video=True) == (960, 540)  # 16 ms at 540 <= 0.3 / 30 s


def test_stylizer_runs_g_at_the_working_size_for_large_frames(model: str) -> None:
    frame = _photo(1280, 720)
    fast = Stylizer(model, working_size=360)
    full = Stylizer(model, working_size="full")
    code = fast.code("alpha")
    seen: list[tuple[int, ...]] = []
    engine = fast.engine

    def spy(frames: np.ndarray, *args: object) -> np.ndarray:
        seen.append(frames.shape)
        return engine(frames, *args)  # type: ignore[call-arg]

    fast.engine = spy  # type: ignore[assignment]
    out = fast.stylize(frame, code)
    assert seen == [(1, 360, 640, 3)] and out.shape == frame.shape
    reference = full.stylize(frame, code)
    # The same style as G at full size: the same palette (per-channel means, in grey levels).
    assert np.abs(out.mean(axis=(0, 1)) - reference.mean(axis=(0, 1))).max() < 12
    # Strength and colour still apply at full size.
    assert np.array_equal(fast.stylize(frame, code, strength=0.0), frame)
    batch = fast.stylize(np.stack([frame, frame[::-1]]), code)
    assert batch.shape == (2, 720, 1280, 3) and np.array_equal(batch[0], out)


def test_a_work_size_per_call_overrides_the_setting(model: str) -> None:
    frame = _photo(640, 360)
    stylizer = Stylizer(model, working_size="full")
    code = stylizer.code("alpha")
    assert stylizer.work_size_for(640, 360) == (640, 360)
    assert Stylizer(model, working_size=180).work_size_for(640, 360, "alpha") == (320, 180)
    # The frame's own size is G at full size; a smaller one is the fast path at that size.
    assert np.array_equal(stylizer.stylize(frame, code, work_size=(640, 360)), stylizer.stylize(frame, code))
    assert np.array_equal(stylizer.stylize(frame, code, work_size=(320, 180)),
                          Stylizer(model, working_size=180).stylize(frame, code))


def test_cli_working_size(model: str, tmp_path: Path) -> None:
    photo = tmp_path / "big.png"
    cv2.imwrite(str(photo), cv2.cvtColor(_photo(1280, 720), cv2.COLOR_RGB2BGR))
    outs = {}
    for setting in ("full", "360", "auto"):
        target = tmp_path / f"out_{setting}.png"
        assert main(["stylize", str(photo), "--style", "alpha", "--model", model, "--working-size", setting,
                     "-o", str(target)]) == 0
        outs[setting] = cv2.imread(str(target))
        assert outs[setting].shape == (720, 1280, 3)
    assert not np.array_equal(outs["full"], outs["360"])
    assert main(["stylize", str(photo), "--style", "alpha", "--model", model, "--working-size", "8",
                 "-o", str(tmp_path / "x.png")]) == 2
    assert not (tmp_path / "x.png").exists()


def test_bench_reports_the_working_size_and_the_stages(model: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--resolutions", "640x480", "--frames", "3", "--backends", "onnx:fp32", "--no-peer",
                 "--model", model, "--working-size", "240", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [r["working"] for r in rows] == ["320x240", "full"]
    assert set(rows[0]["cpu_ms"]) == {"decode", "stylize", "stabilize", "upsample", "encode"}
    assert rows[0]["cpu_ms"]["upsample"] > 0 and rows[1]["cpu_ms"]["upsample"] == 0


def test_describe_says_what_was_chosen() -> None:
    auto = WorkingSize("auto")
    assert auto.describe(640, 480) == "full" and auto.describe(1280, 720) == "not chosen yet"
    auto.dims(1280, 720, lambda dims: 0.02)
    assert auto.describe(1280, 720) == "640x360"
    assert WorkingSize(360).describe(1920, 1080) == "640x360" and WorkingSize("full").describe(1920, 1080) == "full"


def test_auto_counts_the_callers_frames_in_flight(model: str) -> None:
    import os

    assert Stylizer(model, threads=1, workers=3).working_size.parallel == 3
    assert Stylizer(model, threads=1).working_size.parallel == os.cpu_count()  # a frame per core
    assert Stylizer(model).working_size.parallel == 1  # one frame on every core


def test_load_model_takes_the_working_size(model: str) -> None:
    from stylecast import load_model

    assert load_model(model).working_size.setting == "auto"
    assert load_model(model, working_size="full").working_size.setting == "full"
    assert load_model(model, working_size=480).working_size.describe(1280, 720) == "854x480"
    with pytest.raises(ValueError, match="working size"):
        load_model(model, working_size=0)


def _stripes(width: int, height: int) -> np.ndarray:
    """:func:`_photo` with one-pixel stripes over its left half: detail no working size can hold."""
    frame = _photo(width, height)
    frame[:, : width // 2][::2] = 30
    return frame


def test_the_i420_fast_path_is_the_rgb_fast_path(model: str) -> None:
    frame = _stripes(1280, 720)
    stylizer = Stylizer(model, working_size=360)
    code = stylizer.code("alpha")
    rgb = stylizer.stylize(frame, code)
    out = stylizer.stylize_i420(rgb_to_i420(frame), code)
    assert is_i420(out) and i420_size(out) == (1280, 720)
    picture = i420_to_rgb(out)[0]
    assert psnr(rgb, picture) > 35.0
    # The stripes come back from the frame in both: G at 640x360 cannot draw them.
    rows = cv2.cvtColor(picture, cv2.COLOR_RGB2GRAY)[100:600, 100:600].astype(float).mean(axis=1)
    assert np.abs(np.diff(rows)).mean() > 20.0


def test_i420_upscale_agrees_with_the_rgb_upscale() -> None:
    frame = _stripes(640, 480)
    planar = rgb_to_i420(frame)
    small, small_y = upscale.shrink_i420(planar, (320, 240))
    assert small.shape == (240, 320, 3) and small_y.shape == (240, 320)
    styled = np.clip(small.astype(np.int16) + [30, -20, 10], 0, 255).astype(np.uint8)
    out = i420_to_rgb(upscale.guided_upscale_i420(planar, small_y, styled))[0]
    reference = guided_upscale(i420_to_rgb(planar)[0], small, styled)
    assert psnr(reference, out) > 35.0


def test_i420_strength_colour_and_full_size(model: str) -> None:
    frame = rgb_to_i420(_photo(640, 360))
    stylizer = Stylizer(model, working_size=180)
    code = stylizer.code("alpha")
    out = stylizer.stylize_i420(frame, code)
    assert np.array_equal(stylizer.stylize_i420(frame, code, strength=0.0), frame)
    kept = stylizer.stylize_i420(frame, code, preserve_color=True)
    assert np.array_equal(kept[360:], frame[360:]) and np.array_equal(kept[:360], out[:360])
    half = stylizer.stylize_i420(frame, code, strength=0.5).astype(int)
    assert np.abs(half - (frame.astype(int) + out) / 2).max() <= 1
    # G at the frame's own size: the RGB path's picture as the encoder would store it (4:2:0).
    full = stylizer.stylize_i420(frame, code, work_size=(640, 360))
    assert psnr(rgb_to_i420(stylizer.stylize(i420_to_rgb(frame)[0], code, work_size=(640, 360))), full) > 40.0
    with pytest.raises(ValueError, match="I420"):
        stylizer.stylize_i420(_photo(64, 48), code)
