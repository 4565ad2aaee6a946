"""Issue 17, part 5: G's speed on a GPU lent by the `device` tool, in one call.

    python3 scripts/gpu_bench.py [--sizes 1920x1080,3840x2160] [--frames 60] [--rounds 5]

Nothing needs to be packed: the shipped model travels with the repository's tracked files. Through the
device tool: `run` with command `python3 scripts/gpu_bench.py > $OUT/gpu_bench.txt 2>&1` and
timeout_s 600 (the whole script takes about 5 minutes on an H200 after the machine's start).

What it prints, for each size:
1. the network (``Stylizer.stylize`` on a batch of frames already decoded: G on the GPU with the
   frames' upload and download, and for the fast path the guided upscale on the CPU), frames per
   second, median of ``--rounds``, for each engine present: PyTorch fp32 and bf16 on CUDA, and ONNX
   Runtime's CUDA or TensorRT provider when the machine's onnxruntime has one; G at full size and at
   the working sizes ``auto`` may pick; batches of 1 and 4 frames;
2. end to end (decode, stylize, encode: ``stylecast bench``'s pipeline, clips made from the sample
   clip) when PyAV is importable there (the machine has no FFmpeg of its own; PyAV's wheel brings one).
It first prints what it found: the GPU, torch, and which of the optional packages import.
A rehearsal on a CPU (``--sizes 320x240 --frames 4 --rounds 2``) runs every path but the GPU's.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def _present(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _engines() -> list[tuple[str, str]]:
    """``(backend, precision)`` pairs to time here."""
    import torch

    engines = [("torch", "fp32")]
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        engines.append(("torch", "bf16"))
    if _present("onnxruntime"):
        import onnxruntime as ort

        gpu = {"CUDAExecutionProvider", "TensorrtExecutionProvider"} & set(ort.get_available_providers())
        if gpu or not torch.cuda.is_available():  # on a CPU rehearsal: the CPU provider, to run the path
            engines.append(("onnx", "fp32"))
    return engines


def _fps(stylizer: object, frames: np.ndarray, code: np.ndarray, rounds: int) -> float:
    stylize = stylizer.stylize  # type: ignore[attr-defined]
    for _ in range(2):  # first runs at a size: allocation, kernel choice
        stylize(frames, code)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        stylize(frames, code)
        times.append(time.perf_counter() - start)
    return len(frames) / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1920x1080,3840x2160")
    parser.add_argument("--frames", type=int, default=60, help="frames in each end-to-end clip")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    import torch

    from stylecast.stylizer import Stylizer

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none (a CPU rehearsal)"
    print(f"python {sys.version.split()[0]}, torch {torch.__version__}, GPU: {gpu}")
    print("importable:", ", ".join(f"{m} {'yes' if _present(m) else 'no'}" for m in ("cv2", "av", "onnxruntime")))
    sizes = [tuple(int(v) for v in size.split("x")) for size in args.sizes.split(",")]
    rng = np.random.default_rng(0)
    for backend, precision in _engines():
        for width, height in sizes:
            short = min(width, height)
            for working in ["full", *[side for side in (360, 720, 1080) if side < short]]:
                stylizer = Stylizer(None, backend, precision, working_size=working)
                code = stylizer.code("starry_night")
                for batch in (1, 4):
                    frames = rng.integers(0, 256, (batch, height, width, 3), dtype=np.uint8)
                    fps = _fps(stylizer, frames, code, args.rounds)
                    print(f"network {stylizer.engine.name:<28} {width}x{height} G at {working!s:>4} "
                          f"batch {batch}: {fps:8.1f} fps", flush=True)
                del stylizer
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
    if not _present("av"):
        print("end to end: skipped (no PyAV here)")
        return
    from stylecast.runtime.bench import _format, run_bench

    backends = [(b, p, False) for b, p in _engines()]
    for row in run_bench(backends, sizes, frames=args.frames, repeats=args.rounds, peer=False):
        print("end to end", _format(row), flush=True)


if __name__ == "__main__":
    main()
