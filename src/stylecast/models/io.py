"""Save and load a ``StyleNet`` as a stylecast model file (torch side of ``modelfile.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from stylecast._version import __version__
from stylecast.errors import ModelFileError
from stylecast.modelfile import default_model_path, read_model_file, write_model_file
from stylecast.models.generator import GeneratorConfig
from stylecast.models.style import StyleInfo, StyleNet


def save_stylenet(net: StyleNet, path: str | Path, training: Mapping[str, Any] | None = None) -> Path:
    """Write ``net`` (generator, bank, encoder) with its styles' credits and training config."""
    tensors = {k: v.detach().float().cpu().contiguous().numpy() for k, v in net.state_dict().items()}
    meta = {
        "stylecast_version": __version__,
        "generator": net.config.to_dict(),
        "encoder_hidden": net.encoder_hidden,
        "encoder_offsets": net.encoder_offsets,
        "styles": [style.to_dict() for style in net.styles],
        "training": dict(training or {}),
    }
    return write_model_file(path, tensors, meta)


def load_stylenet(path: str | Path | None = None) -> tuple[StyleNet, dict[str, Any]]:
    """Load a model file (default: the shipped model) into a ``StyleNet`` in eval mode."""
    path = Path(path) if path is not None else default_model_path()
    tensors, meta = read_model_file(path)
    try:
        # Files from before the choice of upsampling existed all upsampled first.
        config = GeneratorConfig(**{"upsample": "upsample_first", **meta["generator"]})
        styles = [StyleInfo.from_dict(s) for s in meta["styles"]]
        net = StyleNet(styles, config, encoder_hidden=int(meta.get("encoder_hidden", 256)),
                       encoder_offsets=bool(meta.get("encoder_offsets", False)))
    except (KeyError, TypeError, ValueError) as error:
        raise ModelFileError(f"model file {path} does not match this stylecast's architecture ({error}): "
                             "re-export it with this version") from error
    problem = tensor_mismatch({k: tuple(v.shape) for k, v in net.state_dict().items()},
                              {k: tuple(v.shape) for k, v in tensors.items()})
    if problem:
        raise ModelFileError(f"model file {path} does not hold the network its metadata describes ({problem}): "
                             "it is damaged or was edited; re-export it with `stylecast train`")
    net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in tensors.items()})
    return net.eval(), meta


def tensor_mismatch(expected: Mapping[str, tuple[int, ...]], found: Mapping[str, tuple[int, ...]]) -> str:
    """The first difference between two ``{name: shape}`` maps, in a few words; ``""`` if none."""
    missing = sorted(set(expected) - set(found))
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        return f"tensor {missing[0]}{more} missing"
    unknown = sorted(set(found) - set(expected))
    if unknown:
        return f"unknown tensor {unknown[0]}"
    for key in sorted(expected):
        if expected[key] != found[key]:
            return f"tensor {key} has shape {found[key]}, the architecture needs {expected[key]}"
    return ""
