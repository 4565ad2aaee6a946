"""File I/O of ``stylecast stylize``: probing and decoding videos, writing H.264 with the source's sound,
still images, and expanding a source argument into (input, output) pairs.

One class per role, as in vidgear: :class:`VideoReader` decodes in a background thread into a bounded
queue, :class:`VideoWriter` encodes and muxes; both are context managers that always release their
files. A frame travels forward once: FFmpeg (swscale) scales and converts it to RGB in one step on the
way in and to YUV in one step on the way out.

Decisions a caller should know:

- **Timestamps are kept.** :class:`VideoFrame` carries the decoder's ``pts`` (in ``VideoInfo.time_base``)
  and :class:`VideoWriter` writes each frame at that ``pts``, so a variable-frame-rate clip comes back
  with the same number of frames at the same times (the sound stays in sync).
- **Truncated files.** A file cut short (an interrupted copy or download) is stylized as far as it
  decodes; :attr:`VideoReader.warnings` then says where it stopped. Only a file that yields no frame
  at all is an error. (An MP4 whose index sits at the end cannot be opened at all once truncated:
  that is an :class:`~stylecast.errors.InputError` from :func:`probe_video`.)
- **Odd sizes.** H.264 in ``yuv420p`` needs even sides, so :class:`VideoWriter` crops the last column
  and/or row (1 px) of an odd-sized frame rather than scaling, which would blur the whole picture.
  :class:`VideoReader` with ``max_side`` picks even sides itself, so downscaled video is never cropped.
- **Sound.** The writer copies the source's audio packets untouched when the output container and
  common editors read that codec (AAC, MP3, AC-3, E-AC-3, ALAC in MP4; also PCM in MOV; anything in
  MKV), and re-encodes it to AAC otherwise (e.g. Opus, Vorbis, FLAC or PCM going into MP4). The sound is
  trimmed to the stylized video's length.
- **Colour.** Output is tagged BT.709 limited range (what players assume for HD) and converted with
  that matrix; input is converted with whatever matrix and range its frames are tagged with.

Nothing here imports torch: a user who only stylizes never installs it.
"""

from __future__ import annotations

import glob
import os
import queue
import re
import threading
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import av
import av.error
import numpy as np
from PIL import Image, ImageOps

from stylecast.atomic import atomic_output
from stylecast.errors import InputError, StylecastError

VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v")
# Image files stylecast reads (the training data uses this list too).
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
WRITABLE_VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".m4v", ".mov", ".mkv")
WRITABLE_IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".webp")

# Beyond these a file is a mistake or an attack (a 20000 px "photo" decodes to 1.2 GB of RGB).
MAX_SIDE = 16384
MAX_IMAGE_PIXELS = 200_000_000

_MUXER_BY_SUFFIX = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
# Audio codecs copied as they are, by muxer. MP4 accepts more (Opus, FLAC, even PCM), but QuickTime,
# Premiere and Final Cut do not read those in MP4, and the people handing us clips are editors.
_COPYABLE_AUDIO = {
    "mp4": frozenset({"aac", "mp3", "ac3", "eac3", "alac"}),
    "mov": frozenset({"aac", "mp3", "ac3", "eac3", "alac", "pcm_s16le", "pcm_s16be", "pcm_s24le",
                      "pcm_s24be", "pcm_f32le", "pcm_f32be"}),
    "matroska": None,  # Matroska carries any codec FFmpeg can mux into it.
}
AAC_BITRATE_PER_CHANNEL = 96_000  # 192 kb/s for stereo: transparent for most listeners
_AAC_LAYOUTS = {1: "mono", 2: "stereo", 6: "5.1", 8: "7.1"}
# FFmpeg reads plain text as ANSI art (a "video"); such a file is not a clip.
_NOT_VIDEO_FORMATS = frozenset({"tty"})
_NOT_VIDEO_CODECS = frozenset({"ansi", "bintext", "xbin", "idf"})
_FULL_RANGE = 2  # AVCOL_RANGE_JPEG
_BT709 = 1  # AVCOL_PRI_BT709 == AVCOL_TRC_BT709 == AVCOL_SPC_BT709
_LIMITED_RANGE = 1  # AVCOL_RANGE_MPEG


# --------------------------------------------------------------------------------------------------
# Kinds of file and (input, output) pairs


def is_video(path: str | Path) -> bool:
    """Whether ``path`` names a video file stylecast reads, by its suffix (``VIDEO_EXTENSIONS``)."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def is_image(path: str | Path) -> bool:
    """Whether ``path`` names an image file stylecast reads, by its suffix (``IMAGE_EXTENSIONS``)."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def expand_inputs(source: str | Path, output: str | Path | None, default_suffix: str) -> list[tuple[Path, Path]]:
    """Expand a ``stylize`` source argument into ``(input file, output file)`` pairs.

    - a file: ``[(file, output)]``; ``output`` defaults to ``<stem>_stylized<suffix>`` beside it; an
      existing folder as ``output`` receives the file under its own name.
    - a folder: every image and video in or below it (hidden files skipped), mirrored with the same
      relative paths into ``output`` (default: ``<folder>_stylized`` beside it).
    - an image-sequence pattern (``frames/%05d.png``, sorted by number) or a glob (``frames/*.png``):
      each matching file, by name, into ``output`` (default: ``<folder>_stylized``).

    An output keeps its input's suffix when stylecast writes that format (``WRITABLE_*_EXTENSIONS``);
    otherwise (a ``.webm`` or ``.avi`` video, a ``.bmp`` image) it gets ``default_suffix`` if that suits
    the kind of file, else ``.mp4`` for a video and ``.png`` for an image. Output folders of a folder or
    pattern source need not exist (the writers create them), but the folder they go in must.

    Raises:
        InputError: the source is missing or matches nothing, an output would overwrite an input or
            another output, or an output cannot be written there.
    """
    text = str(source)
    root = Path(source).expanduser()
    if _is_pattern(text):
        base, files = _match_pattern(text)
        out_root = _output_folder(base, output)
        pairs = [(file, out_root / _output_name(file.relative_to(base), default_suffix)) for file in files]
    elif root.is_dir():
        out_root = _output_folder(root, output)
        files = _media_in_folder(root, exclude=out_root)
        pairs = [(file, out_root / _output_name(file.relative_to(root), default_suffix)) for file in files]
    elif root.is_file():
        pairs = [(root, _single_output(root, output, default_suffix))]
    elif root.exists():
        raise InputError(f"{text!r} is not a regular file or folder: give a video, an image or a folder of them")
    else:
        raise InputError(f"source {text!r} does not exist: check the path")
    _check_distinct(pairs)
    return pairs


def _is_pattern(text: str) -> bool:
    name = os.path.basename(text)
    return any(char in text for char in "*?[") or re.search(r"%0?\d*d", name) is not None


def _match_pattern(text: str) -> tuple[Path, list[Path]]:
    """The folder the matches are mirrored from, and the matching media files in order."""
    pattern = os.path.expanduser(text)
    if any(char in pattern for char in "*?["):
        found = sorted(Path(match) for match in glob.glob(pattern, recursive=True))
        # Mirror from the deepest folder with no wildcard, so ``a/**/*.png`` keeps its sub-folders.
        literal = [part for part in Path(pattern).parent.parts]
        cut = next((i for i, part in enumerate(literal) if any(char in part for char in "*?[")), len(literal))
        base = Path(*literal[:cut]) if cut else Path(".")
    else:
        base = Path(pattern).parent
        regex = _printf_regex(Path(pattern).name)
        numbered = []
        if base.is_dir():
            for candidate in base.iterdir():
                match = regex.fullmatch(candidate.name)
                if match:
                    numbered.append((int(match.group(1)), candidate))
        found = [path for _, path in sorted(numbered)]
    files = [path for path in found if path.is_file() and (is_image(path) or is_video(path))]
    if not files:
        raise InputError(
            f"no images or videos match {text!r}: check the pattern (e.g. frames/%05d.png, or 'frames/*.png' "
            "in quotes so the shell does not expand it)"
        )
    return base, files


def _printf_regex(name: str) -> re.Pattern[str]:
    """``img_%05d.png`` -> a regex whose group 1 is the frame number (as FFmpeg's image2 reads it)."""
    pieces = re.split(r"(%0?\d*d)", name)
    regex = ""
    for piece in pieces:
        spec = re.fullmatch(r"%(0?)(\d*)d", piece)
        if spec is None:
            regex += re.escape(piece)
        elif spec.group(1) and spec.group(2):
            regex += rf"(\d{{{int(spec.group(2))}}})"
        else:
            regex += r"(\d+)"
    return re.compile(regex)


def _media_in_folder(root: Path, exclude: Path) -> list[Path]:
    excluded = exclude.resolve()
    found = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        # Hidden files (macOS ._x resource forks, .git) are never media; an output folder inside the
        # source would otherwise be stylized again on the next run.
        if any(part.startswith(".") for part in relative.parts):
            continue
        if not (is_image(path) or is_video(path)) or not path.is_file():
            continue
        if excluded in path.resolve().parents:
            continue
        found.append(path)
    if not found:
        raise InputError(
            f"no images or videos ({', '.join(IMAGE_EXTENSIONS + VIDEO_EXTENSIONS)}) found in or below "
            f"{str(root)!r}: add some or point to another folder"
        )
    return found


def _output_folder(source_folder: Path, output: str | Path | None) -> Path:
    if output is None:
        absolute = source_folder.resolve()
        out = absolute.with_name(f"{absolute.name}_stylized")
    else:
        out = Path(output).expanduser()
    if out.resolve() == source_folder.resolve():
        raise InputError(f"output folder {str(out)!r} is the input folder: give another output path")
    if out.exists() and not out.is_dir():
        raise InputError(f"output {str(out)!r} is a file but the source holds many files: give a folder")
    if not out.exists():
        _check_writable_folder(out.parent, out)
    return out


def _single_output(file: Path, output: str | Path | None, default_suffix: str) -> Path:
    if not (is_image(file) or is_video(file)):
        raise InputError(
            f"{str(file)!r} is not an image or video stylecast reads "
            f"({', '.join(IMAGE_EXTENSIONS + VIDEO_EXTENSIONS)}): convert it to one of these"
        )
    name = _output_name(file, default_suffix)
    if output is None:
        out = file.with_name(f"{name.stem}_stylized{name.suffix}")
    else:
        out = Path(output).expanduser()
        if out.is_dir():
            out = out / name.name
        elif str(output).endswith(("/", os.sep)):
            raise InputError(f"output folder {str(out)!r} does not exist: create it or choose another output path")
    _check_output_kind(file, out)
    _check_writable_folder(out.parent, out)
    return out


def _output_name(relative: Path, default_suffix: str) -> Path:
    """``relative`` with the suffix its output gets (see :func:`expand_inputs`)."""
    suffix = relative.suffix
    wanted = default_suffix if default_suffix.startswith(".") else f".{default_suffix}"
    if is_video(relative):
        if suffix.lower() in WRITABLE_VIDEO_EXTENSIONS:
            return relative
        return relative.with_suffix(wanted if wanted.lower() in WRITABLE_VIDEO_EXTENSIONS else ".mp4")
    if suffix.lower() in WRITABLE_IMAGE_EXTENSIONS:
        return relative
    return relative.with_suffix(wanted if wanted.lower() in WRITABLE_IMAGE_EXTENSIONS else ".png")


def _check_output_kind(source: Path, out: Path) -> None:
    suffix = out.suffix.lower()
    if is_video(source) and suffix not in WRITABLE_VIDEO_EXTENSIONS:
        raise InputError(
            f"cannot write the video {str(source)!r} to {str(out)!r}: end the output name with "
            f"{', '.join(WRITABLE_VIDEO_EXTENSIONS)}"
        )
    if is_image(source) and suffix not in WRITABLE_IMAGE_EXTENSIONS:
        raise InputError(
            f"cannot write the image {str(source)!r} to {str(out)!r}: end the output name with "
            f"{', '.join(WRITABLE_IMAGE_EXTENSIONS)}"
        )


def _check_distinct(pairs: list[tuple[Path, Path]]) -> None:
    inputs = {source.resolve(): source for source, _ in pairs}
    seen: dict[Path, Path] = {}
    for source, out in pairs:
        key = out.resolve()
        if key in inputs:
            raise InputError(f"output {str(out)!r} is the input {str(inputs[key])!r}: give another output path")
        if key in seen:
            raise InputError(
                f"{str(seen[key])!r} and {str(source)!r} would both be written to {str(out)!r}: "
                "rename one of them or give another default suffix"
            )
        seen[key] = source


def _check_writable_folder(folder: Path, target: Path) -> None:
    """An output's folder must exist: a missing one is most often a typo, not a wish to create it."""
    if not folder.is_dir():
        reason = "is a file" if folder.exists() else "does not exist"
        raise InputError(
            f"cannot write {str(target)!r}: folder {str(folder)!r} {reason}; create it or choose another output path"
        )
    if not os.access(folder, os.W_OK):
        raise InputError(f"cannot write {str(target)!r}: folder {str(folder)!r} is read-only; choose a writable folder")


def _make_folder(target: Path) -> None:
    """Create ``target``'s folder (mirrored outputs of a folder source) or say why it cannot be."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(
            f"cannot write {str(target)!r} ({error.strerror or error}): choose a writable folder"
        ) from error
    _check_writable_folder(target.parent, target)


def _temp_sibling(target: Path) -> Path:
    """A hidden name beside ``target``: same folder (so ``os.replace`` is atomic), same suffix."""
    return target.with_name(f".{target.stem}.{uuid.uuid4().hex[:8]}.partial{target.suffix}")


def _remove_quietly(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass


# --------------------------------------------------------------------------------------------------
# Still images


def open_rgb(path: str | Path, draft_side: int | None = None) -> Image.Image:
    """Decode an image file to an upright (EXIF orientation applied) RGB Pillow image.

    ``draft_side`` lets JPEG decoding skip resolution the caller will throw away (DCT scaling):
    both sides stay at least ``draft_side``.

    Raises:
        InputError: the file is missing, empty, unreadable, has no pixels, or is absurdly large
            (a side over ``MAX_SIDE`` or more than ``MAX_IMAGE_PIXELS`` pixels).
    """
    file = _existing_file(path, "image")
    try:
        with warnings.catch_warnings():
            # Pillow warns about large images and odd files; our own messages speak instead.
            warnings.simplefilter("ignore")
            with Image.open(file) as opened:
                # The header is enough to refuse a huge image before decoding a byte of it.
                _check_size(file, *opened.size, what="image")
                if draft_side is not None:
                    opened.draft("RGB", (draft_side, draft_side))
                rgb = ImageOps.exif_transpose(opened).convert("RGB")
                rgb.load()
    except Image.DecompressionBombError as error:
        raise InputError(
            f"image {str(file)!r} has more pixels than stylecast decodes (at most {MAX_IMAGE_PIXELS // 10**6} "
            f"megapixels and {MAX_SIDE} px a side): scale it down first"
        ) from error
    except (OSError, ValueError, SyntaxError) as error:
        raise InputError(
            f"cannot read image {str(file)!r} ({error}): re-export it as PNG or JPEG, or remove it"
        ) from error
    return rgb


def read_image(path: str | Path, max_side: int | None = None) -> np.ndarray:
    """Decode an image file to RGB, EXIF orientation applied.

    Args:
        path: an image file Pillow reads (``IMAGE_EXTENSIONS`` and more).
        max_side: if given, shrink (never enlarge) so the longer side is at most this, keeping aspect.

    Returns:
        ``uint8`` array ``(H, W, 3)``, RGB, C-contiguous.

    Raises:
        InputError: as ``open_rgb``, or a ``max_side`` below 1.
    """
    if max_side is not None and max_side < 1:
        raise InputError(f"max_side must be a positive number of pixels, not {max_side}")
    rgb = open_rgb(path, draft_side=max_side)
    if max_side is not None and max(rgb.size) > max_side:
        factor = max_side / max(rgb.size)
        size = (max(1, round(rgb.width * factor)), max(1, round(rgb.height * factor)))
        rgb = rgb.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))


_PILLOW_SAVE = {
    ".png": ("PNG", {"compress_level": 6}),
    ".jpg": ("JPEG", {"quality": 95, "subsampling": 0}),  # 4:4:4: stylized edges are colourful
    ".jpeg": ("JPEG", {"quality": 95, "subsampling": 0}),
    ".webp": ("WEBP", {"quality": 95}),
}


def write_image(path: str | Path, image: np.ndarray) -> None:
    """Write an RGB image atomically: to a hidden temporary name in the same folder, then renamed.

    The format follows the suffix (``WRITABLE_IMAGE_EXTENSIONS``); JPEG and WebP at quality 95.
    A missing folder is created (the mirrored outputs of a folder source).

    Args:
        path: the output file.
        image: ``uint8`` array ``(H, W, 3)``, RGB.

    Raises:
        InputError: the suffix is not one stylecast writes, or the folder cannot be written.
        ValueError: ``image`` is not a ``uint8`` ``(H, W, 3)`` array (a bug in the caller).
    """
    target = Path(path).expanduser()
    suffix = target.suffix.lower()
    if suffix not in _PILLOW_SAVE:
        raise InputError(
            f"cannot write image {str(target)!r}: unknown suffix {target.suffix!r}; end the name with "
            f"{', '.join(WRITABLE_IMAGE_EXTENSIONS)}"
        )
    _check_rgb(image)
    _make_folder(target)
    pillow_format, options = _PILLOW_SAVE[suffix]
    try:
        with atomic_output(target) as temp:
            Image.fromarray(image, mode="RGB").save(temp, format=pillow_format, **options)
    except OSError as error:
        raise InputError(
            f"cannot write {str(target)!r} ({error.strerror or error}): choose a writable folder with free space"
        ) from error


def _check_rgb(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        described = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"expected a uint8 (H, W, 3) RGB array, got {described}")


def _existing_file(path: str | Path, what: str) -> Path:
    file = Path(path).expanduser()
    if not file.exists():
        raise InputError(f"{what} {str(file)!r} does not exist: check the path")
    if file.is_dir():
        raise InputError(
            f"{str(file)!r} is a folder, not a {what} file: give a file in it, or the folder itself as the source"
        )
    if file.stat().st_size == 0:
        raise InputError(f"{what} {str(file)!r} is empty (0 bytes): the copy or download did not finish; copy it again")
    return file


def _check_size(file: Path, width: int, height: int, what: str) -> None:
    if width <= 0 or height <= 0:
        raise InputError(f"{what} {str(file)!r} has no pixels ({width}x{height}): re-export it")
    if max(width, height) > MAX_SIDE or width * height > MAX_IMAGE_PIXELS:
        raise InputError(
            f"{what} {str(file)!r} is {width}x{height} ({width * height / 1e6:.0f} megapixels), beyond what "
            f"stylecast handles (at most {MAX_SIDE} px a side and {MAX_IMAGE_PIXELS // 10**6} megapixels): "
            "scale it down first"
        )


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
    file = _existing_file(path, "video")
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
            f"cannot open {str(file)!r} as a video ({_reason(error)}): it is damaged, truncated or not a video; "
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
            f"cannot decode the video of {str(file)!r} (codec {codec}: {_reason(error)}): the file is damaged "
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
    _check_size(file, width, height, what="video")
    if aspect and aspect > 0 and aspect != 1:
        width = max(2, round(width * aspect))
        _check_size(file, width, height, what="video")
    return width, height


def _video_duration(container: Any, stream: Any) -> float | None:
    stream_duration = _stream_duration(stream)
    if stream_duration is not None:
        return stream_duration
    if container.duration:
        return container.duration / av.time_base
    return None


def _stream_duration(stream: Any) -> float | None:
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


def _reason(error: BaseException) -> str:
    """The useful part of an FFmpeg error (PyAV appends the file name, which our messages already give)."""
    text = getattr(error, "strerror", None) or str(error)
    return str(text).split(": '")[0]


@dataclass
class VideoFrame:
    """One decoded frame.

    ``image`` is ``uint8`` ``(H, W, 3)`` RGB, C-contiguous, rotated upright and scaled to
    :attr:`VideoReader.width` x :attr:`VideoReader.height`; ``pts`` is the presentation time in
    ``VideoInfo.time_base`` units (``None`` when the file has no timestamps); ``index`` counts from 0.
    """

    image: np.ndarray
    pts: int | None
    index: int


class _End:
    """Sentinel the decoding thread queues last: a clean end, or the exception that stopped it."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


class VideoReader:
    """Decodes a video file in a background thread into a bounded queue; iterate to get :class:`VideoFrame`.

    The queue (``queue_size`` frames) lets decoding overlap stylizing while holding memory bounded.
    Use it as a context manager: leaving the block stops the thread and closes the file even in the
    middle of the video. A reader is iterated once.

    A file that ends early (truncated) yields every frame that decodes and then adds a line to
    :attr:`warnings`; damaged packets are skipped with a warning too. A file that yields no frame
    raises :class:`InputError` from the iteration.
    """

    def __init__(self, path: str | Path, max_side: int | None = None, queue_size: int = 8) -> None:
        """Probe ``path`` (raising :class:`InputError` for a bad file) without starting to decode.

        Args:
            path: a video file.
            max_side: if given, frames are scaled down (never up), keeping aspect, so that
                ``max(H, W) <= max_side``; both sides are then even (what H.264 needs).
            queue_size: decoded frames held ahead of the consumer.
        """
        if max_side is not None and max_side < 2:
            raise InputError(f"max_side must be at least 2 pixels, not {max_side}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be at least 1, not {queue_size}")
        self.info = probe_video(path)
        self.width, self.height = _fit_within(self.info.width, self.info.height, max_side)
        self.warnings: list[str] = []
        self._queue: queue.Queue[VideoFrame | _End] = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def __iter__(self) -> Iterator[VideoFrame]:
        if self._thread is not None:
            raise RuntimeError("a VideoReader is iterated once: open a new one to read the video again")
        self._thread = threading.Thread(target=self._decode_all, name=f"decode {self.info.path.name}", daemon=True)
        self._thread.start()
        try:
            while True:
                try:
                    item = self._queue.get(timeout=0.5)
                except queue.Empty:
                    if self._thread.is_alive():
                        continue
                    raise StylecastError(
                        f"the decoder of {str(self.info.path)!r} stopped unexpectedly: please report this with the file"
                    ) from None
                if isinstance(item, _End):
                    if item.error is not None:
                        raise item.error
                    return
                yield item
        finally:
            # Runs on normal end, on an error, and when the consumer drops the iterator early.
            self.close()

    def close(self) -> None:
        """Stop decoding and close the file; safe to call more than once."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            while thread.is_alive():
                self._drain()  # a producer blocked on a full queue wakes up and sees the stop flag
                thread.join(timeout=0.05)
        self._drain()

    def _drain(self) -> None:
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass

    def _put(self, item: VideoFrame | _End) -> bool:
        """Queue ``item`` unless the reader is closed; False when it was."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _decode_all(self) -> None:
        """The decoding thread: owns the container from open to close, so only it touches FFmpeg state."""
        try:
            container = av.open(str(self.info.path), metadata_errors="ignore")
        except (av.error.FFmpegError, OSError) as error:
            self._put(_End(InputError(f"cannot open {str(self.info.path)!r} ({_reason(error)}): check the file")))
            return
        try:
            self._put(_End(self._decode(container)))
        except BaseException as error:  # handed to the consumer, which re-raises it in its thread
            self._put(_End(error))
        finally:
            container.close()

    def _decode(self, container: Any) -> InputError | None:
        """Decode and queue every frame; the error to raise at the end, if no frame came out."""
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # slice + frame threads: decoding keeps up with more of the stylizer
        info = self.info
        index = 0
        last_pts: int | None = None
        damaged = 0
        demux_error: BaseException | None = None
        try:
            for packet in container.demux(stream):
                if self._stop.is_set():
                    return None
                try:
                    frames = packet.decode()
                except av.error.FFmpegError:
                    damaged += 1  # skip a damaged packet; the frames after it still decode
                    continue
                for frame in frames:
                    if not self._put(VideoFrame(self._to_rgb(frame), frame.pts, index)):
                        return None
                    index += 1
                    last_pts = frame.pts if frame.pts is not None else last_pts
        except av.error.FFmpegError as error:
            demux_error = error
        if index == 0:
            return InputError(
                f"no frame of {str(info.path)!r} could be decoded: the file is damaged; re-export it or give another"
            )
        if damaged:
            self.warnings.append(
                f"{damaged} damaged packet(s) could not be decoded and were skipped: "
                "re-export the file if frames are missing"
            )
        if demux_error is not None or self._looks_truncated(container, stream, index, last_pts):
            decoded = f"{float(last_pts * info.time_base):.1f} s" if last_pts is not None else f"{index} frames"
            whole = f" of {info.duration:.1f} s" if info.duration else ""
            self.warnings.append(
                f"the video is truncated after frame {index} ({decoded}{whole} decoded): "
                "stylized what decoded; copy or download the file again for the rest"
            )
        return None

    def _looks_truncated(self, container: Any, stream: Any, decoded: int, last_pts: int | None) -> bool:
        """Whether the file ended before its header said it would.

        FFmpeg ends demuxing quietly at a premature end of file, so the evidence is a shortfall
        against the header: the frame count when the container stores one (MP4, MOV), else the
        duration. Slack covers edit lists that hide a frame or two and, when only the container's
        duration is known (MKV, WebM), a sound track that outlasts the picture.
        """
        if stream.frames:
            return decoded < stream.frames - max(2, stream.frames // 100)
        if last_pts is None:
            return False
        fps = self.info.fps
        end = float((last_pts - (stream.start_time or 0)) * self.info.time_base) + 1.0 / fps
        stream_duration = _stream_duration(stream)
        if stream_duration is not None:
            expected, slack = stream_duration, 2.0 / fps
        elif container.duration:
            expected = container.duration / av.time_base
            slack = 2.0 / fps + (1.0 if container.streams.audio else 0.0)
        else:
            return False
        return end < expected - slack

    def _to_rgb(self, frame: Any) -> np.ndarray:
        """Scale and convert in one swscale pass, then turn upright."""
        rotation = self.info.rotation
        width, height = (self.height, self.width) if rotation in (90, 270) else (self.width, self.height)
        rgb = frame.reformat(
            width=width, height=height, format="rgb24",
            # Decoders now flag full-range (JPEG) video with a field rather than a pixel format;
            # swscale needs telling or blacks turn grey.
            src_color_range="JPEG" if frame.color_range == _FULL_RANGE else None,
            interpolation="AREA" if width < frame.width else "BICUBIC",
        )
        image = rgb.to_ndarray()
        if rotation:
            image = np.rot90(image, k=-rotation // 90)  # np.rot90 turns counter-clockwise for k > 0
        return np.ascontiguousarray(image)


def _fit_within(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """Display size scaled down to ``max_side`` (if larger), each side even so H.264 needs no crop."""
    if max_side is None or max(width, height) <= max_side:
        return width, height
    factor = max_side / max(width, height)

    def even(side: float) -> int:
        rounded = int(round(side))
        return max(2, rounded - rounded % 2)

    return even(width * factor), even(height * factor)


# --------------------------------------------------------------------------------------------------
# Writing video


X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
# At 640x480 on 2 cores, superfast against veryfast at CRF 18: 6% faster end to end, 0.3 dB lower PSNR, the
# same file size (benchmarks/file_options.py; BENCHMARKS.md).
DEFAULT_PRESET = "superfast"


class VideoWriter:
    """Encodes RGB frames to H.264 (libx264, ``yuv420p``) in an MP4 (or MOV / MKV, by suffix), with sound.

    The file is written under a hidden temporary name in the output folder and renamed when
    :meth:`close` succeeds; on an exception inside the ``with`` block (or ``close(success=False)``) the
    temporary file is deleted and nothing is left. MP4 and MOV get their index at the front
    (``+faststart``), so players and browsers can start before the whole file has arrived.

    An odd ``width`` or ``height`` is cropped by 1 px (last column / row), since ``yuv420p`` needs
    even sides; :attr:`width` and :attr:`height` are the written size.
    """

    def __init__(self, path: str | Path, width: int, height: int, time_base: Fraction, fps: float,
                 audio_from: str | Path | None = None, crf: int = 18, preset: str = DEFAULT_PRESET) -> None:
        """Open the output (under its temporary name) and, if asked, the sound to carry over.

        Args:
            path: the output file; its suffix picks the container (``WRITABLE_VIDEO_EXTENSIONS``).
            width: width of the frames that will be written (before the even crop).
            height: height of the frames that will be written (before the even crop).
            time_base: the unit of the ``pts`` given to :meth:`write` (the reader's ``info.time_base``).
            fps: average frame rate: the encoder's rate control, and the step for frames without ``pts``.
            audio_from: a file whose first audio stream is carried over (copied or re-encoded to AAC);
                ``None``, or a file without sound, gives a silent video.
            crf: x264 constant rate factor, 0 (lossless) to 51; 18 is visually lossless.
            preset: x264 speed preset, one of ``X264_PRESETS``.

        Raises:
            InputError: the suffix is not one stylecast writes, or the folder is not writable.
        """
        target = Path(path).expanduser()
        suffix = target.suffix.lower()
        if suffix not in _MUXER_BY_SUFFIX:
            raise InputError(
                f"cannot write video {str(target)!r}: unknown suffix {target.suffix!r}; end the name with "
                f"{', '.join(WRITABLE_VIDEO_EXTENSIONS)}"
            )
        if width < 2 or height < 2:
            raise ValueError(f"a video needs at least 2x2 pixels, got {width}x{height}")
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        if not 0 <= crf <= 51 or preset not in X264_PRESETS:
            raise ValueError(f"crf must be 0..51 and preset one of {X264_PRESETS}, got {crf}, {preset!r}")
        self.path = target
        self.frame_size = (height, width)  # what write() accepts
        self.width, self.height = width - width % 2, height - height % 2
        self.time_base = Fraction(time_base)
        self.fps = float(fps)
        self.warnings: list[str] = []
        self._frames = 0
        self._last_pts: int | None = None
        self._closed = False
        self._audio: _AudioCarrier | None = None
        _make_folder(target)
        self._temp = _temp_sibling(target)
        muxer = _MUXER_BY_SUFFIX[suffix]
        options = {"movflags": "+faststart"} if muxer in ("mp4", "mov") else {}
        try:
            self._container = av.open(str(self._temp), "w", format=muxer, options=options)
        except (av.error.FFmpegError, OSError) as error:
            _remove_quietly(self._temp)
            raise InputError(f"cannot write {str(target)!r} ({_reason(error)}): choose a writable folder") from error
        try:
            self._video = self._add_video_stream(crf, preset)
            if audio_from is not None:
                self._audio = _AudioCarrier.open(Path(audio_from), self._container, muxer)
        except BaseException:
            self._container.close()
            _remove_quietly(self._temp)
            raise

    def _add_video_stream(self, crf: int, preset: str) -> Any:
        rate = Fraction(self.fps).limit_denominator(1001)  # 29.97 -> 30000/1001
        stream = self._container.add_stream("libx264", rate=rate, options={"crf": str(crf), "preset": preset})
        stream.width, stream.height, stream.pix_fmt = self.width, self.height, "yuv420p"
        stream.time_base = self.time_base
        context = stream.codec_context
        context.time_base = self.time_base
        context.color_primaries = context.color_trc = context.colorspace = _BT709
        context.color_range = _LIMITED_RANGE
        return stream

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close(success=kind is None)

    @property
    def frames_written(self) -> int:
        return self._frames

    def write(self, image: np.ndarray, pts: int | None) -> None:
        """Encode one frame.

        Args:
            image: ``uint8`` ``(H, W, 3)`` RGB with ``(H, W)`` the size given to the constructor.
            pts: presentation time in ``time_base`` units (the reader's ``VideoFrame.pts``), or ``None``
                to place the frame ``1 / fps`` after the previous one.
        """
        if self._closed:
            raise RuntimeError(f"the writer of {str(self.path)!r} is closed")
        _check_rgb(image)
        if image.shape[:2] != self.frame_size:
            raise ValueError(f"expected a {self.frame_size[0]}x{self.frame_size[1]} (HxW) frame, got {image.shape[:2]}")
        if image.shape[:2] != (self.height, self.width):
            image = image[: self.height, : self.width]  # yuv420p needs even sides: drop 1 px, do not resample
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        frame = frame.reformat(format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG")
        step = max(1, round(1 / (self.fps * self.time_base)))
        if pts is None:
            pts = 0 if self._last_pts is None else self._last_pts + step
        elif self._last_pts is not None and pts <= self._last_pts:
            # x264 and the muxers refuse repeated or backward timestamps (broken files have them):
            # nudge forward by one tick rather than fail a long job.
            pts = self._last_pts + 1
        frame.pts = pts
        frame.time_base = self.time_base
        self._mux(self._video.encode(frame))
        self._last_pts = pts
        self._frames += 1
        if self._audio is not None:
            # Interleave sound with picture as we go, so a player reading the file needs no big buffer.
            self._audio.carry_until(float(pts * self.time_base), self.warnings)

    def _mux(self, packets: Any) -> None:
        try:
            self._container.mux(packets)
        except OSError as error:  # FFmpeg opens the file at the first packet: permissions, a full disk
            raise InputError(f"cannot write {str(self.path)!r} ({_reason(error)}): choose a writable folder "
                             "with free space") from error

    def close(self, success: bool = True) -> None:
        """Finish the file and rename it into place, or (``success=False``) delete it; idempotent.

        Raises:
            StylecastError: ``success`` but no frame was written (nothing is left on disk).
        """
        if self._closed:
            return
        self._closed = True
        try:
            if success:
                if self._frames == 0:
                    raise StylecastError(f"no frame was written to {str(self.path)!r}: nothing to save")
                self._mux(self._video.encode(None))
                if self._audio is not None:
                    assert self._last_pts is not None
                    video_end = float(self._last_pts * self.time_base) + 1.0 / self.fps
                    self._audio.finish(video_end, self.warnings)
            if success:
                self._container.close()
                os.replace(self._temp, self.path)
        except BaseException:
            success = False
            raise
        finally:
            if self._audio is not None:
                self._audio.close()
            if not success:
                try:
                    self._container.close()
                except (av.error.FFmpegError, OSError):
                    pass  # the file is being discarded; the first error is the one that matters
                _remove_quietly(self._temp)


class _AudioCarrier:
    """Carries the first audio stream of a file into an output container: packet copy or AAC re-encode.

    Packets keep their timestamps (rebased by the muxer to the output stream's time base), so the
    sound stays on the timeline of the video frames written with the source's ``pts``.
    """

    def __init__(self, source: Any, in_stream: Any, out_stream: Any, copy: bool) -> None:
        self._source = source
        self._in = in_stream
        self._out = out_stream
        self._copy = copy
        self._packets = source.demux(in_stream)
        self._pending: Any = None  # the next packet, read ahead to know its time
        self._exhausted = False
        self._next_sample: int | None = None
        self._container: Any = None

    @classmethod
    def open(cls, path: Path, container: Any, muxer: str) -> _AudioCarrier | None:
        """The carrier for ``path``'s sound into ``container``, or ``None`` if it has no sound."""
        file = _existing_file(path, "audio source")
        try:
            source = av.open(str(file), metadata_errors="ignore")
        except (av.error.FFmpegError, OSError) as error:
            raise InputError(
                f"cannot read the sound of {str(file)!r} ({_reason(error)}): check the file or leave the sound out"
            ) from error
        try:
            if not source.streams.audio:
                source.close()
                return None
            in_stream = source.streams.audio[0]
            codec = in_stream.codec_context.name
            copyable = _COPYABLE_AUDIO[muxer]
            if (copyable is None or codec in copyable) and codec in container.supported_codecs:
                out_stream = container.add_stream_from_template(in_stream)
                carrier = cls(source, in_stream, out_stream, copy=True)
            else:
                context = in_stream.codec_context
                out_stream = container.add_stream("aac", rate=context.sample_rate)
                # Sources often have an unnamed layout ("1 channels") the AAC encoder refuses; name it
                # by count, and fold anything else to stereo (the encoder's resampler downmixes).
                layout = _AAC_LAYOUTS.get(context.layout.nb_channels, "stereo")
                out_stream.layout = layout
                out_stream.bit_rate = AAC_BITRATE_PER_CHANNEL * av.AudioLayout(layout).nb_channels
                carrier = cls(source, in_stream, out_stream, copy=False)
            carrier._container = container
            return carrier
        except BaseException:
            source.close()
            raise

    def _next_packet(self, warnings_out: list[str]) -> Any:
        if self._pending is None and not self._exhausted:
            try:
                self._pending = next(self._packets)
            except StopIteration:
                self._exhausted = True
            except av.error.FFmpegError as error:
                self._exhausted = True
                warnings_out.append(
                    f"the sound stops early ({_reason(error)}): its track is damaged; re-export the file for all of it"
                )
        return self._pending

    def carry_until(self, seconds: float, warnings_out: list[str], strict: bool = False) -> None:
        """Carry every packet starting at or before ``seconds`` (before it when ``strict``)."""
        while True:
            packet = self._next_packet(warnings_out)
            if packet is None:
                return
            start = packet.pts if packet.pts is not None else packet.dts
            if packet.size and start is not None:
                time = float(start * packet.time_base)
                if time > seconds or (strict and time >= seconds):
                    return
            self._pending = None
            self._carry(packet, warnings_out)

    def _carry(self, packet: Any, warnings_out: list[str]) -> None:
        if self._copy:
            if packet.size == 0:
                return  # demux's end-of-stream marker: nothing to store
            packet.stream = self._out
            self._container.mux(packet)
            return
        try:
            frames = packet.decode()
        except av.error.FFmpegError:
            return  # a damaged audio packet is a click, not a reason to fail the job
        for frame in frames:
            self._encode(frame)

    def _encode(self, frame: Any) -> None:
        # Count samples from the first frame's time: one continuous track on the video's timeline,
        # whatever gaps or jitter the source's timestamps had.
        if self._next_sample is None:
            start = frame.time if frame.time is not None else 0.0
            self._next_sample = round(start * frame.sample_rate)
        frame.pts = self._next_sample
        frame.time_base = Fraction(1, frame.sample_rate)
        self._next_sample += frame.samples
        self._container.mux(self._out.encode(frame))

    def finish(self, video_end: float, warnings_out: list[str]) -> None:
        """Carry the rest of the sound up to ``video_end`` seconds, then flush the encoder."""
        self.carry_until(video_end, warnings_out, strict=True)
        if not self._copy:
            try:
                for frame in self._in.codec_context.decode(None):
                    self._encode(frame)
            except av.error.FFmpegError:
                pass
            self._container.mux(self._out.encode(None))

    def close(self) -> None:
        self._source.close()
