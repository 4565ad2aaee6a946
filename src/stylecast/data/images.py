"""Still images for training: finding, decoding, and random crops of content photos.

Images are decoded once with Pillow (EXIF orientation applied) and kept in memory as ``uint8``
tensors; every random choice a sampler makes is drawn from a caller-supplied ``torch.Generator``
so that the same generator state reproduces the same batch (exact checkpoint resume).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from stylecast.data._sampling import check_shard, crop_resize_flip, randint, uniform
from stylecast.errors import InputError
from stylecast.io.images import open_rgb, read_image
from stylecast.io.paths import IMAGE_EXTENSIONS
from stylecast.styling.painting import resize_short_side

# Area of a content crop as a fraction of the largest square that fits the image, and its aspect
# ratio (width / height) before it is squashed to a square: the ranges of torchvision's
# RandomResizedCrop, narrowed at the low end so a crop keeps enough context for the content loss.
CROP_AREA_RANGE = (0.35, 1.0)
CROP_ASPECT_RANGE = (3.0 / 4.0, 4.0 / 3.0)


def list_images(folder: str | Path, recursive: bool = True) -> list[Path]:
    """All image files under ``folder`` (extensions in ``IMAGE_EXTENSIONS``), sorted by path.

    Hidden files (name starting with ``.``, e.g. macOS ``._x.jpg`` resource forks) are skipped.

    Raises:
        InputError: the folder does not exist, is not a folder, or holds no images.
    """
    root = Path(folder).expanduser()
    if not root.exists():
        raise InputError(f"image folder {str(root)!r} does not exist: check the path")
    if not root.is_dir():
        raise InputError(f"{str(root)!r} is not a folder: pass the folder that holds the images")
    candidates = root.rglob("*") if recursive else root.iterdir()
    found = sorted(
        path for path in candidates
        if path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".") and path.is_file()
    )
    if not found:
        where = "in or below" if recursive else "in"
        raise InputError(
            f"no images ({', '.join(IMAGE_EXTENSIONS)}) found {where} {str(root)!r}: "
            "add images there or point to another folder"
        )
    return found


def load_rgb(path: str | Path, max_side: int | None = None) -> np.ndarray:
    """Decode an image file to RGB ``uint8 (H, W, 3)``: ``stylecast.io.images.read_image``."""
    return read_image(path, max_side)


def load_short_side(path: str | Path, short_side: int) -> np.ndarray:
    """Decode an image and resize it (up or down, keeping aspect) so its shorter side is ``short_side``.

    Returns:
        ``uint8`` array ``(H, W, 3)`` RGB with ``min(H, W) == short_side``.
    """
    image = open_rgb(path, draft_side=short_side)
    return np.asarray(_resize_short_side(image, short_side), dtype=np.uint8).copy()


def _resize_keep_aspect(image: Image.Image, factor: float) -> Image.Image:
    width, height = image.size
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


_resize_short_side = resize_short_side


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """``uint8`` ``(H, W, 3)`` array to a ``float32`` tensor ``(3, H, W)`` in ``[0, 1]``."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected a uint8 (H, W, 3) array, got {image.dtype} {image.shape}")
    return _to_chw_uint8(image).float().div_(255.0)


def _to_chw_uint8(image: np.ndarray) -> torch.Tensor:
    # Arrays from Pillow can be read-only; torch wants writable memory (copied only when needed).
    return torch.from_numpy(np.require(image, requirements=["C", "W"])).permute(2, 0, 1).contiguous()


class ContentImages:
    """Content photos held in memory (decoded once), for random resized crops + horizontal flips.

    Each image is resized (keeping aspect) so its shorter side is ``short_side`` and kept as
    ``uint8``: about ``3 * short_side**2 * aspect`` bytes per image (~0.3 MB at 256 px, 4:3).
    """

    def __init__(self, roots: Sequence[str | Path], short_side: int,
                 shard: tuple[int, int] = (0, 1)) -> None:
        """Load every image under ``roots`` (folders, searched recursively, or image files).

        ``shard=(rank, world)`` keeps only images whose index in the sorted list is
        ``rank`` modulo ``world``, so data-parallel workers see disjoint images.
        """
        if short_side < 8:
            raise InputError(f"short_side must be at least 8 pixels, not {short_side}")
        if isinstance(roots, (str, Path)):
            roots = [roots]
        rank, world = check_shard(shard)
        paths: list[Path] = []
        for root in roots:
            root_path = Path(root).expanduser()
            if root_path.is_file():
                paths.append(root_path)
            else:
                paths.extend(list_images(root_path))
        self.short_side = short_side
        self.paths = paths[rank::world]
        if not self.paths:
            raise InputError(
                f"shard {rank} of {world} got no content images out of {len(paths)}: "
                "add images or use fewer workers"
            )
        self._images = [_to_chw_uint8(load_short_side(path, short_side)) for path in self.paths]

    def __len__(self) -> int:
        return len(self._images)

    def sample(self, batch: int, size: int, generator: torch.Generator) -> torch.Tensor:
        """A batch of random resized crops with random horizontal flips.

        The crop area is a fraction in ``CROP_AREA_RANGE`` of the largest square that fits the
        image (``short_side**2``) with aspect ratio in ``CROP_ASPECT_RANGE`` (log-uniform), clipped
        to the image. Every random choice comes from ``generator`` (a CPU generator), so the same
        generator state gives the same batch.

        Returns:
            ``float32`` ``(batch, 3, size, size)`` in ``[0, 1]``, on the CPU.
        """
        out = torch.empty(batch, 3, size, size)
        log_low, log_high = (math.log(a) for a in CROP_ASPECT_RANGE)
        for i in range(batch):
            image = self._images[randint(generator, len(self._images))]
            _, height, width = image.shape
            area = uniform(generator, *CROP_AREA_RANGE) * min(height, width) ** 2
            aspect = math.exp(uniform(generator, log_low, log_high))
            crop_w = min(width, max(1, round(math.sqrt(area * aspect))))
            crop_h = min(height, max(1, round(math.sqrt(area / aspect))))
            top = randint(generator, height - crop_h + 1)
            left = randint(generator, width - crop_w + 1)
            flip = uniform(generator, 0.0, 1.0) < 0.5
            out[i] = crop_resize_flip(image, top, left, crop_h, crop_w, size, flip)
        return out
