"""The live controls shared by the engine, the window keys and ``POST /state``; the style crossfade."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stylecast.errors import InputError, StyleError
from stylecast.styles import DEFAULT_KNOB, check_knob, set_knob

if TYPE_CHECKING:
    import numpy as np

    from stylecast.stylizer import Stylizer

CROSSFADE_SECONDS = 0.5


# Style crossfade and the shared controls


def smoothstep(t: float) -> float:
    """0 -> 0, 1 -> 1, with zero slope at both ends (a fade that eases in and out)."""
    t = min(1.0, max(0.0, t))
    return t * t * (3.0 - 2.0 * t)


class StyleFader:
    """A style code that moves to a new one over ``seconds`` instead of jumping.

    Codes are blended linearly, as ``stylecast`` blends styles anyway, so every intermediate code is
    a valid style (a blend of the old and the new one).
    """

    def __init__(self, code: np.ndarray, seconds: float = CROSSFADE_SECONDS) -> None:
        """``code``: ``(1, D)`` float32, the starting style."""
        self.seconds = seconds
        self._from = self._to = code.astype("float32").reshape(1, -1)
        self._started = -math.inf

    def set(self, code: np.ndarray, now: float) -> None:
        """Start fading from the code shown at ``now`` (mid-fade included) to ``code`` ``(1, D)``."""
        self._from = self.code(now)
        self._to = code.astype("float32").reshape(1, -1)
        self._started = now

    def code(self, now: float) -> np.ndarray:
        """The ``(1, D)`` float32 code to use at ``now`` (``time.monotonic()``)."""
        if self.seconds <= 0:
            return self._to
        weight = smoothstep((now - self._started) / self.seconds)
        if weight >= 1.0:
            return self._to
        blended: np.ndarray = ((1.0 - weight) * self._from + weight * self._to).astype("float32")
        return blended

    def fading(self, now: float) -> bool:
        return now - self._started < self.seconds


@dataclass(frozen=True)
class FrameSettings:
    """What the engine applies to one frame: ``code`` ``(1, D)`` float32 and the finishing options."""

    code: np.ndarray
    strength: float
    preserve_color: bool
    stabilize: bool


_CONTROL_FIELDS = ("style", "strength", "knob", "preserve_color", "stabilize")


class LiveControls:
    """The settings shared by the engine, the window keys and the HTTP endpoint (thread-safe)."""

    def __init__(self, stylizer: Stylizer, style: str, strength: float = 1.0, preserve_color: bool = False,
                 stabilize: bool = False, fade_seconds: float = CROSSFADE_SECONDS, knob: float | None = None) -> None:
        self._stylizer = stylizer
        self.styles: Sequence[str] = stylizer.styles
        self._lock = threading.Lock()
        self._style = style
        self._fader = StyleFader(stylizer.code(style), fade_seconds)
        self._strength = _check_strength(strength)
        # The trained content-vs-style knob; None for a model without one (the field reads null).
        self._knob: float | None = None
        if stylizer.has_knob:
            self._knob = DEFAULT_KNOB if knob is None else check_knob(knob)
        elif knob is not None:
            stylizer.vector(style, knob)  # raises: this model has no knob
        self._preserve_color = preserve_color
        self._stabilize = stabilize

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {"style": self._style, "strength": self._strength, "knob": self._knob,
                    "preserve_color": self._preserve_color, "stabilize": self._stabilize}

    def update(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Apply any of ``style`` (a SPEC), ``strength`` (0..1), ``preserve_color``, ``stabilize`` (booleans).

        Everything is checked (the style resolved) before anything changes: a bad request changes nothing.

        Raises:
            InputError: an unknown field or a value of the wrong kind; StyleError: an unknown style.
        """
        unknown = sorted(set(fields) - set(_CONTROL_FIELDS))
        if unknown:
            raise InputError(f"unknown field(s) {', '.join(unknown)}: send any of {', '.join(_CONTROL_FIELDS)}")
        code = None
        if "style" in fields:
            if not isinstance(fields["style"], str):
                raise InputError("style must be a string: a style name, a style image path or a blend "
                                 "like 'a:0.7,b:0.3'")
            code = self._stylizer.code(fields["style"])
        strength = None
        if "strength" in fields:
            value = fields["strength"]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InputError("strength must be a number from 0 (the original) to 1 (full style)")
            strength = _check_strength(float(value))
        knob = None
        if "knob" in fields:
            knob = check_knob(fields["knob"])
            if self._knob is None:
                raise StyleError("this model was trained without the content-vs-style knob: use strength instead")
        for name in ("preserve_color", "stabilize"):
            if name in fields and not isinstance(fields[name], bool):
                raise InputError(f"{name} must be true or false")
        now = time.monotonic()
        with self._lock:
            if code is not None:
                self._style = fields["style"]
                self._fader.set(code, now)
            if strength is not None:
                self._strength = strength
            if knob is not None:
                self._knob = knob
            self._preserve_color = fields.get("preserve_color", self._preserve_color)
            self._stabilize = fields.get("stabilize", self._stabilize)
        return self.state()

    def settings(self, now: float) -> FrameSettings:
        with self._lock:
            code = self._fader.code(now)
            if self._knob is not None:
                code = set_knob(code, self._knob, self._stylizer.meta["generator"])
            return FrameSettings(code, self._strength, self._preserve_color, self._stabilize)


def _check_strength(value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise InputError(f"strength {value} is outside 0..1: 1 is full style, 0 the original")
    return value


