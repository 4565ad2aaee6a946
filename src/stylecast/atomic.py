"""Write a file completely or not at all: a temporary name beside it, flushed, renamed when done."""

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


@contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a hidden temporary path in ``path``'s folder; rename it over ``path`` when the block ends.

    The temporary file is flushed to the disk before the rename, and the rename is atomic on one file
    system, so readers (and a machine that loses power) see the old file or the new one, never half of
    one. If the block raises (Ctrl-C included) the temporary file is deleted, and a failure to delete it
    (a read-only or full disk) never hides the error that caused it. The result gets the permissions a
    newly created file would (``0o666`` minus the umask).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield temp
        fsync_path(temp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)
        os.replace(temp, target)
        fsync_path(target.parent, directory=True)
    except OSError as error:
        if error.filename == str(temp):  # the user knows the output by its name, not the temporary one
            error.filename = str(target)
        raise
    finally:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
