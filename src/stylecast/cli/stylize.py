"""``stylecast stylize``: images, folders, image sequences and videos (sound kept)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from stylecast.argtypes import MAX_THREADS, add_look_options, count, working_size
from stylecast.cli.common import emit, json_option, model_option
from stylecast.errors import InputError


def cmd_stylize(args: argparse.Namespace) -> int:
    from concurrent.futures import ThreadPoolExecutor

    from stylecast.io.paths import expand_inputs, is_video
    from stylecast.io.writer import DEFAULT_PRESET, PRESETS
    from stylecast.runtime.pipeline import StyleRequest, plan_workers, stylize_image_file, stylize_video
    from stylecast.stylizer import Stylizer

    preset = args.preset or DEFAULT_PRESET
    if preset not in PRESETS:
        raise InputError(f"--preset {args.preset!r} is not an x264 preset: use one of {', '.join(PRESETS)}")
    jobs = expand_inputs(args.input, args.output, ".mp4")
    videos = [is_video(source) for source, _ in jobs]
    workers, threads = plan_workers(args.backend, args.threads, args.workers, any(videos) or len(jobs) > 1)
    stylizer = Stylizer(args.model, args.backend, args.precision, threads, args.compile, args.working_size,
                        workers=workers)
    # Resolve the style before touching any file, so a typo leaves nothing half-done.
    request = StyleRequest(stylizer.vector(args.style, args.knob), args.strength, args.preserve_color, args.max_side,
                           args.stabilize, args.crf, preset)
    images = [job for job, video in zip(jobs, videos, strict=True) if not video]
    pool = ThreadPoolExecutor(workers)  # images: one per worker; a video spreads its frames over them instead
    try:
        image_results = pool.map(lambda job: stylize_image_file(stylizer, job[0], job[1], request), images)
        results = []
        for (source, target), video in zip(jobs, videos, strict=True):
            if video:
                result = stylize_video(stylizer, source, target, request, show_progress=not args.json,
                                       workers=workers)
            else:
                result = next(image_results)
            for warning in result.warnings:
                print(f"stylecast: warning: {source}: {warning}", file=sys.stderr)
            results.append(result.to_dict())
    finally:  # after an error, images not yet started are not started
        pool.shutdown(wait=True, cancel_futures=True)
    lines = [f"wrote {r['output']} ({r['frames']} frames, {r['fps']} fps)" if r["kind"] == "video"
             else f"wrote {r['output']}" for r in results]
    emit(args, {"style": args.style, "backend": stylizer.engine.name, "results": results}, "\n".join(lines))
    return 0


def add_parser(subparsers: Any) -> None:
    stylize = subparsers.add_parser("stylize", parents=[json_option(), model_option()],
                                    help="stylize images, folders, image sequences and videos (audio kept)")
    stylize.add_argument("input", help="an image, a video, a folder, or a sequence like 'frames/%%05d.png'")
    stylize.add_argument("-o", "--output", help="output file or folder (default: beside the input, *_stylized)")
    add_look_options(stylize, style_required=True)
    stylize.add_argument("--max-side", type=count(16, 16384), help="downscale so the longer side is at most this")
    stylize.add_argument("--stabilize", action=argparse.BooleanOptionalAction, default=True,
                         help="videos: blend each frame with the previous output moved along the optical flow "
                              "(default on: about 2x less flicker with the shipped model, BENCHMARKS.md; "
                              "--no-stabilize is a little faster)")
    stylize.add_argument("--crf", type=count(0, 51, "18 is visually lossless, each +6 halves the size"), default=18,
                         help="videos: H.264 quality, 0 (lossless) .. 51 (smallest); 18 (default) is visually lossless")
    stylize.add_argument("--preset",
                         help="videos: H.264 encoder speed, ultrafast .. veryslow, or auto (default: superfast, "
                              "and ultrafast from 1280x720 up on machines of up to 4 cores, where the encoder sets "
                              "the pace; veryfast and slower give more quality per byte for more CPU time)")
    add_engine_options(stylize)
    stylize.add_argument("--workers", type=count(1, MAX_THREADS),
                         help="frames (or images) stylized at once, sharing the threads (default: one per thread "
                              "with the onnx backend when there is more than one frame, else 1)")
    stylize.set_defaults(func=cmd_stylize)


def add_working_size_option(parser: argparse.ArgumentParser) -> None:
    """``--working-size``: the size G runs at for large frames (stylize, live, serve, bench)."""
    parser.add_argument("--working-size", type=working_size, default="auto", metavar="auto|full|PIXELS",
                        help="the short side G runs at for large frames; the result keeps the full size, its fine "
                             "detail taken from the frame (default auto: chosen from the frame size and this "
                             "machine's speed for frames over 480; on a 2-core CPU 216 for 720p video, 288 for "
                             "1080p video, 360 for photos and 4K; 360 gives finer strokes; full turns it off)")


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    """The engine's options, shared by ``stylize`` and ``live``."""
    parser.add_argument("--backend", choices=["onnx", "torch"], default="onnx")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                        help="bf16 with --backend torch (PSNR 49 dB against fp32)")
    parser.add_argument("--threads", type=count(1, MAX_THREADS), help="compute threads (default: all cores)")
    add_working_size_option(parser)
    parser.add_argument("--compile", action="store_true",
                        help="with --backend torch: compile G before the frames of each size (the fastest path on "
                             "a CPU for one frame at a time; ~30 s once per size, a C++ compiler needed)")
