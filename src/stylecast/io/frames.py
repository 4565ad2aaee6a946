"""Frame helpers shared by the file reader, the writer and the live sources."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

FULL_RANGE = 2  # AVCOL_RANGE_JPEG: MJPEG cameras, streams and some files send full-range YUV
LIMITED_RANGE = 1  # AVCOL_RANGE_MPEG
BT709 = 1  # AVCOL_PRIBT709 == AVCOL_TRCBT709 == AVCOL_SPCBT709


def source_range(frame: Any) -> str | None:
    """The ``src_color_range`` swscale needs for a decoded frame: decoders flag full-range (JPEG) video
    with a field rather than a pixel format, and unless told, swscale turns its blacks grey."""
    return "JPEG" if frame.color_range == FULL_RANGE else None


# --------------------------------------------------------------------------------------------------
# I420: the decoder's and the encoder's own layout
#
# A video file's frames are planar YUV 4:2:0 (``yuv420p``), and x264 wants them back that way. The file
# pipeline keeps them so, as one ``(H * 3 // 2, W)`` uint8 array (PyAV's ``to_ndarray`` layout: the Y
# plane ``(H, W)``, then U and V, each ``(H / 2, W / 2)``), in BT.709 with limited range (what the
# writer tags). Only G's input and output, at the working size, are RGB: converting a 1280x720 frame
# to RGB and back again (swscale) cost 8 CPU-ms of about 100 (BENCHMARKS.md, "The frame stays YUV").

_KR, _KB = 0.2126, 0.0722  # BT.709 luma weights of red and blue
_RGB_TO_YUV_FULL = np.array([
    [_KR, 1.0 - _KR - _KB, _KB],
    [-_KR / (2 * (1 - _KB)), -(1.0 - _KR - _KB) / (2 * (1 - _KB)), 0.5],
    [0.5, -(1.0 - _KR - _KB) / (2 * (1 - _KR)), -_KB / (2 * (1 - _KR))]])
_LIMITED_SCALE = np.diag([219.0 / 255.0, 224.0 / 255.0, 224.0 / 255.0])
_LIMITED_OFFSET = np.array([16.0, 128.0, 128.0])
#: RGB (0-255) to limited-range BT.709 YUV, as a 3x4 affine matrix for ``cv2.transform``.
RGB_TO_YUV = np.hstack([_LIMITED_SCALE @ _RGB_TO_YUV_FULL, _LIMITED_OFFSET[:, None]]).astype(np.float32)
_YUV_TO_RGB_LINEAR = np.linalg.inv(_LIMITED_SCALE @ _RGB_TO_YUV_FULL)
#: Limited-range BT.709 YUV to RGB (0-255), as a 3x4 affine matrix for ``cv2.transform``.
YUV_TO_RGB = np.hstack([_YUV_TO_RGB_LINEAR, -(_YUV_TO_RGB_LINEAR @ _LIMITED_OFFSET)[:, None]]).astype(np.float32)


def i420_size(frame: np.ndarray) -> tuple[int, int]:
    """``(width, height)`` of the picture an I420 array ``(H * 3 // 2, W)`` holds."""
    return frame.shape[1], frame.shape[0] * 2 // 3


def is_i420(frame: np.ndarray) -> bool:
    """Whether ``frame`` is an I420 array: 2-D uint8, even width, a height of 3 halves of an even one."""
    return (frame.ndim == 2 and frame.dtype == np.uint8 and frame.shape[1] % 2 == 0
            and frame.shape[0] % 3 == 0 and (frame.shape[0] * 2 // 3) % 2 == 0)


def i420_planes(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views of the Y ``(H, W)``, U and V ``(H / 2, W / 2)`` planes of an I420 array (writable if it is)."""
    width, height = i420_size(frame)
    chroma = frame[height:].reshape(2, height // 2, width // 2)
    return frame[:height], chroma[0], chroma[1]


def new_i420(width: int, height: int) -> np.ndarray:
    """An uninitialised I420 array for a ``width x height`` picture (both even)."""
    if width % 2 or height % 2:
        raise ValueError(f"I420 needs even sides, got {width}x{height}")
    return np.empty((height * 3 // 2, width), np.uint8)


def _fit(plane: np.ndarray, dims: tuple[int, int]) -> np.ndarray:
    """``plane`` at ``dims`` ``(w, h)``: averaged when smaller, bilinear when larger, itself when equal."""
    if (plane.shape[1], plane.shape[0]) == dims:
        return plane
    smaller = dims[0] <= plane.shape[1] and dims[1] <= plane.shape[0]
    return cv2.resize(plane, dims, interpolation=cv2.INTER_AREA if smaller else cv2.INTER_LINEAR)


def i420_to_rgb(frame: np.ndarray, dims: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The picture of an I420 array as RGB ``(h, w, 3)`` uint8 at ``dims`` ``(w, h)`` (default: its own
    size), and its Y plane at that size (``(h, w)``, limited range).

    Scaling down averages (no aliasing); each plane is scaled once, then one affine pass converts.
    """
    y, u, v = i420_planes(frame)
    dims = dims or i420_size(frame)
    small_y = _fit(y, dims)
    yuv = cv2.merge([small_y, _fit(u, dims), _fit(v, dims)])
    rgb = cv2.transform(yuv, YUV_TO_RGB)  # saturated to 0..255
    return rgb, small_y


def rgb_to_i420(image: np.ndarray) -> np.ndarray:
    """An RGB ``(H, W, 3)`` uint8 picture (even sides) as a new I420 array, chroma averaged over 2x2."""
    height, width = image.shape[:2]
    out = new_i420(width, height)
    y, u, v = i420_planes(out)
    yuv = cv2.transform(image, RGB_TO_YUV)
    cv2.extractChannel(yuv, 0, dst=y)
    half = (width // 2, height // 2)
    for index, plane in ((1, u), (2, v)):
        cv2.resize(cv2.extractChannel(yuv, index), half, dst=plane, interpolation=cv2.INTER_AREA)
    return out
