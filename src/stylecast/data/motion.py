"""Synthetic motion: still photos moved by random camera-like homographies, with exact flow.

A homography gives the flow and the occlusion mask for free (nothing is occluded, only pixels that
come from outside the frame are masked), so every content batch can double as a temporal batch.
Flow follows the convention in :mod:`stylecast.warp`: from the current frame to the previous one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from stylecast.warp import inside_mask, warp

# The perspective coefficients are given for an image whose longer side is this many pixels and
# scaled by REFERENCE_SIDE / max(H, W), so the same setting bends a 128 px and a 1024 px image alike.
REFERENCE_SIDE = 256


@dataclass
class MotionPair:
    """Two consecutive frames and the flow that aligns the first to the second.

    Attributes:
        prev: ``(B, 3, H, W)`` in ``[0, 1]``, frame t-1.
        cur: ``(B, 3, H, W)`` in ``[0, 1]``, frame t.
        flow: ``(B, 2, H, W)`` in pixels, cur -> prev: ``warp(prev, flow)`` ~ ``cur``.
        mask: ``(B, 1, H, W)``, 1.0 where the pixel is visible in both frames, else 0.0.
    """

    prev: torch.Tensor
    cur: torch.Tensor
    flow: torch.Tensor
    mask: torch.Tensor

    def to(self, device: torch.device | str) -> MotionPair:
        """The same pair with every tensor moved to ``device``."""
        return MotionPair(self.prev.to(device), self.cur.to(device), self.flow.to(device),
                          self.mask.to(device))


def random_homographies(batch: int, height: int, width: int, generator: torch.Generator,
                        max_translate: float = 0.05, max_rotate_deg: float = 3.0,
                        max_scale: float = 0.05, max_perspective: float = 0.0005) -> torch.Tensor:
    """Small random camera-like moves about the image centre.

    Each move is, in coordinates centred on the image, ``scale * rotation`` plus a translation and
    a perspective row, every parameter drawn uniformly from ``[-max, max]`` (the scale as
    ``1 + U[-max_scale, max_scale]``). Draws near zero give near-identity moves, like a still camera.

    Args:
        batch, height, width: how many matrices, and the frame size in pixels.
        generator: the only source of randomness (a CPU generator).
        max_translate: fraction of the width (x) and height (y).
        max_rotate_deg: degrees.
        max_scale: relative zoom.
        max_perspective: perspective coefficient in 1/pixels for a ``REFERENCE_SIDE``-pixel image,
            scaled by ``REFERENCE_SIDE / max(height, width)``.

    Returns:
        ``float32`` ``(B, 3, 3)`` mapping CURRENT-frame pixel coordinates ``(x, y, 1)`` to
        PREVIOUS-frame pixel coordinates (divide by the third component), normalised so
        ``H[2, 2] == 1``.
    """
    draws = torch.rand(batch, 6, generator=generator, dtype=torch.float64) * 2.0 - 1.0
    tx = draws[:, 0] * max_translate * width
    ty = draws[:, 1] * max_translate * height
    angle = draws[:, 2] * math.radians(max_rotate_deg)
    scale = 1.0 + draws[:, 3] * max_scale
    perspective = max_perspective * REFERENCE_SIDE / max(height, width)
    px = draws[:, 4] * perspective
    py = draws[:, 5] * perspective

    centred = torch.zeros(batch, 3, 3, dtype=torch.float64)
    centred[:, 0, 0] = scale * torch.cos(angle)
    centred[:, 0, 1] = -scale * torch.sin(angle)
    centred[:, 1, 0] = scale * torch.sin(angle)
    centred[:, 1, 1] = scale * torch.cos(angle)
    centred[:, 0, 2] = tx
    centred[:, 1, 2] = ty
    centred[:, 2, 0] = px
    centred[:, 2, 1] = py
    centred[:, 2, 2] = 1.0

    # Pixel centres run 0..W-1, so the image centre is at ((W-1)/2, (H-1)/2).
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    to_centre = torch.tensor([[1.0, 0.0, -cx], [0.0, 1.0, -cy], [0.0, 0.0, 1.0]], dtype=torch.float64)
    from_centre = torch.tensor([[1.0, 0.0, cx], [0.0, 1.0, cy], [0.0, 0.0, 1.0]], dtype=torch.float64)
    matrices = from_centre @ centred @ to_centre
    matrices = matrices / matrices[:, 2:3, 2:3]
    return matrices.float()


def homography_flow(homographies: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The flow field of homographies: ``T(p) - p`` at every pixel ``p``.

    Args:
        homographies: ``(B, 3, 3)`` mapping current-frame pixel coordinates to previous-frame ones.
        height, width: the frame size.

    Returns:
        ``float32`` ``(B, 2, H, W)`` in pixels, cur -> prev (the :mod:`stylecast.warp` convention),
        on the homographies' device. Computed in float64 so it is exact to float32 rounding.
    """
    if homographies.ndim != 3 or homographies.shape[1:] != (3, 3):
        raise ValueError(f"expected homographies of shape (B, 3, 3), got {tuple(homographies.shape)}")
    device = homographies.device
    matrices = homographies.to(torch.float64)
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float64, device=device),
                            torch.arange(width, dtype=torch.float64, device=device), indexing="ij")
    points = torch.stack((xs.reshape(-1), ys.reshape(-1), torch.ones_like(xs).reshape(-1)))  # (3, N)
    mapped = matrices @ points  # (B, 3, N)
    target = mapped[:, :2] / mapped[:, 2:3]
    flow = target - points[:2]
    return flow.reshape(-1, 2, height, width).float()


def synthetic_pairs(frames: torch.Tensor, generator: torch.Generator, noise_std: float = 0.01,
                    **move_kwargs: Any) -> MotionPair:
    """Turn still frames into (previous, current) pairs by a random camera move.

    ``prev`` is ``frames``; ``cur`` is ``frames`` warped by the flow of a random homography (see
    :func:`random_homographies`, which ``move_kwargs`` are passed to), so ``warp(prev, flow)``
    reproduces ``cur`` exactly before noise. Independent gaussian noise is then added to both
    frames because real video has frame-to-frame sensor noise that a warped still lacks, and the
    temporal loss should teach the network to ignore it.

    Args:
        frames: ``(B, 3, H, W)`` in ``[0, 1]``, any device.
        generator: the only source of randomness (a CPU generator).
        noise_std: standard deviation of the added noise; 0 adds none.

    Returns:
        A :class:`MotionPair` on ``frames``' device: ``prev``/``cur`` in ``frames``' dtype,
        ``flow`` and ``mask`` float32, ``mask`` 0.0 where the current pixel comes from outside
        the previous frame.
    """
    batch, _, height, width = frames.shape
    homographies = random_homographies(batch, height, width, generator, **move_kwargs)
    # Flow stays float32 whatever the frames are: bfloat16 cannot even hold pixel coordinates.
    flow = homography_flow(homographies, height, width).to(frames.device)
    cur = warp(frames.float(), flow).to(frames.dtype)
    mask = inside_mask(flow)
    prev = frames
    if noise_std > 0:
        # Drawn on the CPU from the CPU generator so the batch does not depend on the device.
        noise = torch.randn((2, *frames.shape), generator=generator) * noise_std
        noise = noise.to(device=frames.device, dtype=frames.dtype)
        prev = (prev + noise[0]).clamp(0.0, 1.0)
        cur = (cur + noise[1]).clamp(0.0, 1.0)
    return MotionPair(prev=prev, cur=cur, flow=flow, mask=mask)
