"""G's perceptual objective, one definition for training and for ``add-style``'s adaptation.

content (VGG features at several layers) + style (Gram matrices at several layers) + total
variation (+ optionally a sliced Wasserstein term on the painting's feature distributions), each
with its weight. Training adds the adversarial, temporal and encoder terms and the
knob's per-sample weights (``trainer.py``); adaptation optimises a code against exactly this part,
read back from the model file's recipe, so a style adapted for a model is judged as that model was
trained.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from stylecast import losses as L

#: E as the objective reads it: ``features(images (B, 3, H, W), layers) -> {layer: (B, C, h, w)}``.
Features = Callable[[torch.Tensor, list[str]], dict[str, torch.Tensor]]

# What model files from before the recipe was recorded in full were trained with (configs/zoo.toml).
ZOO_CONTENT_WEIGHT = 1e-5
ZOO_STYLE_WEIGHT = 1e-4
ZOO_TV_WEIGHT = 10.0
ZOO_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
ZOO_CONTENT_LAYER = "relu4_1"
#: ``painting_targets`` keys of the sliced Wasserstein term's targets: this prefix and the layer.
QUANTILES_KEY = "quantiles/"


def painting_balance(loss: Mapping[str, Any]) -> float:
    """How much more a painting from outside the bank (the pool in training, a user's painting in
    ``add-style``) weighs style against content than a bank style at the same knob: ``R ** shift`` for
    the recipe's ``knob_range`` R and ``painting_knob_shift`` (1.0 when either is absent or zero).

    Such a painting lands more softly than the bank's at the same weights (its Gram distance from a
    photo is smaller: held-out artworks have about 0.6x the bank's median Gram energy at relu2_1..relu4_1),
    so its style term counts as at a higher knob (BENCHMARKS.md, "Unseen paintings land as hard as the bank's").
    """
    knob_range = float(loss.get("knob_range") or 0.0)
    shift = float(loss.get("painting_knob_shift") or 0.0)
    return max(knob_range, 1.0) ** shift


@dataclass(frozen=True)
class PerceptualObjective:
    """Weights and layers of the content, style and TV terms.

    Attributes:
        content_layers, style_layers: VGG layer name -> weight inside the term.
        content_weight, style_weight, tv_weight: the terms' weights in G's total.
        energy_cap: per style layer, the Gram energy above which a target counts relatively
            (``losses.style_loss``); ``None``: plain Gram error.
        swd_layers: VGG layer name -> weight inside the sliced Wasserstein term (``losses.sliced_wasserstein_loss``:
            the whole distribution of the features along fixed directions); swd_weight: that term's weight in
            G's total (0: no such term).
    """

    content_layers: Mapping[str, float]
    style_layers: Mapping[str, float]
    content_weight: float
    style_weight: float
    tv_weight: float
    energy_cap: Mapping[str, float] | None = None
    swd_layers: Mapping[str, float] = dataclasses.field(default_factory=dict)
    swd_weight: float = 0.0

    @classmethod
    def from_recipe(cls, loss: Mapping[str, Any]) -> PerceptualObjective:
        """From a recipe's ``[loss]`` table (a ``LossConfig`` as a dict, or a model file's
        ``meta["training"]["loss"]``); keys it lacks take the shipped zoo recipe's values."""
        style = list(loss.get("style_layers") or ZOO_STYLE_LAYERS)
        style_weights = list(loss.get("style_layer_weights") or [1.0] * len(style))
        content = list(loss.get("content_layers") or [loss.get("content_layer", ZOO_CONTENT_LAYER)])
        content_weights = list(loss.get("content_layer_weights") or [1.0] * len(content))
        if len(style_weights) != len(style):
            style_weights = [1.0] * len(style)
        if len(content_weights) != len(content):
            content_weights = [1.0] * len(content)
        swd = list(loss.get("swd_layers") or [])
        swd_weights = list(loss.get("swd_layer_weights") or [])
        if len(swd_weights) != len(swd):
            swd_weights = [1.0] * len(swd)
        return cls(dict(zip(content, map(float, content_weights), strict=True)),
                   dict(zip(style, map(float, style_weights), strict=True)),
                   float(loss.get("content_weight", ZOO_CONTENT_WEIGHT)),
                   float(loss.get("style_weight", ZOO_STYLE_WEIGHT)),
                   float(loss.get("tv_weight", ZOO_TV_WEIGHT)), None,
                   dict(zip(swd, map(float, swd_weights), strict=True)),
                   float(loss.get("swd_weight") or 0.0))

    def rebalanced(self, factor: float) -> PerceptualObjective:
        """The same objective with style (both its terms) x ``factor`` and content / ``factor`` (a knob's
        move, as the trainer weighs each sample)."""
        return dataclasses.replace(self, content_weight=self.content_weight / factor,
                                   style_weight=self.style_weight * factor, swd_weight=self.swd_weight * factor)

    def with_energy_cap(self, cap: Mapping[str, float] | None) -> PerceptualObjective:
        return dataclasses.replace(self, energy_cap=cap)

    def bank_energy_cap(self, bank_targets: Mapping[str, torch.Tensor]) -> dict[str, float]:
        """The cap of ``loss.style_energy_cap``: per style layer, the median Gram energy (mean squared entry)
        of the bank's paintings, from their ``painting_targets`` stacked as ``{layer: (S, C, C)}``."""
        return {layer: float((bank_targets[layer] ** 2).mean(dim=(1, 2)).median()) for layer in self.style_layers}

    @property
    def output_layers(self) -> list[str]:
        """Every VGG layer the objective reads from the stylized frames."""
        return sorted(set(self.content_layers) | set(self.painting_layers))

    @property
    def painting_layers(self) -> list[str]:
        """Every VGG layer ``painting_targets`` reads from a painting."""
        swd = set(self.swd_layers) if self.swd_weight else set()
        return sorted(set(self.style_layers) | swd)

    def painting_targets(self, features: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """A painting's targets from E's features of it (``{layer: (B, C, H, W)}``, at least
        ``painting_layers``): ``{layer: (B, C, C)}`` Gram matrices of the style layers and, with the sliced
        Wasserstein term, ``{"quantiles/" + layer: (B, C, QUANTILES)}``. One definition for the bank, the
        pool and ``add-style``."""
        targets = {layer: L.gram_matrix(features[layer]) for layer in self.style_layers}
        if self.swd_weight:
            targets.update({f"{QUANTILES_KEY}{layer}": L.sorted_projections(features[layer])
                            for layer in self.swd_layers})
        return targets

    def terms(self, features: Features, out: torch.Tensor, frames: torch.Tensor,
              targets: Mapping[str, torch.Tensor], per_sample: bool = False) -> dict[str, torch.Tensor]:
        """The unweighted ``content``, ``style`` and ``tv`` terms of stylized ``out`` ``(B, 3, H, W)`` for
        the input ``frames`` and the style's ``targets`` (``painting_targets``, batched as B or 1), with E's
        ``features(images, layers)``; ``per_sample``: content and style as ``(B,)``. With a ``swd_weight``,
        also ``swd``."""
        out_feats = features(out, self.output_layers)
        with torch.no_grad():
            frame_feats = features(frames, list(self.content_layers))
        content = sum(weight * L.content_loss(out_feats[layer], frame_feats[layer], per_sample=per_sample)
                      for layer, weight in self.content_layers.items())
        grams = {layer: targets[layer] for layer in self.style_layers}
        style = L.style_loss(out_feats, grams, dict(self.style_layers), per_sample=per_sample,
                             energy_cap=self.energy_cap)
        assert isinstance(content, torch.Tensor)
        terms = {"content": content, "style": style, "tv": L.total_variation(out)}
        if self.swd_weight:
            quantiles = {layer: targets[f"{QUANTILES_KEY}{layer}"] for layer in self.swd_layers}
            terms["swd"] = L.sliced_wasserstein_loss(out_feats, quantiles, dict(self.swd_layers),
                                                     per_sample=per_sample)
        return terms

    def total(self, terms: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The weighted sum of the terms (means, when they are per sample)."""
        total = (self.content_weight * terms["content"].mean() + self.style_weight * terms["style"].mean()
                 + self.tv_weight * terms["tv"])
        if self.swd_weight:
            total = total + self.swd_weight * terms["swd"].mean()
        return total
