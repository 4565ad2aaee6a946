"""G's perceptual objective (train/objective.py): the optional sliced Wasserstein term, with the real E."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stylecast import losses as L
from stylecast.models.encoder import VGG19Features
from stylecast.train.objective import PerceptualObjective

RECIPE = {"content_weight": 1e-5, "style_weight": 1e-4, "tv_weight": 10.0,
          "style_layers": ["relu1_1", "relu2_1"], "style_layer_weights": [1.0, 1.0]}


@pytest.fixture(scope="module")
def vgg() -> VGG19Features:
    return VGG19Features()


def _painting(seed: int = 0, size: int = 48) -> torch.Tensor:
    """Saturated diagonal stripes with noise, ``(1, 3, size, size)`` in [0, 1]."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    wave = (np.sin((x + y) / 2.5) > 0)[..., None]
    image = np.where(wave, [0.9, 0.15, 0.1], [0.1, 0.25, 0.85]) + rng.normal(0, 0.03, (size, size, 3))
    return torch.from_numpy(np.clip(image, 0, 1).astype(np.float32)).permute(2, 0, 1)[None]


def test_the_knobs_move_scales_the_sliced_wasserstein_term_with_style_and_the_energy_cap_keeps_it() -> None:
    """The trainer weighs the term per sample as it weighs the style term (the knob's R^t); add-style's
    ``rebalanced`` must do the same, or a painting would be adapted to another balance than it was trained at."""
    objective = PerceptualObjective.from_recipe({**RECIPE, "swd_weight": 3.0, "swd_layers": ["relu1_1"]})
    moved = objective.rebalanced(2.0)
    assert (moved.swd_weight, moved.style_weight, moved.content_weight) == (6.0, 2e-4, 0.5e-5)
    capped = objective.with_energy_cap({"relu1_1": 1.0})
    assert (capped.swd_weight, capped.swd_layers) == (3.0, {"relu1_1": 1.0})


def test_descending_the_sliced_wasserstein_term_brings_an_image_to_the_paintings_colours(vgg: VGG19Features
                                                                                         ) -> None:
    """Its gradient reaches the pixels: a grey image optimised on it alone takes on the painting's
    colours (the stripes' red and blue, at relu1_1 and relu2_1)."""
    objective = PerceptualObjective.from_recipe({**RECIPE, "swd_weight": 1.0, "swd_layers": ["relu1_1", "relu2_1"],
                                                 "swd_layer_weights": [1.0, 0.1], "content_weight": 0.0,
                                                 "style_weight": 0.0, "tv_weight": 0.0})
    painting = _painting(size=32)
    with torch.no_grad():
        targets = objective.painting_targets(vgg(painting, objective.painting_layers))
    torch.manual_seed(0)
    image = (0.5 + 0.05 * torch.randn_like(painting)).requires_grad_(True)
    optimiser = torch.optim.Adam([image], lr=0.02)
    values = []
    for _ in range(40):
        terms = objective.terms(vgg, image, image.detach(), targets)
        values.append(float(terms["swd"].detach()))
        optimiser.zero_grad()
        objective.total(terms).backward()
        optimiser.step()
    assert values[-1] < 0.3 * values[0], values
    spread = image.detach().clamp(0, 1)[0].flatten(1)  # (3, N): red and blue now vary against each other
    assert float(torch.corrcoef(spread[[0, 2]])[0, 1]) < -0.3


def test_the_sliced_wasserstein_term_reads_its_targets_from_the_painting(vgg: VGG19Features) -> None:
    objective = PerceptualObjective.from_recipe({**RECIPE, "swd_weight": 2.0, "swd_layers": ["relu1_1", "relu3_1"],
                                                 "swd_layer_weights": [1.0, 0.5]})
    assert objective.swd_layers == {"relu1_1": 1.0, "relu3_1": 0.5}
    assert "relu3_1" in objective.painting_layers and "relu3_1" in objective.output_layers
    painting = _painting()
    with torch.no_grad():
        targets = objective.painting_targets(vgg(painting, objective.painting_layers))
    assert sorted(targets) == ["quantiles/relu1_1", "quantiles/relu3_1", "relu1_1", "relu2_1"]
    assert targets["quantiles/relu3_1"].shape == (1, 256, L.QUANTILES)
    assert float(objective.terms(vgg, painting, painting, targets)["swd"]) < 1e-6
    grey = torch.full_like(painting, 0.5)
    terms = objective.terms(vgg, grey, grey, targets)
    assert float(terms["swd"]) > 0
    off = PerceptualObjective.from_recipe({**RECIPE, "swd_layers": ["relu1_1"]})  # no weight: no term
    assert sorted(off.painting_targets(vgg(painting, off.painting_layers))) == ["relu1_1", "relu2_1"]
    plain = off.terms(vgg, grey, grey, targets)
    assert "swd" not in plain
    assert float(objective.total(terms)) == pytest.approx(float(off.total(plain)) + 2.0 * float(terms["swd"]), rel=1e-5)
