"""One-line progress for long work: count, rate and ETA on stderr (a line per update off a TTY)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """``update(done)`` redraws ``label done/total | rate unit/s | ETA`` at most every ``every`` s."""

    def __init__(self, label: str, total: int | None, unit: str = "frames", enabled: bool = True,
                 stream: TextIO | None = None, every: float = 0.5) -> None:
        self.label, self.total, self.unit, self.enabled = label, total, unit, enabled
        self.stream = stream or sys.stderr
        self.every = every if self.stream.isatty() else max(every, 5.0)
        self.started = time.monotonic()
        self._last = 0.0

    def rate(self, done: int) -> float:
        return done / max(time.monotonic() - self.started, 1e-9)

    def update(self, done: int, force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self._last < self.every):
            return
        self._last = now
        rate = self.rate(done)
        count = f"{done}/{self.total}" if self.total else f"{done}"
        eta = ""
        if self.total and rate > 0:
            left = max(self.total - done, 0) / rate
            eta = f" | ETA {int(left // 60)}m{int(left % 60):02d}s"
        line = f"{self.label}: {count} {self.unit} | {rate:.1f} {self.unit}/s{eta}"
        end = "\r" if self.stream.isatty() else "\n"
        self.stream.write(line.ljust(78) + end)
        self.stream.flush()

    def close(self, done: int) -> None:
        self.update(done, force=True)
        if self.enabled and self.stream.isatty():
            self.stream.write("\n")
