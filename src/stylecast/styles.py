"""Style specifications without torch: names, blends and style images resolved to style codes.

A SPEC is a style name (``starry_night``), a style image path (``my_painting.jpg``) or a blend of
them (``starry_night:0.7,great_wave:0.3``). Codes are ``(1, code_dim)`` float32 arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from stylecast.errors import StyleError

STYLE_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


def parse_blend(spec: str) -> list[tuple[str, float]]:
    """Parse ``"a:0.7,b:0.3"`` (or ``"a"``) into ``[("a", 0.7), ("b", 0.3)]``, weights summing to 1.

    A part without ``:weight`` gets weight 1 before normalisation. Windows drive letters and other
    colons inside paths are kept: only a trailing ``:number`` is read as a weight.
    """
    parts: list[tuple[str, float]] = []
    for raw in spec.split(","):
        raw = raw.strip()
        if not raw:
            continue
        name, weight = raw, 1.0
        head, sep, tail = raw.rpartition(":")
        if sep and head:
            try:
                weight = float(tail)
                name = head
            except ValueError:
                pass
        if weight < 0 or weight != weight:
            raise StyleError(f"style weight {tail!r} in {spec!r} must be a non-negative number, "
                             "e.g. 'starry_night:0.7,great_wave:0.3'")
        parts.append((name.strip(), weight))
    if not parts:
        raise StyleError("empty style: give a style name, a style image, or a blend such as "
                         "'starry_night:0.7,great_wave:0.3' (see `stylecast styles`)")
    total = sum(weight for _, weight in parts)
    if total <= 0:
        raise StyleError(f"the weights in {spec!r} add up to 0: give at least one positive weight")
    return [(name, weight / total) for name, weight in parts]


def index_of(names: Sequence[str], name: str) -> int:
    """Index of a style by exact name, or by a prefix that only one style has."""
    if name in names:
        return list(names).index(name)
    matches = [i for i, n in enumerate(names) if n.startswith(name)]
    if len(matches) == 1:
        return matches[0]
    raise StyleError(f"unknown style {name!r}: choose one of {', '.join(names)} "
                     "(`stylecast styles` lists them) or give a style image path")


def is_style_image(name: str) -> bool:
    return Path(name).suffix.lower() in STYLE_IMAGE_SUFFIXES


def resolve_code(spec: str, names: Sequence[str], bank: np.ndarray,
                 image_code: Callable[[Path], np.ndarray] | None = None) -> np.ndarray:
    """The ``(1, code_dim)`` code of a SPEC: a convex blend of bank codes and style-image codes.

    Args:
        spec: a name, an image path, or a blend (see the module docstring).
        names: style names, in bank order.
        bank: ``(S, code_dim)`` float32 codes.
        image_code: maps a style image to its ``(1, code_dim)`` code (the style encoder); ``None``
            where it is unavailable, in which case image styles raise ``StyleError``.
    """
    codes = []
    parts = parse_blend(spec)
    for name, _ in parts:
        if is_style_image(name):
            path = Path(name)
            if not path.is_file():
                raise StyleError(f"style image {path} does not exist: check the path, or give a style name "
                                 "from `stylecast styles`")
            if image_code is None:
                raise StyleError(f"turning the painting {path} into a style needs the style encoder: install "
                                 "it with `pip install 'stylecast[train]' torch==2.13.0`, or use a style name")
            codes.append(np.asarray(image_code(path), dtype=np.float32).reshape(1, -1))
        else:
            codes.append(bank[index_of(names, name)][None].astype(np.float32))
    weights = np.array([w for _, w in parts], dtype=np.float32)
    return (weights[:, None] * np.concatenate(codes)).sum(axis=0, keepdims=True).astype(np.float32)
