"""Two ONNX graphs of one model give the same frames: every shipped style on the sample photos and 4
validation photos, PSNR of one against the other.

    git show REV:src/stylecast/zoo/default.onnx > /tmp/before.onnx
    python benchmarks/graph_parity.py /tmp/before.onnx src/stylecast/zoo/default.onnx

For a re-export that should change speed, not frames (BENCHMARKS.md, "3x the peer again, stabilised").
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import onnxruntime as ort

from stylecast.data import list_images
from stylecast.io.images import read_image
from stylecast.runtime.postprocess import inference_inputs
from stylecast.styles import split_palette, widen
from stylecast.stylizer import Stylizer

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--photos", default="../shared/data/content/val/bsds500")
    args = parser.parse_args()
    stylizer = Stylizer(threads=2, working_size="full")
    before, after = ort.InferenceSession(args.before), ort.InferenceSession(args.after)
    paths = list_images(REPO / "src/stylecast/samples/photos") + list_images(Path(args.photos))[:4]
    photos = [read_image(p, 640) for p in paths]
    worst, largest = float("inf"), 0.0
    for style in stylizer.styles:
        code, _ = split_palette(stylizer.code(style), stylizer.meta["generator"])
        vector = widen(np.asarray(code, np.float32).reshape(1, -1), stylizer.engine.width)
        for photo in photos:
            feed = inference_inputs(photo[None], vector)
            a = before.run(None, feed)[0].astype(np.float64)
            b = after.run(None, feed)[0].astype(np.float64)
            mse = float(((a - b) ** 2).mean())
            worst = min(worst, float("inf") if mse == 0 else 10 * np.log10(255**2 / mse))
            largest = max(largest, float(np.abs(a - b).max()))
    print(f"{len(stylizer.styles)} styles x {len(photos)} photos: worst PSNR {worst:.1f} dB, "
          f"largest difference {largest:.0f} levels")


if __name__ == "__main__":
    main()
