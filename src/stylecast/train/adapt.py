"""Adapting a new style to a trained G: an instant code, then a few minutes of optimising it.

``stylecast add-style`` turns a painting into a style in two stages:

1. **Instant code**: the model's style encoder on E's statistics of the painting (what training
   taught it to predict), available in about a second.
2. **Adaptation**: gradient descent, G and E frozen, on the training losses (content + style +
   total variation) over crops of a few content photos, within a time budget. It trains the code
   and, beside it, offsets to G's normalisation parameters (a scale and a shift per channel,
   1,184 numbers for the shipped G): the code alone reaches only the 64-dimensional part of that
   space which the zoo's styles span, and a painting unlike them (Van Gogh's *Bedroom*) needs more.
   On *Bedroom* the offsets cut the style loss 41% more than the code alone after 100 steps
   (BENCHMARKS.md). They are kept only where they pay: on a fixed batch, at least
   ``OFFSET_GAIN`` lower style loss than the same code without them.

G's weights stay as they are: G is shared by every style and exported once to ONNX, and a user
style is a style vector for it (``styles.py``) like a bank entry. Adapting G itself would need a
second model file per style and a re-export; on a 2-core CPU that is neither fast nor small.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from stylecast.data.images import ContentImages, _resize_short_side, _to_chw_uint8, list_images, load_rgb
from stylecast.errors import InputError
from stylecast.modelfile import default_model_path, model_digest, read_metadata
from stylecast.models.encoder import VGG19Features
from stylecast.models.io import load_stylenet
from stylecast.models.style import STYLE_STAT_LAYERS, StyleNet, style_statistics
from stylecast.styles import attach_palette
from stylecast.styles.library import StyleLibrary, UserStyle
from stylecast.styling.encode import painting_tensor
from stylecast.styling.painting import check_painting, painting_palette, painting_scale, read_painting
from stylecast.train.objective import PerceptualObjective, painting_balance
from stylecast.train.precision import autocast, resolve_precision

#: Content photos shipped for adaptation (see ``samples/CREDITS.md``).
SAMPLE_PHOTOS_DIR = Path(__file__).resolve().parents[1] / "samples" / "photos"

# Training crops 256 px from photos held at a 320 px shorter side; keep that scale ratio.
CROP_TO_PHOTO = 256 / 320
# Crops of the fixed batch on which the instant and the adapted code are compared at the end.
EVAL_CROPS = 4
# Smoothing of the per-step style loss: each step sees different crops, so one step's loss is noisy.
RUNNING_DECAY = 0.8
# Offsets are kept only when they lower the style loss on the fixed batch by at least this fraction.
OFFSET_GAIN = 0.05


@dataclass
class AdaptResult:
    """Outcome of :func:`adapt_style`.

    Attributes:
        code: float32 style vector: the adapted code ``(code_dim,)``, followed by the adapted
            offsets ``(offset_dim,)`` where they paid, or the encoder's own offsets when it predicts
            them (the instant vector if adapting did not help).
        instant_code: float32, the style encoder's vector: its code ``(code_dim,)``, and its offsets
            when it predicts them (``encoder.offsets``).
        code_dim: the length of the code part.
        steps: optimisation steps run.
        seconds: wall time of the whole call.
        style_loss_start, style_loss_end: style loss (Gram MSE, layer-weighted, not multiplied by
            the style weight) of the instant and of the returned code on one fixed batch of crops.
    """

    code: np.ndarray
    instant_code: np.ndarray
    steps: int
    seconds: float
    style_loss_start: float
    style_loss_end: float
    code_dim: int

    @property
    def has_offsets(self) -> bool:
        return self.code.size > self.code_dim


#: Reading a painting for ``add-style``: the one reader of every entry point (``stylecast.styling``).
load_style_image = read_painting


class _PhotoCrops(ContentImages):
    """``ContentImages`` built from arrays already in memory (same crops, flips and randomness)."""

    def __init__(self, photos: Sequence[np.ndarray], short_side: int) -> None:
        self.short_side = short_side
        self.paths = []
        self._images = []
        for index, photo in enumerate(photos):
            if photo.dtype != np.uint8 or photo.ndim != 3 or photo.shape[2] != 3:
                raise InputError(f"content photo {index} must be uint8 (H, W, 3), got {photo.dtype} {photo.shape}")
            resized = _resize_short_side(Image.fromarray(photo), short_side)
            self._images.append(_to_chw_uint8(np.array(resized, dtype=np.uint8)))
        if not self._images:
            raise InputError("no content photos given for adaptation: pass at least one, or none for the "
                             "shipped sample photos")


# Over 60 lines with its docstring (half of it: every argument of add-style's engine is documented here).
def adapt_style(model_path: Path | None, painting: np.ndarray, minutes: float = 10.0, max_steps: int | None = None,
                photos: Sequence[np.ndarray] | None = None, size: int = 192, batch: int = 2, lr: float = 0.05,
                offset_lr: float | None = 0.01, content_weight: float | None = None, style_weight: float | None = None,
                tv_weight: float | None = None, precision: str = "auto", seed: int = 0,
                on_step: Callable[[int, float], None] | None = None) -> AdaptResult:
    """Find a style vector for ``painting``: the style encoder's instant code, then adaptation.

    Args:
        model_path: the model file (``None``: the shipped model). It is only read.
        painting: ``uint8`` ``(H, W, 3)`` RGB, shorter side >= 64 px.
        minutes: wall-time budget of the whole call (setup and the final comparison included).
        max_steps: stop after this many steps even with time left (``None``: the budget decides).
        photos: content photos, ``uint8`` ``(H, W, 3)`` each (``None``: the shipped sample photos).
        size: side of the square crops G stylizes during adaptation.
        batch: crops per step.
        lr: Adam learning rate on the code (codes are O(1), so steps of a few hundredths).
        offset_lr: Adam learning rate on the normalisation offsets (scales and shifts are O(1) and act
            directly, so smaller steps); ``None`` trains the code alone.
        content_weight, style_weight, tv_weight: ``None``: the model's training recipe's weights
            (``meta["training"]["loss"]``), else 1e-5 / 1e-4 / 10.
        precision: ``"bf16"`` (autocast, about twice as fast on a CPU with AVX-512), ``"fp32"``, or
            ``"auto"``: bf16 where the CPU runs it natively, else fp32.
        seed: seeds every crop; the same inputs and seed give the same code.
        on_step: called as ``on_step(step, running_style_loss)`` after every step (progress, or a
            way to stop: an exception it raises propagates, ``KeyboardInterrupt`` included).

    Returns:
        :class:`AdaptResult`. The returned vector is the one with the lowest running style loss, kept
        only if it beats the instant code on a fixed batch of crops; its offsets are dropped unless
        they pay there (``OFFSET_GAIN``).

    Raises:
        InputError: a bad painting, photo or setting.
        ModelFileError: an unreadable model file.
    """
    started = time.monotonic()
    check_painting(painting, "the style image")
    precision = resolve_precision(precision, torch.device("cpu"))
    if not minutes > 0 or not math.isfinite(minutes):
        raise InputError(f"the time budget must be a positive number of minutes, not {minutes}")
    if (size < 32 or batch < 1 or (max_steps is not None and max_steps < 0) or not lr > 0
            or (offset_lr is not None and not offset_lr > 0)):
        raise InputError(f"bad adaptation settings (size={size}, batch={batch}, max_steps={max_steps}, lr={lr}): "
                         "need size >= 32, batch >= 1, max_steps >= 0, lr > 0")
    if photos is None:
        photos = [load_rgb(path) for path in list_images(SAMPLE_PHOTOS_DIR)]
    crops = _PhotoCrops(photos, short_side=max(size, round(size / CROP_TO_PHOTO)))
    net, meta = load_stylenet(model_path)
    net.requires_grad_(False)
    net.eval()
    loss_recipe = (meta.get("training") or {}).get("loss") or {}
    # A user's painting is weighed as training weighed the pool's (objective.painting_balance).
    recipe = PerceptualObjective.from_recipe(loss_recipe).rebalanced(painting_balance(loss_recipe))
    objective = PerceptualObjective(recipe.content_layers, recipe.style_layers,
                                    recipe.content_weight if content_weight is None else content_weight,
                                    recipe.style_weight if style_weight is None else style_weight,
                                    recipe.tv_weight if tv_weight is None else tv_weight)
    problem = _Problem(net, VGG19Features(), objective, painting, painting_scale(meta), precision)
    # A fixed batch (its own seed) on which the instant and the adapted code are compared fairly.
    eval_frames = crops.sample(EVAL_CROPS, size, torch.Generator().manual_seed(seed + 1))
    eval_started = time.monotonic()
    loss_start = problem.style_loss(problem.instant, eval_frames)  # with the instant offsets
    eval_seconds = time.monotonic() - eval_started
    deadline = started + minutes * 60.0 - 2 * eval_seconds  # the final comparison must fit in the budget
    best_code, best_offsets, steps = _optimise(problem, crops, size, batch, lr, offset_lr, max_steps, seed,
                                               deadline, on_step)
    chosen, loss_end = problem.vector(problem.instant), loss_start
    if steps:
        candidate, candidate_loss = problem.vector(best_code), problem.style_loss(best_code, eval_frames)
        if offset_lr is not None:
            with_offsets = problem.style_loss(best_code, eval_frames, best_offsets)
            if with_offsets < (1.0 - OFFSET_GAIN) * candidate_loss:  # the offsets must pay, or they go
                candidate, candidate_loss = torch.cat([best_code, best_offsets], dim=1), with_offsets
        if candidate_loss < loss_start:  # adapting must pay on the fixed batch, or the instant code stays
            chosen, loss_end = candidate, candidate_loss
    return AdaptResult(code=chosen[0].numpy().astype(np.float32),
                       instant_code=problem.vector(problem.instant)[0].numpy().astype(np.float32), steps=steps,
                       seconds=time.monotonic() - started, style_loss_start=loss_start, style_loss_end=loss_end,
                       code_dim=problem.instant.shape[1])


class _Problem:
    """What adaptation optimises against: G (frozen), E, the model's own perceptual objective and the
    painting's targets (``objective.painting_targets``), with the style encoder's instant code (and
    offsets, when it predicts them; else zeros) as the starting point."""

    def __init__(self, net: StyleNet, vgg: VGG19Features, objective: PerceptualObjective, painting: np.ndarray,
                 scale: int, precision: str) -> None:
        self.generator, self.vgg, self.objective, self.precision = net.generator, vgg, objective, precision
        # The instant code and the Gram targets from the painting at the training scale, in float32 as
        # the trainer computes them (stylecast.styling: the one preprocessing).
        with torch.no_grad():
            layers = sorted(set(objective.painting_layers) | set(STYLE_STAT_LAYERS))
            feats = vgg(painting_tensor(painting, scale), layers)
            code, offsets = net.encoder.vector(style_statistics(feats))
            self.instant = code.float()                                                         # (1, code_dim)
            self.encoder_offsets = offsets is not None
            self.instant_offsets = (torch.zeros(1, net.generator.offset_dim) if offsets is None
                                    else offsets.float())                                       # (1, offset_dim)
            self.target_grams = objective.painting_targets(feats)

    def vector(self, code: torch.Tensor) -> torch.Tensor:
        """``code`` as G's part of a style vector: with the instant offsets when the encoder gave some."""
        return torch.cat([code, self.instant_offsets], dim=1) if self.encoder_offsets else code

    def terms(self, code: torch.Tensor, frames: torch.Tensor, offsets: torch.Tensor | None = None
              ) -> dict[str, torch.Tensor]:
        """The objective's terms for ``code`` with ``offsets`` (``None``: the instant offsets)."""
        offsets = self.instant_offsets if offsets is None else offsets
        with autocast(self.precision, torch.device("cpu")):
            out = self.generator(frames, code, offsets=offsets)
            assert isinstance(out, torch.Tensor)
            return self.objective.terms(self.vgg, out.float(), frames, self.target_grams)

    def style_loss(self, code: torch.Tensor, frames: torch.Tensor, offsets: torch.Tensor | None = None) -> float:
        with torch.no_grad():
            return float(self.terms(code, frames, offsets)["style"])


def _optimise(problem: _Problem, crops: _PhotoCrops, size: int, batch: int, lr: float, offset_lr: float | None,
              max_steps: int | None, seed: int, deadline: float, on_step: Callable[[int, float], None] | None
              ) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Adam on the code (and the offsets, unless ``offset_lr`` is None) until ``deadline`` (monotonic) or
    ``max_steps``; the code and offsets with the lowest running style loss, and the steps taken."""
    code = nn.Parameter(problem.instant.clone())
    offsets = nn.Parameter(problem.instant_offsets.clone())
    groups: list[dict[str, Any]] = [{"params": [code], "lr": lr}]
    if offset_lr is not None:
        groups.append({"params": [offsets], "lr": offset_lr})
    optimizer = torch.optim.Adam(groups)
    rng = torch.Generator().manual_seed(seed)
    best_code, best_offsets, best_running = problem.instant.clone(), problem.instant_offsets.clone(), math.inf
    running: float | None = None
    step = 0
    loop_started = time.monotonic()
    while max_steps is None or step < max_steps:
        per_step = (time.monotonic() - loop_started) / step if step else 0.0
        if time.monotonic() + per_step > deadline:  # stop while the next step still fits
            break
        frames = crops.sample(batch, size, rng)
        before, offsets_before = code.detach().clone(), offsets.detach().clone()
        terms = problem.terms(code, frames, offsets if offset_lr is not None else None)
        optimizer.zero_grad(set_to_none=True)
        problem.objective.total(terms).backward()
        optimizer.step()
        step += 1
        style_value = float(terms["style"].detach())
        running = style_value if running is None else RUNNING_DECAY * running + (1 - RUNNING_DECAY) * style_value
        # The loss was measured for the code before this update: that is the code it describes.
        if running < best_running:
            best_running, best_code, best_offsets = running, before, offsets_before
        if on_step is not None:
            on_step(step, running)
    return best_code, best_offsets, step


@dataclass
class AddedStyle:
    """Outcome of :func:`add_style`: the saved library entry and the adaptation that made it."""

    style: UserStyle
    path: Path
    result: AdaptResult


def add_style(image: str | Path, name: str, minutes: float = 10.0, model: str | Path | None = None,
              library: StyleLibrary | None = None, artist: str = "", title: str = "", year: str = "",
              credit: str = "", source_name: str | None = None,
              on_step: Callable[[int, float], None] | None = None) -> AddedStyle:
    """``stylecast add-style``: adapt a code to the painting ``image`` and save it in the user's library.

    Everything is checked (name, budget, painting) before the slow part, and nothing is saved unless
    adaptation finishes: an exception from ``on_step`` (a cancel, Ctrl-C) leaves the library as it was.

    Args:
        image: the painting file.
        name: the new style's name (:data:`stylecast.styles.library.NAME_PATTERN`), free in ``library`` and
            among the model's styles.
        minutes: adaptation budget; 0 keeps the style encoder's instant code.
        model: the model file (``None``: the shipped model).
        library: where the style lands (``None``: the user's library).
        artist, title, year, credit: the credits stored with the style; ``title`` defaults to the
            painting's file name without suffix.
        source_name: the painting's file name to record (default: the name of ``image``); a server
            that stores uploads under its own names passes the name the user gave.
        on_step: as in :func:`adapt_style`.

    Raises:
        StyleError: the name is invalid or taken.
        InputError: a negative budget, or a missing, unreadable or too small painting.
        StylecastError: the library cannot be written.
    """
    from datetime import UTC, datetime

    model_path = Path(model) if model is not None else default_model_path()
    meta = read_metadata(model_path)
    library = library if library is not None else StyleLibrary()
    library.validate_name(name, [s["name"] for s in meta["styles"]])
    if not minutes >= 0 or not math.isfinite(minutes):
        raise InputError(f"the budget of {minutes} minutes is not valid: give 0 for the instant code only, "
                         "or a positive number of minutes")
    source = Path(image)
    painting = load_style_image(source)
    source_name = source_name or source.name
    # A zero budget still runs adapt_style, for its instant code and the loss it reports, but no step.
    result = adapt_style(model_path, painting, minutes=minutes or 1.0, max_steps=0 if minutes == 0 else None,
                         on_step=on_step)
    # G's part as adapted, then the painting's palette (at the scale the instant code saw it).
    vector = attach_palette(result.code[None], painting_palette(painting, painting_scale(meta)), meta["generator"])[0]
    style = UserStyle(name=name, code=vector, model_digest=model_digest(model_path), artist=artist,
                      title=title or Path(source_name).stem, year=year, credit=credit, source=source_name,
                      created=datetime.now(UTC).isoformat(timespec="seconds"),
                      adapted_seconds=round(result.seconds, 1), adapted_steps=result.steps)
    path = library.add(style, painting=painting)
    return AddedStyle(style=style, path=path, result=result)
