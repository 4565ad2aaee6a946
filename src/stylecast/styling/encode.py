"""The instant code of a painting: E's feature statistics at the training scale, through the model's
style encoder (needs torch and VGG19: the ``train`` extra)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from stylecast.models.encoder import VGG19Features
from stylecast.models.style import STYLE_STAT_LAYERS, StyleNet, style_statistics
from stylecast.styles import attach_palette
from stylecast.styles.palette import palette_of
from stylecast.styling.painting import painting_at_scale, painting_scale, read_painting


def painting_tensor(painting: np.ndarray, short_side: int) -> torch.Tensor:
    """``(1, 3, h, w)`` float32 in [0, 1]: the painting at the training scale, as E takes it."""
    scaled = painting_at_scale(painting, short_side)
    scaled = np.require(scaled, requirements=["C", "W"])  # torch wants writable memory (copied only if needed)
    return torch.from_numpy(scaled).permute(2, 0, 1).float().div_(255.0)[None].contiguous()


@torch.no_grad()
def painting_statistics(vgg: VGG19Features, painting: np.ndarray, short_side: int) -> torch.Tensor:
    """The style encoder's input for a painting: ``(1, STYLE_STAT_DIM)``."""
    return style_statistics(vgg(painting_tensor(painting, short_side), STYLE_STAT_LAYERS))


class PaintingEncoder:
    """Painting (a file or an array) -> its instant style vector ``(1, style_width)``: the model's style
    encoder on E's statistics of it (its code, and its offsets when it predicts them; the knob at the
    recipe's balance), then its palette."""

    def __init__(self, model_path: str | Path | None = None) -> None:
        from stylecast.models.io import load_stylenet

        self.net: StyleNet
        self.net, meta = load_stylenet(model_path)
        self.short_side = painting_scale(meta)
        self.generator = meta["generator"]
        self.vgg = VGG19Features()

    @torch.no_grad()
    def __call__(self, painting: str | Path | np.ndarray) -> np.ndarray:
        image = painting if isinstance(painting, np.ndarray) else read_painting(painting)
        scaled = painting_at_scale(image, self.short_side)  # once: E's statistics and the palette see it
        vector = self.net.encoder.style_vector(painting_statistics(self.vgg, scaled, self.short_side)).numpy()
        return attach_palette(vector, palette_of(scaled), self.generator)
