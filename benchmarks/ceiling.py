"""How far does G's own objective reach? The picture optimised directly, beside G and the peer.

    python benchmarks/ceiling.py [--model shipped] [--knob 0.5 --knob 1] [--steps 300] [--count 2] \
        [--photo-offset 20] [--styles starry_night,great_wave,the_scream,composition_vii,wheat_field,night_cafe] \
        [--head pixels --head half] [--sheet ceiling.jpg]

For each shipped style and photo, the picture itself is optimised (Gatys et al. 2016: Adam on the
pixels' logits, from the photo) against exactly the content, style and TV terms that the model file
records G was trained with (``PerceptualObjective.from_recipe`` of its ``meta["training"]["loss"]``,
with the knob's move and the bank's energy cap), and judged with ``look.py``'s measures beside the
peer and G at the same knob. The optimised picture is what the objective asks for, free of G's
limits: where it beats the peer by a measure that no loss uses and G does not, the losses are right
and G falls short of them (BENCHMARKS.md, "What the objective reaches"). ``--head half`` optimises
the picture with only the freedom of G's half-size head as well (BENCHMARKS.md, "The objective's
optimum through G's head"); the objective's value at every picture, G's included, is printed too.

Run from the repository root. About 0.4 s per optimisation step at 256 px on two cores.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from look import Judge, contact_sheet, load_photos, resize_short, structure
from PIL import Image

from stylecast.data import load_rgb, to_tensor
from stylecast.models.encoder import VGG19Features
from stylecast.styling.encode import painting_tensor
from stylecast.styling.painting import painting_scale, read_painting
from stylecast.stylizer import Stylizer
from stylecast.train.objective import PerceptualObjective


def optimise(objective: PerceptualObjective, vgg: VGG19Features, photo: np.ndarray,
             targets: dict[str, torch.Tensor], steps: int, lr: float, head: str = "pixels"
             ) -> tuple[np.ndarray, float]:
    """The photo optimised against ``objective`` for a painting's ``targets`` (``painting_targets``):
    ``steps`` of Adam on the logits of its pixels (so they stay in (0, 1)), from the photo itself.
    Returns the picture and the objective's value at it.

    ``head="half"`` gives the picture only the freedom of G's head (``models.generator``): logits at
    half size doubled bilinearly, plus a 1x1 map of the zero-centred frame, both optimised; it starts
    at the photo's own logits, the half-size part area-filtered."""
    frame = to_tensor(photo)[None]
    photo_logits = torch.logit(frame.clamp(1 / 255, 254 / 255))
    height, width = frame.shape[-2:]
    weight = (4.0 * torch.eye(3)).requires_grad_(True)   # G's 1x1 frame skip: a 3x3 matrix and a bias
    bias = torch.zeros(3, 1, 1, requires_grad=True)

    def skip(x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("oi,bihw->bohw", weight, x) + bias

    with torch.no_grad():
        half = F.interpolate(photo_logits - skip(frame * 2.0 - 1.0), size=((height + 1) // 2, (width + 1) // 2),
                             mode="area")
    logits = photo_logits.clone().requires_grad_(True)
    half.requires_grad_(True)

    def picture_of() -> torch.Tensor:
        if head == "pixels":
            return torch.sigmoid(logits)
        up = F.interpolate(half, scale_factor=2.0, mode="bilinear", align_corners=False)[:, :, :height, :width]
        return torch.sigmoid(up + skip(frame * 2.0 - 1.0))

    optimiser = torch.optim.Adam([logits] if head == "pixels" else [half, weight, bias], lr=lr)
    for _ in range(steps):
        loss = objective.total(objective.terms(vgg, picture_of(), frame, targets))
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        out = picture_of()
        value = float(objective.total(objective.terms(vgg, out, frame, targets)))
        picture = out[0].permute(1, 2, 0).numpy()
    return (picture * 255.0).round().astype(np.uint8), value


@torch.no_grad()
def painting_targets(objective: PerceptualObjective, vgg: VGG19Features, path: Path, scale: int
                     ) -> dict[str, torch.Tensor]:
    """A painting file's targets as training computed them: read and scaled by the one preprocessing
    (``stylecast.styling``) at the model's recorded painting scale."""
    return objective.painting_targets(vgg(painting_tensor(read_painting(path), scale), objective.painting_layers))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="shipped", help="a model file, or 'shipped'")
    parser.add_argument("--knob", type=float, action="append",
                        help="content-vs-style knob in [0, 1] (repeat); default 0.5, the recipe's balance")
    parser.add_argument("--steps", type=int, default=300, help="optimisation steps per picture")
    parser.add_argument("--lr", type=float, default=0.05, help="Adam's step size on the pixels' logits")
    parser.add_argument("--photos", nargs="+", default=["../shared/data/content/val/bsds500"])
    parser.add_argument("--count", type=int, default=2, help="photos from each folder")
    parser.add_argument("--photo-offset", type=int, default=20, help="photos to skip in each folder")
    parser.add_argument("--size", type=int, default=256, help="photos' shorter side")
    parser.add_argument("--styles", default="starry_night,great_wave,the_scream,composition_vii,wheat_field,night_cafe")
    parser.add_argument("--style-images", default="../shared/data/style")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--head", action="append", choices=("pixels", "half"),
                        help="the optimised picture's freedom (repeat): every pixel (default), or only what "
                             "G's half-size head can draw")
    parser.add_argument("--sheet", type=Path, help="write a contact sheet (photo, painting, peer, G, optimised)")
    args = parser.parse_args()
    if args.steps < 1 or not np.isfinite(args.lr) or args.lr <= 0:
        parser.error("--steps must be >= 1 and --lr a positive number")

    torch.set_num_threads(args.threads)
    judge = Judge()
    for parameter in judge.vgg.parameters():
        parameter.requires_grad_(False)
    model = Stylizer(None if args.model == "shipped" else args.model)
    recipe = model.meta.get("training", {}).get("loss")
    if recipe is None:
        sys.exit(f"{args.model} records no training recipe: its objective is unknown")
    base = PerceptualObjective.from_recipe(recipe)
    info = {s["name"]: s for s in model.style_info}
    scale = painting_scale(model.meta)
    names = args.styles.split(",")
    # Each painting's targets once (the cap and the knob only reweigh the terms): the styles measured,
    # and with the energy cap every bank painting, whose median Gram energy is the cap.
    targets = {name: painting_targets(base, judge.vgg, Path(args.style_images) / info[name]["extra"]["image"], scale)
               for name in (info if recipe.get("style_energy_cap") else names)}
    if recipe.get("style_energy_cap"):
        base = base.with_energy_cap(base.bank_energy_cap({layer: torch.cat([t[layer] for t in targets.values()])
                                                          for layer in base.style_layers}))
    knob_range = float(recipe.get("knob_range") or 1.0)
    knobs = args.knob or [0.5]
    if any(not 0.0 <= k <= 1.0 for k in knobs):
        parser.error("--knob takes values in [0, 1]")
    photos = load_photos(args.photos, args.count, args.size, args.photo_offset)
    photo_desc = {name: judge.describe(photo) for name, photo in photos}

    scores: dict[str, dict[str, list[float]]] = {}
    values: dict[str, list[float]] = {}
    sheet_rows = []
    for name in names:
        painting_path = Path(args.style_images) / info[name]["extra"]["image"]
        painting = resize_short(load_rgb(painting_path), 256)
        painting_desc = judge.describe(painting)
        code = model.code(name)
        for photo_name, photo in photos:
            outputs = {"peer": np.asarray(judge.peer.stylize_with(Image.fromarray(photo), str(painting_path)))}
            for knob in knobs:
                objective = base.rebalanced(knob_range ** (knob - 0.5))
                outputs[f"G@{knob:g}"] = model.stylize(photo, code, knob=knob if model.has_knob else None)
                with torch.no_grad():
                    values.setdefault(f"G@{knob:g}", []).append(float(objective.total(objective.terms(
                        judge.vgg, to_tensor(outputs[f"G@{knob:g}"])[None], to_tensor(photo)[None], targets[name]))))
                for head in args.head or ["pixels"]:
                    label = f"optimised{'' if head == 'pixels' else ', ' + head}@{knob:g}"
                    outputs[label], value = optimise(objective, judge.vgg, photo, targets[name], args.steps,
                                                     args.lr, head)
                    values.setdefault(label, []).append(value)
            for system, out in outputs.items():
                closed = judge.closed(photo_desc[photo_name], judge.describe(out), painting_desc)
                row = scores.setdefault(system, {"structure": [], "peer": [], "lab": [], "gram": []})
                row["structure"].append(structure(photo, out))
                for key in ("peer", "lab", "gram"):
                    row[key].append(closed[key])
            sheet_rows.append((f"{photo_name} / {name}", [("photo", photo), ("painting", painting),
                                                          *outputs.items()]))
            print(f"{name} / {photo_name} done", file=sys.stderr, flush=True)

    print(f"\n{args.model}, {len(sheet_rows)} pictures, {args.steps} steps per optimised picture\n")
    print("| system | structure | closed, Gram | closed, peer's vector | closed, CIELAB |")
    print("|---|---|---|---|---|")
    for system, row in scores.items():
        cells = [statistics.fmean(row[k]) for k in ("structure", "gram", "peer", "lab")]
        print(f"| {system} | " + " | ".join(f"{v:.3f}" for v in cells) + " |")
    for system, objective_values in values.items():
        print(f"{system}: the objective at its picture, median {statistics.median(objective_values):.4g}")
    if args.sheet:
        contact_sheet(sheet_rows, args.sheet)
        print(f"sheet: {args.sheet}")


if __name__ == "__main__":
    main()
