"""Stylize whole files: videos through a three-stage pipeline, and still images.

A video frame travels forward only: decoded (and scaled if asked) once by FFmpeg in the reader's
thread, stylized by one of ``workers`` threads, encoded in the writer's thread. It stays in the
decoder's planar YUV (I420, ``io.frames``) all the way: only G's input and output, at the working
size, are RGB (``Stylizer.stylize_i420``). Bounded
queues between the stages let the slowest one set the pace without piling up frames, and frames
reach the encoder in their order whichever worker finishes first. The stabiliser (on by default) is
split in two: the motion between input frames is measured as frames are handed to the workers, and
the blend with the previous output runs inside each frame's stylization, at the size G ran at, in
frame order (``Turns``), since each frame blends in the previous output.

Several frames at once, each on one core, beat one frame at a time on all cores: a small network's
layers are too short to keep two threads busy (ONNX Runtime, shipped model, 640x480 on 2 cores: the
network at 36.7 frames/s with two one-thread workers against 29.9 with one two-thread worker, end to
end 1.11x, BENCHMARKS.md). ``plan_workers`` picks the split.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stylecast.errors import InputError
from stylecast.io.frames import i420_planes
from stylecast.io.images import read_image, write_image
from stylecast.io.reader import VideoReader
from stylecast.io.writer import DEFAULT_PRESET, VideoWriter
from stylecast.runtime.progress import Progress
from stylecast.runtime.stabilize import FlowStabilizer, Motion
from stylecast.runtime.upscale import single_threaded_opencv
from stylecast.stylizer import Stylizer


@dataclass
class StyleRequest:
    code: np.ndarray                 # (1, width) float32 style vector (styles.py)
    strength: float = 1.0
    preserve_color: bool = False
    max_side: int | None = None
    stabilize: bool = True           # videos: blend each frame with the previous output along the flow
    crf: int = 18                    # videos: x264 quality, 0 (lossless) .. 51; 18 is visually lossless
    preset: str = DEFAULT_PRESET     # videos: x264 speed preset (io.writer.X264_PRESETS)


@dataclass
class FileResult:
    input: str
    output: str
    kind: str
    frames: int
    seconds: float
    fps: float
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class _EncoderThread:
    """Runs ``writer.write`` in its own thread, fed by a bounded queue; a context manager that
    always stops the thread, and re-raises an encoding error in the caller's thread."""

    _DONE = object()

    def __init__(self, writer: VideoWriter, depth: int = 8) -> None:
        self.writer = writer
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="stylecast-encode", daemon=True)

    def __enter__(self) -> _EncoderThread:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.queue.put(self._DONE)
        self.thread.join()
        if self.error is not None and exc[0] is None:
            raise self.error

    def _run(self) -> None:
        while (item := self.queue.get()) is not self._DONE:
            if self.error is None:
                try:
                    self.writer.write(*item)
                except BaseException as error:  # noqa: BLE001 - handed to the caller's thread
                    self.error = error

    def put(self, image: np.ndarray, pts: int | None) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put((image, pts))


def plan_workers(backend: str, threads: int | None, workers: int | None, parallel_jobs: bool) -> tuple[int, int]:
    """``(workers, threads per worker)`` for stylizing files.

    ``threads`` is the total compute budget (default: all cores). With several frames to do
    (``parallel_jobs``: a video or a batch of images) and ONNX Runtime, each core gets a worker of its
    own; a single image, and the torch backend (whose Python-side work per call holds the GIL), keep
    one worker with all the threads. An explicit ``workers`` wins.
    """
    total = threads or os.cpu_count() or 1
    if workers is None:
        workers = total if parallel_jobs and backend == "onnx" else 1
    if workers < 1:
        raise InputError(f"--workers {workers} must be at least 1")
    return workers, max(1, total // workers)


def _in_order(pool: ThreadPoolExecutor | None, fn: Callable[..., np.ndarray], items: Any, depth: int) -> Any:
    """``(item, fn(item))`` for each item, in order, with up to ``depth`` calls running at once."""
    if pool is None:
        for item in items:
            yield item, fn(item)
        return
    pending: collections.deque[tuple[Any, Future[np.ndarray]]] = collections.deque()
    try:
        for item in items:
            pending.append((item, pool.submit(fn, item)))
            if len(pending) >= depth:
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()
    finally:
        for _, future in pending:
            future.cancel()


class Turns:
    """Frame by frame in order, from whichever worker holds each frame: the stabiliser's step for frame
    ``i`` runs after frame ``i - 1``'s, while the rest of each frame's work (G, the upscale) overlaps.

    Frames are handed to a first-in, first-out pool in order, so when frame ``i`` waits, every frame
    before it has started and will take or end its turn: the wait cannot deadlock.
    """

    def __init__(self) -> None:
        self._next = 0
        self._changed = threading.Condition()

    def take(self, index: int, fn: Callable[..., np.ndarray], *args: Any) -> np.ndarray:
        """``fn(*args)`` as frame ``index``'s turn, once every earlier frame has had its own."""
        with self._changed:
            self._changed.wait_for(lambda: self._next == index)
            try:
                return fn(*args)
            finally:
                self._next = index + 1
                self._changed.notify_all()

    def end(self, index: int) -> None:
        """Frame ``index`` is over: a frame that failed before its turn lets the next ones go."""
        with self._changed:
            self._changed.wait_for(lambda: self._next >= index)
            if self._next == index:
                self._next = index + 1
                self._changed.notify_all()


def stylize_video(stylizer: Stylizer, source: Path, target: Path, request: StyleRequest,
                  show_progress: bool = True,
                  on_frame: Callable[[int, int | None], None] | None = None, workers: int = 1) -> FileResult:
    """Stylize every frame of ``source`` into ``target`` (written atomically), sound kept.

    ``on_frame(done, total_estimate)`` is called after each frame (a job's progress); an exception it
    raises stops the run and leaves no output behind. ``workers`` frames are stylized at once.
    """
    started = time.monotonic()
    count = 0
    with VideoReader(source, max_side=request.max_side, i420=True) as reader:
        info = reader.info
        frames = iter(reader)
        first = next(frames, None)
        if first is None:
            raise InputError(f"{source} has no frame that decodes: check the file plays, or re-encode it")
        width, height = reader.width, reader.height
        progress = Progress(source.name, info.frames, enabled=show_progress)

        stabilizer = FlowStabilizer() if request.stabilize else None
        turns = Turns()

        def stylize(numbered: tuple[int, Any, Motion | None]) -> np.ndarray:
            index, frame, motion = numbered
            if stabilizer is None:
                return stylizer.stylize_i420(frame.image, request.code, request.strength, request.preserve_color)

            def settle(_frame: np.ndarray, stylized: np.ndarray) -> np.ndarray:
                return turns.take(index, stabilizer.settle, motion, stylized)

            try:  # blending in the previous output, at the size G ran at, waits for that frame's turn
                return stylizer.stylize_i420(frame.image, request.code, request.strength, request.preserve_color,
                                             settle=settle)
            finally:
                turns.end(index)

        def numbered(frames: Any) -> Any:
            """``(index, frame, motion)``: the stabiliser's motion, from the input frames alone, is
            measured here, in frame order, as frames are handed out (this thread would otherwise wait
            for the workers), so a frame's turn covers only the blend (BENCHMARKS.md, "3x the peer
            again, stabilised")."""
            for index, frame in enumerate(frames):
                yield index, frame, None if stabilizer is None else stabilizer.motion(i420_planes(frame.image)[0])

        if workers > 1:  # a frame per core already: OpenCV's own threads in the upscale only cost CPU
            single_threaded_opencv()
        # One worker stylizes in this thread. Closing the generator first cancels the frames it queued.
        pool = ThreadPoolExecutor(workers, thread_name_prefix="stylecast-stylize") if workers > 1 else None
        with VideoWriter(target, width, height, info.time_base, info.fps,
                         audio_from=source if info.has_audio else None, crf=request.crf,
                         preset=request.preset) as writer, _EncoderThread(writer) as encoder, \
                pool or contextlib.nullcontext(), \
                contextlib.closing(_in_order(pool, stylize, numbered(itertools.chain([first], frames)),
                                             2 * workers)) as ordered:
            for (_, frame, _), image in ordered:
                encoder.put(image, frame.pts)
                count += 1
                progress.update(count)
                if on_frame is not None:
                    on_frame(count, info.frames)
        progress.close(count)
        warnings = list(reader.warnings) + list(writer.warnings)
    seconds = time.monotonic() - started
    return FileResult(str(source), str(target), "video", count, round(seconds, 3),
                      round(count / max(seconds, 1e-9), 2), warnings)


def stylize_image_file(stylizer: Stylizer, source: Path, target: Path, request: StyleRequest) -> FileResult:
    started = time.monotonic()
    image = read_image(source, request.max_side)
    write_image(target, stylizer.stylize(image, request.code, request.strength, request.preserve_color))
    seconds = time.monotonic() - started
    return FileResult(str(source), str(target), "image", 1, round(seconds, 3), round(1 / max(seconds, 1e-9), 2))
