"""G(C_c, C_s): the fast stylization network.

G's own light encoder computes the content features C_c of the frame (E is far too slow to run per
frame); the style enters as a style code (see ``style.py``) that sets the scale and shift of every
normalisation layer (conditional instance normalisation, Dumoulin et al. 2017). Blending codes
therefore blends styles.

Shape of the network, chosen for CPU speed (DESIGN.md: memory traffic of full-size activations sets
the pace, so full-resolution layers are few and thin):

    frame (B,3,H,W) -> 3x3 conv s2 (H/2) -> depthwise-separable s2 (H/4)
      -> N residual blocks of depthwise-separable convs at H/4
      -> 1x1 to the stem's width, nearest x2, depthwise 3x3 (H/2, + skip from the stem)
      -> 3x3 conv to RGB at H/2, bilinear x2 (+ a 1x1 skip from the frame) -> sigmoid
      -> RGB (B,3,H,W) in [0, 1]

No layer is wider than 3 channels at full resolution: a 3x3 head there cost more than all the
residual blocks together (ONNX Runtime profile, 640x480). A pixel-shuffle head was as fast but
grew a 2-pixel checkerboard within 200 training steps despite ICNR initialisation; bilinear
upsampling cannot make one.

The way up projects to the narrower width before it doubles the size ("project_first"): upsampling
the 48 residual channels first made the largest fused kernel of the compiled bf16 G at 640x480 (its
normalisation plus the upsampling), followed by a depthwise 3x3 on 48 channels at H/2; projecting
first gives 1.17x the compiled frame rate and 1.12x on ONNX Runtime (BENCHMARKS.md). Model files written before this
choice existed were "upsample_first", and load as such (``models.io``).

Any H x W works: inputs are padded to a multiple of 4 inside and cropped back.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from stylecast.styles import norm_channels

UPSAMPLE_MODES = ("project_first", "upsample_first")


@dataclass(frozen=True)
class GeneratorConfig:
    stem_channels: int = 32      # at H/2
    channels: int = 48           # at H/4, in the residual blocks (64 costs ~35% more time at 640x480)
    blocks: int = 5
    block_kernel: int = 3        # depthwise kernel in the residual blocks
    code_dim: int = 64           # length of a style code
    upsample: str = "project_first"  # or "upsample_first", the layout of the first released models
    knob: bool = False           # a trained content-vs-style knob (Babaeizadeh & Ghiasi 2020) conditions G

    def __post_init__(self) -> None:
        if self.upsample not in UPSAMPLE_MODES:
            raise ValueError(f"upsample must be one of {', '.join(UPSAMPLE_MODES)}, not {self.upsample!r}")

    def to_dict(self) -> dict[str, int | str]:
        return asdict(self)


class CondInstanceNorm(nn.Module):
    """Instance normalisation whose per-channel scale and shift come from the style code.

    ``forward(x, gamma, beta)``: x ``(B, C, H, W)``, gamma and beta ``(B, C)``.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels

    def forward(self, x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        # One fused op (ONNX InstanceNormalization); autocast runs it in float32, which keeps the
        # variance of near-flat regions accurate under bf16.
        if gamma.shape[0] == 1:
            # One style for every frame (inference, and the exported graph's (1, width) style): the
            # scale and shift go into the op itself, which saves ONNX Runtime a Mul and an Add over
            # every normalised tensor (1.13x G at 640x480; BENCHMARKS.md, "3x the peer again, stabilised").
            return F.instance_norm(x, weight=gamma[0].to(x.dtype), bias=beta[0].to(x.dtype), eps=1e-5)
        normed = F.instance_norm(x, eps=1e-5)
        return normed * gamma[:, :, None, None].to(normed.dtype) + beta[:, :, None, None].to(normed.dtype)


class SeparableConv(nn.Module):
    """Depthwise k x k then pointwise 1 x 1.

    Zero padding inside the convolution: a separate reflect-pad pass costs a full memory round
    trip per layer at inference, and the normalisation that follows hides the border.
    """

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, kernel, stride=stride, padding=kernel // 2, groups=cin,
                                   bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class ProjectUpsample(nn.Module):
    """From H/4 to H/2: 1 x 1 to ``cout`` channels, nearest x2, then a depthwise 3 x 3 that smooths
    the nearest-neighbour blocks (so no checkerboard). The full-size work is on ``cout`` channels only.
    """

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.pointwise = nn.Conv2d(cin, cout, 1)
        self.depthwise = nn.Conv2d(cout, cout, 3, padding=1, groups=cout, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.depthwise(F.interpolate(self.pointwise(x), scale_factor=2.0, mode="nearest"))


class UpsampleProject(SeparableConv):
    """The first released models' way up: nearest x2, then a depthwise-separable conv at H/2."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(cin, cout, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.onnx.is_in_onnx_export():
            # An identity (a depthwise 1x1 convolution with unit weights) that ONNX Runtime runs in its
            # blocked channel layout, so the upsampling after it runs there too, on a quarter of the
            # pixels, instead of on the plain layout followed by a reorder at half size: the same
            # output bit for bit, 1.07x G at 640x480 (BENCHMARKS.md, "3x the peer again, stabilised").
            channels = self.depthwise.in_channels
            x = F.conv2d(x, torch.ones(channels, 1, 1, 1, dtype=x.dtype, device=x.device), groups=channels)
        return super().forward(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class ResidualBlock(nn.Module):
    def __init__(self, channels: int, kernel: int) -> None:
        super().__init__()
        self.conv1 = SeparableConv(channels, channels, kernel)
        self.norm1 = CondInstanceNorm(channels)
        self.conv2 = SeparableConv(channels, channels, kernel)
        self.norm2 = CondInstanceNorm(channels)

    def forward(self, x: torch.Tensor, params: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        y = torch.relu(self.norm1(self.conv1(x), *params[0]))
        y = self.norm2(self.conv2(y), *params[1])
        return x + y


class Generator(nn.Module):
    """G: ``forward(frame, code) -> stylized``.

    Args (forward):
        frame: RGB ``(B, 3, H, W)`` in [0, 1], any H, W >= 4.
        code: style codes ``(B, code_dim)`` (or ``(1, code_dim)``, broadcast over the batch).
        offsets: optional ``(B or 1, offset_dim)`` added to the modulation's output: a user style's
            own normalisation parameters beyond what its code reaches (``stylecast add-style``).
        knob: optional ``(B or 1, 1)`` content-vs-style knob, centred: ``-0.5`` gentle (most of the
            photo), ``0`` the recipe's balance, ``+0.5`` wild (most of the painting). Only a G built
            with ``config.knob`` reads it; ``None`` is the recipe's balance.

    Returns:
        RGB ``(B, 3, H, W)`` in [0, 1]. ``return_features=True`` also returns the H/4 features
        after the residual blocks, ``(B, channels, ceil(H/4), ceil(W/4))``, for the feature-level
        temporal loss.
    """

    def __init__(self, config: GeneratorConfig | None = None) -> None:
        super().__init__()
        cfg = config or GeneratorConfig()
        self.config = cfg
        self.stem = nn.Conv2d(3, cfg.stem_channels, 3, stride=2, padding=1)
        self.stem_norm = CondInstanceNorm(cfg.stem_channels)
        self.down = SeparableConv(cfg.stem_channels, cfg.channels, 3, stride=2)
        self.down_norm = CondInstanceNorm(cfg.channels)
        self.blocks = nn.ModuleList(ResidualBlock(cfg.channels, cfg.block_kernel) for _ in range(cfg.blocks))
        self.up: nn.Module = (ProjectUpsample(cfg.channels, cfg.stem_channels) if cfg.upsample == "project_first"
                              else UpsampleProject(cfg.channels, cfg.stem_channels))
        self.up_norm = CondInstanceNorm(cfg.stem_channels)
        self.head = nn.Conv2d(cfg.stem_channels, 3, 3, padding=1)
        self.frame_skip = nn.Conv2d(3, 3, 1)
        # One linear map from the code to every normalisation layer's (gamma, beta): blending codes
        # is then exactly blending the normalisation parameters.
        self.norm_channels = norm_channels(cfg.to_dict())
        self.modulation = nn.Linear(cfg.code_dim, 2 * sum(self.norm_channels))
        nn.init.normal_(self.modulation.weight, std=0.04)
        nn.init.zeros_(self.modulation.bias)
        # The knob moves the normalisation parameters along a direction that depends on the style:
        # params = M code + b + knob * (K code + c). Zero at init, so a G warm-started from one without
        # a knob starts as that G at every knob setting. Linear in the code for a fixed knob, so
        # blends stay exact.
        self.knob_modulation: nn.Linear | None = None
        if cfg.knob:
            self.knob_modulation = nn.Linear(cfg.code_dim, 2 * sum(self.norm_channels))
            nn.init.zeros_(self.knob_modulation.weight)
            nn.init.zeros_(self.knob_modulation.bias)

    @property
    def offset_dim(self) -> int:
        """Length of the optional per-channel offsets (a scale and a shift per normalised channel)."""
        return 2 * sum(self.norm_channels)

    def norm_params(self, code: torch.Tensor, offsets: torch.Tensor | None = None,
                    knob: torch.Tensor | None = None) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Split the modulation (plus ``offsets``, ``(B, offset_dim)``, and the ``knob``'s term,
        ``(B, 1)``) into ``[(gamma, beta), ...]``, one pair per normalisation layer."""
        flat = self.modulation(code.float())
        if knob is not None and self.knob_modulation is not None:
            flat = flat + knob.float() * self.knob_modulation(code.float())
        if offsets is not None:
            flat = flat + offsets.float()
        params = []
        offset = 0
        for channels in self.norm_channels:
            gamma = 1.0 + flat[:, offset:offset + channels]
            beta = flat[:, offset + channels:offset + 2 * channels]
            params.append((gamma, beta))
            offset += 2 * channels
        return params

    def forward(self, frame: torch.Tensor, code: torch.Tensor, return_features: bool = False,
                offsets: torch.Tensor | None = None, knob: torch.Tensor | None = None
                ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        height, width = frame.shape[-2:]
        pad_h, pad_w = (-height) % 4, (-width) % 4
        params = self.norm_params(code, offsets, knob)
        padded = F.pad(frame, (0, pad_w, 0, pad_h), mode="replicate") * 2.0 - 1.0  # zero-centred
        s = torch.relu(self.stem_norm(self.stem(padded), *params[0]))
        x = torch.relu(self.down_norm(self.down(s), *params[1]))
        for index, block in enumerate(self.blocks):
            x = block(x, params[2 + 2 * index: 4 + 2 * index])
        features = x
        x = torch.relu(self.up_norm(self.up(x), *params[-1]) + s)
        x = F.interpolate(self.head(x), scale_factor=2.0, mode="bilinear", align_corners=False)
        x = x + self.frame_skip(padded.to(x.dtype))
        out = torch.sigmoid(x[:, :, :height, :width])
        if return_features:
            return out, features
        return out


def count_macs(model: nn.Module, *inputs: torch.Tensor) -> int:
    """Multiply-accumulates of one forward pass over convolutions and linear layers."""
    total = 0

    def conv_hook(module: nn.Conv2d, _inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        kernel = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
        total += output.numel() * kernel

    def linear_hook(module: nn.Linear, _inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        total += output.numel() * module.in_features

    handles = []
    for sub in model.modules():
        if isinstance(sub, nn.Conv2d):
            handles.append(sub.register_forward_hook(conv_hook))
        elif isinstance(sub, nn.Linear):
            handles.append(sub.register_forward_hook(linear_hook))
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    return total
