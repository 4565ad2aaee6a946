"""Style images (paintings) at one training scale: whole for Gram targets, cropped for D."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from stylecast.data._sampling import crop_resize_flip, randint, uniform
from stylecast.data.images import _to_chw_uint8
from stylecast.errors import InputError
from stylecast.styles import MIN_PAINTING_SIDE
from stylecast.styles.palette import palette_of
from stylecast.styling.painting import painting_at_scale, read_painting

# Smaller images carry too little texture for Gram statistics at VGG's deeper layers (relu4_1 is
# 1/8 of the input size) and upscaling them only invents blur.
MIN_STYLE_SIDE = MIN_PAINTING_SIDE

# Crop side as a fraction of the image's shorter side: large enough to keep brush strokes at the
# scale G is trained to paint them, small enough that D sees varied patches.
CROP_SIDE_RANGE = (0.5, 1.0)


class StyleImages:
    """Style paintings at a training scale: whole images for Gram targets, random crops as D's real samples.

    Attributes:
        names: file stems, in the order of ``paths``; a style's index is its position here.
    """

    def __init__(self, paths: Sequence[str | Path], short_side: int) -> None:
        """Load each image, resized (keeping aspect) so its shorter side is ``short_side``.

        Raises:
            InputError: no paths, an unreadable image, or one smaller than ``MIN_STYLE_SIDE``
                pixels on a side.
        """
        if isinstance(paths, (str, Path)):
            paths = [paths]
        if not paths:
            raise InputError("no style images given: pass at least one image file")
        if short_side < MIN_STYLE_SIDE:
            raise InputError(f"short_side must be at least {MIN_STYLE_SIDE} pixels, not {short_side}")
        self.short_side = short_side
        self.paths = [Path(path).expanduser() for path in paths]
        self.names: list[str] = [path.stem for path in self.paths]
        self._images: list[torch.Tensor] = []  # (3, h, w) uint8
        for path in self.paths:
            # The one preprocessing of a painting (stylecast.styling): the instant path sees these pixels too.
            self._images.append(_to_chw_uint8(painting_at_scale(read_painting(path), short_side)))

    def __len__(self) -> int:
        return len(self._images)

    def image(self, index: int) -> torch.Tensor:
        """The whole style image ``index``: ``float32`` ``(1, 3, h, w)`` in ``[0, 1]``.

        ``min(h, w) == short_side``.
        """
        return self._images[index].float().div_(255.0).unsqueeze(0)

    def palette(self, index: int) -> list[float]:
        """The palette tail (``styles.palette``) of style image ``index``, from these same pixels."""
        return palette_of(self._images[index].permute(1, 2, 0).numpy()).tolist()  # type: ignore[no-any-return]

    def crops(self, indices: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
        """One random square crop per entry of ``indices``, with a random horizontal flip.

        The crop side is a fraction in ``CROP_SIDE_RANGE`` of the image's shorter side, resized
        (antialiased) to ``size``. Every random choice comes from ``generator`` (a CPU generator).

        Args:
            indices: ``(N,)`` integer style indices (any device).
            size: output side in pixels.

        Returns:
            ``float32`` ``(N, 3, size, size)`` in ``[0, 1]``, on the CPU.
        """
        flat = [int(i) for i in indices.reshape(-1).tolist()]
        out = torch.empty(len(flat), 3, size, size)
        for row, index in enumerate(flat):
            image = self._images[index]
            _, height, width = image.shape
            side = max(1, round(uniform(generator, *CROP_SIDE_RANGE) * min(height, width)))
            top = randint(generator, height - side + 1)
            left = randint(generator, width - side + 1)
            flip = uniform(generator, 0.0, 1.0) < 0.5
            out[row] = crop_resize_flip(image, top, left, side, side, size, flip)
        return out
