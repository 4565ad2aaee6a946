"""Backward warping by optical flow, shared by synthetic motion, the temporal loss and stabilisation.

Flow convention used everywhere in stylecast: ``flow`` has shape ``(B, 2, H, W)`` in pixels,
channel 0 is the x (column) displacement and channel 1 the y (row) displacement. It is the flow
*from the current frame to the previous one*: pixel ``p`` of frame t shows what pixel
``p + flow[p]`` of frame t-1 showed. ``warp(prev, flow)`` therefore aligns frame t-1 to frame t.
Masks have shape ``(B, 1, H, W)``, 1.0 where the pixel is visible in both frames, 0.0 where it is
occluded or came from outside the image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def base_grid(height: int, width: int, device: torch.device | None = None,
              dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Pixel coordinates of every pixel, shape ``(1, 2, H, W)``: channel 0 is x, channel 1 is y."""
    ys, xs = torch.meshgrid(
        torch.arange(height, device=device, dtype=dtype),
        torch.arange(width, device=device, dtype=dtype),
        indexing="ij",
    )
    return torch.stack((xs, ys)).unsqueeze(0)


def warp(image: torch.Tensor, flow: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """Sample ``image`` at ``p + flow(p)``.

    Args:
        image: ``(B, C, H, W)``, any value range.
        flow: ``(B, 2, H, W)`` in pixels (see the module docstring), or ``(B, 2, h, w)`` at another
            size, in which case it must already be expressed in ``image``'s pixel units.
        mode: ``"bilinear"`` or ``"nearest"``.

    Returns:
        ``(B, C, H, W)``; samples from outside ``image`` repeat its border.
    """
    _, _, height, width = image.shape
    coords = base_grid(height, width, image.device, flow.dtype) + flow
    # grid_sample wants (B, H, W, 2) in [-1, 1] with align_corners=True meaning pixel centres.
    gx = coords[:, 0] * (2.0 / max(width - 1, 1)) - 1.0
    gy = coords[:, 1] * (2.0 / max(height - 1, 1)) - 1.0
    grid = torch.stack((gx, gy), dim=-1)
    return F.grid_sample(image, grid.to(image.dtype), mode=mode, padding_mode="border",
                         align_corners=True)


def inside_mask(flow: torch.Tensor) -> torch.Tensor:
    """1.0 where ``p + flow(p)`` lands inside the image, shape ``(B, 1, H, W)``."""
    _, _, height, width = flow.shape
    coords = base_grid(height, width, flow.device, flow.dtype) + flow
    inside = ((coords[:, 0] >= 0) & (coords[:, 0] <= width - 1)
              & (coords[:, 1] >= 0) & (coords[:, 1] <= height - 1))
    return inside.unsqueeze(1).to(flow.dtype)


def resize_flow(flow: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Resize a flow field and rescale its vectors to the new pixel units."""
    _, _, h0, w0 = flow.shape
    resized = F.interpolate(flow, size=(height, width), mode="bilinear", align_corners=False)
    scale = torch.tensor([width / w0, height / h0], device=flow.device, dtype=flow.dtype)
    return resized * scale.view(1, 2, 1, 1)
