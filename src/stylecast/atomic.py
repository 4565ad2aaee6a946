"""Write a file completely or not at all: a hidden temporary name beside it, flushed, renamed when done.

The one way stylecast writes any output (model files, checkpoints, images, videos, user styles, the
web app's files, the training flow cache): readers, and a machine that loses power, see the old file
or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def fsync_path(path: Path, directory: bool = False) -> None:
    """Flush a file (or a folder's entries) to the disk, so a crash right after leaves it whole."""
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        if directory:  # some file systems (and Windows) cannot open a folder: the rename still stands
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not directory:
            raise
    finally:
        os.close(fd)


def temporary_beside(target: Path, keep_suffix: bool = False) -> Path:
    """A hidden, unique name in ``target``'s folder (so the rename is atomic).

    The leading dot keeps it out of every listing stylecast reads. ``keep_suffix`` ends it with
    ``target``'s own suffix (``.partial.mp4``), for writers that choose the format by the name (FFmpeg).
    """
    tag = uuid.uuid4().hex[:8]
    if keep_suffix:
        return target.with_name(f".{target.stem}.{tag}.partial{target.suffix}")
    return target.with_name(f".{target.name}.{tag}.tmp")


def _name_the_target(error: OSError, temps: list[Path], targets: list[Path]) -> None:
    """Put the file the user knows into an error about its temporary file."""
    for temp, target in zip(temps, targets, strict=True):
        if error.filename == str(temp):
            error.filename = str(target)


def commit(temp: Path, target: Path) -> None:
    """Flush ``temp`` and rename it over ``target``, with the permissions a new file would get
    (``0o666`` minus the umask); an ``OSError`` names ``target``, the file the user knows."""
    try:
        fsync_path(temp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)
        os.replace(temp, target)
        fsync_path(target.parent, directory=True)
    except OSError as error:
        _name_the_target(error, [temp], [target])
        raise


def discard(path: Path) -> None:
    """Delete a temporary file; a failure to do so (a read-only or full disk) never hides the error
    that made it necessary."""
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


@contextmanager
def atomic_outputs(*paths: str | Path) -> Iterator[list[Path]]:
    """Yield one temporary path per target; when the block ends, commit them in the given order.

    All or nothing: if the block raises (Ctrl-C included) or a commit fails, every temporary file is
    deleted and so is every target already committed by this call, so a set of files that belong
    together (a style and its thumbnail) is never half saved. Put the file whose presence means
    "saved" last.
    """
    targets = [Path(path) for path in paths]
    for target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
    temps = [temporary_beside(target) for target in targets]
    placed: list[Path] = []
    try:
        yield temps
        for temp, target in zip(temps, targets, strict=True):
            commit(temp, target)
            placed.append(target)
    except BaseException as error:
        for path in placed:
            discard(path)
        if isinstance(error, OSError):  # also errors of the block, which writes to the temporary names
            _name_the_target(error, temps, targets)
        raise
    finally:
        for temp in temps:
            discard(temp)


@contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a hidden temporary path in ``path``'s folder; rename it over ``path`` when the block ends
    (see :func:`atomic_outputs`)."""
    with atomic_outputs(path) as (temp,):
        yield temp
