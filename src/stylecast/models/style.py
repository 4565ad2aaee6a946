"""Style codes: the trained bank, blends, and the style encoder for unseen paintings.

A style code is a ``(code_dim,)`` vector; G maps it linearly to every normalisation layer's scale
and shift. Codes come from
  (a) the bank: one trained code per shipped style, with its credits;
  (b) a blend: a convex combination of codes (``starry_night:0.7,great_wave:0.3``);
  (c) the style encoder: E's channel statistics of any style image, mapped to a code by a small MLP
      trained alongside the bank (instant codes for unseen styles, refined later by adaptation).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from stylecast import styles as _styles
from stylecast.models.generator import Generator, GeneratorConfig

# Layers whose per-channel mean and standard deviation describe a style (as in AdaIN, Huang &
# Belongie 2017); 64 + 128 + 256 + 512 channels, two statistics each.
STYLE_STAT_LAYERS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
STYLE_STAT_DIM = 2 * (64 + 128 + 256 + 512)


@dataclass
class StyleInfo(_styles.Credits):
    """A style of a model file: its name, credits, extra facts (the painting's file name), and its
    painting's palette (``styles.palette``; empty: none, as in files written before it existed)."""

    name: str
    extra: dict[str, str] = field(default_factory=dict)
    palette: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> StyleInfo:
        known = {k: str(data[k]) for k in ("name", "artist", "title", "year", "credit") if k in data}
        extra = data.get("extra") or {}
        palette = data.get("palette")
        return cls(**known, extra=dict(extra) if isinstance(extra, Mapping) else {},  # type: ignore[arg-type]
                   palette=[float(v) for v in palette] if isinstance(palette, list) else [])


def style_statistics(features: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Per-channel log-mean and log-std of E's features at ``STYLE_STAT_LAYERS``.

    Args:
        features: ``{layer: (B, C, H, W)}`` non-negative (post-ReLU) activations.

    Returns:
        ``(B, STYLE_STAT_DIM)`` float32; ``log1p`` keeps relu4_1's large values on the scale of
        relu1_1's small ones.
    """
    parts = []
    for layer in STYLE_STAT_LAYERS:
        feat = features[layer].float().flatten(2)
        parts.append(torch.log1p(feat.mean(dim=2)))
        parts.append(torch.log1p(feat.std(dim=2, unbiased=False)))
    return torch.cat(parts, dim=1)


class StyleEncoder(nn.Module):
    """MLP from style statistics ``(B, STYLE_STAT_DIM)`` to style codes ``(B, code_dim)``.

    With ``offset_dim > 0`` it also predicts offsets to G's normalisation parameters (what
    ``add-style`` optimises beside the code: the code reaches only the part of that space the bank's
    styles span). The offset head starts at zero, so an encoder warm-started from one without it
    gives the same styles until it trains.
    """

    def __init__(self, code_dim: int, hidden: int = 256, offset_dim: int = 0) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(STYLE_STAT_DIM, hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, code_dim),
        )
        self.offsets: nn.Linear | None = None
        if offset_dim:
            self.offsets = nn.Linear(hidden, offset_dim)
            nn.init.zeros_(self.offsets.weight)
            nn.init.zeros_(self.offsets.bias)

    def forward(self, stats: torch.Tensor) -> torch.Tensor:
        return self.net(stats.float())

    def vector(self, stats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The code ``(B, code_dim)`` and the offsets ``(B, offset_dim)`` (``None`` without the head)."""
        hidden = self.net[:-1](stats.float())
        return self.net[-1](hidden), None if self.offsets is None else self.offsets(hidden)

    def style_vector(self, stats: torch.Tensor) -> torch.Tensor:
        """Code and offsets as one ``(B, code_dim [+ offset_dim])`` row: a style vector's start."""
        code, offsets = self.vector(stats)
        return code if offsets is None else torch.cat([code, offsets], dim=1)


class StyleNet(nn.Module):
    """G together with its style bank and style encoder: everything a model file holds.

    ``forward(frames, style_ids, style_stats, use_encoder, knob)`` is the training path, so that DDP
    sees one module whose every parameter is used each step:
        frames ``(B, 3, H, W)`` in [0, 1]; style_ids ``(B,)`` long; style_stats
        ``(B, STYLE_STAT_DIM)`` statistics of a crop of each sample's style image; use_encoder
        ``(B,)`` bool, where the encoder's code replaces the bank's; knob ``(B, 1)`` or ``None``
        (see ``Generator``).
    Returns ``(stylized (B,3,H,W), features (B,C,H/4,W/4), bank_codes (B,D), encoder_codes (B,D))``.
    """

    def __init__(self, styles: Sequence[StyleInfo], config: GeneratorConfig | None = None,
                 encoder_hidden: int = 256, encoder_offsets: bool = False) -> None:
        super().__init__()
        self.generator = Generator(config)
        code_dim = self.generator.config.code_dim
        self.styles: list[StyleInfo] = list(styles)
        # Unit-scale random codes: with the modulation's init below, every style starts with its own
        # normalisation (gamma within about +-0.3 of 1), so the styles separate from the first step.
        self.bank = nn.Parameter(torch.randn(len(self.styles), code_dim))
        self.encoder = StyleEncoder(code_dim, encoder_hidden,
                                    self.generator.offset_dim if encoder_offsets else 0)
        self.encoder_hidden = encoder_hidden
        self.encoder_offsets = encoder_offsets

    @property
    def config(self) -> GeneratorConfig:
        return self.generator.config

    @property
    def names(self) -> list[str]:
        return [style.name for style in self.styles]

    def index_of(self, name: str) -> int:
        return _styles.index_of(self.names, name)

    def forward(self, frames: torch.Tensor, style_ids: torch.Tensor, style_stats: torch.Tensor,
                use_encoder: torch.Tensor, knob: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        bank_codes = self.bank[style_ids]
        encoder_codes, encoder_offsets = self.encoder.vector(style_stats)
        codes = torch.where(use_encoder[:, None], encoder_codes, bank_codes)
        # Bank styles have no offsets; the encoder's apply only where its code does.
        offsets = None if encoder_offsets is None else encoder_offsets * use_encoder[:, None].to(encoder_offsets.dtype)
        stylized, features = self.generator(frames, codes, return_features=True, knob=knob, offsets=offsets)
        return stylized, features, bank_codes, encoder_codes
