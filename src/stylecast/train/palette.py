"""G's output through the painting's palette during training, as the runtime shows it (``loss.palette``).

At run time every stylized frame goes through its style's palette (``styles/palette.py``): one affine
colour map per frame that puts the frame's mean and covariance on the painting's. Training G on what
the user will see means its losses and D judge the frame after that map, so G need not spend its
capacity on the palette and can spend it on what the map cannot make: strokes and texture. The map is
fitted by the runtime's own function on the detached frame (no gradient flows through the statistics,
whose eigen-decomposition has unstable gradients) and applied differentiably.
"""

from __future__ import annotations

import numpy as np
import torch

from stylecast.styles.palette import palette_matrix, palette_of


def _uint8_images(images: torch.Tensor) -> np.ndarray:
    """``(N, 3, H, W)`` in [0, 1] -> ``(N, H, W, 3)`` uint8 (what the runtime's map is fitted on)."""
    return images.detach().float().clamp(0, 1).mul(255).round().byte().permute(0, 2, 3, 1).cpu().numpy()


def batch_palettes(bank_palettes: torch.Tensor, style_ids: torch.Tensor, from_pool: torch.Tensor,
                   style_crops: torch.Tensor) -> torch.Tensor:
    """The palette tail of each sample's painting ``(B, PALETTE_WIDTH)``: the bank painting's, or that
    of the pool sample's painting crop ``style_crops`` ``(P, 3, s, s)``, P = ``from_pool.sum()``."""
    tails = bank_palettes[style_ids.cpu()].clone()
    if len(style_crops):
        crops = _uint8_images(style_crops)
        tails[from_pool.cpu()] = torch.from_numpy(np.stack([palette_of(crop) for crop in crops]))
    return tails


def through_palette(images: torch.Tensor, tails: torch.Tensor) -> torch.Tensor:
    """Each image ``(N, 3, H, W)`` in [0, 1] through the colour map its palette tail ``(N, PALETTE_WIDTH)``
    gives it (fitted on the image itself); an image whose tail holds no palette passes unchanged."""
    frames = _uint8_images(images)
    maps = []
    for frame, tail in zip(frames, tails.cpu().numpy(), strict=True):
        matrix = palette_matrix(frame, tail)
        maps.append(np.concatenate([np.eye(3), np.zeros((3, 1))], axis=1) if matrix is None else matrix)
    affine = torch.from_numpy(np.stack(maps)).to(images.device, torch.float32)      # (N, 3, 4), 0..255 units
    mapped = torch.einsum("nij,njhw->nihw", affine[:, :, :3], images.float()) + affine[:, :, 3, None, None] / 255.0
    return mapped.clamp(0.0, 1.0)
