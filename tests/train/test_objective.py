"""G's perceptual objective (train/objective.py): the optional moments and sliced Wasserstein terms, with
the real E."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stylecast import losses as L
from stylecast.models.encoder import VGG19Features
from stylecast.models.style import STYLE_STAT_LAYERS, style_statistics
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


def _targets(vgg: VGG19Features, objective: PerceptualObjective, painting: torch.Tensor
             ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    with torch.no_grad():
        feats = vgg(painting, sorted(set(objective.style_layers) | set(STYLE_STAT_LAYERS)))
    return ({layer: L.gram_matrix(feats[layer]) for layer in objective.style_layers}, style_statistics(feats))


def test_the_moments_term_is_zero_on_the_painting_and_counts_with_its_weight(vgg: VGG19Features) -> None:
    objective = PerceptualObjective.from_recipe({**RECIPE, "moment_weight": 3.0})
    assert objective.moment_weight == 3.0
    assert set(STYLE_STAT_LAYERS) <= set(objective.output_layers)
    painting = _painting()
    grams, stats = _targets(vgg, objective, painting)
    grey = torch.full_like(painting, 0.5)
    itself = objective.terms(vgg, painting, painting, grams, target_stats=stats)
    assert float(itself["moments"]) < 1e-8
    other = objective.terms(vgg, grey, grey, grams, target_stats=stats)
    assert float(other["moments"]) > 0.05
    without = PerceptualObjective.from_recipe(RECIPE)
    assert without.moment_weight == 0.0
    plain = without.terms(vgg, grey, grey, grams, target_stats=stats)
    assert "moments" not in plain
    assert float(objective.total(other)) == pytest.approx(float(without.total(plain)) + 3.0 * float(other["moments"]),
                                                           rel=1e-5)
    # The knob's move and the energy cap keep the term.
    assert objective.rebalanced(2.0).moment_weight == objective.with_energy_cap({"relu1_1": 1.0}).moment_weight == 3.0


def test_the_moments_term_per_sample_and_without_targets(vgg: VGG19Features) -> None:
    objective = PerceptualObjective.from_recipe({**RECIPE, "moment_weight": 1.0})
    painting = _painting()
    grams, stats = _targets(vgg, objective, painting)
    batch = torch.cat([painting, torch.full_like(painting, 0.5)])
    terms = objective.terms(vgg, batch, batch, grams, per_sample=True, target_stats=stats)
    assert terms["moments"].shape == (2,)
    assert float(terms["moments"][0]) < 1e-8 < float(terms["moments"][1])
    with pytest.raises(ValueError, match="target_stats"):
        objective.terms(vgg, batch, batch, grams)


def test_descending_the_moments_term_brings_an_image_to_the_paintings_statistics(vgg: VGG19Features) -> None:
    """Its gradient reaches the pixels: a grey image optimised on it alone moves towards the painting's
    per-channel statistics, and its colours towards the painting's."""
    objective = PerceptualObjective.from_recipe({**RECIPE, "moment_weight": 1.0, "content_weight": 0.0,
                                                 "style_weight": 0.0, "tv_weight": 0.0})
    painting = _painting(size=32)
    grams, stats = _targets(vgg, objective, painting)
    torch.manual_seed(0)
    image = (0.5 + 0.05 * torch.randn_like(painting)).requires_grad_(True)
    optimiser = torch.optim.Adam([image], lr=0.02)
    values = []
    for _ in range(40):
        terms = objective.terms(vgg, image, image.detach(), grams, target_stats=stats)
        values.append(float(terms["moments"].detach()))
        optimiser.zero_grad()
        objective.total(terms).backward()
        optimiser.step()
    assert values[-1] < 0.3 * values[0], values


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
