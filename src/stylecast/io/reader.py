"""Decoding a video in a background thread into a bounded queue: :class:`VideoReader`."""


from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import av
import av.error
import numpy as np

from stylecast.errors import InputError, StylecastError
from stylecast.io.frames import i420_planes, new_i420, source_range
from stylecast.io.probe import describe_error, probe_video, stream_duration


@dataclass
class VideoFrame:
    """One decoded frame.

    ``image`` is ``uint8`` ``(H, W, 3)`` RGB, C-contiguous, rotated upright and scaled to
    :attr:`VideoReader.width` x :attr:`VideoReader.height` (or, from a reader opened with ``i420=True``,
    an I420 array ``(H * 3 // 2, W)``: ``io.frames``); ``pts`` is the presentation time in
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

    def __init__(self, path: str | Path, max_side: int | None = None, queue_size: int = 8, i420: bool = False) -> None:
        """Probe ``path`` (raising :class:`InputError` for a bad file) without starting to decode.

        Args:
            path: a video file.
            max_side: if given, frames are scaled down (never up), keeping aspect, so that
                ``max(H, W) <= max_side``; both sides are then even (what H.264 needs).
            queue_size: decoded frames held ahead of the consumer.
            i420: frames as I420 arrays (``io.frames``: BT.709, limited range, what the writer takes)
                instead of RGB: the decoder's own layout, so a BT.709 ``yuv420p`` file (most are) is
                not converted at all. Both sides are then even: an odd one is scaled by a pixel.
        """
        if max_side is not None and max_side < 2:
            raise InputError(f"max_side must be at least 2 pixels, not {max_side}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be at least 1, not {queue_size}")
        self.info = probe_video(path)
        self.width, self.height = _fit_within(self.info.width, self.info.height, max_side)
        self.i420 = i420
        if i420:
            self.width, self.height = max(2, self.width - self.width % 2), max(2, self.height - self.height % 2)
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
            message = f"cannot open {str(self.info.path)!r} ({describe_error(error)}): check the file"
            self._put(_End(InputError(message)))
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
                    if not self._put(VideoFrame(self._convert(frame), frame.pts, index)):
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
        declared = stream_duration(stream)
        if declared is not None:
            expected, slack = declared, 2.0 / fps
        elif container.duration:
            expected = container.duration / av.time_base
            slack = 2.0 / fps + (1.0 if container.streams.audio else 0.0)
        else:
            return False
        return end < expected - slack

    def _convert(self, frame: Any) -> np.ndarray:
        """Scale and convert in one swscale pass (none for a frame already as asked), then turn upright."""
        rotation = self.info.rotation
        width, height = (self.height, self.width) if rotation in (90, 270) else (self.width, self.height)
        interpolation = "AREA" if width < frame.width else "BICUBIC"
        if not self.i420:
            image = frame.reformat(width=width, height=height, format="rgb24", src_color_range=source_range(frame),
                                   interpolation=interpolation).to_ndarray()
            if rotation:
                image = np.rot90(image, k=-rotation // 90)  # np.rot90 turns counter-clockwise for k > 0
            return np.ascontiguousarray(image)
        planar = frame.reformat(width=width, height=height, format="yuv420p", src_color_range=source_range(frame),
                                dst_colorspace="ITU709", dst_color_range="MPEG", interpolation=interpolation)
        image = planar.to_ndarray()
        if not rotation:
            return np.ascontiguousarray(image)
        out = new_i420(self.width, self.height)
        for plane, upright in zip(i420_planes(image), i420_planes(out), strict=True):
            upright[...] = np.rot90(plane, k=-rotation // 90)
        return out


def _fit_within(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """Display size scaled down to ``max_side`` (if larger), each side even so H.264 needs no crop."""
    if max_side is None or max(width, height) <= max_side:
        return width, height
    factor = max_side / max(width, height)

    def even(side: float) -> int:
        rounded = int(round(side))
        return max(2, rounded - rounded % 2)

    return even(width * factor), even(height * factor)


