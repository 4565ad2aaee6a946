"""The fast path for large frames: G at a working size, brought to full size guided by the frame.

The strokes of a style do not need a 1280x720 network to exist; the frame's edges and fine detail
do need the full-resolution frame. So G runs on the frame scaled down to a working size (``auto``:
by the frame's size and the measured speed, see :class:`WorkingSize`), and its result is brought
back to full size with the frame's own detail:

    out = up(S) + up(max(A, DETAIL)) * (Y - up(y))      (the same for R, G and B)

where ``S`` is G's output at the working size, ``Y`` the full-size frame's luminance, ``y`` the
working-size frame's luminance, and ``up`` bilinear scaling to full size. ``Y - up(y)`` is exactly
the detail that scaling the frame down removed; ``A`` is the local gain of G's
luminance with respect to the frame's, fitted at the working size by local linear regression
over a small window, as in the guided filter (He et al., TPAMI 2013) and its fast, subsampled form
(He & Sun 2015). Where G traced an edge of the photo, the edge comes back sharp, with G's contrast;
where G painted over the photo (A small), ``DETAIL`` of the frame's fine detail still comes back on
top of G's strokes, so the picture stays readable. Unlike a plain guided filter
(``out = up(a) * Y + up(b)``) this keeps G's own texture: ``up(S)`` is always the base.

A video frame that stays in the decoder's planar YUV (the file pipeline's) takes
:func:`guided_upscale_i420`: the same formula on its Y plane alone, with G's chroma scaled.

Every step is an OpenCV pass over the frame (resize, box filter, multiply, add) into buffers kept per
thread: about 8 ms of CPU for a 1280x720 frame and 14 ms for 1920x1080 on one core, numpy and OpenCV
only, no torch. The result is a deterministic function of the frame and of G's output: it adds no
flicker beyond the input's own fine detail (BENCHMARKS.md: 0.78x the warping error of G at full size).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import cv2
import numpy as np

from stylecast.io.frames import RGB_TO_YUV, i420_planes, i420_size, i420_to_rgb, new_i420

#: The working size's shorter side when the user does not choose one (``--working-size``).
DEFAULT_WORKING_SIDE = 360
#: Radius (working-size pixels) of the window in which G's local gain is fitted.
RADIUS = 4
#: Regularisation of the fit (luminance in [0, 1]): flat regions get a gain near 0 (then the floor),
#: not noise.
EPSILON = 1e-3
#: The gain is clipped: a detail is never amplified more than this.
MAX_GAIN = 2.0
#: The least share of the frame's own detail that comes back, whatever G's gain: G at the working
#: size paints strokes about full-size/working-size times coarser than G at full size, and without a
#: floor the fine edges of the frame were lost where those strokes cover them. On three 720p clips
#: (benchmarks/highres.py, shipped model, 4 styles) kept structure was 0.48 with no floor, 0.67 at
#: 0.5 and 0.74 at 0.75, against 0.70 for G at full size; closeness to the painting did not move.
DETAIL = 0.75


def single_threaded_opencv() -> None:
    """Run OpenCV's own loops on one thread, for the rest of the process.

    For pipelines that already stylize several frames at once, one per core: there OpenCV's thread
    pool in the upscale cost more CPU than it saved (1280x720: 19 CPU-ms a frame against 9 on one
    thread, BENCHMARKS.md). OpenCV's setting is process-wide, so it is set, never toggled back and
    forth under concurrent jobs.
    """
    if cv2.getNumThreads() != 1:
        cv2.setNumThreads(1)


def working_dims(width: int, height: int, short_side: int | None) -> tuple[int, int] | None:
    """The working size ``(w, h)`` for a ``width x height`` frame, or ``None`` to run G at full size.

    The aspect ratio is kept and both sides are even; a frame whose shorter side is not larger than
    ``short_side`` (or ``short_side=None``) runs at full size.
    """
    if short_side is None or min(width, height) <= short_side:
        return None
    scale = short_side / min(width, height)
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def shrink(frame: np.ndarray, dims: tuple[int, int]) -> np.ndarray:
    """``frame`` (H, W, 3) uint8 scaled down to ``dims`` (w, h), averaging (no aliasing)."""
    return cv2.resize(frame, dims, interpolation=cv2.INTER_AREA)


def local_gain(small: np.ndarray, styled: np.ndarray, radius: int = RADIUS, eps: float = EPSILON) -> np.ndarray:
    """The gain of G's luminance with respect to the frame's, at least the detail floor: ``(h, w)`` float32.

    Per window: ``cov(y, s) / (var(y) + eps)``, averaged over the windows that cover each pixel (the
    guided filter's ``mean_a``), clipped to ``[DETAIL, MAX_GAIN]``. One gain
    for the three channels: the detail it scales is luminance, and a gain per channel cost 3x as much
    for no visible difference.
    """
    return _gain(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), cv2.cvtColor(styled, cv2.COLOR_RGB2GRAY),
                 radius, eps).copy()


def _gain(small_luma: np.ndarray, styled_luma: np.ndarray, radius: int = RADIUS, eps: float = EPSILON
          ) -> np.ndarray:
    """:func:`local_gain` from the two luminance planes (uint8, working size), which the upscale has at
    hand. Returns this thread's buffer: valid until its next call."""
    b = _buffers.get_small(*small_luma.shape)
    y, s, mean_y, var_y, cov, mean_s, gain = (b[k] for k in ("y", "s", "mean_y", "var_y", "cov", "mean_s", "gain"))
    np.multiply(small_luma, np.float32(1.0 / 255.0), out=y)
    np.multiply(styled_luma, np.float32(1.0 / 255.0), out=s)
    size = (2 * radius + 1, 2 * radius + 1)

    def box(image: np.ndarray, out: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(image, cv2.CV_32F, size, dst=out, borderType=cv2.BORDER_REFLECT)

    box(y, mean_y)
    np.multiply(y, y, out=var_y)
    box(var_y, var_y)
    var_y -= mean_y * mean_y
    var_y += np.float32(eps)
    np.multiply(s, y, out=cov)
    box(cov, cov)
    box(s, mean_s)
    mean_s *= mean_y
    cov -= mean_s
    cov /= var_y
    box(cov, gain)
    np.clip(gain, DETAIL, MAX_GAIN, out=gain)
    return gain


class _Buffers(threading.local):
    """Scratch arrays, one set per thread and frame size: allocating them afresh for each frame cost as
    much CPU time (page faults) as the arithmetic (1080p upscale: 27 against 16 ms a frame; the gain
    at 640x360: 6.5 against 2.4 ms)."""

    def __init__(self) -> None:
        self.size: tuple[int, int] | None = None
        self.arrays: dict[str, np.ndarray] = {}
        self.small_size: tuple[int, int] | None = None
        self.small: dict[str, np.ndarray] = {}

    def get(self, height: int, width: int) -> dict[str, np.ndarray]:
        """Full-size planes."""
        if self.size != (height, width):
            self.size = (height, width)
            plane = (height, width)
            self.arrays = {"gray": np.empty(plane, np.uint8), "lost": np.empty(plane, np.uint8),
                           "detail": np.empty(plane, np.float32), "gain": np.empty(plane, np.float32),
                           **{f"out{i}": np.empty(plane, np.uint8) for i in range(3)}}
        return self.arrays

    def get_small(self, height: int, width: int) -> dict[str, np.ndarray]:
        """Working-size float planes for the gain."""
        if self.small_size != (height, width):
            self.small_size = (height, width)
            self.small = {k: np.empty((height, width), np.float32)
                          for k in ("y", "s", "mean_y", "var_y", "cov", "mean_s", "gain")}
        return self.small


_buffers = _Buffers()


def _scaled_detail(b: dict[str, np.ndarray], luma: np.ndarray, small_luma: np.ndarray, gain: np.ndarray) -> None:
    """``b["detail"]``: the frame's detail in grey levels (-255..255), what scaling it down took away
    (``luma - up(small_luma)``), times the gain scaled up to full size."""
    dims = (luma.shape[1], luma.shape[0])
    cv2.resize(small_luma, dims, dst=b["lost"], interpolation=cv2.INTER_LINEAR)
    cv2.subtract(luma, b["lost"], dst=b["detail"], dtype=cv2.CV_32F)
    cv2.resize(gain, dims, dst=b["gain"], interpolation=cv2.INTER_LINEAR)
    cv2.multiply(b["detail"], b["gain"], dst=b["detail"])


def guided_upscale(frame: np.ndarray, small: np.ndarray, styled: np.ndarray) -> np.ndarray:
    """G's output ``styled`` at the working size brought to ``frame``'s size with ``frame``'s detail.

    Args:
        frame: the full-size frame, ``(H, W, 3)`` uint8 RGB.
        small: ``frame`` at the working size (:func:`shrink`), ``(h, w, 3)`` uint8.
        styled: G's output for ``small``, ``(h, w, 3)`` uint8.

    Returns:
        ``(H, W, 3)`` uint8, a new array.
    """
    height, width = frame.shape[:2]
    dims = (width, height)
    b = _buffers.get(height, width)
    # The frame's detail in grey levels (-255..255): what scaling it down took away, times the gain.
    small_gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY, dst=b["gray"])
    _scaled_detail(b, b["gray"], small_gray, _gain(small_gray, cv2.cvtColor(styled, cv2.COLOR_RGB2GRAY)))
    # Channel by channel: G's picture scaled up, plus the detail (saturated to 0..255). Faster than one
    # 3-channel add, and no full-size 3-channel float array (100 MB at 4K).
    planes = [b[f"out{i}"] for i in range(3)]
    for channel, plane in zip(cv2.split(styled), planes, strict=True):
        cv2.resize(channel, dims, dst=plane, interpolation=cv2.INTER_LINEAR)
        cv2.add(plane, b["detail"], dst=plane, dtype=cv2.CV_8U)
    return cv2.merge(planes)


def shrink_i420(frame: np.ndarray, dims: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """An I420 frame (``io.frames``) at the working size ``dims`` ``(w, h)``: G's RGB input
    ``(h, w, 3)`` and its Y plane ``(h, w)``, which :func:`guided_upscale_i420` needs."""
    return i420_to_rgb(frame, dims)


def guided_upscale_i420(frame: np.ndarray, small_y: np.ndarray, styled: np.ndarray) -> np.ndarray:
    """:func:`guided_upscale` for a frame that stays I420 from the decoder to the encoder.

    The same formula, on the Y plane: ``Y_out = up(S_Y) + up(max(A, DETAIL)) * (Y - up(y))``, where
    ``S_Y`` is the Y plane of G's output; the chroma planes are G's, scaled to the frame's chroma
    size (at 1280x720 with G at 640x360 they are that size already). Adding a detail to Y is adding
    it to R, G and B alike, as :func:`guided_upscale` does, so the two agree up to rounding and the
    clipping of saturated colours; only one full-size plane is worked on instead of three, and no
    full-size RGB exists.

    Args:
        frame: the full-size frame, an ``(H * 3 // 2, W)`` uint8 I420 array (BT.709, limited range).
        small_y: its Y plane at the working size (:func:`shrink_i420`), ``(h, w)`` uint8.
        styled: G's output for the working-size frame, ``(h, w, 3)`` uint8 RGB.

    Returns:
        A new ``(H * 3 // 2, W)`` uint8 I420 array.
    """
    width, height = i420_size(frame)
    luma = i420_planes(frame)[0]
    b = _buffers.get(height, width)
    styled_yuv = cv2.transform(styled, RGB_TO_YUV)
    styled_y = cv2.extractChannel(styled_yuv, 0)
    _scaled_detail(b, luma, small_y, _gain(small_y, styled_y))
    out = new_i420(width, height)
    out_y, out_u, out_v = i420_planes(out)
    cv2.resize(styled_y, (width, height), dst=out_y, interpolation=cv2.INTER_LINEAR)
    cv2.add(out_y, b["detail"], dst=out_y, dtype=cv2.CV_8U)
    half = (width // 2, height // 2)
    for index, plane in ((1, out_u), (2, out_v)):  # already that size (720p, G at 360): OpenCV copies it
        cv2.resize(cv2.extractChannel(styled_yuv, index), half, dst=plane, interpolation=cv2.INTER_LINEAR)
    return out


def upscale_batch(frames: np.ndarray, small: np.ndarray, styled: np.ndarray) -> np.ndarray:
    """:func:`guided_upscale` over a batch ``(N, H, W, 3)``."""
    return np.stack([guided_upscale(f, s, o) for f, s, o in zip(frames, small, styled, strict=True)])


#: ``auto`` leaves frames up to this short side at full size: there G is fast enough everywhere.
AUTO_FULL_SIDE = 480
#: For a still picture (and video frames beyond the goals below), ``auto`` gives G at most this share
#: of a frame at 30 fps.
AUTO_BUDGET_SECONDS = 0.5 / 30
#: The frame rates ``auto`` aims at for video, by the shorter side of the frame (up to and including):
#: 1280x720 at 30 fps and 1920x1080 at 15 (issue 17's goals on two CPU cores).
AUTO_GOALS = ((720, 30.0), (1080, 15.0))
#: G's share of a video frame's time at the goal rate, its frames in flight counted: decoding,
#: stabilising, the upscale and encoding take the rest (two-core Zen 3, files: 47 CPU-ms a frame at
#: 1280x720 and 95 at 1920x1080 besides G, about 70% of the budget both times; BENCHMARKS.md).
AUTO_G_SHARE = 0.3
#: The least share of the frame's short side ``auto`` gives G for video: its strokes are then at most
#: 4x those of G at full size. G at 216 px on 1280x720 frames still keeps more of the picture than G
#: at full size and carries more of the painting (structure 0.88 against 0.71, closeness by the
#: peer's vector 0.536 against 0.487), and 288 px on 1920x1080 frames likewise (0.87 against 0.75,
#: 0.578 against 0.444; BENCHMARKS.md), with larger strokes than at 360.
AUTO_MIN_SHARE = 0.25
#: Short sides ``auto`` may pick, from the largest: never below ``DEFAULT_WORKING_SIDE`` for a still
#: picture, nor below ``AUTO_MIN_SHARE`` of the frame for video. The rungs below 360 are far apart on
#: purpose: the timing of G varies by +-20% from run to run on a busy machine, and a video's look
#: should not.
AUTO_LADDER = (2160, 1440, 1080, 720, 540, 480, DEFAULT_WORKING_SIDE, 288, 216)


class WorkingSize:
    """Which size G runs at for each frame size: ``"full"``, a fixed short side, or ``"auto"``.

    ``auto`` keeps frames up to ``AUTO_FULL_SIDE`` at full size. For larger ones it times G once at
    ``DEFAULT_WORKING_SIDE`` (``measure(dims)``, seconds per frame, on this machine and engine) and
    picks the largest short side of ``AUTO_LADDER`` predicted (time grows with the pixel count) to fit:
    - video frames up to 1080 px a side (``video=True``) are given ``AUTO_G_SHARE`` of a frame at the
      goal rate (``AUTO_GOALS``), ``parallel`` frames in flight, and at least ``AUTO_MIN_SHARE`` of
      the frame's short side: 216 px on 1280x720 and 288 px on 1920x1080 on a 2-core CPU, full size
      on a GPU;
    - a still picture, and larger video frames (where G is a small part of a frame's cost), G within
      ``AUTO_BUDGET_SECONDS``, never under ``DEFAULT_WORKING_SIDE``: 360 px on a 2-core CPU.
    The choice is made once per frame size and kind and kept, so a video never changes its look midway.

    Args:
        setting: ``"auto"``, ``"full"`` or a short side in pixels.
        parallel: frames stylized at once, each taking the measured time (``auto`` for video).
    """

    def __init__(self, setting: int | str = "auto", parallel: int = 1) -> None:
        if setting not in ("auto", "full") and not (isinstance(setting, int) and setting >= 16):
            raise ValueError(f"working size must be 'auto', 'full' or a short side of at least 16 px, not {setting!r}")
        self.setting = setting
        self.parallel = max(1, parallel)
        self._chosen: dict[tuple[int, int, bool], tuple[int, int] | None] = {}
        self._lock = threading.Lock()

    def dims(self, width: int, height: int, measure: Callable[[tuple[int, int]], float], video: bool = False
             ) -> tuple[int, int] | None:
        """The working ``(w, h)`` for ``width x height`` frames (of a video, or a still picture), or
        ``None`` for full size."""
        if self.setting == "full":
            return None
        if isinstance(self.setting, int):
            return working_dims(width, height, self.setting)
        with self._lock:  # the file pipeline's workers ask at once: one measurement
            key = (width, height, video)
            if key not in self._chosen:
                self._chosen[key] = self._auto(width, height, measure, video)
            return self._chosen[key]

    def describe(self, width: int, height: int, video: bool = False) -> str:
        """``"full"`` or ``"WxH"``: the size G runs at for ``width x height`` frames (``auto``: as chosen
        by the frames seen so far; ``"not chosen yet"`` before the first)."""
        if self.setting == "auto" and (width, height, video) not in self._chosen:
            return "not chosen yet" if min(width, height) > AUTO_FULL_SIDE else "full"
        dims = self.dims(width, height, lambda _dims: 0.0, video)
        return "full" if dims is None else f"{dims[0]}x{dims[1]}"

    def _auto(self, width: int, height: int, measure: Callable[[tuple[int, int]], float], video: bool
              ) -> tuple[int, int] | None:
        short = min(width, height)
        if short <= AUTO_FULL_SIDE:
            return None
        base = working_dims(width, height, DEFAULT_WORKING_SIDE)
        assert base is not None
        seconds = measure(base)
        goal = next((fps for side, fps in AUTO_GOALS if short <= side), None) if video else None
        least: float
        if goal is None:
            budget, least = AUTO_BUDGET_SECONDS, DEFAULT_WORKING_SIDE
        else:
            budget, least = AUTO_G_SHARE * self.parallel / goal, AUTO_MIN_SHARE * short
        sides = [side for side in (short, *AUTO_LADDER) if least <= side <= short]
        for side in sides:
            if seconds * (side / DEFAULT_WORKING_SIDE) ** 2 <= budget:
                return working_dims(width, height, side)
        return working_dims(width, height, sides[-1])
