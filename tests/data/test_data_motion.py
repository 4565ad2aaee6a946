from __future__ import annotations

import math

import pytest
import torch

from stylecast.data import MotionPair, homography_flow, random_homographies, synthetic_pairs
from stylecast.warp import warp


def smooth_frames(batch: int, height: int, width: int) -> torch.Tensor:
    """Low-frequency analytic images, so bilinear resampling of them is accurate to ~1e-4."""
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float64),
                            torch.arange(width, dtype=torch.float64), indexing="ij")
    return _pattern(xs, ys).expand(batch, 3, height, width).float().contiguous()


def _pattern(xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """The same image as a function of continuous coordinates, ``(1, 3, ...)`` in [0, 1]."""
    channels = [0.5 + 0.25 * torch.sin(0.09 * xs + 0.05 * ys),
                0.5 + 0.25 * torch.cos(0.07 * ys - 0.03 * xs),
                0.5 + 0.2 * torch.sin(0.04 * (xs + ys))]
    return torch.stack(channels).unsqueeze(0)


def map_points(homography: torch.Tensor, xs: torch.Tensor,
               ys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Where ``homography`` sends pixel coordinates ``(xs, ys)``, in float64."""
    h = homography.to(torch.float64)
    w = h[2, 0] * xs + h[2, 1] * ys + h[2, 2]
    return (h[0, 0] * xs + h[0, 1] * ys + h[0, 2]) / w, (h[1, 0] * xs + h[1, 1] * ys + h[1, 2]) / w


@pytest.mark.parametrize(("dx", "dy"), [(3.0, -2.0), (-0.25, 1.5), (0.0, 0.0)])
def test_translation_flow_is_constant(dx: float, dy: float) -> None:
    translation = torch.tensor([[[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]]])
    flow = homography_flow(translation, 7, 11)
    assert flow.shape == (1, 2, 7, 11) and flow.dtype == torch.float32
    assert torch.allclose(flow[0, 0], torch.full((7, 11), dx), atol=1e-6)
    assert torch.allclose(flow[0, 1], torch.full((7, 11), dy), atol=1e-6)


def test_homography_flow_matches_point_mapping() -> None:
    homographies = random_homographies(3, 20, 30, torch.Generator().manual_seed(0),
                                       max_perspective=0.002)
    flow = homography_flow(homographies, 20, 30)
    ys, xs = torch.meshgrid(torch.arange(20.0, dtype=torch.float64),
                            torch.arange(30.0, dtype=torch.float64), indexing="ij")
    for b in range(3):
        tx, ty = map_points(homographies[b], xs, ys)
        assert torch.allclose(flow[b, 0].double(), tx - xs, atol=1e-4)
        assert torch.allclose(flow[b, 1].double(), ty - ys, atol=1e-4)


def test_random_homographies_shape_determinism_and_normalisation() -> None:
    first = random_homographies(5, 32, 48, torch.Generator().manual_seed(3))
    again = random_homographies(5, 32, 48, torch.Generator().manual_seed(3))
    other = random_homographies(5, 32, 48, torch.Generator().manual_seed(4))
    assert first.shape == (5, 3, 3) and first.dtype == torch.float32
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert torch.allclose(first[:, 2, 2], torch.ones(5))


def test_translation_stays_within_its_bound() -> None:
    homographies = random_homographies(64, 40, 100, torch.Generator().manual_seed(0), max_translate=0.1,
                                       max_rotate_deg=0.0, max_scale=0.0, max_perspective=0.0)
    flow = homography_flow(homographies, 40, 100)
    assert flow[:, 0].abs().max() <= 10.0 + 1e-4 and flow[:, 1].abs().max() <= 4.0 + 1e-4
    assert flow[:, 0].abs().max() > 5.0  # the bound is used, not just respected
    assert flow.std(dim=(2, 3)).max() < 1e-4  # pure translations


@pytest.mark.parametrize("kind", ["rotate", "scale"])
def test_moves_turn_about_the_image_centre(kind: str) -> None:
    moves = {"max_translate": 0.0, "max_perspective": 0.0, "max_rotate_deg": 0.0, "max_scale": 0.0}
    moves["max_rotate_deg" if kind == "rotate" else "max_scale"] = 10.0 if kind == "rotate" else 0.2
    homographies = random_homographies(8, 31, 41, torch.Generator().manual_seed(0), **moves)
    flow = homography_flow(homographies, 31, 41)
    assert flow[:, :, 15, 20].abs().max() < 1e-4  # the centre pixel stays put
    assert flow.abs().amax(dim=(1, 2, 3)).min() > 0.1  # everything else moves


def test_rotation_angle_is_bounded() -> None:
    homographies = random_homographies(64, 32, 32, torch.Generator().manual_seed(0), max_translate=0.0,
                                       max_rotate_deg=3.0, max_scale=0.0, max_perspective=0.0)
    angles = torch.rad2deg(torch.atan2(homographies[:, 1, 0], homographies[:, 0, 0]))
    assert angles.abs().max() <= 3.0 + 1e-4 and angles.abs().max() > 2.0


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_synthetic_pairs_shapes_and_types(dtype: torch.dtype) -> None:
    frames = smooth_frames(2, 24, 32).to(dtype)
    pair = synthetic_pairs(frames, torch.Generator().manual_seed(0))
    assert isinstance(pair, MotionPair)
    assert pair.prev.shape == pair.cur.shape == (2, 3, 24, 32)
    assert pair.flow.shape == (2, 2, 24, 32) and pair.mask.shape == (2, 1, 24, 32)
    assert pair.prev.dtype == pair.cur.dtype == dtype
    assert pair.flow.dtype == pair.mask.dtype == torch.float32
    for image in (pair.prev, pair.cur):
        assert image.min() >= 0.0 and image.max() <= 1.0


def test_synthetic_pairs_warp_reproduces_current_frame() -> None:
    frames = smooth_frames(4, 40, 56)
    pair = synthetic_pairs(frames, torch.Generator().manual_seed(1), noise_std=0.0, max_translate=0.1)
    assert torch.equal(pair.prev, frames)
    inside = pair.mask.expand_as(pair.cur) > 0
    assert ((warp(pair.prev, pair.flow) - pair.cur)[inside]).abs().max() < 1e-5
    # Independently of warp(): the current frame shows the image at p + flow(p).
    ys, xs = torch.meshgrid(torch.arange(40.0, dtype=torch.float64),
                            torch.arange(56.0, dtype=torch.float64), indexing="ij")
    for b in range(4):
        truth = _pattern(xs + pair.flow[b, 0].double(), ys + pair.flow[b, 1].double())[0].float()
        assert (pair.cur[b] - truth)[inside[b]].abs().max() < 2e-3


def test_synthetic_pairs_mask_is_zero_where_the_source_is_outside() -> None:
    height, width = 30, 40
    pair = synthetic_pairs(smooth_frames(6, height, width), torch.Generator().manual_seed(2),
                           noise_std=0.0, max_translate=0.15)
    # synthetic_pairs draws its homographies first, so the same seed gives the same moves.
    homographies = random_homographies(6, height, width, torch.Generator().manual_seed(2), max_translate=0.15)
    ys, xs = torch.meshgrid(torch.arange(float(height), dtype=torch.float64),
                            torch.arange(float(width), dtype=torch.float64), indexing="ij")
    outside_total = 0
    for b in range(6):
        tx, ty = map_points(homographies[b], xs, ys)
        outside = (tx < -1e-3) | (tx > width - 1 + 1e-3) | (ty < -1e-3) | (ty > height - 1 + 1e-3)
        well_inside = (tx > 1e-3) & (tx < width - 1 - 1e-3) & (ty > 1e-3) & (ty < height - 1 - 1e-3)
        assert (pair.mask[b, 0][outside] == 0).all()
        assert (pair.mask[b, 0][well_inside] == 1).all()
        outside_total += int(outside.sum())
    assert outside_total > 0


def test_synthetic_pairs_noise_is_independent_and_reproducible() -> None:
    frames = torch.full((2, 3, 32, 32), 0.5)
    moves = {"max_translate": 0.0, "max_rotate_deg": 0.0, "max_scale": 0.0, "max_perspective": 0.0}
    pair = synthetic_pairs(frames, torch.Generator().manual_seed(5), noise_std=0.05, **moves)
    again = synthetic_pairs(frames, torch.Generator().manual_seed(5), noise_std=0.05, **moves)
    assert torch.equal(pair.prev, again.prev) and torch.equal(pair.cur, again.cur)
    prev_noise, cur_noise = pair.prev - 0.5, pair.cur - 0.5
    assert prev_noise.std().item() == pytest.approx(0.05, rel=0.1)
    assert cur_noise.std().item() == pytest.approx(0.05, rel=0.1)
    correlation = (prev_noise * cur_noise).mean() / (prev_noise.std() * cur_noise.std())
    assert abs(correlation.item()) < 0.1
    assert math.isclose(pair.mask.min().item(), 1.0)  # no motion: every pixel visible
