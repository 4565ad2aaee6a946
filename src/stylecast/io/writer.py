"""Encoding H.264 with the source's sound: :class:`VideoWriter`."""


from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import av
import av.error
import numpy as np

from stylecast.atomic import commit, discard, temporary_beside
from stylecast.errors import InputError, StylecastError
from stylecast.io.audio import AudioCarrier
from stylecast.io.frames import BT709, LIMITED_RANGE, i420_size, is_i420
from stylecast.io.images import check_rgb
from stylecast.io.paths import WRITABLE_VIDEO_EXTENSIONS, make_folder, writable_suffix
from stylecast.io.probe import describe_error

_MUXER_BY_SUFFIX = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}

# --------------------------------------------------------------------------------------------------
# Writing video


X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
#: The default: x264's preset chosen by :func:`pick_preset` from the frame size and the machine.
AUTO_PRESET = "auto"
PRESETS = (AUTO_PRESET, *X264_PRESETS)
DEFAULT_PRESET = AUTO_PRESET
#: ``auto``'s preset up to :data:`FAST_ENCODE_PIXELS`. At 640x480 on 2 cores, superfast against
#: veryfast at CRF 18: 6% faster end to end, 0.3 dB lower PSNR, the same file size
#: (benchmarks/file_options.py; BENCHMARKS.md).
AUTO_SMALL_PRESET = "superfast"
#: Frames of 1280x720 and more encode with ultrafast on small machines (``SINGLE_THREAD_ENCODE_CORES``),
#: where x264 on its one thread is a third of a frame's CPU time or more and sets a file's pace.
#: Stylized 1920x1080 frames at CRF 18: superfast took 2.3x ultrafast's CPU time (59 against 26 ms a
#: frame) for 0.58x the bytes and 1.7 dB more PSNR; `stylecast stylize` ran 1.36x faster at 1080p and
#: 1.08x at 720p with ultrafast (BENCHMARKS.md, "x264 sets the pace at 720p and 1080p").
FAST_ENCODE_PIXELS = 1280 * 720
#: x264 encodes on one thread on machines of up to this many cores: there the stylization already
#: fills every core, and x264's frame threads cost CPU for nothing (1280x720 superfast CRF 18 on 2
#: cores: 15.1 CPU-ms a frame on one thread against 19.8 with its automatic threads, for the same file
#: size; BENCHMARKS.md). On larger machines x264 picks its own thread count.
SINGLE_THREAD_ENCODE_CORES = 4


def _small_machine() -> bool:
    return (os.cpu_count() or 1) <= SINGLE_THREAD_ENCODE_CORES


def x264_threads() -> int:
    """x264's ``threads`` option here: 1 on small machines, 0 (automatic) on larger ones."""
    return 1 if _small_machine() else 0


def pick_preset(preset: str, width: int, height: int) -> str:
    """The x264 preset for ``preset`` (one of :data:`PRESETS`) at ``width x height``: ``auto`` gives
    ultrafast from 1280x720 up on small machines and superfast otherwise; the others are themselves."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {PRESETS}, got {preset!r}")
    if preset != AUTO_PRESET:
        return preset
    return "ultrafast" if _small_machine() and width * height >= FAST_ENCODE_PIXELS else AUTO_SMALL_PRESET


class VideoWriter:
    """Encodes RGB (or I420) frames to H.264 (libx264, ``yuv420p``) in an MP4 (or MOV / MKV, by suffix), with sound.

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
            preset: x264 speed preset, one of ``PRESETS`` (``auto``: :func:`pick_preset`); :attr:`preset`
                is the one used.

        Raises:
            InputError: the suffix is not one stylecast writes, or the folder is not writable.
        """
        target = Path(path).expanduser()
        suffix = writable_suffix(target, WRITABLE_VIDEO_EXTENSIONS, "video")
        if width < 2 or height < 2:
            raise ValueError(f"a video needs at least 2x2 pixels, got {width}x{height}")
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        if not 0 <= crf <= 51 or preset not in PRESETS:
            raise ValueError(f"crf must be 0..51 and preset one of {PRESETS}, got {crf}, {preset!r}")
        self.path = target
        self.frame_size = (height, width)  # what write() accepts
        self.width, self.height = width - width % 2, height - height % 2
        self.time_base = Fraction(time_base)
        self.fps = float(fps)
        self.warnings: list[str] = []
        self._frames = 0
        self._last_pts: int | None = None
        self._closed = False
        self._audio: AudioCarrier | None = None
        make_folder(target)
        self._temp = temporary_beside(target, keep_suffix=True)
        muxer = _MUXER_BY_SUFFIX[suffix]
        options = {"movflags": "+faststart"} if muxer in ("mp4", "mov") else {}
        try:
            self._container = av.open(str(self._temp), "w", format=muxer, options=options)
        except (av.error.FFmpegError, OSError) as error:
            discard(self._temp)
            raise InputError(f"cannot write {str(target)!r} ({describe_error(error)}): choose a writable "
                             "folder") from error
        try:
            self.preset = pick_preset(preset, self.width, self.height)
            self._video = self._add_video_stream(crf, self.preset)
            if audio_from is not None:
                self._audio = AudioCarrier.open(Path(audio_from), self._container, muxer)
        except BaseException:
            self._container.close()
            discard(self._temp)
            raise

    def _add_video_stream(self, crf: int, preset: str) -> Any:
        rate = Fraction(self.fps).limit_denominator(1001)  # 29.97 -> 30000/1001
        stream = self._container.add_stream("libx264", rate=rate, options={"crf": str(crf), "preset": preset,
                                                                          "threads": str(x264_threads())})
        stream.width, stream.height, stream.pix_fmt = self.width, self.height, "yuv420p"
        stream.time_base = self.time_base
        context = stream.codec_context
        context.time_base = self.time_base
        context.color_primaries = context.color_trc = context.colorspace = BT709
        context.color_range = LIMITED_RANGE
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
            image: ``uint8`` ``(H, W, 3)`` RGB with ``(H, W)`` the size given to the constructor, or an
                I420 array ``(H * 3 // 2, W)`` (``io.frames``: BT.709, limited range) of the written
                size, which goes to x264 as it is, with no conversion.
            pts: presentation time in ``time_base`` units (the reader's ``VideoFrame.pts``), or ``None``
                to place the frame ``1 / fps`` after the previous one.
        """
        if self._closed:
            raise RuntimeError(f"the writer of {str(self.path)!r} is closed")
        if image.ndim == 2:
            if not is_i420(image) or i420_size(image) != (self.width, self.height):
                raise ValueError(f"expected a {self.width}x{self.height} I420 frame ({self.height * 3 // 2}x"
                                 f"{self.width} uint8), got {image.shape} {image.dtype}")
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="yuv420p")
        else:
            check_rgb(image)
            if image.shape[:2] != self.frame_size:
                raise ValueError(f"expected a {self.frame_size[0]}x{self.frame_size[1]} (HxW) frame, "
                                 f"got {image.shape[:2]}")
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
            raise InputError(f"cannot write {str(self.path)!r} ({describe_error(error)}): choose a writable folder "
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
                commit(self._temp, self.path)
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
                discard(self._temp)


