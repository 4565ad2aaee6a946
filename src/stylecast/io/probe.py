"""Probing a video: size, rotation, frame rate, duration and sound, before anything decodes."""


from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error

from stylecast.errors import InputError
from stylecast.io.images import check_size, existing_file

# FFmpeg reads plain text as ANSI art (a "video"); such a file is not a clip.
_NOT_VIDEO_FORMATS = frozenset({"tty"})
_NOT_VIDEO_CODECS = frozenset({"ansi", "bintext", "xbin", "idf"})

# --------------------------------------------------------------------------------------------------
# Probing and reading video


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds, read from its header and first frame.

    ``width``/``height`` are the display size: after ``rotation`` and with non-square pixels made
    square, i.e. the size of the frames :class:`VideoReader` yields without ``max_side``.
    """

    path: Path
    width: int
    height: int
    rotation: int  # degrees clockwise to turn the stored picture for display: 0, 90, 180 or 270
    frames: int | None  # the container's count, or duration * fps; an estimate for progress only
    fps: float  # average rate, for progress and ETA only: timestamps are what count
    time_base: Fraction  # unit of VideoFrame.pts
    duration: float | None  # seconds
    has_audio: bool
    audio_codec: str | None


def probe_video(path: str | Path) -> VideoInfo:
    """Read a video file's size, orientation, rate and streams (decodes one frame to be sure it can).

    Raises:
        InputError: the file is missing, a folder, empty, not a video or damaged, has no video
            stream, its codec cannot be decoded, or its size is 0 or over ``MAX_SIDE`` a side.
    """
    file = existing_file(path, "video")
    container = _open_video(file)
    with container:
        stream = container.streams.video[0]
        first = _first_frame(file, container, stream)
        rotation = _clockwise_rotation(first.rotation)
        stored_width, stored_height = _square_pixel_size(file, first.width, first.height, stream.sample_aspect_ratio)
        width, height = (stored_height, stored_width) if rotation in (90, 270) else (stored_width, stored_height)
        time_base = stream.time_base or Fraction(1, 90_000)
        duration = _video_duration(container, stream)
        fps = _average_fps(stream, duration)
        frames = stream.frames or (round(duration * fps) if duration else None)
        audio = container.streams.audio[0] if container.streams.audio else None
        audio_codec = audio.codec_context.name if audio is not None and audio.codec_context is not None else None
        return VideoInfo(
            path=file, width=width, height=height, rotation=rotation, frames=frames or None, fps=fps,
            time_base=Fraction(time_base), duration=duration, has_audio=audio is not None, audio_codec=audio_codec,
        )


def _open_video(file: Path) -> Any:
    try:
        container = av.open(str(file), metadata_errors="ignore")
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as error:
        raise InputError(
            f"cannot open {str(file)!r} as a video ({describe_error(error)}): it is damaged, truncated or not a video; "
            "re-export it or give another file"
        ) from error
    try:
        if container.format.name in _NOT_VIDEO_FORMATS:
            raise InputError(f"{str(file)!r} is text, not a video: give a video file")
        if not container.streams.video:
            kinds = ", ".join(sorted({stream.type for stream in container.streams})) or "nothing"
            raise InputError(f"{str(file)!r} has no video stream (it holds {kinds}): give a video file")
        codec = container.streams.video[0].codec_context
        if codec is not None and codec.name in _NOT_VIDEO_CODECS:
            raise InputError(f"{str(file)!r} is text, not a video: give a video file")
    except BaseException:
        container.close()
        raise
    return container


def _first_frame(file: Path, container: Any, stream: Any) -> Any:
    codec = stream.codec_context.name if stream.codec_context is not None else "unknown"
    try:
        for frame in container.decode(stream):
            return frame
    except av.error.FFmpegError as error:
        raise InputError(
            f"cannot decode the video of {str(file)!r} (codec {codec}: {describe_error(error)}): the file is damaged "
            "or uses a codec this FFmpeg lacks; re-export it as H.264 MP4"
        ) from error
    raise InputError(
        f"no frame of {str(file)!r} could be decoded (codec {codec}): the file is damaged or empty; re-export it"
    )


def _clockwise_rotation(counter_clockwise: float) -> int:
    """FFmpeg's display-matrix angle (counter-clockwise, -180..180) as a clockwise quarter turn."""
    return int(round(-counter_clockwise / 90.0)) % 4 * 90


def _square_pixel_size(file: Path, width: int, height: int, aspect: Fraction | None) -> tuple[int, int]:
    """Stored size with anamorphic pixels (DV, some broadcast) widened to square ones, as players show it."""
    check_size(file, width, height, what="video")
    if aspect and aspect > 0 and aspect != 1:
        width = max(2, round(width * aspect))
        check_size(file, width, height, what="video")
    return width, height


def _video_duration(container: Any, stream: Any) -> float | None:
    declared = stream_duration(stream)
    if declared is not None:
        return declared
    if container.duration:
        return container.duration / av.time_base
    return None


def stream_duration(stream: Any) -> float | None:
    """The video stream's own duration: from the header (MP4, MOV) or the ``DURATION`` tag that
    FFmpeg-made Matroska / WebM files carry per stream (the container's duration includes the sound)."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    match = re.fullmatch(r"(\d+):(\d\d):(\d\d(?:\.\d+)?)", str(stream.metadata.get("DURATION", "")).strip())
    if match:
        hours, minutes, seconds = match.groups()
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    return None


def _average_fps(stream: Any, duration: float | None) -> float:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate and 0 < rate < 1000:
            return float(rate)
    if stream.frames and duration:
        return stream.frames / duration
    return 30.0  # unknown: only progress and ETA use it


def describe_error(error: BaseException) -> str:
    """The useful part of an FFmpeg error (PyAV appends the file name, which our messages already give)."""
    text = getattr(error, "strerror", None) or str(error)
    return str(text).split(": '")[0]
