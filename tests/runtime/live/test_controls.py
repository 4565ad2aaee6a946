"""Live controls: the style crossfade, window keys, the working-size governor, the stabiliser."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from stylecast.errors import InputError, StylecastError
from stylecast.runtime import live
from stylecast.runtime.live.control import handle_key
from stylecast.runtime.stabilize import FlowStabilizer, Motion
from stylecast.stylizer import Stylizer


def test_crossfade_is_smooth_and_restarts_from_where_it_is() -> None:
    start, end, other = np.zeros((1, 4), np.float32), np.ones((1, 4), np.float32), np.full((1, 4), 3.0, np.float32)
    fader = live.StyleFader(start, seconds=0.5)
    fader.set(end, now=10.0)
    samples = [float(fader.code(10.0 + t)[0, 0]) for t in np.arange(0.0, 0.61, 0.01)]
    assert samples[0] == 0.0 and samples[-1] == 1.0
    assert all(b >= a for a, b in zip(samples, samples[1:], strict=False))  # monotonic
    assert max(b - a for a, b in zip(samples, samples[1:], strict=False)) < 0.04  # no jump between frames
    assert fader.fading(10.3) and not fader.fading(10.6)
    middle = fader.code(10.25)
    fader.set(other, now=10.25)  # a new style mid-fade starts from the picture on screen
    np.testing.assert_allclose(fader.code(10.25), middle)
    np.testing.assert_allclose(fader.code(11.0), other)


def test_governor_finds_a_size_that_meets_the_target_and_comes_back() -> None:
    governor = live.ResolutionGovernor(640, 480, target_fps=20)
    load = {"cost": 1.0}  # seconds per megapixel

    def frame_time() -> float:
        width, height = governor.size
        return load["cost"] * 0.15 * width * height / (640 * 480)  # 150 ms at full size when cost is 1

    now = 0.0
    for _ in range(200):
        now += 0.05
        governor.observe(frame_time(), now)
    assert frame_time() <= 1 / 20 * 1.05 and governor.size[0] >= 320  # fast enough, not smaller than needed
    load["cost"] = 0.2  # the machine got faster (another job ended): the size comes back up
    for _ in range(600):
        now += 0.05
        governor.observe(frame_time(), now)
    assert governor.size == (640, 480)
    assert live.ResolutionGovernor(640, 480, target_fps=None).size == (640, 480)


def test_stabilizer_calms_flicker_and_follows_motion() -> None:
    rng = np.random.default_rng(0)
    scene = cv2.resize(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8), (160, 120), interpolation=cv2.INTER_CUBIC)
    stylized = cv2.GaussianBlur(scene, (5, 5), 0)
    stabilizer = FlowStabilizer(blend=0.6)
    raw, calmed = [], []
    for _ in range(12):
        flicker = np.clip(stylized.astype(int) + rng.normal(0, 12, stylized.shape), 0, 255).astype(np.uint8)
        raw.append(flicker)
        calmed.append(stabilizer(scene, flicker))
    assert stabilizer.last_reliable > 0.9  # a still scene: the flow is reliable everywhere
    raw_change = np.mean([np.abs(b.astype(int) - a).mean() for a, b in zip(raw[4:], raw[5:], strict=False)])
    calm_change = np.mean([np.abs(b.astype(int) - a).mean() for a, b in zip(calmed[4:], calmed[5:], strict=False)])
    assert calm_change < 0.7 * raw_change

    stabilizer.reset()
    stabilizer(scene, stylized)
    moved_scene, moved_stylized = np.roll(scene, 3, axis=1), np.roll(stylized, 3, axis=1)
    out = stabilizer(moved_scene, moved_stylized)
    inner = (slice(10, -10), slice(10, -10))
    # The previous output was moved with the picture: blending it in does not smear the edges.
    assert np.abs(out[inner].astype(int) - moved_stylized[inner]).mean() < 4
    assert stabilizer(np.zeros((60, 80, 3), np.uint8), np.zeros((60, 80, 3), np.uint8)).shape == (60, 80, 3)


def test_stabilizer_keeps_the_fresh_frame_where_the_moved_picture_does_not_match() -> None:
    # A light comes on in one corner of a still scene: the flow is near zero there and passes the
    # forward-backward check, but the previous frame no longer looks like this one, so blending the
    # previous output in would leave a ghost of the dark corner.
    rng = np.random.default_rng(1)
    scene = cv2.resize(rng.integers(0, 200, (24, 32, 3), dtype=np.uint8), (160, 120), interpolation=cv2.INTER_CUBIC)
    stabilizer = FlowStabilizer(blend=0.6)
    stabilizer(scene, np.full_like(scene, 40))
    lit = scene.copy()
    lit[:60, :80] = np.clip(lit[:60, :80].astype(int) + 60, 0, 255).astype(np.uint8)
    out = stabilizer(lit, np.full_like(scene, 200))
    assert (out[8:52, 8:72] == 200).all()  # the lit corner: the fresh stylized frame, untouched
    assert np.abs(out[70:, 90:].astype(int) - (0.6 * 40 + 0.4 * 200)).max() <= 1  # the rest: blended


def test_keys_change_the_controls(stylizer: Stylizer) -> None:
    controls = live.LiveControls(stylizer, "alpha")
    assert handle_key("n", controls) is None and controls.state()["style"] == "beta"
    handle_key("right", controls)
    assert controls.state()["style"] == "alpha"  # wraps around
    handle_key("2", controls)
    assert controls.state()["style"] == "beta"
    handle_key("-", controls)
    handle_key("down", controls)
    assert controls.state()["strength"] == pytest.approx(0.8)
    handle_key("+", controls)
    assert controls.state()["strength"] == pytest.approx(0.9)
    handle_key("s", controls)
    handle_key("c", controls)
    assert controls.state()["stabilize"] and controls.state()["preserve_color"]
    assert [handle_key(k, controls) for k in ("o", "h", "q", "escape")] == ["overlay", "help", "quit", "quit"]
    with pytest.raises(StylecastError):
        controls.update({"strength": 2})
    with pytest.raises(InputError):
        controls.update({"stabilize": "yes"})
    assert controls.state()["strength"] == pytest.approx(0.9)  # a bad request changed nothing


def test_stabilizer_motion_can_run_ahead_of_the_blend() -> None:
    # The file pipeline measures each frame's motion as frames are handed out, before earlier frames'
    # outputs exist; the blend must come out as when both steps run frame by frame. The frame size is
    # not a multiple of the blend's strips, and the flow is measured on a smaller copy.
    rng = np.random.default_rng(2)
    scene = cv2.resize(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8), (410, 307), interpolation=cv2.INTER_CUBIC)
    frames = [np.roll(scene, 2 * step, axis=1) for step in range(6)]
    outputs = [np.clip(cv2.GaussianBlur(f, (5, 5), 0).astype(int) + rng.normal(0, 12, f.shape), 0, 255)
               .astype(np.uint8) for f in frames]
    together = FlowStabilizer(flow_side=128)
    expected = [together(f, o) for f, o in zip(frames, outputs, strict=True)]
    split = FlowStabilizer(flow_side=128)
    motions = [split.motion(f) for f in frames]
    assert motions[0] is None and all(m is not None and m.reliable > 0.5 for m in motions[1:])
    for motion, output, want in zip(motions, outputs, expected, strict=True):
        assert np.array_equal(split.settle(motion, output), want)
    # A blended frame really took in the previous output (moved): it is not the fresh frame.
    assert np.abs(expected[-1].astype(int) - outputs[-1]).mean() > 2


def test_stabilizer_blend_in_strips_matches_one_whole_frame_warp() -> None:
    # The reference: the whole-frame map made by one resize, one remap, one blend.
    rng = np.random.default_rng(3)
    scene = cv2.resize(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8), (410, 307), interpolation=cv2.INTER_CUBIC)
    previous, fresh = cv2.GaussianBlur(scene, (7, 7), 0), cv2.GaussianBlur(scene, (3, 3), 0)
    flow = np.dstack([np.full((24, 32), 1.5, np.float32),
                      np.linspace(-2, 2, 24 * 32, dtype=np.float32).reshape(24, 32)])
    unreliable = np.zeros((24, 32), np.uint8)
    unreliable[5:9, 10:20] = 1
    stabilizer = FlowStabilizer(blend=0.6)
    stabilizer.settle(None, previous)
    out = stabilizer.settle(Motion(flow, unreliable, 0.9), fresh)
    height, width = fresh.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(32, dtype=np.float32), np.arange(24, dtype=np.float32))
    source = np.dstack([(grid_x + flow[..., 0] + 0.5) * width / 32 - 0.5,
                        (grid_y + flow[..., 1] + 0.5) * height / 24 - 0.5])
    source = cv2.resize(source, (width, height), interpolation=cv2.INTER_LINEAR)
    warped = cv2.remap(previous, source, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    want = 0.6 * warped.astype(float) + 0.4 * fresh
    keep = cv2.resize(unreliable, (width, height), interpolation=cv2.INTER_NEAREST).astype(bool)
    want[keep] = fresh[keep]
    assert np.abs(out.astype(float) - want).max() <= 2
    assert keep.any() and np.array_equal(out[keep], fresh[keep])


def test_governor_tries_a_size_that_keeps_failing_less_and_less_often() -> None:
    # Two seconds in ten the machine is less busy: G's time at the size it settled on dips, predicts
    # that the next larger size fits, and that size is too slow once the quiet spell ends.
    governor = live.ResolutionGovernor(1280, 720, target_fps=30)
    now, tries, slow_frames = 0.0, 0, 0
    for index in range(30 * 240):  # four minutes at 30 fps
        now += 1 / 30
        width, height = governor.size
        seconds = (0.003 + 0.14 * width * height / (1280 * 720)) * (0.6 if index % 300 < 60 else 1.0)
        slow_frames += seconds > 1 / 30
        before = governor.rung
        if governor.observe(seconds, now) and governor.rung < before:
            tries += 1
    # A fixed ten-second wait tried the larger size 11 times and ran 64 frames over the budget.
    assert 1 <= tries <= 6, tries
    assert slow_frames < 45, slow_frames
    assert governor.size == (538, 302)  # the largest size that fits outside the quiet spells
