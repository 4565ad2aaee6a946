"""D: a small multi-scale PatchGAN conditioned on the style code by projection.

Each scale is a stack of spectrally normalised strided convolutions (Miyato et al. 2018) that gives
a map of patch logits; the style enters as in the projection discriminator (Miyato & Koyama 2018):
logit = head(h) + <embed(code), h> at every patch. Conditioning on the code rather than a style index
lets the same D judge blends and styles added later.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


class _PatchScale(nn.Module):
    def __init__(self, code_dim: int, channels: tuple[int, ...]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for cout in channels:
            layers += [spectral_norm(nn.Conv2d(cin, cout, 4, stride=2, padding=1)), nn.LeakyReLU(0.2)]
            cin = cout
        self.body = nn.Sequential(*layers)
        self.head = spectral_norm(nn.Conv2d(cin, 1, 3, padding=1))
        self.embed = spectral_norm(nn.Linear(code_dim, cin, bias=False))

    def forward(self, image: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        h = self.body(image)
        projection = (self.embed(code.to(h.dtype))[:, :, None, None] * h).sum(dim=1, keepdim=True)
        return self.head(h) + projection


class Discriminator(nn.Module):
    """``forward(images, codes) -> [logits per scale]``.

    Args (forward):
        images: RGB ``(B, 3, H, W)`` in [0, 1] (crops of paintings or of stylized frames).
        codes: ``(B, code_dim)`` style codes; treated as constants (detached) by the caller.

    Returns:
        A list with one ``(B, 1, H / 2^k, W / 2^k)`` logit map per scale, finest first.
    """

    def __init__(self, code_dim: int, scales: int = 2, channels: tuple[int, ...] = (32, 64, 128)) -> None:
        super().__init__()
        self.scales = nn.ModuleList(_PatchScale(code_dim, channels) for _ in range(scales))

    def forward(self, images: torch.Tensor, codes: torch.Tensor) -> list[torch.Tensor]:
        x = images * 2.0 - 1.0
        outputs = []
        for index, scale in enumerate(self.scales):
            if index:
                x = F.avg_pool2d(x, 2)
            outputs.append(scale(x, codes))
        return outputs
