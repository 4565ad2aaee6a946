"""``Stylizer``: stylize images with a model file, resolving style names, images and blends.

This is the PyTorch path (the training install); the light ONNX Runtime engine for video lives in
``runtime/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from stylecast.errors import StyleError
from stylecast.models.style import blend_codes, parse_blend

STYLE_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}


class Stylizer:
    """Load a model once, then ``stylize(image, style)`` any number of times.

    Args:
        model: a model file path; ``None`` for the model shipped in the package.
    """

    def __init__(self, model: str | Path | None = None) -> None:
        import torch

        from stylecast.models.io import load_stylenet

        self._torch = torch
        self.net, self.meta = load_stylenet(model)
        self._encoder: Any = None

    @property
    def styles(self) -> list[str]:
        return self.net.names

    def _image_code(self, path: Path) -> Any:
        """Instant code for an unseen painting: the style encoder on E's statistics of the image."""
        from stylecast.data import load_rgb, to_tensor
        from stylecast.models.encoder import VGG19Features
        from stylecast.models.style import STYLE_STAT_LAYERS, style_statistics

        if self._encoder is None:
            self._encoder = VGG19Features()
        image = to_tensor(load_rgb(path, max_side=512))[None]
        with self._torch.no_grad():
            stats = style_statistics(self._encoder(image, STYLE_STAT_LAYERS))
            return self.net.encoder(stats)

    def code(self, spec: str) -> Any:
        """Style code ``(1, code_dim)`` for a name, a style image path, or a blend of them."""
        parts = parse_blend(spec)
        codes = []
        for name, _ in parts:
            path = Path(name)
            if path.suffix.lower() in STYLE_IMAGE_SUFFIXES:
                if not path.is_file():
                    raise StyleError(f"style image {path} does not exist: check the path, or give a style "
                                     "name from `stylecast styles`")
                codes.append(self._image_code(path))
            else:
                codes.append(self.net.bank[self.net.index_of(name)][None].detach())
        return blend_codes(self._torch.cat(codes), [w for _, w in parts])

    def stylize(self, image: np.ndarray, style: str) -> np.ndarray:
        """RGB uint8 ``(H, W, 3)`` in, stylized RGB uint8 ``(H, W, 3)`` out."""
        torch = self._torch
        tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 255.0
        with torch.no_grad():
            out = self.net.generator(tensor, self.code(style))
        assert isinstance(out, torch.Tensor)
        return (out[0].permute(1, 2, 0).clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).numpy()
