"""One frame on all cores, or one frame per core? The file pipeline's split of the threads, measured.

    python benchmarks/workers.py [--model M] [--backend onnx] [--size 640x480] [--frames 150] [--rounds 3]

For each split (1 worker x all threads, then one worker per thread), interleaved in one process and
repeated ``--rounds`` times: the network alone over the clip's decoded frames held in memory, and
end to end (decode + stylize + encode) through ``stylize_video``. Prints frames per second per
round and the medians; the ratio of the medians is the figure to quote (this machine's speed drifts,
so only figures taken in one run compare).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from stylecast.io.reader import VideoReader
from stylecast.runtime.bench import make_clip
from stylecast.runtime.pipeline import StyleRequest, stylize_video
from stylecast.stylizer import Stylizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model")
    parser.add_argument("--backend", default="onnx")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--style", default="starry_night")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    cores = os.cpu_count() or 1
    splits = {f"1 worker x {cores} threads": (1, cores), f"{cores} workers x 1 thread": (cores, 1)}
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp) / "in.mp4", width, height, args.frames)
        with VideoReader(clip) as reader:
            images = [f.image for f in reader]
        stylizers = {name: Stylizer(args.model, args.backend, args.precision, threads, args.compile)
                     for name, (_, threads) in splits.items()}
        code = next(iter(stylizers.values())).code(args.style)
        results: dict[str, dict[str, list[float]]] = {name: {"network": [], "end to end": []} for name in splits}
        for round_ in range(args.rounds):
            for name, (workers, _) in splits.items():
                stylizer = stylizers[name]
                if args.backend == "torch":  # torch's thread count is per process: set it for this split
                    import torch

                    torch.set_num_threads(splits[name][1])
                with ThreadPoolExecutor(workers) as pool:
                    list(pool.map(lambda im, s=stylizer: s.stylize(im, code), images[: 2 * workers]))  # warm-up
                    start = time.perf_counter()
                    list(pool.map(lambda im, s=stylizer: s.stylize(im, code), images))
                    network = len(images) / (time.perf_counter() - start)
                result = stylize_video(stylizer, clip, Path(tmp) / "out.mp4", StyleRequest(code), show_progress=False,
                                       workers=workers)
                results[name]["network"].append(network)
                results[name]["end to end"].append(result.fps)
                print(f"round {round_ + 1}  {name:<24} network {network:6.1f} fps  end to end {result.fps:6.1f} fps",
                      flush=True)
    print(f"\nmedians over {args.rounds} rounds, {args.backend}:{args.precision}{':compile' if args.compile else ''}, "
          f"{args.size}, {args.frames} frames:")
    medians = {name: {k: statistics.median(v) for k, v in r.items()} for name, r in results.items()}
    for name, figures in medians.items():
        print(f"  {name:<24} network {figures['network']:6.1f} fps  end to end {figures['end to end']:6.1f} fps")
    first, second = medians.values()
    print(f"  ratio: network {second['network'] / first['network']:.2f}x, "
          f"end to end {second['end to end'] / first['end to end']:.2f}x")


if __name__ == "__main__":
    main()
