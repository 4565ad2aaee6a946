"""``--target-fps``: the size G runs at, picked from a ladder of fractions of its default size.

Rung 0 is the size G runs at without a target (the working-size setting's choice for the output
size: the output itself, or 640x360 for 1280x720 on a 2-core CPU). Lower rungs shrink it further;
the picture keeps the output size, its fine detail taken from the frame (``runtime/upscale.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from stylecast.errors import InputError

# Sizes the engine may work at, as fractions of the output size (--target-fps). Few and fixed: ONNX
# Runtime plans memory per input shape, and each new shape costs a slow first run.
SCALE_LADDER: tuple[float, ...] = (1.0, 0.85, 0.7, 0.6, 0.5, 0.42, 0.35, 0.3, 0.25)
MIN_PROCESSING_SIDE = 64
#: After a rung proved too slow, the governor waits this long before trying it again; each try that
#: fails again within ``QUICK_FAILURE_SECONDS`` doubles the wait, up to ``MAX_BLOCK_SECONDS``. A try
#: costs dropped frames, and near the limit most tries fail: a quiet moment of the machine lowers the
#: measured time, the prediction says the larger size fits, and it does not once the moment passes.
#: (tests/runtime/live/test_controls.py: 4 tries in four minutes against 11 with a fixed 10 s wait.)
BLOCK_SECONDS = 10.0
QUICK_FAILURE_SECONDS = 5.0
MAX_BLOCK_SECONDS = 80.0


# Processing size (--target-fps)


def even_side(side: float) -> int:
    rounded = int(round(side))
    return max(2, rounded - rounded % 2)


class ResolutionGovernor:
    """Chooses the engine's working size from :data:`SCALE_LADDER` to meet ``target_fps`` (see module docs).

    Args:
        width, height: the size G runs at by default (rung 0).
        target_fps: frames per second to sustain; ``None`` keeps the full size.
        min_side: no rung goes below this many pixels on the shorter side.
    """

    def __init__(self, width: int, height: int, target_fps: float | None, min_side: int = MIN_PROCESSING_SIDE,
                 ladder: Sequence[float] = SCALE_LADDER) -> None:
        if target_fps is not None and not target_fps > 0:
            raise InputError(f"--target-fps {target_fps} must be a positive number of frames per second")
        self.width, self.height = width, height
        self.target_fps = target_fps
        self.rungs = [r for r in ladder if min(width, height) * r >= min_side] or [1.0]
        self.rung = 0
        self._average: float | None = None
        self._samples = 0
        self._changed_at = -math.inf
        self._blocked_until: dict[int, float] = {}
        self._block_seconds: dict[int, float] = {}

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` the engine works at now."""
        if self.rung == 0:
            return self.width, self.height
        scale = self.rungs[self.rung]
        return even_side(self.width * scale), even_side(self.height * scale)

    def observe(self, seconds: float, now: float) -> bool:
        """Record the time one frame took at the current size; True when the size changed."""
        if self.target_fps is None:
            return False
        self._samples += 1
        if self._samples == 1:
            return False  # the first run at a new size pays ONNX Runtime's set-up, not the size's cost
        self._average = seconds if self._average is None else 0.7 * self._average + 0.3 * seconds
        if self._samples < 4 or now - self._changed_at < 0.5:
            return False
        budget = 1.0 / self.target_fps
        current = self.rungs[self.rung]
        last = len(self.rungs) - 1
        if self._average > 1.05 * budget and self.rung < last:
            rung = self.rung + 1
            # Time scales with pixels: jump to the largest rung predicted to fit, not one step at a time.
            while rung < last and self._average * (self.rungs[rung] / current) ** 2 > 0.9 * budget:
                rung += 1
            self._block(self.rung, now)
            return self._move(rung, now)
        if self.rung > 0 and now >= self._blocked_until.get(self.rung - 1, -math.inf):
            if self._average * (self.rungs[self.rung - 1] / current) ** 2 < 0.8 * budget:
                return self._move(self.rung - 1, now)
        return False

    def _block(self, rung: int, now: float) -> None:
        """Keep away from ``rung``, too slow now, for a while: longer each time a try of it fails fast."""
        if now - self._changed_at < QUICK_FAILURE_SECONDS and rung in self._block_seconds:
            seconds = min(2.0 * self._block_seconds[rung], MAX_BLOCK_SECONDS)
        else:  # it held for a while (or this is the first time): the load changed, start over
            seconds = BLOCK_SECONDS
        self._block_seconds[rung] = seconds
        self._blocked_until[rung] = now + seconds

    def _move(self, rung: int, now: float) -> bool:
        self.rung = rung
        self._average = None
        self._samples = 0
        self._changed_at = now
        return True


