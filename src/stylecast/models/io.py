"""Save and load a ``StyleNet`` as a stylecast model file (torch side of ``modelfile.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from stylecast import __version__
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
        net = StyleNet(styles, config, encoder_hidden=int(meta.get("encoder_hidden", 256)))
        net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in tensors.items()})
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise ModelFileError(f"model file {path} does not match this stylecast's architecture ({error}): "
                             "re-export it with this version") from error
    return net.eval(), meta
