"""Reading a painting and bringing it to the scale a model was trained at (torch-free).

The scale: the painting's shorter side at the recipe's ``data.style_size`` (256 for every shipped
recipe), where the Gram targets and the style encoder's statistics are computed in training. The
brush strokes' size relative to VGG's receptive fields is what a style *is* to the losses, so the
instant path must see a painting at that same scale.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from stylecast.errors import InputError
from stylecast.io.images import read_image
from stylecast.styles import MIN_PAINTING_SIDE
from stylecast.styles.palette import palette_of

#: The shorter side of a painting in every shipped recipe (``data.style_size``).
DEFAULT_PAINTING_SCALE = 256
#: A painting is read at most this large (a side): the scale above is far smaller, and a 20000 px scan
#: would only cost memory.
MAX_PAINTING_SIDE = 4096


def painting_scale(meta: Mapping[str, Any]) -> int:
    """The shorter side a model's recipe computed style targets at, from its file's metadata."""
    data = (meta.get("training") or {}).get("data") or {}
    value = data.get("style_size", DEFAULT_PAINTING_SCALE)
    return int(value) if isinstance(value, int) and not isinstance(value, bool) and value >= 16 else \
        DEFAULT_PAINTING_SCALE


def resize_short_side(image: Image.Image, short_side: int) -> Image.Image:
    """Resize (Lanczos, keeping aspect) so the shorter side is exactly ``short_side``."""
    width, height = image.size
    if min(width, height) == short_side:
        return image
    factor = short_side / min(width, height)
    # Round the longer side but pin the shorter one, so it is exactly short_side.
    if width <= height:
        size = (short_side, max(1, round(height * factor)))
    else:
        size = (max(1, round(width * factor)), short_side)
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def check_painting(painting: np.ndarray, what: str) -> None:
    """A usable painting: RGB uint8, at least ``MIN_PAINTING_SIDE`` px a side."""
    if painting.dtype != np.uint8 or painting.ndim != 3 or painting.shape[2] != 3:
        raise InputError(f"{what} must be an RGB image (uint8 (H, W, 3)), got {painting.dtype} {painting.shape}")
    height, width = painting.shape[:2]
    if min(height, width) < MIN_PAINTING_SIDE:
        raise InputError(f"{what} is only {width}x{height} pixels, too small to describe a style: give at least "
                         f"{MIN_PAINTING_SIDE}x{MIN_PAINTING_SIDE}, ideally 512 px or more")


def read_painting(path: str | Path) -> np.ndarray:
    """Decode a painting file: ``uint8 (H, W, 3)`` RGB, longer side at most ``MAX_PAINTING_SIDE``.

    Raises:
        InputError: missing, unreadable or huge file, or shorter side under ``MIN_PAINTING_SIDE``.
    """
    painting = read_image(path, max_side=MAX_PAINTING_SIDE)
    check_painting(painting, f"style image {str(path)!r}")
    return painting


def painting_at_scale(painting: np.ndarray, short_side: int) -> np.ndarray:
    """A painting array with its shorter side at ``short_side`` (``uint8 (h, w, 3)``)."""
    check_painting(painting, "the painting")
    resized = resize_short_side(Image.fromarray(painting), short_side)
    return np.ascontiguousarray(np.asarray(resized, dtype=np.uint8))


def painting_palette(painting: np.ndarray, short_side: int) -> np.ndarray:
    """The palette tail (``styles.palette``) of a painting array at the scale ``short_side``."""
    return palette_of(painting_at_scale(painting, short_side))


def write_palettes(model_path: str | Path, images: str | Path) -> list[str]:
    """Put each trained style's palette into a model file's metadata, from its painting (the style's
    ``extra.image``) in the folder ``images``; the tensors, and so G's digest, stay as they are. For
    model files trained before palettes existed. Returns the names of the styles given a palette.

    Raises:
        InputError: a style's painting is missing from ``images``.
    """
    from stylecast.modelfile import read_model_file, write_model_file

    tensors, meta = read_model_file(model_path)
    scale = painting_scale(meta)
    for style in meta["styles"]:
        name = (style.get("extra") or {}).get("image", "")
        path = Path(images) / name
        if not name or not path.is_file():
            raise InputError(f"style {style['name']!r} has no painting {name!r} in {images}: give the folder of "
                             "the paintings the model was trained on")
        style["palette"] = painting_palette(read_painting(path), scale).tolist()
    write_model_file(model_path, tensors, meta)
    return [style["name"] for style in meta["styles"]]
