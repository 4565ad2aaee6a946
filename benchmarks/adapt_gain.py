"""What `add-style`'s minutes add over the instant path, beside the peer (issue 16, part 5).

    python benchmarks/adapt_gain.py --paintings ../shared/data/style/vangogh_bedroom_in_arles_1888.jpg ... \
        --minutes 10 --photos ../shared/data/content/val/bsds500 --count 4 --json gain.json
    python benchmarks/adapt_gain.py --merge gain_a.json gain_b.json      # the table of several runs

For each painting: its instant style vector (the style encoder and the palette, as `stylize --style
painting.jpg`), then `add-style`'s adaptation with the given budget on one thread (the vector it would
store: adapted code and offsets, then the palette), and the peer's arbitrary mode. All three stylize
the same photos and are judged by `look.py`'s measures, none of which adaptation optimises directly
(it optimises the Gram loss, reported as "closed, Gram"). Run two processes with half the paintings
each to use two cores.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np
import torch
from look import Judge, load_photos, resize_short, structure
from PIL import Image

from stylecast.data import load_rgb
from stylecast.styles import attach_palette
from stylecast.styling.painting import painting_palette, painting_scale, read_painting
from stylecast.stylizer import Stylizer
from stylecast.train.adapt import adapt_style

KEYS = ["structure", "closed_gram", "closed_peer", "closed_lab"]


def measure(args: argparse.Namespace) -> list[dict[str, object]]:
    torch.set_num_threads(1)
    judge = Judge()
    stylizer = Stylizer(args.model, threads=1)
    photos = load_photos(args.photos, args.count, 256)
    photo_desc = {name: judge.describe(image) for name, image in photos}
    rows: list[dict[str, object]] = []
    for path in map(Path, args.paintings):
        painting = read_painting(path)
        paint_desc = judge.describe(resize_short(load_rgb(path), 256))
        instant = stylizer.code(str(path))
        result = adapt_style(stylizer.model_path, painting, minutes=args.minutes)
        adapted = attach_palette(result.code[None], painting_palette(painting, painting_scale(stylizer.meta)),
                                 stylizer.meta["generator"])
        systems = {"instant": lambda x, v=instant: stylizer.stylize(x, v),
                   "adapted": lambda x, v=adapted: stylizer.stylize(x, v),
                   "peer": lambda x, p=path: np.asarray(judge.peer.stylize_with(Image.fromarray(x), str(p)))}
        for name, run in systems.items():
            for photo_name, photo in photos:
                out = run(photo)
                closed = judge.closed(photo_desc[photo_name], judge.describe(out), paint_desc)
                rows.append({"painting": path.stem, "system": name, "photo": photo_name,
                             "structure": structure(photo, out), **{f"closed_{k}": v for k, v in closed.items()},
                             "steps": result.steps if name == "adapted" else 0})
        print(f"{path.stem}: {result.steps} steps in {result.seconds:.0f} s", file=sys.stderr, flush=True)
    return rows


def table(rows: list[dict[str, object]]) -> None:
    paintings = list(dict.fromkeys(str(r["painting"]) for r in rows))
    print("| painting | system | " + " | ".join(KEYS) + " |")
    print("|---" * (len(KEYS) + 2) + "|")
    for group in paintings + ["all"]:
        for system in ("instant", "adapted", "peer"):
            picked = [r for r in rows if r["system"] == system and group in ("all", r["painting"])]
            means = [statistics.fmean(float(r[k]) for r in picked) for k in KEYS]  # type: ignore[arg-type]
            print(f"| {group} | {system} | " + " | ".join(f"{m:.3f}" for m in means) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paintings", nargs="*", default=[])
    parser.add_argument("--model", help="model file (default: the shipped model)")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--photos", action="append", default=[])
    parser.add_argument("--count", type=int, default=4)
    parser.add_argument("--json")
    parser.add_argument("--merge", nargs="*", help="print the table of earlier --json files")
    args = parser.parse_args()
    if args.merge:
        table([row for path in args.merge for row in json.loads(Path(path).read_text())])
        return
    rows = measure(args)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    table(rows)


if __name__ == "__main__":
    main()
