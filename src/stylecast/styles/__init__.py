"""Styles without torch: specs, style vectors, blends and the knob (``vectors``), a painting's palette
(``palette``), and the user's style library (``library``: styles added with ``stylecast add-style``).

``from stylecast.styles import resolve_code`` and the other names of ``vectors`` work from here; the
library is imported from ``stylecast.styles.library``.
"""

from stylecast.styles.vectors import (
    DEFAULT_KNOB,
    MAX_BLEND_WEIGHT,
    MIN_PAINTING_SIDE,
    STYLE_IMAGE_SUFFIXES,
    Credits,
    attach_palette,
    blend,
    check_knob,
    check_painting_size,
    index_of,
    is_style_image,
    norm_channels,
    parse_blend,
    resolve_code,
    set_knob,
    split_palette,
    style_width,
    vector_width,
    widen,
)

__all__ = [
    "Credits",
    "DEFAULT_KNOB",
    "MAX_BLEND_WEIGHT",
    "MIN_PAINTING_SIDE",
    "STYLE_IMAGE_SUFFIXES",
    "attach_palette",
    "blend",
    "check_knob",
    "check_painting_size",
    "index_of",
    "is_style_image",
    "norm_channels",
    "parse_blend",
    "resolve_code",
    "set_knob",
    "split_palette",
    "style_width",
    "vector_width",
    "widen",
]
