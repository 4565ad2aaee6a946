"""Training checkpoints: everything needed to resume exactly, written atomically.

Checkpoints are our own files, read back with ``torch.load(weights_only=True)`` (a restricted
unpickler that only rebuilds tensors and plain containers). Model files for users are safetensors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from stylecast.atomic import atomic_output
from stylecast.errors import InputError

CHECKPOINT_VERSION = 1


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    with atomic_output(path) as tmp:
        torch.save({"checkpoint_version": CHECKPOINT_VERSION, **state}, tmp)
    return Path(path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"checkpoint {path} does not exist: give the checkpoint.pt of an earlier run "
                         "(in its --out folder)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch's own text would advise unsafe loading: never pass it on
        raise InputError(f"checkpoint {path} cannot be read as a stylecast checkpoint (damaged, truncated, or "
                         "another program's file): resume from another checkpoint.pt or start afresh") from error
    if not isinstance(state, dict) or state.get("checkpoint_version") != CHECKPOINT_VERSION:
        raise InputError(f"checkpoint {path} is not a stylecast checkpoint of version {CHECKPOINT_VERSION}: "
                         "start a new run without --resume")
    return state
