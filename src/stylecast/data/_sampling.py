"""Random-crop helpers shared by the samplers: every draw comes from a caller's torch.Generator."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from stylecast.errors import InputError


def crop_resize_flip(image: torch.Tensor, top: int, left: int, height: int, width: int, size: int,
                     flip: bool) -> torch.Tensor:
    """Crop ``image`` ``(C, H, W)`` (``uint8`` 0-255 or float 0-1), resize to ``(C, size, size)``.

    Returns ``float32`` in ``[0, 1]``. Downscaling uses antialiasing so crops taken from large
    images do not alias into patterns the generator would learn to reproduce.
    """
    crop = image[:, top:top + height, left:left + width]
    crop = crop.float().div_(255.0) if crop.dtype == torch.uint8 else crop.float()
    if (height, width) != (size, size):
        crop = F.interpolate(crop.unsqueeze(0), size=(size, size), mode="bilinear",
                             align_corners=False, antialias=True).squeeze(0).clamp_(0.0, 1.0)
    if flip:
        crop = crop.flip(-1)
    return crop


def uniform(generator: torch.Generator, low: float, high: float) -> float:
    """One draw from ``U[low, high)`` taken from ``generator``."""
    return low + (high - low) * float(torch.rand((), generator=generator))


def randint(generator: torch.Generator, high: int) -> int:
    """One integer draw from ``[0, high)`` taken from ``generator``."""
    return int(torch.randint(high, (), generator=generator))


def check_shard(shard: tuple[int, int]) -> tuple[int, int]:
    """Validate a ``(rank, world)`` pair and return it."""
    rank, world = shard
    if world < 1 or not 0 <= rank < world:
        raise InputError(f"shard {shard} is not a valid (rank, world_size): need 0 <= rank < world_size")
    return rank, world
