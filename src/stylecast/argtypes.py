"""Command-line value types: every number a user types is checked for finiteness and a sane range.

Used as argparse ``type=`` callables, so a bad value is refused before anything runs, with argparse's
``argument --flag:`` prefix naming the flag. Torch-free and numpy-free: the CLI imports it at start.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable

from stylecast.errors import InputError

#: Compute threads or workers beyond this are a typo, never a speed-up (each thread costs memory and a
#: stack; 100,000 of them exhausted a 24 GB machine).
MAX_THREADS = max(4, 4 * (os.cpu_count() or 1))


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr and exit code 2, like every other error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        command = self.prog
        self.exit(2, f"stylecast: error: {message} (`{command} --help` lists the options)\n")


def number(low: float, high: float, integer: bool = False, what: str = "") -> Callable[[str], float]:
    """An argparse type: a finite number in ``[low, high]`` (a whole one if ``integer``)."""
    kind = "a whole number" if integer else "a number"

    def parse(text: str) -> float:
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {kind}: give {kind} from {low:g} to {high:g}"
                                             + (f" ({what})" if what else "")) from None
        if not math.isfinite(value) or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text} is outside {low:g}..{high:g}: give {kind} in that range"
                                             + (f" ({what})" if what else ""))
        return value

    parse.__name__ = "integer" if integer else "number"
    return parse


def count(low: int, high: int, what: str = "") -> Callable[[str], int]:
    """An argparse type: a whole number in ``[low, high]``."""
    parse = number(low, high, integer=True, what=what)
    return lambda text: int(parse(text))


def working_size(text: str) -> int | str:
    """An argparse type: ``auto``, ``full``, or the working size's shorter side in pixels (16 to 4320)."""
    if text in ("auto", "full"):
        return text
    if not text.lstrip("+-").isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not auto, full or a short side in pixels (16 to 4320)")
    return count(16, 4320, "the short side G runs at, in pixels")(text)


def unit(what: str) -> Callable[[str], float]:
    """An argparse type: a finite number from 0 to 1."""
    return number(0.0, 1.0, what=what)


def frame_size(text: str, flag: str) -> tuple[int, int]:
    """``"640x480"`` -> ``(640, 480)``, each side rounded down to even (H.264 and the streaming sinks need it),
    from 16x16 to 7680x4320 (8K)."""
    try:
        width_text, height_text = text.lower().split("x")
        width, height = int(width_text), int(height_text)
    except ValueError:
        raise InputError(f"{flag} {text!r} must look like 640x480") from None
    if not (16 <= width <= 7680 and 16 <= height <= 4320):
        raise InputError(f"{flag} {text}: give a size between 16x16 and 7680x4320")
    return width - width % 2, height - height % 2


def add_look_options(parser: argparse.ArgumentParser, style_required: bool) -> None:
    """The options that set the look, shared by ``stylize`` and ``live``: style, strength, knob, colour."""
    parser.add_argument("--style", required=style_required,
                        help="style name, style image path, or blend like 'starry_night:0.7,great_wave:0.3'"
                             + ("" if style_required else " (default: the model's first)"))
    parser.add_argument("--strength", type=unit("1 is full style, 0 the original"), default=1.0,
                        help="opacity over the original: 0 (the original) .. 1 (full style)")
    parser.add_argument("--knob", type=unit("0.5 is the trained balance"), default=None,
                        help="content vs style, trained into G: 0 keeps most of the picture, 1 most of the "
                             "painting (default 0.5, the trained balance; models trained with the knob)")
    parser.add_argument("--preserve-color", action="store_true", help="keep the original colours")
