"""The ``stylecast`` command: parse, call the library, print (text or ``--json``).

One module per group of subcommands (``train``, ``styles``, ``stylize``, ``tools``, ``live``), each with
its ``cmd_*`` function and its parser; the options several share come from ``common`` (``--json``,
``--model``), ``stylize.add_engine_options`` and ``argtypes.add_look_options``. Every
``StylecastError`` becomes one line on stderr and exit code 2; so do argparse's own errors
(``argtypes.OneLineParser``), failing writes (``describe_os_error``) and SIGTERM is Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence

from stylecast.argtypes import OneLineParser
from stylecast.cli import live, styles, stylize, tools, train
from stylecast.errors import StylecastError


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="stylecast", description="Real-time video style transfer.")
    sub = parser.add_subparsers(dest="command", required=True)
    train.add_parser(sub)
    styles.add_parsers(sub)
    stylize.add_parser(sub)
    tools.add_parsers(sub)
    live.add_parser(sub)
    return parser


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
