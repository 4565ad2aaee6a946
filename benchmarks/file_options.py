"""What the file pipeline's options cost: the stabiliser (on by default), and x264's speed preset.

    python benchmarks/file_options.py [--model M] [--size 640x480] [--frames 150] [--rounds 3]

1. End to end (decode + stylize + encode, `stylize_video` with its default workers): the defaults
   (``--preset auto``: ``io.writer.pick_preset``), without the stabiliser, and with each x264 preset
   of ``PRESETS``, interleaved in one process,
   ``--rounds`` times; medians, and each one's change against the defaults.
2. x264 alone (CRF 18) on the stylized frames, in I420 as the pipeline hands them over: CPU
   milliseconds a frame (`resource.getrusage`, all threads) and file size per preset, medians over
   the rounds; and the PSNR of the decoded file against the stylized frames (the I420 planes, all
   frames).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np

from stylecast.io.frames import i420_size
from stylecast.io.reader import VideoReader
from stylecast.io.writer import VideoWriter, pick_preset
from stylecast.runtime.bench import make_clip
from stylecast.runtime.pipeline import StyleRequest, plan_workers, stylize_video
from stylecast.stylizer import Stylizer

PRESETS = ("veryfast", "superfast", "ultrafast")


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _encode(images: list[np.ndarray], target: Path, preset: str) -> tuple[float, int]:
    """CPU ms a frame and bytes, for encoding ``images`` as the pipeline does."""
    width, height = i420_size(images[0])
    start = _cpu_seconds()
    with VideoWriter(target, width, height, Fraction(1, 30), 30.0, preset=preset) as writer:
        for index, image in enumerate(images):
            writer.write(image, index)
    return 1000 * (_cpu_seconds() - start) / len(images), target.stat().st_size


def _psnr(images: list[np.ndarray], encoded: Path) -> float:
    """PSNR (dB) of the decoded file against the frames that went in, over all pixels of all frames."""
    with VideoReader(encoded, i420=True) as reader:
        decoded = [frame.image for frame in reader]
    squared = statistics.fmean(float(np.mean((a.astype(np.float64) - b) ** 2))
                               for a, b in zip(images, decoded, strict=True))
    return float(10 * np.log10(255.0**2 / squared))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model")
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--style", default="starry_night")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    workers, threads = plan_workers("onnx", None, None, parallel_jobs=True)
    stylizer = Stylizer(args.model, "onnx", "fp32", threads, workers=workers)
    code = stylizer.code(args.style)
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp) / "in.mp4", width, height, args.frames)
        default = StyleRequest(code)
        print(f"--preset auto at {args.size} on this machine: {pick_preset('auto', width, height)}")
        modes = {"defaults": default, "--no-stabilize": replace(default, stabilize=False)}
        modes.update({f"--preset {preset}": replace(default, preset=preset) for preset in PRESETS})
        fps: dict[str, list[float]] = {mode: [] for mode in modes}
        for round_ in range(args.rounds):
            for mode, request in modes.items():
                result = stylize_video(stylizer, clip, Path(tmp) / "out.mp4", request, show_progress=False,
                                       workers=workers)
                fps[mode].append(result.fps)
                print(f"round {round_ + 1}  {mode:<20}  end to end {result.fps:6.1f} fps", flush=True)
        print(f"\nend to end, medians over {args.rounds} rounds, {args.size}, {args.frames} frames, {workers} workers:")
        base = statistics.median(fps["defaults"])
        for mode, values in fps.items():
            print(f"  {mode:<20} {statistics.median(values):5.1f} fps ({statistics.median(values) / base - 1:+.0%})")
        print()

        with VideoReader(clip, i420=True) as reader:
            images = [stylizer.stylize_i420(frame.image, code) for frame in reader]
        costs: dict[str, list[tuple[float, int]]] = {preset: [] for preset in PRESETS}
        psnr: dict[str, float] = {}
        for _ in range(args.rounds):
            for preset in PRESETS:
                costs[preset].append(_encode(images, Path(tmp) / "enc.mp4", preset))
                if preset not in psnr:  # x264 is deterministic: one round's file says it
                    psnr[preset] = _psnr(images, Path(tmp) / "enc.mp4")
        base = statistics.median(size for _, size in costs[PRESETS[0]])
        for preset, runs in costs.items():
            ms = statistics.median(cpu for cpu, _ in runs)
            size = statistics.median(size for _, size in runs)
            print(f"x264 {preset:<9}  {ms:5.1f} CPU-ms a frame  {size / 1e6:6.2f} MB ({size / base - 1:+.0%})  "
                  f"PSNR {psnr[preset]:.2f} dB")


if __name__ == "__main__":
    main()
