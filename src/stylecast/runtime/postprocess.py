"""Torch-free helpers around the exported graph: its input feed and the optional finishing step."""

from __future__ import annotations

import cv2
import numpy as np

# ITU-R BT.601 luma weights, as in losses.rgb_to_luminance.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def inference_inputs(frames: np.ndarray, style: np.ndarray) -> dict[str, np.ndarray]:
    """The ONNX input feed for ``frames`` (N, H, W, 3) uint8 and a style vector (1, width) float32."""
    return {"frames": np.ascontiguousarray(frames, dtype=np.uint8),
            "style": np.ascontiguousarray(style, dtype=np.float32).reshape(1, -1)}


def finish(original: np.ndarray, stylized: np.ndarray, strength: float = 1.0,
           preserve_color: bool = False) -> np.ndarray:
    """Colour preservation and strength, applied only when asked for.

    Args:
        original, stylized: ``(..., H, W, 3)`` uint8 RGB of the same shape.
        strength: 1 keeps the stylized frame, 0 gives back the original.
        preserve_color: keep the original's chroma and take the stylized luminance. In YCbCr a
            pixel's RGB is Y plus a chroma term, so swapping Y adds the luminance difference.
    """
    if strength >= 1.0 and not preserve_color:
        return stylized
    out = stylized.astype(np.float32)
    if preserve_color:
        base = original.astype(np.float32)
        delta = (out - base) @ _LUMA
        out = (base + delta[..., None]).astype(np.float32)
    if strength < 1.0:
        out = original.astype(np.float32) + np.float32(strength) * (out - original.astype(np.float32))
    result: np.ndarray = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    return result


def finish_i420(original: np.ndarray, stylized: np.ndarray, strength: float = 1.0,
                preserve_color: bool = False) -> np.ndarray:
    """:func:`finish` for I420 frames (``io.frames``): ``stylized`` (a new array of the pipeline's,
    changed in place) with the original's chroma planes, and blended with the original by ``strength``.

    YUV is an affine function of RGB, so a blend of the planes is the planes of the blend, and keeping
    the original's U and V is keeping its colour under the stylized luminance.
    """
    if preserve_color:
        height = original.shape[0] * 2 // 3
        stylized[height:] = original[height:]
    if strength < 1.0:
        cv2.addWeighted(stylized, float(strength), original, 1.0 - float(strength), 0.0, dst=stylized)
    return stylized
