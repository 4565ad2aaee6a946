"""Training losses: content, style, total variation, temporal and adversarial.

Each loss is a pure function plus a thin :class:`torch.nn.Module` that holds its settings (the
kornia/pystiche pattern). Every loss returns a scalar computed in float32 (float64 inputs stay
float64, so the losses can be gradient-checked), with autocast switched off inside: Gram matrices
and squared differences of small numbers lose too much in bfloat16.

Conventions: images are ``(B, 3, H, W)`` RGB in ``[0, 1]``; features are ``(B, C, H, W)``
activations of any range; flow and masks follow :mod:`stylecast.warp` (flow ``(B, 2, H, W)`` in
pixels from the current frame to the previous one, masks ``(B, 1, H, W)``, 1.0 where valid).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stylecast.warp import resize_flow, warp

__all__ = [
    "GAN_MODES",
    "ContentLoss",
    "GANLoss",
    "StyleLoss",
    "TemporalLoss",
    "TotalVariationLoss",
    "content_loss",
    "downsample_mask",
    "gram_matrix",
    "masked_mean",
    "rgb_to_luminance",
    "style_loss",
    "temporal_feature_loss",
    "temporal_output_loss",
    "total_variation",
]

#: ITU-R BT.601 luma weights for R, G, B.
BT601_WEIGHTS: tuple[float, float, float] = (0.299, 0.587, 0.114)

#: Modes accepted by :class:`GANLoss`.
GAN_MODES: tuple[str, ...] = ("bce", "hinge", "lsgan")

# Keeps masked_mean finite when the mask is empty (a frame pair with no valid pixel).
_MASK_EPS = 1e-8


def _full_precision(tensor: Tensor) -> Tensor:
    """``tensor`` as float32, or unchanged if it is float64 (gradcheck runs in float64)."""
    return tensor if tensor.dtype == torch.float64 else tensor.float()


def _no_autocast(tensor: Tensor) -> AbstractContextManager[object]:
    """A context in which autocast is off on ``tensor``'s device, so float32 math stays float32."""
    return torch.autocast(device_type=tensor.device.type, enabled=False)


def _check_4d(name: str, tensor: Tensor) -> None:
    if tensor.dim() != 4:
        raise ValueError(f"{name} must have shape (B, C, H, W), got {tuple(tensor.shape)}; "
                         "add the batch dimension with .unsqueeze(0)")


def _check_mask(mask: Tensor, like: Tensor) -> None:
    batch, _, height, width = like.shape
    if mask.shape != (batch, 1, height, width):
        raise ValueError(f"mask must have shape (B, 1, H, W) = {(batch, 1, height, width)}, "
                         f"got {tuple(mask.shape)}")


# --- content and style -----------------------------------------------------------------------------


def gram_matrix(features: Tensor) -> Tensor:
    """Gram matrix of feature maps, normalised by the number of entries per sample.

    ``G[b, i, j] = sum_{h, w} F[b, i, h, w] * F[b, j, h, w] / (C * H * W)``.

    Args:
        features: ``(B, C, H, W)``, any dtype and value range (typically VGG activations, >= 0).

    Returns:
        ``(B, C, C)`` float32 (float64 if ``features`` is float64), symmetric. Computed in float32
        even inside a bfloat16 autocast region.
    """
    _check_4d("features", features)
    batch, channels, height, width = features.shape
    with _no_autocast(features):
        flat = _full_precision(features).reshape(batch, channels, height * width)
        return torch.bmm(flat, flat.transpose(1, 2)) / (channels * height * width)


#: How many evenly spaced quantiles of each projected feature ``sorted_projections`` keeps.
QUANTILES = 128
#: At most this many positions of a feature map are sorted (a fixed spread-out subset of a larger map):
#: sorting all of relu1_1's at 192 px took 1 s of a 3 s training step on one core, and 128 quantiles
#: are as well estimated from 4,096 samples.
SORTED_POSITIONS = 4096


@functools.lru_cache(maxsize=16)
def slice_directions(channels: int) -> Tensor:
    """``(channels, channels)`` float32 orthonormal directions, the same in every process and run
    (a fixed seed): the slices of :func:`sliced_wasserstein_loss`. Read-only (cached)."""
    generator = torch.Generator().manual_seed(1000 + channels)
    directions, _ = torch.linalg.qr(torch.randn(channels, channels, generator=generator))
    return directions


@functools.lru_cache(maxsize=16)
def _sampled_positions(count: int, keep: int) -> Tensor:
    """``keep`` of ``count`` positions, a fixed random subset (the same every run), in order. Read-only."""
    generator = torch.Generator().manual_seed(2000 + count)
    return torch.randperm(count, generator=generator)[:keep].sort().values


def sorted_projections(features: Tensor, quantiles: int = QUANTILES, positions: int = SORTED_POSITIONS) -> Tensor:
    """The distribution of each feature map along fixed directions, as quantiles.

    The features at every position (at most ``positions`` of them: a fixed random subset of a larger
    map) are projected on :func:`slice_directions` and sorted per direction; ``quantiles`` evenly spaced
    order statistics (at the middle of equal shares) are kept, so that maps of different sizes compare.

    Args:
        features: ``(B, C, H, W)``.

    Returns:
        ``(B, C, quantiles)`` float32 (computed in float32 inside autocast), non-decreasing along the last axis.
    """
    _check_4d("features", features)
    batch, channels, height, width = features.shape
    with _no_autocast(features):
        flat = _full_precision(features).reshape(batch, channels, height * width)
        if height * width > positions:
            flat = flat[:, :, _sampled_positions(height * width, positions).to(flat.device)]
        projected = torch.einsum("bcn,cd->bdn", flat, slice_directions(channels).to(flat))
        ordered, _ = torch.sort(projected, dim=2)
        count = projected.shape[2]
        index = ((torch.arange(quantiles, device=flat.device) + 0.5) * count / quantiles).long().clamp(max=count - 1)
        return ordered[:, :, index]


def sliced_wasserstein_loss(output_features: Mapping[str, Tensor], target_quantiles: Mapping[str, Tensor],
                            layer_weights: Mapping[str, float], per_sample: bool = False) -> Tensor:
    """Weighted sum over layers of the squared sliced Wasserstein distance between feature distributions
    (Heitz et al. 2021, "A Sliced Wasserstein Loss for Neural Texture Synthesis"): the whole distribution
    of the features along each direction, where a Gram matrix holds only their second moments.

    Args:
        output_features: layer -> ``(B, C, H, W)`` features of the stylized images.
        target_quantiles: layer -> ``(B or 1, C, QUANTILES)`` from :func:`sorted_projections` of the painting.
        layer_weights: layer -> weight; every layer named must have a target.
        per_sample: ``(B,)`` instead of the mean.
    """
    total: Tensor | None = None
    for layer, weight in layer_weights.items():
        target = target_quantiles[layer]
        mine = sorted_projections(output_features[layer], target.shape[-1])
        if target.dim() != 3 or target.shape[1:] != mine.shape[1:] or target.shape[0] not in (1, mine.shape[0]):
            raise ValueError(f"target quantiles for {layer!r} have shape {tuple(target.shape)}; the output's are "
                             f"{tuple(mine.shape)}")
        term = weight * ((mine - target.to(mine)) ** 2).mean(dim=(1, 2))
        total = term if total is None else total + term
    if total is None:
        raise ValueError("sliced_wasserstein_loss needs at least one layer")
    return total if per_sample else total.mean()


def content_loss(output: Tensor, target: Tensor, per_sample: bool = False) -> Tensor:
    """Mean squared error between the features of the output and of the content image.

    Args:
        output: ``(B, C, H, W)`` features of the stylized image, any range.
        target: ``(B, C, H, W)`` features of the content image (usually detached), any range.
        per_sample: return one value per sample, ``(B,)``, instead of their mean.

    Returns:
        Scalar (or ``(B,)``) float32 (float64 for float64 inputs), >= 0.
    """
    if output.shape != target.shape:
        raise ValueError(f"content_loss needs features of equal shape, got {tuple(output.shape)} "
                         f"and {tuple(target.shape)}; take both from the same encoder layer")
    with _no_autocast(output):
        squared = (_full_precision(output) - _full_precision(target)) ** 2
        return squared.mean(dim=(1, 2, 3)) if per_sample else squared.mean()


def style_loss(output_features: Mapping[str, Tensor], target_grams: Mapping[str, Tensor],
               layer_weights: Mapping[str, float] | None = None, per_sample: bool = False,
               energy_cap: Mapping[str, float] | None = None) -> Tensor:
    """Weighted sum over layers of the mean squared error between Gram matrices.

    For every layer named in ``target_grams``:
    ``w[layer] * mean((gram_matrix(output_features[layer]) - target_grams[layer]) ** 2)``.

    Args:
        output_features: layer name -> ``(B, C, H, W)`` features of the stylized images; may hold
            more layers than ``target_grams`` (they are ignored).
        target_grams: layer name -> ``(B, C, C)`` or ``(1, C, C)`` Gram matrices of the style
            (from :func:`gram_matrix`); a batch of 1 is broadcast over ``B``.
        layer_weights: layer name -> weight; layers not named weigh 1.0. ``None``: all 1.0. Naming a
            layer that is not in ``target_grams`` is a ``ValueError`` (it is almost always a typo).
        per_sample: return one value per sample, ``(B,)``, instead of their mean.
        energy_cap: layer name -> a Gram energy ``e`` (mean squared entry). A sample whose target
            Gram has more energy ``E`` at that layer has its term scaled by ``e / E``: the error
            becomes relative above the cap and stays absolute below it. A high-contrast texture's
            Gram error is otherwise hundreds of times a painting's, and its few samples would steer
            G; a relative error for all would instead blow up dark, low-contrast paintings.

    Returns:
        Scalar (or ``(B,)``) float32 (float64 for float64 inputs), >= 0 for non-negative weights.
    """
    if not target_grams:
        raise ValueError("style_loss needs at least one layer in target_grams")
    weights = dict(layer_weights or {})
    unknown = sorted(set(weights) - set(target_grams))
    if unknown:
        raise ValueError(f"layer_weights names layers without a target Gram matrix: {unknown}; "
                         f"the targets have {sorted(target_grams)}")
    total: Tensor | None = None
    for layer, target in target_grams.items():
        if layer not in output_features:
            raise KeyError(f"style_loss: no output features for layer {layer!r}; the encoder "
                           f"returned {sorted(output_features)}")
        gram = gram_matrix(output_features[layer])
        batch = gram.shape[0]
        if target.dim() != 3 or target.shape[1:] != gram.shape[1:] or target.shape[0] not in (1, batch):
            raise ValueError(f"target Gram matrix for {layer!r} has shape {tuple(target.shape)}; "
                             f"expected (1, C, C) or {tuple(gram.shape)}")
        with _no_autocast(gram):
            target = _full_precision(target)
            squared = ((gram - target) ** 2).mean(dim=(1, 2))
            if energy_cap is not None and layer in energy_cap:
                energy = (target ** 2).mean(dim=(1, 2)).expand_as(squared)
                squared = squared * (energy_cap[layer] / energy.clamp(min=energy_cap[layer]))
            term = weights.get(layer, 1.0) * (squared if per_sample else squared.mean())
        total = term if total is None else total + term
    assert total is not None
    return total


# --- image priors -----------------------------------------------------------------------------------


def total_variation(image: Tensor) -> Tensor:
    """Anisotropic total variation: mean absolute difference of neighbouring pixels.

    ``mean(|x[..., :, 1:] - x[..., :, :-1]|) + mean(|x[..., 1:, :] - x[..., :-1, :]|)``: a 0/1
    checkerboard gives 2, a constant image 0.

    Args:
        image: ``(B, C, H, W)``, any range (RGB in ``[0, 1]`` in training), ``H, W >= 2``.

    Returns:
        Scalar float32 (float64 for float64 inputs), >= 0.
    """
    _check_4d("image", image)
    if image.shape[-1] < 2 or image.shape[-2] < 2:
        raise ValueError(f"total_variation needs H, W >= 2, got {tuple(image.shape)}")
    with _no_autocast(image):
        x = _full_precision(image)
        horizontal = torch.mean(torch.abs(x[..., :, 1:] - x[..., :, :-1]))
        vertical = torch.mean(torch.abs(x[..., 1:, :] - x[..., :-1, :]))
        return horizontal + vertical


def rgb_to_luminance(image: Tensor) -> Tensor:
    """Luma of an RGB image with the ITU-R BT.601 weights (0.299, 0.587, 0.114).

    Args:
        image: ``(B, 3, H, W)`` RGB in ``[0, 1]``.

    Returns:
        ``(B, 1, H, W)`` in ``[0, 1]``, same dtype as ``image``.
    """
    _check_4d("image", image)
    if image.shape[1] != 3:
        raise ValueError(f"rgb_to_luminance needs 3 RGB channels, got shape {tuple(image.shape)}")
    weights = torch.tensor(BT601_WEIGHTS, device=image.device, dtype=image.dtype).view(1, 3, 1, 1)
    return (image * weights).sum(dim=1, keepdim=True)


# --- temporal consistency ---------------------------------------------------------------------------


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``values`` over the valid pixels of ``mask``, pooled over the whole batch.

    ``sum(mask * values) / (C * sum(mask) + eps)`` with ``eps = 1e-8``: an empty mask gives 0.

    Args:
        values: ``(B, C, H, W)``, any range.
        mask: ``(B, 1, H, W)`` in ``{0, 1}`` (soft weights in ``[0, 1]`` also work), broadcast over C.

    Returns:
        Scalar float32 (float64 if either input is float64).
    """
    _check_4d("values", values)
    _check_mask(mask, values)
    with _no_autocast(values):
        v = _full_precision(values)
        m = _full_precision(mask)
        return torch.sum(m * v) / (values.shape[1] * torch.sum(m) + _MASK_EPS)


def downsample_mask(mask: Tensor, height: int, width: int) -> Tensor:
    """Shrink a validity mask so a low-resolution cell is valid only if all its pixels are.

    Adaptive min-pooling: cell ``(i, j)`` covers input rows ``floor(i*H/h) .. ceil((i+1)*H/h)-1``
    (and likewise columns), so sizes that do not divide evenly are handled; when they do it equals
    min-pooling with a ``(H/h, W/w)`` window.

    Args:
        mask: ``(B, 1, H, W)`` in ``{0, 1}``.
        height: ``h``, at most ``H``.
        width: ``w``, at most ``W``.

    Returns:
        ``(B, 1, h, w)`` in ``{0, 1}``, same dtype as ``mask``.
    """
    _check_4d("mask", mask)
    if mask.shape[-2:] == (height, width):
        return mask
    return -F.adaptive_max_pool2d(-mask, (height, width))


def temporal_output_loss(out_cur: Tensor, out_prev: Tensor, in_cur: Tensor, in_prev: Tensor,
                         flow: Tensor, mask: Tensor, luminance: bool = True) -> Tensor:
    """Output-level temporal loss of ReCoNet (Gao et al., 2018).

    The previous output, warped to the current frame, should differ from the current output only as
    much as the input's luminance changed::

        d_out = out_cur - warp(out_prev, flow)                            # (B, 3, H, W)
        d_in  = Y(in_cur) - Y(warp(in_prev, flow))   if luminance else 0  # (B, 1, H, W)
        loss  = masked_mean((d_out - d_in) ** 2, mask)

    ``d_in`` is broadcast over the three channels, so a lighting change in the input that the
    output reproduces costs nothing. Gradients flow into both outputs; detach ``out_prev`` to
    treat it as a fixed reference.

    Args:
        out_cur: ``(B, 3, H, W)`` stylized frame t, RGB in ``[0, 1]``.
        out_prev: ``(B, 3, H, W)`` stylized frame t-1, RGB in ``[0, 1]``.
        in_cur: ``(B, 3, H, W)`` input frame t, RGB in ``[0, 1]``.
        in_prev: ``(B, 3, H, W)`` input frame t-1, RGB in ``[0, 1]``.
        flow: ``(B, 2, H, W)`` in pixels, from frame t to frame t-1 (see :mod:`stylecast.warp`).
        mask: ``(B, 1, H, W)`` in ``{0, 1}``: 1 where the pixel is visible in both frames
            (not occluded and ``warp.inside_mask(flow)``).
        luminance: subtract the input's luminance change (ReCoNet); ``False`` asks for ``d_out = 0``.

    Returns:
        Scalar float32 (float64 for float64 inputs), >= 0.
    """
    for name, tensor in (("out_cur", out_cur), ("out_prev", out_prev),
                         ("in_cur", in_cur), ("in_prev", in_prev)):
        _check_4d(name, tensor)
        if tensor.shape != out_cur.shape:
            raise ValueError(f"{name} has shape {tuple(tensor.shape)}, expected {tuple(out_cur.shape)}")
    if flow.shape != (out_cur.shape[0], 2, *out_cur.shape[-2:]):
        raise ValueError(f"flow must have shape (B, 2, H, W) = {(out_cur.shape[0], 2, *out_cur.shape[-2:])}, "
                         f"got {tuple(flow.shape)}")
    with _no_autocast(out_cur):
        # Flow in bfloat16 would round pixel coordinates (steps of 1 px above 128), so promote it too.
        flow32 = _full_precision(flow)
        d_out = _full_precision(out_cur) - warp(_full_precision(out_prev), flow32)
        if luminance:
            d_in = (rgb_to_luminance(_full_precision(in_cur))
                    - rgb_to_luminance(warp(_full_precision(in_prev), flow32)))
            d_out = d_out - d_in
        return masked_mean(d_out ** 2, mask)


def temporal_feature_loss(feat_cur: Tensor, feat_prev: Tensor, flow: Tensor, mask: Tensor) -> Tensor:
    """Feature-level temporal loss of ReCoNet: features of frame t vs. warped features of frame t-1.

    The full-resolution flow is resized to the feature size with :func:`warp.resize_flow` (vectors
    rescaled to feature pixels) and the mask shrunk with :func:`downsample_mask` (a feature cell
    counts only if every pixel under it is valid), then
    ``loss = masked_mean((feat_cur - warp(feat_prev, flow_small)) ** 2, mask_small)``.

    Args:
        feat_cur: ``(B, C, h, w)`` features of output frame t (e.g. the generator's encoder), any range.
        feat_prev: ``(B, C, h, w)`` features of output frame t-1.
        flow: ``(B, 2, H, W)`` in full-resolution pixels, frame t to frame t-1, ``H >= h, W >= w``.
        mask: ``(B, 1, H, W)`` in ``{0, 1}``, 1 where the pixel is visible in both frames.

    Returns:
        Scalar float32 (float64 for float64 inputs), >= 0.
    """
    _check_4d("feat_cur", feat_cur)
    if feat_prev.shape != feat_cur.shape:
        raise ValueError(f"feat_prev has shape {tuple(feat_prev.shape)}, expected {tuple(feat_cur.shape)}")
    _check_4d("flow", flow)
    _check_mask(mask, flow)
    height, width = feat_cur.shape[-2:]
    with _no_autocast(feat_cur):
        flow_small = resize_flow(_full_precision(flow), height, width)
        mask_small = downsample_mask(_full_precision(mask), height, width)
        diff = _full_precision(feat_cur) - warp(_full_precision(feat_prev), flow_small)
        return masked_mean(diff ** 2, mask_small)


# --- adversarial ------------------------------------------------------------------------------------


def _gan_loss_single(logits: Tensor, mode: str, target_is_real: bool, for_discriminator: bool) -> Tensor:
    x = _full_precision(logits)
    if mode == "bce":
        # BCE-with-logits against 1 is softplus(-x), against 0 softplus(x): stable for large |x|.
        return torch.mean(F.softplus(-x if target_is_real else x))
    if mode == "hinge":
        if not for_discriminator:
            return -torch.mean(x)
        return torch.mean(F.relu(1.0 - x if target_is_real else 1.0 + x))
    # lsgan
    return torch.mean((x - 1.0) ** 2 if target_is_real else x ** 2)


class GANLoss(nn.Module):
    """One adversarial loss with a mode, as in BasicSR/CycleGAN.

    Call it once per batch of logits: for D, ``loss(real_logits, True) + loss(fake_logits.detach()
    ..., False)``; for G, ``loss(fake_logits, target_is_real=True, for_discriminator=False)``.

    Modes (``x`` are raw discriminator logits, means taken over every element):

    - ``"bce"`` (default): the design's ``L_D = E[log D(x)] + E[log(1 - D(G(z)))]`` maximised by D,
      i.e. D minimises ``BCE(real, 1) + BCE(fake, 0)`` with ``D = sigmoid``; G uses the
      non-saturating form, maximising ``E[log D(G(z))]``, i.e. minimises ``BCE(fake, 1)``.
    - ``"hinge"``: D minimises ``relu(1 - real) + relu(1 + fake)``; G minimises ``-mean(fake)``.
    - ``"lsgan"``: D minimises ``(real - 1)^2 + fake^2``; G minimises ``(fake - 1)^2``. Not halved
      (as BasicSR and CycleGAN): Mao et al.'s factor 1/2 belongs in the loss weight.

    Args:
        mode: one of :data:`GAN_MODES`.
    """

    def __init__(self, mode: str = "bce") -> None:
        super().__init__()
        if mode not in GAN_MODES:
            raise ValueError(f"unknown GAN loss mode {mode!r}; choose one of {', '.join(GAN_MODES)}")
        self.mode = mode

    def forward(self, logits: Tensor | Sequence[Tensor], target_is_real: bool,
                for_discriminator: bool = True) -> Tensor:
        """Adversarial loss for one kind of target.

        Args:
            logits: raw discriminator outputs, any shape (e.g. PatchGAN ``(B, 1, h, w)``), any real
                value; or a sequence of them, one per scale of a multi-scale D, whose per-scale
                losses are averaged.
            target_is_real: whether these logits should be judged real.
            for_discriminator: ``True`` for the D update; ``False`` for the G update, which only
                accepts ``target_is_real=True``.

        Returns:
            Scalar float32 (float64 for float64 logits); >= 0 except hinge for G.
        """
        if not for_discriminator and not target_is_real:
            raise ValueError("the generator loss is computed with target_is_real=True "
                             "(G wants its fakes judged real)")
        scales = [logits] if isinstance(logits, Tensor) else list(logits)
        if not scales:
            raise ValueError("GANLoss got an empty sequence of logits; pass one tensor per D scale")
        with _no_autocast(scales[0]):
            losses = [_gan_loss_single(x, self.mode, target_is_real, for_discriminator) for x in scales]
            return losses[0] if len(losses) == 1 else torch.stack(losses).mean()

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"


# --- thin modules -----------------------------------------------------------------------------------


class ContentLoss(nn.Module):
    """Module form of :func:`content_loss`."""

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        """See :func:`content_loss`: ``(B, C, H, W)`` features twice -> scalar float32."""
        return content_loss(output, target)


class StyleLoss(nn.Module):
    """Module form of :func:`style_loss`, holding the per-layer weights.

    Args:
        layer_weights: layer name -> weight (layers not named weigh 1.0); ``None``: all 1.0.
    """

    def __init__(self, layer_weights: Mapping[str, float] | None = None) -> None:
        super().__init__()
        self.layer_weights: dict[str, float] | None = (
            None if layer_weights is None else dict(layer_weights))

    def forward(self, output_features: Mapping[str, Tensor], target_grams: Mapping[str, Tensor]) -> Tensor:
        """See :func:`style_loss`: features ``(B, C, H, W)`` and Grams ``(B|1, C, C)`` -> scalar."""
        return style_loss(output_features, target_grams, self.layer_weights)

    def extra_repr(self) -> str:
        return f"layer_weights={self.layer_weights}"


class TotalVariationLoss(nn.Module):
    """Module form of :func:`total_variation`."""

    def forward(self, image: Tensor) -> Tensor:
        """See :func:`total_variation`: ``(B, C, H, W)`` -> scalar float32."""
        return total_variation(image)


class TemporalLoss(nn.Module):
    """Output-level plus feature-level temporal loss (ReCoNet).

    ``temporal_output_loss(...) + feature_weight * temporal_feature_loss(...)``, the second term only
    when features are given.

    Args:
        feature_weight: weight of the feature-level term relative to the output-level one.
        luminance: passed to :func:`temporal_output_loss`.
    """

    def __init__(self, feature_weight: float = 1.0, luminance: bool = True) -> None:
        super().__init__()
        self.feature_weight = feature_weight
        self.luminance = luminance

    def forward(self, out_cur: Tensor, out_prev: Tensor, in_cur: Tensor, in_prev: Tensor,
                flow: Tensor, mask: Tensor, feat_cur: Tensor | None = None,
                feat_prev: Tensor | None = None) -> Tensor:
        """Temporal loss of one frame pair.

        Args:
            out_cur, out_prev, in_cur, in_prev: ``(B, 3, H, W)`` RGB in ``[0, 1]``.
            flow: ``(B, 2, H, W)`` in pixels, frame t to frame t-1.
            mask: ``(B, 1, H, W)`` in ``{0, 1}``.
            feat_cur, feat_prev: optional ``(B, C, h, w)`` features of the two outputs; give both
                or neither.

        Returns:
            Scalar float32, >= 0.
        """
        loss = temporal_output_loss(out_cur, out_prev, in_cur, in_prev, flow, mask, self.luminance)
        if (feat_cur is None) != (feat_prev is None):
            raise ValueError("TemporalLoss needs both feat_cur and feat_prev, or neither")
        if feat_cur is not None and feat_prev is not None:
            loss = loss + self.feature_weight * temporal_feature_loss(feat_cur, feat_prev, flow, mask)
        return loss

    def extra_repr(self) -> str:
        return f"feature_weight={self.feature_weight}, luminance={self.luminance}"
