"""``stylecast styles``, ``add-style`` and ``remove-style``: the styles of a model and the user's own."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from stylecast.argtypes import number
from stylecast.cli.common import emit, json_option, model_option


def cmd_styles(args: argparse.Namespace) -> int:
    from stylecast.modelfile import default_model_path, model_digest, read_metadata
    from stylecast.styles.library import StyleLibrary

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
    emit(args, {"model": str(path), "styles": styles + user, "library": str(library.root)}, "\n".join(lines))
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
    emit(args, summary, f"added style {args.name!r} ({result.steps} adaptation steps in {result.seconds:.0f} s; "
                         f"style loss {result.style_loss_start:.4g} -> {result.style_loss_end:.4g}); "
                         f"saved to {added.path}")
    return 0


def cmd_remove_style(args: argparse.Namespace) -> int:
    from stylecast.styles.library import StyleLibrary

    library = StyleLibrary()
    library.remove(args.name)
    emit(args, {"removed": args.name}, f"removed style {args.name!r} from {library.root}")
    return 0


def add_parsers(subparsers: Any) -> None:
    styles = subparsers.add_parser("styles", parents=[json_option(), model_option()],
                                   help="list the styles of a model")
    styles.set_defaults(func=cmd_styles)

    add = subparsers.add_parser("add-style", parents=[json_option(), model_option()],
                                help="turn a painting into a style of your own (instant, then adapted)")
    add.add_argument("image", help="the painting (jpg, png, webp)")
    add.add_argument("--name", required=True, help="a name to use it by: lowercase letters, digits, '_' or '-'")
    add.add_argument("--minutes", type=number(0, 24 * 60), default=10.0,
                     help="adaptation budget (default 10; 0 keeps the instant style-encoder code)")
    add.add_argument("--artist")
    add.add_argument("--title")
    add.add_argument("--year")
    add.add_argument("--credit")
    add.set_defaults(func=cmd_add_style)

    remove = subparsers.add_parser("remove-style", parents=[json_option()], help="delete one of your styles")
    remove.add_argument("name")
    remove.set_defaults(func=cmd_remove_style)
