"""Write a file completely or not at all: a temporary name beside it, renamed when done."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a hidden temporary path in ``path``'s folder; rename it over ``path`` when the block ends.

    The rename is atomic on one file system, so readers see the old file or the new one, never half
    of one. If the block raises (Ctrl-C included) the temporary file is deleted. The result gets the
    permissions a newly created file would (``0o666`` minus the umask).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield temp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
