"""Live stats: rates, drops and latency percentiles over a recent window and the whole run."""

from __future__ import annotations

import collections
import math
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stylecast.runtime.live.sources import LiveSource

# Stats


class LiveStats:
    """Counters and timings of a run, updated from the engine and the sink threads.

    ``snapshot`` gives rates and latency percentiles over the last ``window`` seconds (the overlay,
    the ``--json`` lines, ``GET /state``); ``summary`` gives them over the whole run.
    """

    def __init__(self, source: LiveSource, window: float = 2.0) -> None:
        from stylecast.runtime.live.frames import RateMeter

        self.source = source
        self.window = window
        self.started = time.monotonic()
        self.processed = 0
        self.out_rate = RateMeter(window)
        self.delivered: dict[str, int] = collections.Counter()
        self.sink_dropped: dict[str, int] = collections.Counter()
        self.engine_ms = 0.0
        self.processing_size = (0, 0)
        self._recent: collections.deque[tuple[float, float]] = collections.deque()
        self._all: collections.deque[float] = collections.deque(maxlen=200_000)
        self._lock = threading.Lock()

    def frame_processed(self, seconds: float, size: tuple[int, int], now: float) -> None:
        with self._lock:
            self.processed += 1
            self.engine_ms = seconds * 1000 if self.processed == 1 else 0.9 * self.engine_ms + 100 * seconds
            self.processing_size = size
        self.out_rate.tick(now)

    def frame_delivered(self, sink: str, latency: float, now: float) -> None:
        with self._lock:
            self.delivered[sink] += 1
            self._recent.append((now, latency))
            self._all.append(latency)

    def set_sink_dropped(self, sink: str, count: int) -> None:
        with self._lock:
            self.sink_dropped[sink] = count

    def snapshot(self, now: float | None = None) -> dict[str, Any]:
        now = time.monotonic() if now is None else now
        with self._lock:
            while self._recent and self._recent[0][0] < now - self.window:
                self._recent.popleft()
            recent = [latency for _, latency in self._recent]
            return {
                "time_s": round(now - self.started, 3),
                "fps_in": round(self.source.rate.rate(now), 2),
                "fps_out": round(self.out_rate.rate(now), 2),
                "frames_in": self.source.captured,
                "frames_out": self.processed,
                "dropped": self.source.dropped,
                "sink_dropped": dict(self.sink_dropped),
                "latency_ms": latency_percentiles(recent),
                "engine_ms": round(self.engine_ms, 2),
                "processing_size": f"{self.processing_size[0]}x{self.processing_size[1]}",
                "reconnects": self.source.reconnects,
            }

    def summary(self, now: float | None = None) -> dict[str, Any]:
        now = time.monotonic() if now is None else now
        seconds = max(now - self.started, 1e-9)
        with self._lock:
            return {
                "seconds": round(seconds, 3),
                "frames_in": self.source.captured,
                "frames_out": self.processed,
                "dropped": self.source.dropped,
                "sink_dropped": dict(self.sink_dropped),
                "delivered": dict(self.delivered),
                "fps_in": round(self.source.captured / seconds, 2),
                "fps_out": round(self.processed / seconds, 2),
                "latency_ms": latency_percentiles(list(self._all)),
                "reconnects": self.source.reconnects,
            }


def latency_percentiles(latencies: Sequence[float]) -> dict[str, float | None]:
    """p50, p95 and max of ``latencies`` (seconds) in milliseconds; ``None`` for no samples."""
    if not latencies:
        return {"p50": None, "p95": None, "max": None}
    values = sorted(latencies)

    def at(share: float) -> float:  # linear interpolation between ranks, as numpy.percentile does
        position = share * (len(values) - 1)
        low = math.floor(position)
        high = min(low + 1, len(values) - 1)
        return values[low] + (values[high] - values[low]) * (position - low)

    return {"p50": round(at(0.5) * 1000, 1), "p95": round(at(0.95) * 1000, 1), "max": round(values[-1] * 1000, 1)}


