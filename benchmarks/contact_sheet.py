"""Contact sheet: every style of a model on the same photos, as one PNG.

    python benchmarks/contact_sheet.py --model runs/zoo/model.safetensors \
        --photos ../shared/data/content/val/bsds500 --count 6 -o docs/contact_sheet.png

Row 0 shows the photos, then one row per style, the painting's thumbnail at the left.

To compare models (an ablation, an adapted style against a trained one), give the rows instead:

    python benchmarks/contact_sheet.py --photos ../shared/data/content/val/bsds500 --count 2 \
        --row "shipped: starry_night=shipped@starry_night" \
        --row "no temporal loss: starry_night=runs/ablation/model.safetensors@starry_night" -o cmp.png

Each ``--row LABEL=MODEL@STYLE`` stylizes with STYLE of MODEL (``shipped`` for the shipped model;
user styles come from the library, ``STYLECAST_HOME`` to pick another).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from stylecast.data import list_images, load_rgb
from stylecast.stylizer import Stylizer


def _fit(image: np.ndarray, side: int) -> Image.Image:
    pil = Image.fromarray(image)
    pil.thumbnail((side, side), Image.LANCZOS)
    canvas = Image.new("RGB", (side, side), (24, 24, 24))
    canvas.paste(pil, ((side - pil.width) // 2, (side - pil.height) // 2))
    return canvas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None)
    parser.add_argument("--photos", required=True, help="folder of photos (the first --count are used)")
    parser.add_argument("--count", type=int, default=6)
    parser.add_argument("--styles", default=None, help="comma-separated style names (default: all)")
    parser.add_argument("--style-images", default=None, help="folder with the paintings, for thumbnails")
    parser.add_argument("--size", type=int, default=384, help="longer side the photos are stylized at")
    parser.add_argument("--cell", type=int, default=192)
    parser.add_argument("--row", action="append", default=[], metavar="LABEL=MODEL@STYLE",
                        help="compare: one row per entry instead of every style of --model (repeatable)")
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args()
    photos = [load_rgb(p, max_side=args.size) for p in list_images(args.photos)[: args.count]]
    if args.row:
        _comparison(args.row, photos, args.cell, args.output)
        return

    stylizer = Stylizer(args.model)
    names = args.styles.split(",") if args.styles else stylizer.styles
    cell, label = args.cell, 16
    sheet = Image.new("RGB", ((len(photos) + 1) * cell, (len(names) + 1) * (cell + label)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for col, photo in enumerate(photos, start=1):
        sheet.paste(_fit(photo, cell), (col * cell, 0))
    draw.text((4, cell // 2), "photo", fill=(0, 0, 0))
    credits = {s["name"]: s for s in stylizer.style_info}
    for row, name in enumerate(names, start=1):
        y = row * (cell + label)
        info = credits.get(name)
        code = stylizer.code(name)
        image_name = (info or {}).get("extra", {}).get("image")
        painting = Path(args.style_images) / image_name if (args.style_images and image_name) else None
        if painting is not None and painting.is_file():
            sheet.paste(_fit(load_rgb(painting, max_side=cell * 2), cell), (0, y))
        for col, photo in enumerate(photos, start=1):
            sheet.paste(_fit(stylizer.stylize(photo, code), cell), (col * cell, y))
        credit = f" - {info['artist']}, {info['title']} ({info['year']})" if info and info.get("artist") else ""
        caption = name + credit
        draw.text((4, y + cell + 2), caption, fill=(0, 0, 0))
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.output)
    print(f"wrote {args.output}: {len(names)} styles x {len(photos)} photos")


def _comparison(rows: list[str], photos: list[np.ndarray], cell: int, output: str) -> None:
    label = 16
    sheet = Image.new("RGB", (len(photos) * cell, (len(rows) + 1) * (cell + label)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for col, photo in enumerate(photos):
        sheet.paste(_fit(photo, cell), (col * cell, 0))
    stylizers: dict[str, Stylizer] = {}
    for row, entry in enumerate(rows, start=1):
        caption, _, target = entry.rpartition("=")
        model, _, style = target.rpartition("@")
        if model not in stylizers:
            stylizers[model] = Stylizer(None if model == "shipped" else model)
        code = stylizers[model].code(style)
        y = row * (cell + label)
        for col, photo in enumerate(photos):
            sheet.paste(_fit(stylizers[model].stylize(photo, code), cell), (col * cell, y))
        draw.text((4, y + cell + 2), caption, fill=(0, 0, 0))
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    sheet.save(output)
    print(f"wrote {output}: {len(rows)} rows x {len(photos)} photos")


if __name__ == "__main__":
    main()
