"""A painting's palette: colour statistics at the end of a style vector, and the frame op that applies
them (torch-free).

G carries a painting's texture and some of its colour, but in the training a 2-core CPU affords, its
normalisation layers did not learn to reach the palette of a painting it never saw: every unseen
painting came out in one muted sepia (issue 16). So the palette is measured, not learned: the mean
and covariance of the painting's RGB pixels at the painting scale. Each stylized frame's colours are
then moved onto them by the affine map that matches mean and covariance (colour transfer, Reinhard
et al. 2001, in the covariance form of Gatys et al. 2017, "Controlling perceptual factors in neural
style transfer"). It is one 3x4 matrix per frame, so it cannot blur an edge or add a stroke: the
structure and texture stay G's. It costs about 3 CPU-ms a 640x480 frame (G: about 70).

Measured on 12 held-out artworks (BENCHMARKS.md, "The painting's palette"): closeness to the
painting's colours (CIELAB) 0.41 -> 0.77 (the peer 0.75), the spread of the results across paintings
0.32 -> 0.78 of the paintings' own (the peer 0.87), the structure kept 0.77 -> 0.72 (the peer 0.59).

The tail, ``PALETTE_WIDTH`` floats (RGB in [0, 1]): ``weight, weight * mean (3), weight * root (9)``,
``root`` being the symmetric square root of the covariance, row-major. A vector without a palette (the
vectors of older models and of styles added before it) has a zero tail, so it is widened with zeros
and keeps its look. Blending vectors blends the tails: a blend's palette is the weighted mean of its
parts' palettes, applied with the total weight of the parts that have one.
"""

from __future__ import annotations

import cv2
import numpy as np

PALETTE_WIDTH = 13
#: Added to the frame's colour covariance (RGB in 0..255: a standard deviation of 10 levels) before
#: its inverse square root, so a frame that is almost grey in some colour direction is not stretched
#: without bound there (G's noise and flicker would be amplified into colour). Chosen on held-out
#: artworks and photos that no reported figure uses (8 x 4, 3 clips): 20 / 100 / 400 gave the peer's
#: style vector 0.397 / 0.408 / 0.380 of the way to the painting, CIELAB 0.725 / 0.701 / 0.646,
#: diversity 0.85 / 0.83 / 0.78, and a warping error of 2.55 / 2.30 / 1.85x the input video's.
COVARIANCE_FLOOR = 100.0
#: The frame's statistics come from about this many pixels (a regular grid): enough for a mean and a
#: 3x3 covariance, and the cost stays far below G's at any size.
SAMPLE_PIXELS = 16384


def _sqrt_psd(matrix: np.ndarray, inverse: bool = False) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    values = np.maximum(values, 1e-12) ** (-0.5 if inverse else 0.5)
    result: np.ndarray = (vectors * values) @ vectors.T
    return result


def _moments(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(3,)`` and covariance ``(3, 3)`` of ``(N, 3)`` pixels, float64 in 0..255."""
    mean = pixels.mean(axis=0)
    centred = pixels - mean
    return mean, centred.T @ centred / max(len(pixels), 1)


def _sample(image: np.ndarray) -> np.ndarray:
    height, width = image.shape[:2]
    step = max(1, int(np.sqrt(height * width / SAMPLE_PIXELS)))
    return image[::step, ::step].reshape(-1, 3).astype(np.float64)


def palette_of(painting: np.ndarray) -> np.ndarray:
    """The palette tail of an RGB uint8 painting ``(H, W, 3)`` (at the painting scale), weight 1:
    ``(PALETTE_WIDTH,)`` float32."""
    mean, cov = _moments(_sample(painting))
    return np.concatenate([[1.0], mean / 255.0, _sqrt_psd(cov).ravel() / 255.0]).astype(np.float32)


def palette_parts(tail: np.ndarray) -> tuple[float, np.ndarray, np.ndarray] | None:
    """``(amount, mean (3,), root (3, 3))`` in 0..255 units from a tail, or ``None`` for no palette."""
    tail = np.asarray(tail, dtype=np.float64).reshape(-1)
    weight = float(tail[0]) if tail.size == PALETTE_WIDTH else 0.0
    if not weight > 1e-6 or not np.all(np.isfinite(tail)):
        return None
    return min(weight, 1.0), tail[1:4] / weight * 255.0, tail[4:].reshape(3, 3) / weight * 255.0


def palette_matrix(frame: np.ndarray, tail: np.ndarray) -> np.ndarray | None:
    """The ``(3, 4)`` affine colour map that moves ``frame``'s colours onto the palette, or ``None``."""
    parts = palette_parts(tail)
    if parts is None:
        return None
    amount, target_mean, target_root = parts
    mean, cov = _moments(_sample(frame))
    gain = target_root @ _sqrt_psd(cov + COVARIANCE_FLOOR * np.eye(3), inverse=True)
    matrix = np.eye(3) + amount * (gain - np.eye(3))
    offset = amount * (target_mean - gain @ mean)
    return np.concatenate([matrix, offset[:, None]], axis=1)


def apply_palette(frames: np.ndarray, tail: np.ndarray | None) -> np.ndarray:
    """Stylized RGB uint8 frames ``(N, H, W, 3)`` with their colours moved onto the palette ``tail``
    (each frame by its own statistics); the same array when the tail holds no palette."""
    if tail is None or palette_parts(tail) is None:
        return frames
    out = np.empty_like(frames)
    for index, frame in enumerate(frames):
        matrix = palette_matrix(frame, tail)
        out[index] = cv2.transform(np.ascontiguousarray(frame), matrix.astype(np.float32))  # type: ignore[union-attr]
    return out
