"""The ``stylecast`` command: parse, call the library, print (text or ``--json``).

Every ``StylecastError`` becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stylecast.errors import InputError, StylecastError


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
        if args.resume:
            trainer.resume(args.resume)
        summary = trainer.fit()
    finally:
        teardown_distributed()
    if info.is_main:
        _emit(args, summary, f"trained to step {summary['steps']} ({summary['images_per_second']} img/s); "
                             f"model: {summary['model']}; checkpoint: {summary['checkpoint']}")
    return 0


def cmd_styles(args: argparse.Namespace) -> int:
    from stylecast.modelfile import default_model_path, read_metadata

    path = Path(args.model) if args.model else default_model_path()
    meta = read_metadata(path)
    styles = meta["styles"]
    lines = [f"{s['name']:<28} {s.get('artist', '')}, {s.get('title', '')} ({s.get('year', '')})" for s in styles]
    _emit(args, {"model": str(path), "styles": styles}, "\n".join(lines))
    return 0


def cmd_stylize(args: argparse.Namespace) -> int:
    from PIL import Image

    from stylecast.data import load_rgb
    from stylecast.stylizer import Stylizer

    source, target = Path(args.input), Path(args.output)
    if source.resolve() == target.resolve():
        raise InputError(f"the output {target} is the input: give another -o path")
    if target.suffix.lower() not in {".png", ".jpg", ".jpeg", ".webp"}:
        raise InputError(f"cannot tell the image format of {target}: end the -o path with .png, .jpg or .webp")
    if not target.parent.exists():
        raise InputError(f"the output folder {target.parent} does not exist: create it first")
    image = load_rgb(source)
    stylizer = Stylizer(args.model)
    result = stylizer.stylize(image, args.style)
    tmp = target.with_name(f".{target.name}.part{target.suffix}")
    try:
        Image.fromarray(result).save(tmp)
        tmp.replace(target)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise InputError(f"cannot write {target} ({error.strerror}): choose a writable folder") from error
    _emit(args, {"input": str(source), "output": str(target), "style": args.style},
          f"wrote {target}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stylecast", description="Real-time video style transfer.")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a multi-style model from a TOML recipe")
    train.add_argument("--config", required=True, help="TOML recipe, e.g. configs/tiny.toml")
    train.add_argument("--steps", type=int, help="total steps (overrides run.steps)")
    train.add_argument("--out", default="runs/latest", help="folder for checkpoints, model and TensorBoard logs")
    train.add_argument("--resume", help="checkpoint.pt to continue from")
    train.add_argument("--set", action="append", metavar="KEY=VALUE",
                       help="override a config value, e.g. --set loss.style_weight=5 (repeatable)")
    train.add_argument("--json", action="store_true", help="print a JSON summary instead of progress")
    train.set_defaults(func=cmd_train)

    styles = sub.add_parser("styles", help="list the styles of a model")
    styles.add_argument("--model", help="model file (default: the shipped model)")
    styles.add_argument("--json", action="store_true")
    styles.set_defaults(func=cmd_styles)

    stylize = sub.add_parser("stylize", help="stylize an image")
    stylize.add_argument("input", help="image to stylize")
    stylize.add_argument("-o", "--output", required=True, help="output image (.png, .jpg, .webp)")
    stylize.add_argument("--style", required=True,
                         help="style name, style image path, or blend like 'a:0.7,b:0.3'")
    stylize.add_argument("--model", help="model file (default: the shipped model)")
    stylize.add_argument("--json", action="store_true")
    stylize.set_defaults(func=cmd_stylize)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except StylecastError as error:
        print(f"stylecast: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("stylecast: interrupted", file=sys.stderr)
        return 130
