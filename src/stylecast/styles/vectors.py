"""Style specifications without torch: names, blends and style images resolved to style codes.

A SPEC is a style name (``starry_night``), a style image path (``my_painting.jpg``) or a blend of
them (``starry_night:0.7,great_wave:0.3``), resolved to a style vector.

A **style vector** is G's part, which G's inference graph takes: a style code ``(code_dim,)``
followed by offsets to every normalisation layer's scale and shift (``(offset_dim,)``, see
:func:`norm_channels`) and, for a G with a knob, the knob; then the painting's palette
(``styles.palette``), which the runtime applies to G's output. Trained styles and the style encoder
give plain codes (zero offsets); ``stylecast add-style`` may add offsets where they pay. G maps its
part affinely to the normalisation parameters and the palette tail is blended linearly, so blending
vectors blends styles exactly. Arrays here are float32, ``(1, width)`` or ``(S, width)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stylecast.errors import StyleError
from stylecast.styles.palette import PALETTE_WIDTH

STYLE_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
#: The smallest painting that describes a style, for every entry point (stylize --style, add-style, the
#: web upload, training): VGG's relu4_1 sees it at 1/8 of its size, and smaller ones carry too little texture.
MIN_PAINTING_SIDE = 64
#: Blend weights are relative; bigger ones are typos (and 1e308 + 1e308 overflows to inf).
MAX_BLEND_WEIGHT = 1e6


@dataclass(kw_only=True)
class Credits:
    """Who made a style's painting and where its image comes from: the one declaration of these fields.

    The types that carry a style's credits (a model file's ``StyleInfo``, a recipe's ``StyleEntry``,
    the user's ``UserStyle``, the web gallery's ``GalleryEntry``) extend it; keyword-only, so each
    keeps its own positional fields first.
    """

    artist: str = ""
    title: str = ""
    year: str = ""
    credit: str = ""

    def credits(self) -> dict[str, str]:
        return {"artist": self.artist, "title": self.title, "year": self.year, "credit": self.credit}


def norm_channels(generator: Mapping[str, Any]) -> list[int]:
    """Channels of G's normalisation layers in order, from its config (a model file's ``generator``):
    the stem, the way down, two per residual block, the way up."""
    stem, channels, blocks = int(generator["stem_channels"]), int(generator["channels"]), int(generator["blocks"])
    return [stem, channels] + [channels] * (2 * blocks) + [stem]


def vector_width(generator: Mapping[str, Any]) -> int:
    """Length of G's part of a style vector (what G's graph takes): the code, then a scale and a shift
    per channel, then (for a G with a trained content-vs-style knob) the knob, centred on the recipe's
    balance."""
    return (int(generator["code_dim"]) + 2 * sum(norm_channels(generator))
            + (1 if generator.get("knob", False) else 0))


def style_width(generator: Mapping[str, Any]) -> int:
    """Length of a whole style vector: G's part (:func:`vector_width`), then the painting's palette
    (``styles.palette``: applied to G's output, never seen by G)."""
    return vector_width(generator) + PALETTE_WIDTH


def attach_palette(vectors: np.ndarray, palette: np.ndarray, generator: Mapping[str, Any]) -> np.ndarray:
    """G's part of style vectors ``(S, w <= vector_width)`` (a code, a code with offsets, ...) with a
    palette tail ``(PALETTE_WIDTH,)`` after it: ``(S, style_width)``."""
    g_part = widen(vectors, vector_width(generator))
    tail = np.broadcast_to(np.asarray(palette, dtype=np.float32).reshape(1, -1), (*g_part.shape[:-1], PALETTE_WIDTH))
    return np.concatenate([g_part, tail], axis=-1)


def split_palette(vectors: np.ndarray, generator: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Style vectors ``(S, w)`` as G's part ``(S, vector_width)`` and palette tails ``(S, PALETTE_WIDTH)``;
    a vector too short to hold a palette (from before it existed) gets a zero tail: no palette."""
    full = widen(vectors, style_width(generator))
    cut = vector_width(generator)
    return full[..., :cut], full[..., cut:]


#: The content-vs-style knob's middle: the recipe's balance, and what a model without a knob always does.
DEFAULT_KNOB = 0.5


def check_knob(knob: object) -> float:
    """``knob`` as a float in [0, 1], or a StyleError that names the range (NaN and inf included)."""
    if isinstance(knob, bool) or not isinstance(knob, int | float) or not 0.0 <= float(knob) <= 1.0:
        raise StyleError(f"the content-vs-style knob must be a number from 0 (keep the photo) to 1 (all "
                         f"painting), not {knob!r}; 0.5 is the trained balance")
    return float(knob)


def set_knob(vectors: np.ndarray, knob: float, generator: Mapping[str, Any]) -> np.ndarray:
    """Style vectors ``(S, width)`` with the content-vs-style knob set (``0`` gentle, ``0.5`` the
    recipe's balance, ``1`` wild); unchanged for a G without a knob. Zero offsets and an absent
    knob mean the recipe's balance, so vectors made before the knob existed keep their look."""
    if not generator.get("knob", False):
        return vectors
    check_knob(knob)
    out = np.array(vectors, dtype=np.float32, copy=True)
    out[..., vector_width(generator) - 1] = knob - 0.5  # the last of G's part; the palette follows
    return out


def widen(codes: np.ndarray, width: int) -> np.ndarray:
    """Codes ``(..., w)`` with ``w <= width`` as style vectors ``(..., width)``: zero offsets appended."""
    codes = np.asarray(codes, dtype=np.float32)
    missing = width - codes.shape[-1]
    if missing < 0:
        raise StyleError(f"a style vector of length {codes.shape[-1]} does not fit this model (at most {width}): "
                         "it was made for another model; add the style again with `stylecast add-style`")
    if missing == 0:
        return codes
    return np.concatenate([codes, np.zeros((*codes.shape[:-1], missing), dtype=np.float32)], axis=-1)


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
        if not math.isfinite(weight) or weight < 0 or weight > MAX_BLEND_WEIGHT:
            raise StyleError(f"style weight {tail!r} in {spec!r} must be a number from 0 to {MAX_BLEND_WEIGHT:g} "
                             "(weights are relative), e.g. 'starry_night:0.7,great_wave:0.3'")
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


def check_painting_size(path: Path) -> None:
    """Refuse a painting smaller than ``MIN_PAINTING_SIDE`` from its header, before any decoding."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            width, height = image.size
    except (OSError, ValueError, Image.DecompressionBombError):
        return  # unreadable or huge: the reader that decodes it says so, with its own message
    if min(width, height) < MIN_PAINTING_SIDE:
        raise StyleError(f"style image {path} is only {width}x{height} pixels, too small to describe a style: "
                         f"give a painting at least {MIN_PAINTING_SIDE} px a side, ideally 512")


def resolve_code(spec: str, names: Sequence[str], bank: np.ndarray,
                 image_code: Callable[[Path], np.ndarray] | None = None) -> np.ndarray:
    """The ``(1, width)`` style vector of a SPEC: a convex blend of bank vectors and style-image codes.

    Args:
        spec: a name, an image path, or a blend (see the module docstring).
        names: style names, in bank order.
        bank: ``(S, width)`` float32 style vectors.
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
            check_painting_size(path)
            if image_code is None:
                raise StyleError(f"turning the painting {path} into a style needs the style encoder: install "
                                 "it with `pip install 'stylecast[train]' torch==2.13.0`, or use a style name")
            codes.append(widen(np.asarray(image_code(path), dtype=np.float32).reshape(1, -1), bank.shape[1]))
        else:
            codes.append(bank[index_of(names, name)][None].astype(np.float32))
    return blend([w for _, w in parts], np.concatenate(codes))


def blend(weights: Sequence[float], vectors: np.ndarray) -> np.ndarray:
    """The convex combination of style vectors ``(K, width)`` with ``K`` weights (normalised here):
    ``(1, width)`` float32. G maps vectors affinely to its normalisation, so this blends the styles."""
    w = np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    return (w[:, None] * np.asarray(vectors, dtype=np.float64)).sum(axis=0, keepdims=True).astype(np.float32)
