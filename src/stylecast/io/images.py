"""Still images: decoding (EXIF orientation applied, absurd sizes refused from the header) and writing."""


from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from stylecast.atomic import atomic_output
from stylecast.errors import InputError
from stylecast.io.paths import WRITABLE_IMAGE_EXTENSIONS, make_folder, writable_suffix

# Beyond these a file is a mistake or an attack (a 20000 px "photo" decodes to 1.2 GB of RGB).
MAX_SIDE = 16384
MAX_IMAGE_PIXELS = 200_000_000

# --------------------------------------------------------------------------------------------------
# Still images


def open_rgb(path: str | Path, draft_side: int | None = None) -> Image.Image:
    """Decode an image file to an upright (EXIF orientation applied) RGB Pillow image.

    ``draft_side`` lets JPEG decoding skip resolution the caller will throw away (DCT scaling):
    both sides stay at least ``draft_side``.

    Raises:
        InputError: the file is missing, empty, unreadable, has no pixels, or is absurdly large
            (a side over ``MAX_SIDE`` or more than ``MAX_IMAGE_PIXELS`` pixels).
    """
    file = existing_file(path, "image")
    try:
        with warnings.catch_warnings():
            # Pillow warns about large images and odd files; our own messages speak instead.
            warnings.simplefilter("ignore")
            with Image.open(file) as opened:
                # The header is enough to refuse a huge image before decoding a byte of it.
                check_size(file, *opened.size, what="image")
                if draft_side is not None:
                    opened.draft("RGB", (draft_side, draft_side))
                rgb = ImageOps.exif_transpose(opened).convert("RGB")
                rgb.load()
    except Image.DecompressionBombError as error:
        raise InputError(
            f"image {str(file)!r} has more pixels than stylecast decodes (at most {MAX_IMAGE_PIXELS // 10**6} "
            f"megapixels and {MAX_SIDE} px a side): scale it down first"
        ) from error
    except (OSError, ValueError, SyntaxError) as error:
        raise InputError(
            f"cannot read image {str(file)!r} ({error}): re-export it as PNG or JPEG, or remove it"
        ) from error
    return rgb


def read_image(path: str | Path, max_side: int | None = None) -> np.ndarray:
    """Decode an image file to RGB, EXIF orientation applied.

    Args:
        path: an image file Pillow reads (``IMAGE_EXTENSIONS`` and more).
        max_side: if given, shrink (never enlarge) so the longer side is at most this, keeping aspect.

    Returns:
        ``uint8`` array ``(H, W, 3)``, RGB, C-contiguous.

    Raises:
        InputError: as ``open_rgb``, or a ``max_side`` below 1.
    """
    if max_side is not None and max_side < 1:
        raise InputError(f"max_side must be a positive number of pixels, not {max_side}")
    rgb = open_rgb(path, draft_side=max_side)
    if max_side is not None and max(rgb.size) > max_side:
        factor = max_side / max(rgb.size)
        size = (max(1, round(rgb.width * factor)), max(1, round(rgb.height * factor)))
        rgb = rgb.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))


_PILLOW_SAVE = {
    ".png": ("PNG", {"compress_level": 6}),
    ".jpg": ("JPEG", {"quality": 95, "subsampling": 0}),  # 4:4:4: stylized edges are colourful
    ".jpeg": ("JPEG", {"quality": 95, "subsampling": 0}),
    ".webp": ("WEBP", {"quality": 95}),
}


def write_image(path: str | Path, image: np.ndarray) -> None:
    """Write an RGB image atomically: to a hidden temporary name in the same folder, then renamed.

    The format follows the suffix (``WRITABLE_IMAGE_EXTENSIONS``); JPEG and WebP at quality 95.
    A missing folder is created (the mirrored outputs of a folder source).

    Args:
        path: the output file.
        image: ``uint8`` array ``(H, W, 3)``, RGB.

    Raises:
        InputError: the suffix is not one stylecast writes, or the folder cannot be written.
        ValueError: ``image`` is not a ``uint8`` ``(H, W, 3)`` array (a bug in the caller).
    """
    target = Path(path).expanduser()
    suffix = writable_suffix(target, WRITABLE_IMAGE_EXTENSIONS, "image")
    check_rgb(image)
    make_folder(target)
    pillow_format, options = _PILLOW_SAVE[suffix]
    try:
        with atomic_output(target) as temp:
            Image.fromarray(image, mode="RGB").save(temp, format=pillow_format, **options)
    except OSError as error:
        raise InputError(
            f"cannot write {str(target)!r} ({error.strerror or error}): choose a writable folder with free space"
        ) from error


def check_rgb(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        described = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"expected a uint8 (H, W, 3) RGB array, got {described}")


def existing_file(path: str | Path, what: str) -> Path:
    file = Path(path).expanduser()
    if not file.exists():
        raise InputError(f"{what} {str(file)!r} does not exist: check the path")
    if file.is_dir():
        raise InputError(
            f"{str(file)!r} is a folder, not a {what} file: give a file in it, or the folder itself as the source"
        )
    if file.stat().st_size == 0:
        raise InputError(f"{what} {str(file)!r} is empty (0 bytes): the copy or download did not finish; copy it again")
    return file


def check_size(file: Path, width: int, height: int, what: str) -> None:
    if width <= 0 or height <= 0:
        raise InputError(f"{what} {str(file)!r} has no pixels ({width}x{height}): re-export it")
    if max(width, height) > MAX_SIDE or width * height > MAX_IMAGE_PIXELS:
        raise InputError(
            f"{what} {str(file)!r} is {width}x{height} ({width * height / 1e6:.0f} megapixels), beyond what "
            f"stylecast handles (at most {MAX_SIDE} px a side and {MAX_IMAGE_PIXELS // 10**6} megapixels): "
            "scale it down first"
        )


