"""Frame helpers shared by the file reader, the writer and the live sources."""

from __future__ import annotations

from typing import Any

FULL_RANGE = 2  # AVCOL_RANGE_JPEG: MJPEG cameras, streams and some files send full-range YUV
LIMITED_RANGE = 1  # AVCOL_RANGE_MPEG
BT709 = 1  # AVCOL_PRIBT709 == AVCOL_TRCBT709 == AVCOL_SPCBT709


def source_range(frame: Any) -> str | None:
    """The ``src_color_range`` swscale needs for a decoded frame: decoders flag full-range (JPEG) video
    with a field rather than a pixel format, and unless told, swscale turns its blacks grey."""
    return "JPEG" if frame.color_range == FULL_RANGE else None
