"""``stylecast train``: a model from a TOML recipe (the train extra)."""

from __future__ import annotations

import argparse
from typing import Any

from stylecast.argtypes import count
from stylecast.cli.common import emit, json_option
from stylecast.errors import InputError


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
        emit(args, summary, f"trained to step {summary['steps']} ({summary['images_per_second']} img/s); "
                             f"model: {summary['model']}; checkpoint: {summary['checkpoint']}")
    return 0


def add_parser(subparsers: Any) -> None:
    train = subparsers.add_parser("train", parents=[json_option()],
                                  help="train a multi-style model from a TOML recipe")
    train.add_argument("--config", required=True, help="TOML recipe, e.g. configs/tiny.toml")
    train.add_argument("--steps", type=count(0, 10**8), help="total steps (overrides run.steps)")
    train.add_argument("--out", default="runs/latest", help="folder for checkpoints, model and TensorBoard logs")
    train.add_argument("--resume", help="checkpoint.pt to continue from (exactly, optimizer and D included)")
    train.add_argument("--init", help="warm start G, its style bank and encoder from a model file "
                                      "(e.g. the shipped model) when no checkpoint is at hand")
    train.add_argument("--set", action="append", metavar="KEY=VALUE",
                       help="override a config value, e.g. --set loss.style_weight=5 (repeatable)")
    train.set_defaults(func=cmd_train)
