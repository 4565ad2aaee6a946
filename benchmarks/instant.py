"""How long a painting takes to become a style through the instant path (the style encoder).

    python benchmarks/instant.py [--model M] [--paintings DIR] [--count 5] [--repeats 5]

Times ``PaintingEncoder`` (read the file, bring it to the training scale, E's statistics, the encoder)
once the model and VGG19 are loaded, as ``stylize --style painting.jpg``, the web upload and
``add-style`` use it; and the one-off loading. Prints the median over paintings and repeats.
Stop other work (training) while measuring: it uses every core.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from stylecast.data import list_images
from stylecast.styling.encode import PaintingEncoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model")
    parser.add_argument("--paintings", default="../shared/data/style")
    parser.add_argument("--count", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    started = time.perf_counter()
    encoder = PaintingEncoder(args.model)
    load_seconds = time.perf_counter() - started
    paintings = list_images(args.paintings)[: args.count]
    encoder(paintings[0])  # one-off allocations
    times = []
    for _ in range(args.repeats):
        for painting in paintings:
            begin = time.perf_counter()
            encoder(painting)
            times.append(time.perf_counter() - begin)
    print(json.dumps({"threads": torch.get_num_threads(), "paintings": len(paintings), "scale": encoder.short_side,
                      "load_seconds": round(load_seconds, 2), "median_seconds": round(statistics.median(times), 3),
                      "max_seconds": round(max(times), 3)}, indent=2))


if __name__ == "__main__":
    main()
