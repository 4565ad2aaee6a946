"""Does a simple change to the stylized picture move the peer's opinion of it? A diagnostic.

    cd benchmarks && python texture_probe.py [--model shipped] [--count 4] [--photo-offset 20] \
        [--styles starry_night,great_wave,the_scream,composition_vii,wheat_field,night_cafe]

Each shipped style on each photo, as the model makes it and after one cheap change of the output
(unsharp masks, Gaussian blurs, half size doubled bilinearly as G's head does, fixed noise, a mix
with the photo), beside the peer. Prints, per variant, the mean kept structure and the share of the
distance to the painting closed by the peer's style vector and by CIELAB (the measures of
``look.py``, the peer's graphs as written). If the gap by the peer's vector were a matter of
sharpness or of how much photo shows through, one of these would close part of it; BENCHMARKS.md
("What does not close the gap") records that none does. Three of the changes are also made to the
peer's picture, to show how much such a change alone costs by each measure ("The half-size head":
half size costs the peer 0.17 of its 0.65).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from look import Judge, load_photos, resize_short, structure
from PIL import Image

from stylecast.data import load_rgb
from stylecast.stylizer import Stylizer


def unsharp(image: np.ndarray, amount: float, sigma: float) -> np.ndarray:
    blurred = cv2.GaussianBlur(image.astype(np.float32), (0, 0), sigma)
    return np.clip(image + amount * (image - blurred), 0, 255).astype(np.uint8)


def half_size(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    small = cv2.resize(image, ((w + 1) // 2, (h + 1) // 2), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def noisy(image: np.ndarray, sigma: float, colour: bool) -> np.ndarray:
    rng = np.random.default_rng(0)
    shape = image.shape if colour else (*image.shape[:2], 1)
    return np.clip(image + rng.normal(0.0, sigma, shape), 0, 255).astype(np.uint8)


VARIANTS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "as made": lambda out, photo: out,
    "unsharp 0.5 (sigma 1)": lambda out, photo: unsharp(out, 0.5, 1.0),
    "unsharp 1 (sigma 1)": lambda out, photo: unsharp(out, 1.0, 1.0),
    "unsharp 2 (sigma 1)": lambda out, photo: unsharp(out, 2.0, 1.0),
    "unsharp 1 (sigma 2)": lambda out, photo: unsharp(out, 1.0, 2.0),
    "blur sigma 0.7": lambda out, photo: cv2.GaussianBlur(out, (0, 0), 0.7),
    "blur sigma 1.2": lambda out, photo: cv2.GaussianBlur(out, (0, 0), 1.2),
    # what G's head does to whatever it lays down: it works at half size and doubles bilinearly
    "half size, bilinear x2": lambda out, photo: half_size(out),
    # fine speckle, as the peer's pictures show at the pixel scale: a fixed seed, so the same every run
    "noise, grey, sigma 6 levels": lambda out, photo: noisy(out, 6.0, colour=False),
    "noise, colour, sigma 6 levels": lambda out, photo: noisy(out, 6.0, colour=True),
    "noise, colour, sigma 12 levels": lambda out, photo: noisy(out, 12.0, colour=True),
    "0.8 output + 0.2 photo": lambda out, photo: (0.8 * out + 0.2 * photo).astype(np.uint8),
    "0.6 output + 0.4 photo": lambda out, photo: (0.6 * out + 0.4 * photo).astype(np.uint8),
}

PEER_VARIANTS = ("unsharp 0.5 (sigma 1)", "blur sigma 0.7", "half size, bilinear x2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="shipped")
    parser.add_argument("--photos", default="../../shared/data/content/val/bsds500")
    parser.add_argument("--count", type=int, default=4)
    parser.add_argument("--photo-offset", type=int, default=20)
    parser.add_argument("--styles", default="starry_night,great_wave,the_scream,composition_vii,wheat_field,night_cafe")
    parser.add_argument("--style-images", default="../../shared/data/style")
    args = parser.parse_args()

    judge = Judge()
    photos = load_photos([args.photos], args.count, 256, args.photo_offset)
    stylizer = Stylizer(None if args.model == "shipped" else args.model)
    info = {s["name"]: s for s in stylizer.style_info}
    scores: dict[str, list[tuple[float, float, float]]] = {}
    for name in args.styles.split(","):
        path = Path(args.style_images) / info[name]["extra"]["image"]
        painting = judge.describe(resize_short(load_rgb(path), 256))
        code = stylizer.code(name)
        for _, photo in photos:
            before = judge.describe(photo)
            out = stylizer.stylize(photo, code)
            candidates = {tag: change(out, photo) for tag, change in VARIANTS.items()}
            peer = np.asarray(judge.peer.stylize_with(Image.fromarray(photo), str(path)))
            candidates["peer"] = peer
            for tag in PEER_VARIANTS:  # the same changes to the peer's picture: how fragile the measure is
                candidates[f"peer, {tag}"] = VARIANTS[tag](peer, photo)
            for tag, image in candidates.items():
                closed = judge.closed(before, judge.describe(image), painting)
                scores.setdefault(tag, []).append((structure(photo, image), closed["peer"], closed["lab"]))
    print("| output | structure | closed, peer's vector | closed, CIELAB |\n|---|---|---|---|")
    for tag, rows in scores.items():
        s, p, c = np.mean(np.asarray(rows), axis=0)
        print(f"| {tag} | {s:.3f} | {p:.3f} | {c:.3f} |")


if __name__ == "__main__":
    main()
