"""What the subcommands share: the parent parsers (``--json``, ``--model``) and the output helper."""

from __future__ import annotations

import argparse
import json
from typing import Any


def emit(args: argparse.Namespace, data: Any, text: str) -> None:
    """Print ``data`` as JSON with ``--json``, else ``text``."""
    print(json.dumps(data, indent=2) if getattr(args, "json", False) else text)


def json_option() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--json", action="store_true", help="print machine-readable JSON instead of text")
    return parent


def model_option() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--model", help="model file (default: the shipped model)")
    return parent
