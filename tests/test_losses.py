"""Tests for stylecast.losses: values on known inputs, dtypes, gradients and temporal behaviour."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F

from stylecast import losses
from stylecast.losses import (
    ContentLoss,
    GANLoss,
    StyleLoss,
    TemporalLoss,
    TotalVariationLoss,
    content_loss,
    downsample_mask,
    gram_matrix,
    masked_mean,
    rgb_to_luminance,
    slice_directions,
    sliced_wasserstein_loss,
    sorted_projections,
    style_loss,
    temporal_feature_loss,
    temporal_output_loss,
    total_variation,
)
from stylecast.warp import base_grid, inside_mask

DTYPES = [torch.float32, torch.bfloat16]


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _gradcheck(fn: Callable[..., torch.Tensor], *inputs: torch.Tensor) -> None:
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-5)


def _f64(*shape: int) -> torch.Tensor:
    return torch.rand(*shape, dtype=torch.float64, requires_grad=True)


# --- synthetic motion helpers ------------------------------------------------------------------------

_FREQS = torch.tensor([[1.0, 0.5], [-0.4, 0.9], [0.7, -0.8]])  # cycles per 32 px, per channel (x, y)
_PHASES = torch.tensor([0.3, 1.7, -2.1])


def _smooth_image(coords: torch.Tensor) -> torch.Tensor:
    """A smooth RGB image in [0.25, 0.75] evaluated exactly at pixel coordinates ``(B, 2, H, W)``."""
    x, y = coords[:, 0:1], coords[:, 1:2]
    fx = _FREQS[:, 0].view(1, 3, 1, 1)
    fy = _FREQS[:, 1].view(1, 3, 1, 1)
    phase = _PHASES.view(1, 3, 1, 1)
    return 0.5 + 0.25 * torch.sin(2 * math.pi * (fx * x + fy * y) / 32 + phase)


def _rotation_flow(size: int, angle: float) -> torch.Tensor:
    """Flow of a rotation about the image centre: ``p + flow(p) = R (p - c) + c``."""
    grid = base_grid(size, size)
    centre = (size - 1) / 2
    x, y = grid[:, 0] - centre, grid[:, 1] - centre
    cos, sin = math.cos(angle), math.sin(angle)
    target = torch.stack((cos * x - sin * y, sin * x + cos * y), dim=1) + centre
    return target - grid


def _motion_pair(kind: str, size: int = 32) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(prev, cur, flow, mask): cur shows prev moved by an exactly known motion, rendered analytically."""
    if kind == "translation":
        flow = torch.tensor([1.3, -0.7]).view(1, 2, 1, 1).expand(1, 2, size, size).contiguous()
    else:
        flow = _rotation_flow(size, 0.06)
    grid = base_grid(size, size)
    prev = _smooth_image(grid)
    cur = _smooth_image(grid + flow)  # pixel p of frame t shows what p + flow(p) showed in frame t-1
    mask = -F.max_pool2d(-inside_mask(flow), 3, stride=1, padding=1)  # eroded by a pixel
    return prev, cur, flow, mask


def _colour_transform(image: torch.Tensor) -> torch.Tensor:
    """A fixed affine colour change standing in for a stylization that moves with the frame."""
    return 0.2 + 0.6 * image[:, [2, 0, 1]]


# --- gram, content, style ------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_gram_matrix_matches_einsum_and_is_float32_symmetric(dtype: torch.dtype) -> None:
    features = torch.randn(2, 4, 5, 3).to(dtype)
    gram = gram_matrix(features)
    assert gram.shape == (2, 4, 4)
    assert gram.dtype == torch.float32
    f = features.double()
    expected = torch.einsum("bchw,bdhw->bcd", f, f) / (4 * 5 * 3)
    torch.testing.assert_close(gram.double(), expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(gram, gram.transpose(1, 2))


def test_gram_matrix_stays_float32_under_bfloat16_autocast() -> None:
    features = torch.rand(1, 8, 16, 16) * 3
    reference = gram_matrix(features.double())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.bmm(features.flatten(2), features.flatten(2).transpose(1, 2)).dtype == torch.bfloat16
        gram = gram_matrix(features)
    assert gram.dtype == torch.float32
    # bfloat16 would be off by ~1e-2 relative; float32 agrees to ~1e-6.
    torch.testing.assert_close(gram.double(), reference, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_content_loss_is_mse_in_float32(dtype: torch.dtype) -> None:
    output = torch.randn(2, 3, 4, 4)
    target = torch.randn(2, 3, 4, 4)
    loss = content_loss(output.to(dtype), target.to(dtype))
    assert loss.shape == () and loss.dtype == torch.float32 and torch.isfinite(loss)
    expected = ((output.to(dtype).double() - target.to(dtype).double()) ** 2).mean()
    torch.testing.assert_close(loss.double(), expected, rtol=1e-5, atol=0)
    assert content_loss(output, output) == 0
    with pytest.raises(ValueError, match="equal shape"):
        content_loss(output, target[:, :2])


@pytest.mark.parametrize("dtype", DTYPES)
def test_style_loss_weights_layers_and_broadcasts_target(dtype: torch.dtype) -> None:
    out = {"a": torch.randn(2, 3, 4, 4).to(dtype), "b": torch.randn(2, 5, 2, 2).to(dtype),
           "unused": torch.randn(2, 1, 2, 2).to(dtype)}
    style = {"a": torch.randn(1, 3, 4, 4), "b": torch.randn(1, 5, 2, 2)}
    targets = {name: gram_matrix(x) for name, x in style.items()}
    loss = style_loss(out, targets, {"a": 2.0})
    assert loss.shape == () and loss.dtype == torch.float32 and torch.isfinite(loss)
    per_layer = {name: ((gram_matrix(out[name]) - targets[name]) ** 2).mean() for name in targets}
    torch.testing.assert_close(loss, 2.0 * per_layer["a"] + per_layer["b"])
    # A (1, C, C) target means the same as the target repeated over the batch.
    repeated = {name: g.expand(2, -1, -1) for name, g in targets.items()}
    torch.testing.assert_close(style_loss(out, repeated, {"a": 2.0}), loss)
    torch.testing.assert_close(StyleLoss({"a": 2.0})(out, targets), loss)
    # Features that produced the targets have zero style loss.
    assert style_loss({k: v.expand(2, -1, -1, -1) for k, v in style.items()}, targets) < 1e-10


def test_style_loss_rejects_mismatches() -> None:
    out = {"a": torch.randn(2, 3, 4, 4)}
    targets = {"a": gram_matrix(torch.randn(1, 3, 4, 4))}
    with pytest.raises(KeyError, match="'b'"):
        style_loss(out, {**targets, "b": targets["a"]})
    with pytest.raises(ValueError, match="typo"):
        style_loss(out, targets, {"typo": 1.0})
    with pytest.raises(ValueError, match="expected"):
        style_loss(out, {"a": torch.zeros(1, 4, 4)})
    with pytest.raises(ValueError, match="expected"):
        style_loss({"a": torch.randn(1, 3, 4, 4)}, {"a": torch.zeros(2, 3, 3)})
    with pytest.raises(ValueError):
        style_loss(out, {})


@pytest.mark.parametrize("dtype", DTYPES)
def test_per_sample_losses_average_to_the_batch_loss(dtype: torch.dtype) -> None:
    out, target = torch.randn(3, 4, 5, 5).to(dtype), torch.randn(3, 4, 5, 5).to(dtype)
    per = content_loss(out, target, per_sample=True)
    assert per.shape == (3,)
    torch.testing.assert_close(per.mean(), content_loss(out, target))
    feats = {"a": torch.randn(3, 2, 4, 4).to(dtype)}
    grams = {"a": gram_matrix(torch.randn(3, 2, 4, 4))}
    per_style = style_loss(feats, grams, per_sample=True)
    assert per_style.shape == (3,)
    torch.testing.assert_close(per_style.mean(), style_loss(feats, grams))


def test_style_energy_cap_weighs_strong_targets_relatively_and_leaves_weak_ones() -> None:
    feats = {"a": torch.zeros(2, 2, 3, 3)}    # an output with no texture: the error is the target's energy
    weak, strong = gram_matrix(torch.full((1, 2, 3, 3), 1.0)), gram_matrix(torch.full((1, 2, 3, 3), 10.0))
    grams = {"a": torch.cat([weak, strong])}
    cap = {"a": float((weak ** 2).mean())}
    plain = style_loss(feats, grams, per_sample=True)
    capped = style_loss(feats, grams, per_sample=True, energy_cap=cap)
    torch.testing.assert_close(capped[0], plain[0])                   # at the cap: unchanged
    assert plain[1] / plain[0] == pytest.approx(1e4, rel=1e-4)        # 10x the activations, 10^4x the error
    torch.testing.assert_close(capped[1], capped[0])                  # above it: relative, like the weak one
    _gradcheck(lambda a: style_loss({"a": a}, {k: v.double() for k, v in grams.items()}, energy_cap=cap),
               _f64(2, 2, 3, 3))


def test_content_and_style_gradcheck() -> None:
    target = torch.rand(1, 2, 3, 3, dtype=torch.float64)
    _gradcheck(content_loss, _f64(1, 2, 3, 3), target)
    grams = {"a": gram_matrix(torch.rand(1, 2, 3, 3, dtype=torch.float64)),
             "b": gram_matrix(torch.rand(1, 3, 2, 2, dtype=torch.float64))}
    _gradcheck(lambda a, b: style_loss({"a": a, "b": b}, grams, {"b": 0.5}),
               _f64(2, 2, 3, 3), _f64(2, 3, 2, 2))


def test_slice_directions_are_orthonormal_and_the_same_every_time() -> None:
    directions = slice_directions(5)
    torch.testing.assert_close(directions.T @ directions, torch.eye(5), atol=1e-5, rtol=0)
    slice_directions.cache_clear()
    torch.testing.assert_close(slice_directions(5), directions, atol=0, rtol=0)


def test_sorted_projections_ignore_where_features_are_and_compare_across_sizes() -> None:
    torch.manual_seed(0)
    feats = torch.rand(2, 3, 8, 8)
    quantiles = sorted_projections(feats, 16)
    assert quantiles.shape == (2, 3, 16) and quantiles.dtype == torch.float32
    assert bool((quantiles.diff(dim=2) >= 0).all())
    shuffled = feats.flatten(2)[:, :, torch.randperm(64)].reshape(2, 3, 8, 8)
    torch.testing.assert_close(sorted_projections(shuffled, 16), quantiles)
    tiled = feats.repeat(1, 1, 2, 2)  # the same distribution on a map four times the size
    torch.testing.assert_close(sorted_projections(tiled, 16), quantiles)
    constant = torch.ones(1, 3, 4, 4)
    expected = (torch.ones(1, 3) @ slice_directions(3))[0]
    torch.testing.assert_close(sorted_projections(constant, 4)[0], expected[:, None].expand(3, 4))


def test_sliced_wasserstein_sees_distributions_that_a_gram_matrix_cannot_tell_apart() -> None:
    """Half the positions at 0 and half at 2, against all at sqrt(2): the same Gram matrix (second
    moment 2), different distributions."""
    spread = torch.zeros(1, 1, 4, 4)
    spread[..., :2, :] = 2.0
    flat = torch.full((1, 1, 4, 4), math.sqrt(2.0))
    torch.testing.assert_close(gram_matrix(spread), gram_matrix(flat))
    target = {"a": sorted_projections(spread)}
    assert float(sliced_wasserstein_loss({"a": spread}, target, {"a": 1.0})) == pytest.approx(0.0, abs=1e-10)
    # quantiles of |x| = sqrt(2) against 0 and 2: (sqrt 2 - 0)^2 and (2 - sqrt 2)^2, half each
    expected = 0.5 * (2.0 + (2.0 - math.sqrt(2.0)) ** 2)
    assert float(sliced_wasserstein_loss({"a": flat}, target, {"a": 3.0})) == pytest.approx(3.0 * expected, rel=1e-5)


def test_sliced_wasserstein_per_sample_broadcast_mismatch_and_gradient() -> None:
    torch.manual_seed(1)
    target = {"a": sorted_projections(torch.rand(1, 2, 4, 4)), "b": sorted_projections(torch.rand(1, 3, 2, 2))}
    outs = {"a": torch.rand(3, 2, 5, 5), "b": torch.rand(3, 3, 3, 3)}
    per_sample = sliced_wasserstein_loss(outs, target, {"a": 1.0, "b": 0.5}, per_sample=True)
    assert per_sample.shape == (3,)
    torch.testing.assert_close(per_sample.mean(), sliced_wasserstein_loss(outs, target, {"a": 1.0, "b": 0.5}))
    with pytest.raises(ValueError, match="quantiles for 'a'"):
        sliced_wasserstein_loss(outs, {"a": target["b"]}, {"a": 1.0})  # 3 channels against 2
    with pytest.raises(ValueError, match="at least one layer"):
        sliced_wasserstein_loss(outs, target, {})
    double = {k: v.double() for k, v in target.items()}
    _gradcheck(lambda a, b: sliced_wasserstein_loss({"a": a, "b": b}, double, {"a": 1.0, "b": 0.5}),
               _f64(2, 2, 4, 4), _f64(2, 3, 2, 2))


# --- total variation, luminance, masked mean ------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_total_variation_known_values(dtype: torch.dtype) -> None:
    assert total_variation(torch.full((2, 3, 5, 6), 0.7, dtype=dtype)) == 0
    rows = torch.arange(6).view(6, 1)
    cols = torch.arange(7).view(1, 7)
    checker = ((rows + cols) % 2).to(dtype).expand(2, 3, 6, 7)
    tv = total_variation(checker)
    assert tv.dtype == torch.float32
    torch.testing.assert_close(tv, torch.tensor(2.0))
    stripes = (rows % 2).to(dtype).expand(1, 1, 6, 7)  # only vertical neighbours differ
    torch.testing.assert_close(TotalVariationLoss()(stripes), torch.tensor(1.0))


def test_total_variation_gradcheck() -> None:
    _gradcheck(total_variation, _f64(1, 2, 4, 5))


@pytest.mark.parametrize("dtype", DTYPES)
def test_rgb_to_luminance_bt601(dtype: torch.dtype) -> None:
    primaries = torch.eye(3).view(3, 3, 1, 1).expand(3, 3, 2, 2).to(dtype)
    luma = rgb_to_luminance(primaries)
    assert luma.shape == (3, 1, 2, 2) and luma.dtype == dtype
    expected = torch.tensor([0.299, 0.587, 0.114]).to(dtype).view(3, 1, 1, 1).expand(3, 1, 2, 2)
    torch.testing.assert_close(luma, expected)
    torch.testing.assert_close(rgb_to_luminance(torch.ones(1, 3, 2, 2, dtype=dtype)),
                               torch.ones(1, 1, 2, 2, dtype=dtype))
    with pytest.raises(ValueError, match="3 RGB"):
        rgb_to_luminance(torch.ones(1, 1, 2, 2))


@pytest.mark.parametrize("dtype", DTYPES)
def test_masked_mean_counts_channels_and_valid_pixels(dtype: torch.dtype) -> None:
    values = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).view(2, 3, 2, 2).to(dtype)
    mask = torch.zeros(2, 1, 2, 2, dtype=dtype)
    mask[0, 0, 0, 1] = 1
    mask[1, 0, 1, 0] = 1
    result = masked_mean(values, mask)
    assert result.dtype == torch.float32
    expected = (values[0, :, 0, 1].float().sum() + values[1, :, 1, 0].float().sum()) / 6
    torch.testing.assert_close(result, expected)
    torch.testing.assert_close(masked_mean(torch.ones(1, 3, 4, 4), torch.ones(1, 1, 4, 4)), torch.tensor(1.0))
    empty = masked_mean(values, torch.zeros_like(mask))
    assert empty == 0
    with pytest.raises(ValueError, match="mask"):
        masked_mean(values, torch.ones(2, 3, 2, 2))


# --- temporal ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["translation", "rotation"])
@pytest.mark.parametrize("luminance", [True, False])
def test_temporal_output_loss_small_for_moving_output_large_for_flicker(kind: str, luminance: bool) -> None:
    prev, cur, flow, mask = _motion_pair(kind)
    assert mask.mean() > 0.8
    out_prev, out_cur = _colour_transform(prev), _colour_transform(cur)
    stable = temporal_output_loss(out_cur, out_prev, cur, prev, flow, mask, luminance=luminance)
    assert stable < 1e-4
    brighter = temporal_output_loss(out_cur + 0.05, out_prev, cur, prev, flow, mask, luminance=luminance)
    noisy = temporal_output_loss(out_cur + 0.03 * torch.randn_like(out_cur), out_prev, cur, prev, flow, mask,
                                 luminance=luminance)
    assert brighter > 100 * stable and brighter > 1e-3
    assert noisy > 100 * stable and noisy > 4e-4
    # Compensating the wrong way (the flow negated) must not look stable.
    assert temporal_output_loss(out_cur, out_prev, cur, prev, -flow, mask, luminance=luminance) > 10 * stable


def test_temporal_output_loss_luminance_term() -> None:
    prev, cur, flow, mask = _motion_pair("translation")
    lit = cur + 0.1  # the scene gets brighter between the frames; the output follows it
    with_luma = temporal_output_loss(lit, prev, lit, prev, flow, mask, luminance=True)
    without = temporal_output_loss(lit, prev, lit, prev, flow, mask, luminance=False)
    assert with_luma < 1e-4
    assert without > 100 * with_luma
    torch.testing.assert_close(without, torch.tensor(0.01), rtol=0.05, atol=0)
    # An output that ignores the input's lighting change is now the one penalised.
    assert temporal_output_loss(cur, prev, lit, prev, flow, mask, luminance=True) > 100 * with_luma


def test_temporal_output_loss_ignores_masked_pixels() -> None:
    prev, cur, flow, mask = _motion_pair("rotation")
    base = temporal_output_loss(cur, prev, cur, prev, flow, mask)
    garbage = torch.where(mask.bool(), cur, torch.rand_like(cur) * 10)
    torch.testing.assert_close(temporal_output_loss(garbage, prev, cur, prev, flow, mask), base)
    assert temporal_output_loss(garbage, prev, cur, prev, flow, torch.ones_like(mask)) > 100 * base


@pytest.mark.parametrize("dtype", DTYPES)
def test_temporal_losses_dtypes(dtype: torch.dtype) -> None:
    prev, cur, flow, mask = _motion_pair("translation", size=16)
    frames = [x.to(dtype) for x in (cur, prev, cur, prev)]
    loss = temporal_output_loss(*frames, flow.to(dtype), mask.to(dtype))
    assert loss.shape == () and loss.dtype == torch.float32 and torch.isfinite(loss)
    assert loss < 1e-3  # bfloat16 rounds the images, not the flow
    feats = torch.rand(2, 1, 4, 4, 4).to(dtype)
    feat_loss = temporal_feature_loss(feats[0], feats[1], flow.to(dtype), mask.to(dtype))
    assert feat_loss.shape == () and feat_loss.dtype == torch.float32 and torch.isfinite(feat_loss)


def test_temporal_losses_do_not_round_bfloat16_flow_coordinates() -> None:
    # Far from the origin bfloat16 pixel coordinates are 2 px apart; the warp must run in float32.
    width = 300
    ramp = torch.sin(torch.linspace(0, 20, width)).view(1, 1, 1, width).expand(1, 3, 4, width) * 0.5 + 0.5
    flow = torch.zeros(1, 2, 4, width)
    flow[:, 0] = 0.3
    flow16 = flow.bfloat16()
    mask = torch.ones(1, 1, 4, width)
    cur = ramp.roll(1, dims=-1)
    for luminance in (True, False):
        expected = temporal_output_loss(cur, ramp, ramp, ramp, flow16.float(), mask, luminance)
        assert expected > 1e-3
        result = temporal_output_loss(cur, ramp, ramp, ramp, flow16, mask.bfloat16(), luminance)
        torch.testing.assert_close(result, expected)
    expected = temporal_feature_loss(cur, ramp, flow16.float(), mask)
    torch.testing.assert_close(temporal_feature_loss(cur, ramp, flow16, mask), expected)


def test_downsample_mask_is_a_min_pool() -> None:
    mask = (torch.rand(2, 1, 16, 12) > 0.1).float()
    torch.testing.assert_close(downsample_mask(mask, 4, 3), -F.max_pool2d(-mask, 4))
    odd = torch.ones(1, 1, 30, 30)
    odd[0, 0, 29, 0] = 0
    small = downsample_mask(odd, 8, 8)
    assert small.shape == (1, 1, 8, 8)
    assert small[0, 0, 7, 0] == 0 and small.sum() == 63


def test_temporal_feature_loss_small_for_moving_features() -> None:
    size, stride = 32, 4
    flow = torch.tensor([2.6, -1.8]).view(1, 2, 1, 1).expand(1, 2, size, size).contiguous()
    mask = -F.max_pool2d(-inside_mask(flow), 3, stride=1, padding=1)
    # Features of cell (i, j) describe the full-resolution point at its centre, (stride*j + 1.5, ...).
    centres = base_grid(size // stride, size // stride) * stride + (stride - 1) / 2
    feat_prev = _smooth_image(centres / 2)  # half the frequency: smooth on the 8x8 grid
    feat_cur = _smooth_image((centres + flow[:, :, :8, :8]) / 2)
    stable = temporal_feature_loss(feat_cur, feat_prev, flow, mask)
    assert stable < 1e-4
    flicker = temporal_feature_loss(feat_cur + 0.05, feat_prev, flow, mask)
    assert flicker > 100 * stable
    assert temporal_feature_loss(feat_cur, feat_prev, -flow, mask) > 10 * stable


def test_temporal_feature_loss_drops_cells_with_any_invalid_pixel() -> None:
    feat_prev = torch.zeros(1, 2, 8, 8)
    feat_cur = torch.zeros(1, 2, 8, 8)
    feat_cur[0, :, 0, 0] = 1.0
    flow = torch.zeros(1, 2, 30, 30)  # 30 is not a multiple of 8
    mask = torch.ones(1, 1, 30, 30)
    torch.testing.assert_close(temporal_feature_loss(feat_cur, feat_prev, flow, mask), torch.tensor(1 / 64))
    mask[0, 0, 2, 1] = 0  # one pixel under cell (0, 0)
    assert temporal_feature_loss(feat_cur, feat_prev, flow, mask) < 1e-7
    mask[0, 0, 2, 1] = 1
    mask[0, 0, 29, 29] = 0  # a pixel under cell (7, 7) only
    torch.testing.assert_close(temporal_feature_loss(feat_cur, feat_prev, flow, mask), torch.tensor(1 / 63))


def test_temporal_gradcheck() -> None:
    flow = (torch.rand(1, 2, 5, 5, dtype=torch.float64) - 0.5) * 1.5
    mask = (torch.rand(1, 1, 5, 5, dtype=torch.float64) > 0.3).double()
    for luminance in (True, False):
        _gradcheck(lambda a, b, c, d, lum=luminance: temporal_output_loss(a, b, c, d, flow, mask, lum),
                   _f64(1, 3, 5, 5), _f64(1, 3, 5, 5), _f64(1, 3, 5, 5), _f64(1, 3, 5, 5))
    big_flow = (torch.rand(1, 2, 6, 6, dtype=torch.float64) - 0.5) * 3
    big_mask = torch.ones(1, 1, 6, 6, dtype=torch.float64)
    big_mask[0, 0, 0, 0] = 0
    _gradcheck(lambda a, b: temporal_feature_loss(a, b, big_flow, big_mask),
               _f64(1, 2, 3, 3), _f64(1, 2, 3, 3))


def test_temporal_loss_module_combines_terms() -> None:
    prev, cur, flow, mask = _motion_pair("translation", size=16)
    out_cur = cur + 0.02 * torch.randn_like(cur)
    feat_cur, feat_prev = torch.rand(1, 4, 4, 4), torch.rand(1, 4, 4, 4)
    output_term = temporal_output_loss(out_cur, prev, cur, prev, flow, mask, luminance=False)
    feature_term = temporal_feature_loss(feat_cur, feat_prev, flow, mask)
    module = TemporalLoss(feature_weight=0.25, luminance=False)
    torch.testing.assert_close(module(out_cur, prev, cur, prev, flow, mask), output_term)
    torch.testing.assert_close(module(out_cur, prev, cur, prev, flow, mask, feat_cur, feat_prev),
                               output_term + 0.25 * feature_term)
    with pytest.raises(ValueError, match="both"):
        module(out_cur, prev, cur, prev, flow, mask, feat_cur=feat_cur)


# --- adversarial ---------------------------------------------------------------------------------------


def test_gan_bce_matches_the_design_formula() -> None:
    real = torch.randn(2, 1, 3, 3) * 3
    fake = torch.randn(2, 1, 3, 3) * 3
    gan = GANLoss("bce")
    d_loss = gan(real, True) + gan(fake, False)
    expected = -(torch.log(torch.sigmoid(real)).mean() + torch.log(1 - torch.sigmoid(fake)).mean())
    torch.testing.assert_close(d_loss, expected, rtol=1e-5, atol=1e-6)
    g_loss = gan(fake, target_is_real=True, for_discriminator=False)
    torch.testing.assert_close(g_loss, -torch.log(torch.sigmoid(fake)).mean(), rtol=1e-5, atol=1e-6)
    assert torch.isfinite(gan(torch.tensor([200.0, -200.0]), True))


@pytest.mark.parametrize("mode", ["bce", "hinge", "lsgan"])
def test_gan_generator_loss_decreases_as_fakes_look_real(mode: str) -> None:
    gan = GANLoss(mode)
    values = [gan(torch.full((1, 1, 2, 2), v), True, for_discriminator=False).item()
              for v in (-2.0, 0.0, 0.9)]
    assert values[0] > values[1] > values[2]
    with pytest.raises(ValueError, match="target_is_real=True"):
        gan(torch.zeros(1, 1, 2, 2), False, for_discriminator=False)


def test_gan_hinge_and_lsgan_known_values() -> None:
    real = torch.tensor([0.5, 2.0, -1.0, 0.0])
    fake = torch.tensor([0.5, -2.0, 0.0, -0.5])
    hinge = GANLoss("hinge")
    torch.testing.assert_close(hinge(real, True), torch.tensor((0.5 + 0 + 2 + 1) / 4))
    torch.testing.assert_close(hinge(fake, False), torch.tensor((1.5 + 0 + 1 + 0.5) / 4))
    torch.testing.assert_close(hinge(fake, True, for_discriminator=False), torch.tensor(0.5))
    lsgan = GANLoss("lsgan")
    torch.testing.assert_close(lsgan(real, True), torch.tensor((0.25 + 1 + 4 + 1) / 4))
    torch.testing.assert_close(lsgan(fake, False), torch.tensor((0.25 + 4 + 0 + 0.25) / 4))
    torch.testing.assert_close(lsgan(fake, True, for_discriminator=False),
                               torch.tensor((0.25 + 9 + 1 + 2.25) / 4))


@pytest.mark.parametrize("mode", ["bce", "hinge", "lsgan"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_gan_multiscale_averages_scales(mode: str, dtype: torch.dtype) -> None:
    gan = GANLoss(mode)
    big = torch.randn(2, 1, 8, 8).to(dtype)
    small = (torch.randn(2, 1, 2, 2) + 3).to(dtype)  # different size and level: mean of means != pooled mean
    for target, for_d in ((True, True), (False, True), (True, False)):
        loss = gan([big, small], target, for_discriminator=for_d)
        assert loss.shape == () and loss.dtype == torch.float32 and torch.isfinite(loss)
        expected = (gan(big, target, for_d) + gan(small, target, for_d)) / 2
        torch.testing.assert_close(loss, expected)
    with pytest.raises(ValueError, match="empty"):
        gan([], True)


def test_gan_unknown_mode() -> None:
    with pytest.raises(ValueError, match="bce, hinge, lsgan"):
        GANLoss("wgan")
    assert losses.GAN_MODES == ("bce", "hinge", "lsgan")


@pytest.mark.parametrize("mode", ["bce", "hinge", "lsgan"])
def test_gan_gradcheck(mode: str) -> None:
    gan = GANLoss(mode)
    logits = (torch.rand(1, 1, 3, 3, dtype=torch.float64) * 4 - 2).requires_grad_()
    second = (torch.rand(1, 1, 2, 2, dtype=torch.float64) * 4 - 2).requires_grad_()
    for target, for_d in ((True, True), (False, True), (True, False)):
        _gradcheck(lambda x, y, t=target, d=for_d: gan([x, y], t, d), logits, second)


def test_content_loss_module() -> None:
    a, b = torch.rand(1, 2, 3, 3), torch.rand(1, 2, 3, 3)
    torch.testing.assert_close(ContentLoss()(a, b), content_loss(a, b))
