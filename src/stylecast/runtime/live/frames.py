"""Handing frames between the live threads: the newest-frame mailbox, the captured frame, a rate
meter, and the cover-fit of a frame to the output size."""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass
from typing import Generic, TypeVar

import cv2
import numpy as np

T = TypeVar("T")


@dataclass(frozen=True)
class CapturedFrame:
    """One frame as the source handed it over.

    ``image`` is ``uint8`` ``(H, W, 3)`` RGB at the source's output size; ``captured_at`` is
    ``time.monotonic()`` when the frame came out of the decoder or driver (the start of glass-to-glass
    latency); ``index`` counts delivered frames from 0, dropped ones included.
    """

    image: np.ndarray
    captured_at: float
    index: int


class Mailbox(Generic[T]):
    """A one-slot queue that keeps only the newest item: ``put`` never blocks, it replaces.

    ``replaced`` counts items that were overwritten before anyone took them (dropped frames).
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._item: T | None = None
        self._full = False
        self._closed = False
        self.replaced = 0

    def put(self, item: T) -> bool:
        """Store ``item``; True when it replaced one nobody had taken."""
        with self._condition:
            replaced = self._full
            if replaced:
                self.replaced += 1
            self._item, self._full = item, True
            self._condition.notify_all()
            return replaced

    def take(self, timeout: float | None = None) -> T | None:
        """The newest item, or ``None`` if none arrives within ``timeout`` seconds (or after ``close``)."""
        with self._condition:
            if not self._full and not self._closed:
                self._condition.wait(timeout)
            if not self._full:
                return None
            item, self._item, self._full = self._item, None, False
            return item

    @property
    def empty(self) -> bool:
        with self._condition:
            return not self._full

    def close(self) -> None:
        """Wake every waiter; later ``take`` calls return what is left, then ``None`` at once."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()


class RateMeter:
    """Events per second over the last ``window`` seconds (``tick`` from any thread)."""

    def __init__(self, window: float = 2.0) -> None:
        self.window = window
        self._times: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()

    def tick(self, now: float | None = None) -> None:
        with self._lock:
            self._times.append(time.monotonic() if now is None else now)
            self._prune(self._times[-1])

    def rate(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._prune(now)
            if len(self._times) < 2:
                return 0.0
            # Intervals over the span actually covered (the first seconds of a run are not under-read);
            # measured up to now, so a source that stops reads as slowing down, then 0.
            return (len(self._times) - 1) / max(now - self._times[0], 1e-6)

    def _prune(self, now: float) -> None:
        while self._times and self._times[0] < now - self.window:
            self._times.popleft()


def fit_cover(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale ``image`` (H, W, 3) to cover ``width x height`` and crop the centre: no stretching, no bars.

    Returns the image itself when it already has that size.
    """
    in_height, in_width = image.shape[:2]
    if (in_width, in_height) == (width, height):
        return image
    scale = max(width / in_width, height / in_height)
    scaled_width, scaled_height = max(width, round(in_width * scale)), max(height, round(in_height * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    scaled = cv2.resize(image, (scaled_width, scaled_height), interpolation=interpolation)
    left, top = (scaled_width - width) // 2, (scaled_height - height) // 2
    return np.ascontiguousarray(scaled[top:top + height, left:left + width])
