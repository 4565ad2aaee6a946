"""What the video stabiliser (on by default in ``stylize`` and web jobs) buys and costs, in one run.

    python benchmarks/stabilize.py --clips ../shared/data/video/sam2 ../shared/data/video/opencv \
        ../shared/data/video/xiph_carphone --sides 360 720 --speed 640x480 1280x720 1920x1080 \
        --sheet docs/stabilize_sheet.jpg

Flicker: the warping error (Lai et al. 2018, ``quality.warping_error``, DIS flow at full size with
its own occlusion mask) of the shipped model on real clips scaled to each short side, as a multiple
of the input video's own (the floor), for
  - plain: no stabiliser;
  - stabilised: ``runtime.stabilize.FlowStabilizer`` as ``stylize_video`` runs it: the motion from
    the whole frame, the blend at the size G runs at (before the fast path's upscale);
  - after the upscale: the same stabiliser on the full-size output, as before the twelfth session
    (only where the fast path runs, short side over 480).
Speed: ``stylize_video`` end to end (decode, stylize, encode, the workers ``stylize`` would use) on
the sample clip at each size, with and without the stabiliser, alternating, median of ``--repeats``.
The sheet shows consecutive frames of a moving clip, plain and stabilised, to look for ghosts.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from look import contact_sheet
from quality import ClipMotion, read_clip, stabilized, warping_error

from stylecast.runtime.bench import make_clip
from stylecast.runtime.pipeline import StyleRequest, plan_workers, stylize_video
from stylecast.runtime.stabilize import FlowStabilizer
from stylecast.stylizer import Stylizer


def as_files_run_it(stylizer: Stylizer, code: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Stylize frames in order, stabilised as ``stylize_video`` does: the motion measured on the whole
    frame, the blend at the size G runs at."""
    stabilizer = FlowStabilizer()

    def run(frame: np.ndarray) -> np.ndarray:
        motion = stabilizer.motion(frame)
        return stylizer.stylize(frame, code, settle=lambda _small, out: stabilizer.settle(motion, out))
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model file (default: the shipped one)")
    parser.add_argument("--clips", nargs="*", default=[], help="clip files or folders of clips")
    parser.add_argument("--frames", type=int, default=12, help="frames of each clip for the warping error")
    parser.add_argument("--sides", type=int, nargs="*", default=[360, 720], help="short sides for the warping error")
    parser.add_argument("--styles", nargs="*", default=["starry_night", "great_wave", "the_scream"])
    parser.add_argument("--speed", nargs="*", default=["640x480", "1280x720", "1920x1080"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sheet", help="write a sheet of plain and stabilised frames here")
    parser.add_argument("--working-size", default="auto",
                        help="the size G runs at for the warping error: auto (as for a still picture), full, or "
                             "a short side; what `auto` picks for video on this machine is printed by `bench`")
    args = parser.parse_args()
    working = args.working_size if args.working_size in ("auto", "full") else int(args.working_size)

    clips: list[Path] = []
    for entry in args.clips:
        p = Path(entry)
        clips += sorted(q for q in p.iterdir() if q.suffix in {".mp4", ".avi"}) if p.is_dir() else [p]
    stylizer = Stylizer(args.model, "onnx", "fp32", threads=1, working_size=working)
    codes = {style: stylizer.code(style) for style in args.styles}

    print("| short side | plain | stabilised | after the upscale |")
    print("|---|---|---|---|")
    for side in args.sides:
        motions = [ClipMotion(read_clip(c, args.frames, side)) for c in clips]
        if not motions:
            break
        floor = statistics.fmean(warping_error(lambda x: x, m) for m in motions)
        errors: dict[str, list[float]] = {"plain": [], "stabilised": [], "after": []}
        for code in codes.values():
            for motion in motions:
                errors["plain"].append(warping_error(lambda x, c=code: stylizer.stylize(x, c), motion))
                errors["stabilised"].append(warping_error(as_files_run_it(stylizer, code), motion))
                if side > 480:
                    errors["after"].append(warping_error(
                        stabilized(lambda x, c=code: stylizer.stylize(x, c)), motion))
        cells = [f"{statistics.fmean(v) / floor:.2f}x" if v else "" for v in errors.values()]
        print(f"| {side} | " + " | ".join(cells) + " |", flush=True)

    print("\n| size | fps plain | fps stabilised | ratio |")
    print("|---|---|---|---|")
    workers, per_worker = plan_workers("onnx", None, None, parallel_jobs=True)
    with tempfile.TemporaryDirectory(prefix="stylecast-stabilize-") as tmp:
        for size in args.speed:
            width, height = (int(v) for v in size.split("x"))
            clip = make_clip(Path(tmp) / f"in_{size}.mp4", width, height, 60)
            timed = Stylizer(args.model, "onnx", "fp32", per_worker)
            code = timed.code(args.styles[0])
            fps: dict[bool, list[float]] = {False: [], True: []}
            for _ in range(args.repeats):
                for stabilize in (False, True):
                    result = stylize_video(timed, clip, Path(tmp) / "out.mp4", StyleRequest(code, stabilize=stabilize),
                                           show_progress=False, workers=workers)
                    fps[stabilize].append(result.fps)
            plain, steady = statistics.median(fps[False]), statistics.median(fps[True])
            print(f"| {size} | {plain:.1f} | {steady:.1f} | {steady / plain:.2f} |", flush=True)

    if args.sheet and clips:
        clip_frames = read_clip(clips[0], 10, 360)
        frames = clip_frames[-4:]
        code = codes[args.styles[0]]
        settle = FlowStabilizer()
        for frame in clip_frames[:-4]:
            stylizer.stylize(frame, code, settle=settle)  # the stabiliser's history up to the shown frames
        plain = [stylizer.stylize(f, code) for f in frames]
        steady = [stylizer.stylize(f, code, settle=settle) for f in frames]
        rows = [(f"{clips[0].name} input", [(f"frame {i}", f) for i, f in enumerate(frames, 6)]),
                ("plain", [(f"frame {i}", f) for i, f in enumerate(plain, 6)]),
                ("stabilised", [(f"frame {i}", f) for i, f in enumerate(steady, 6)])]
        contact_sheet([(label, [(name, np.asarray(image)) for name, image in cells]) for label, cells in rows],
                      Path(args.sheet), height=200)
        print(f"sheet: {args.sheet}")


if __name__ == "__main__":
    main()
