"""Inference-time stabilisation: blend each stylized frame with the previous output, moved along the flow.

A feed-forward stylizer sees each frame alone, so textures shimmer from one frame to the next even where
the scene is still. Here the previous *output* is warped to the current frame with DIS optical flow
(OpenCV's fast dense flow, computed on the small grey *input* frames) and blended in, but only where
the flow is trustworthy: a forward-backward check (Sundaram et al. 2010, the occlusion test of Ruder
et al. 2016) rejects pixels that were hidden or uncovered, a photometric check those where the
moved frame does not match (coarse flow on limbs), and those keep the fresh stylized pixel. Because
the blended output is what gets warped next time, this is a recursive filter along motion
trajectories: still areas settle, moving edges stay sharp.

The warping error that measures flicker follows flow as well, so it also rewards blending where the
flow is wrong: it fell to 1.1x the input's own with finer flow while arms and a dog smeared into
trails. The checks here are set by looking at moving clips, not by that number alone.

numpy and OpenCV only (the light runtime has no torch); BENCHMARKS.md has its cost per frame size.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

# Forward-backward consistency: |b + f(x + b)|^2 <= ALPHA * (|b|^2 + |f(x + b)|^2) + BETA (pixels^2),
# the constants of Sundaram et al. 2010 as used by Ruder et al. for video style transfer.
_CONSISTENCY_ALPHA = 0.01
_CONSISTENCY_BETA = 0.5
# The flow must also explain the picture: the previous grey frame moved along it may differ from the
# current one by at most this many grey levels (0..255, at the flow's size). The forward-backward check
# alone let coarse flow on limbs and animals through, and blending there smeared them into trails
# (benchmarks/stabilize.py, on the sam2 dog clip: with 12, they keep the plain frame's sharpness).
# Chosen on the eight clips of the flicker figures (6 / 12 / none: 2.76 / 2.40 / 1.86x the input's
# warping error, the plain frames 4.68x), the only real clips there are.
_MATCH_LEVELS = 12
# Below this share of reliable pixels the frame is taken as a cut: start afresh instead of ghosting.
_SCENE_CUT_RELIABLE = 0.2


def _flow_size(width: int, height: int, flow_side: int) -> tuple[int, int]:
    scale = min(1.0, flow_side / max(width, height))
    return max(8, round(width * scale)), max(8, round(height * scale))


@functools.lru_cache(maxsize=4)
def _pixel_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates ``x, y`` ``(H, W)`` float32, read-only: made once per frame size."""
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    grid_x.flags.writeable = grid_y.flags.writeable = False
    return grid_x, grid_y


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Sample ``image`` at ``x + flow(x)``: ``image`` ``(H, W, C)`` or ``(H, W)``, ``flow`` ``(H, W, 2)`` float32
    in pixels (x, y); outside points repeat the border."""
    grid_x, grid_y = _pixel_grid(*flow.shape[:2])
    warped: np.ndarray = cv2.remap(image, grid_x + flow[..., 0], grid_y + flow[..., 1], cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_REPLICATE)
    return warped


def _squared_length(flow: np.ndarray) -> np.ndarray:
    # Not (flow ** 2).sum(-1): numpy reduces a length-2 last axis several times slower.
    x, y = flow[..., 0], flow[..., 1]
    result: np.ndarray = x * x + y * y
    return result


def reliable_flow(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """Where the backward flow is trustworthy, by the forward-backward check.

    Args:
        backward: ``(H, W, 2)`` float32 flow from the current frame to the previous one.
        forward: ``(H, W, 2)`` float32 flow from the previous frame to the current one.

    Returns:
        ``(H, W)`` float32, 1 where following ``backward`` then ``forward`` comes back to the start
        (and stays inside the picture), 0 elsewhere.
    """
    height, width = backward.shape[:2]
    forward_there = warp(forward, backward)
    loop = backward + forward_there
    error = _squared_length(loop)
    bound = _CONSISTENCY_ALPHA * (_squared_length(backward) + _squared_length(forward_there)) + _CONSISTENCY_BETA
    grid_x, grid_y = _pixel_grid(height, width)
    target_x, target_y = grid_x + backward[..., 0], grid_y + backward[..., 1]
    inside = (target_x >= 0) & (target_x <= width - 1) & (target_y >= 0) & (target_y <= height - 1)
    mask: np.ndarray = ((error <= bound) & inside).astype(np.float32)
    return mask


def matching_flow(grey: np.ndarray, previous_grey: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """Where ``previous_grey`` moved along ``backward`` looks like ``grey`` (uint8 ``(H, W)`` frames):
    ``(H, W)`` float32, 1 within ``_MATCH_LEVELS`` grey levels, 0 elsewhere."""
    moved = warp(previous_grey, backward)
    mask: np.ndarray = (cv2.absdiff(moved, grey) <= _MATCH_LEVELS).astype(np.float32)
    return mask


@dataclass(frozen=True)
class Motion:
    """How one frame moved from the one before it, at the flow's size (``FlowStabilizer.motion``).

    ``flow``: ``(h, w, 2)`` float32 backward flow (from this frame to the previous one, in pixels of the
    flow's grid); ``unreliable``: ``(h, w)`` uint8, 1 where the flow failed a check (the fresh pixel is
    kept there); ``reliable``: the share of pixels that passed.
    """

    flow: np.ndarray
    unreliable: np.ndarray
    reliable: float


#: The full-size work runs in strips of about this many bytes of map, so that its buffers stay in a
#: core's L2 cache: whole-frame buffers were evicted by G running on the other core, which doubled the
#: step's cost inside the 2-worker file pipeline (BENCHMARKS.md, "3x the peer again, stabilised").
_STRIP_BYTES = 192 * 1024


class FlowStabilizer:
    """Temporal smoothing of a stylized stream, in two steps that each run once per frame, in order.

    ``motion(frame)`` needs only the input frames (grey copies at the flow's size, DIS flow both ways,
    the checks); ``settle(motion, stylized)`` blends the previous output, moved along it, into the new
    one. A file pipeline runs the first as frames are read, while G works on earlier ones, so only
    the second waits for the previous frame's output; ``stabilizer(frame, stylized)`` does both.

    Args:
        blend: weight of the warped previous output where the flow is reliable (0 turns it off;
            0.6 halves flicker with little smear on fast motion).
        flow_side: longer side of the frames the flow is computed on: flow is smooth, so a small
            copy gives the same motion for a fraction of the cost.
    """

    def __init__(self, blend: float = 0.6, flow_side: int = 256) -> None:
        if not 0.0 <= blend < 1.0:
            raise ValueError(f"blend must be in [0, 1), got {blend}")
        self.blend = blend
        self.flow_side = flow_side
        self._dis = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self._previous_grey: np.ndarray | None = None
        self._previous_output: np.ndarray | None = None
        self.last_reliable = 0.0  # share of pixels blended in the last frame (stats, tests)

    def reset(self) -> None:
        """Forget the past (a new size, a style jump the caller wants shown at once, a stopped stream)."""
        self._previous_grey = None
        self._previous_output = None

    def __call__(self, frame: np.ndarray, stylized: np.ndarray) -> np.ndarray:
        """The stabilised frame: ``settle(motion(frame), stylized)``.

        Args:
            frame: the input frame ``(H, W, 3)`` uint8 RGB that ``stylized`` was made from.
            stylized: its stylization ``(H, W, 3)`` uint8 RGB.

        Returns:
            ``(H, W, 3)`` uint8 RGB: ``stylized`` blended with the previous output warped along the flow.
        """
        return self.settle(self.motion(frame), stylized)

    def motion(self, frame: np.ndarray) -> Motion | None:
        """How ``frame`` (``(H, W, 3)`` uint8 RGB, or its luma ``(H, W)`` such as a video's Y plane, any
        size) moved from the one given before it; ``None`` for the first frame, a new size, or a cut (too
        little reliable flow: start afresh)."""
        height, width = frame.shape[:2]
        small = _flow_size(width, height, self.flow_side)
        grey = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        while grey.shape[1] >= 4 * small[0]:  # halve first: resize's area filter is far faster at exactly 2x
            grey = cv2.resize(grey, (grey.shape[1] // 2, grey.shape[0] // 2), interpolation=cv2.INTER_AREA)
        grey = np.ascontiguousarray(cv2.resize(grey, small, interpolation=cv2.INTER_AREA))
        previous_grey, self._previous_grey = self._previous_grey, grey
        if previous_grey is None or previous_grey.shape != grey.shape:
            return None
        # calc(I0, I1) gives flow with I0(p) ~ I1(p + flow(p)); the buffers are outputs (no initial flow is used).
        backward = np.asarray(self._dis.calc(grey, previous_grey, np.zeros((*grey.shape, 2), np.float32)))
        forward = np.asarray(self._dis.calc(previous_grey, grey, np.zeros((*grey.shape, 2), np.float32)))
        mask = reliable_flow(backward, forward) * matching_flow(grey, previous_grey, backward)
        reliable = float(mask.mean())
        if reliable < _SCENE_CUT_RELIABLE:
            return None
        return Motion(backward, (mask < 0.5).view(np.uint8), reliable)

    def settle(self, motion: Motion | None, stylized: np.ndarray) -> np.ndarray:
        """``stylized`` (``(H, W, 3)`` uint8 RGB, any size) blended with the previous output moved along
        ``motion`` where it is reliable; ``stylized`` itself for no motion (and the past restarts)."""
        previous = self._previous_output
        if motion is None or previous is None or previous.shape != stylized.shape:
            self._previous_output = stylized
            self.last_reliable = 0.0
            return stylized
        self.last_reliable = motion.reliable
        height, width = stylized.shape[:2]
        small_h, small_w = motion.unreliable.shape
        scale_x, scale_y = width / small_w, height / small_h
        # Where each pixel was in the previous output, in full-size pixels (small x_s sits at
        # (x_s + 0.5) * scale - 0.5 in the full frame), made at the flow's size and brought to full size
        # as resize would, but in two passes: to full height at the small width at once, then each
        # strip to full width. Only the strips are full-size, so the map never leaves the cache.
        grid_x, grid_y = _pixel_grid(small_h, small_w)
        source = np.dstack([(grid_x + motion.flow[..., 0] + 0.5) * scale_x - 0.5,
                            (grid_y + motion.flow[..., 1] + 0.5) * scale_y - 0.5])
        source = cv2.resize(source, (small_w, height), interpolation=cv2.INTER_LINEAR)
        unreliable_rows = cv2.resize(motion.unreliable, (small_w, height), interpolation=cv2.INTER_NEAREST)
        rows = max(16, _STRIP_BYTES // (8 * width))
        result = np.empty(stylized.shape, stylized.dtype)  # C order whatever the input's: OpenCV writes into it
        for top in range(0, height, rows):
            part = slice(top, min(height, top + rows))
            size = (width, part.stop - top)
            strip_map = cv2.resize(source[part], size, interpolation=cv2.INTER_LINEAR)
            unreliable = cv2.resize(unreliable_rows[part], size, interpolation=cv2.INTER_NEAREST)
            map_xy, map_fraction = cv2.convertMaps(strip_map, None, cv2.CV_16SC2)  # type: ignore[call-overload]
            warped = cv2.remap(previous, map_xy, map_fraction, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            # Blend everywhere in one uint8 pass, then put the fresh pixels back where the flow is not
            # reliable: 6x faster than a per-pixel weighted blend at 720p (the mask is a yes/no test).
            out = result[part]
            cv2.addWeighted(warped, self.blend, stylized[part], 1.0 - self.blend, 0.0, dst=out)
            cv2.copyTo(stylized[part], unreliable, out)
        self._previous_output = result
        return result
