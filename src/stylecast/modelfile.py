"""The stylecast model file: one ``.safetensors`` file with JSON metadata in its header.

The metadata (under the header key ``stylecast``) holds the format version, the generator's
architecture, the styles with their credits and the training config. Reading needs only numpy and
safetensors (the light runtime has no torch); nothing is ever unpickled.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from stylecast.atomic import atomic_output
from stylecast.errors import ModelFileError

FORMAT_NAME = "stylecast-model"
FORMAT_VERSION = 1
METADATA_KEY = "stylecast"
# The largest header safetensors allows; anything bigger is not a model file of ours.
_MAX_HEADER = 100_000_000
# G's architecture fields and the range a real model has: a file outside them is damaged or hostile
# (a "blocks": 100000 would build a network that fills the memory before anything could fail).
_GENERATOR_INTS = {"stem_channels": (1, 1024), "channels": (1, 1024), "blocks": (0, 64), "block_kernel": (1, 15),
                   "code_dim": (1, 4096)}
_UPSAMPLE_MODES = ("project_first", "upsample_first")


def _check_generator(meta: Mapping[str, Any], path: Path) -> None:
    generator = meta.get("generator")
    fix = "re-export it with `stylecast train`, or use another model file"
    if not isinstance(generator, Mapping):
        raise ModelFileError(f"the metadata of {path} has no generator architecture: {fix}")
    for key, (low, high) in _GENERATOR_INTS.items():
        value = generator.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ModelFileError(f"the metadata of {path} gives generator.{key} = {value!r}, not a whole number "
                                 f"from {low} to {high}: the file is damaged; {fix}")
    if generator.get("upsample", "upsample_first") not in _UPSAMPLE_MODES:
        raise ModelFileError(f"the metadata of {path} gives generator.upsample = {generator.get('upsample')!r}, "
                             f"not one of {', '.join(_UPSAMPLE_MODES)}: {fix}")
    if not isinstance(generator.get("knob", False), bool):
        raise ModelFileError(f"the metadata of {path} gives generator.knob = {generator.get('knob')!r}, not "
                             f"true or false: {fix}")
    styles = meta.get("styles")
    if (not isinstance(styles, list) or not styles
            or not all(isinstance(st, Mapping) and isinstance(st.get("name"), str) and st["name"] for st in styles)):
        raise ModelFileError(f"the metadata of {path} does not list its styles by name: {fix}")


def check_finite(key: str, tensor: np.ndarray, path: str | Path) -> None:
    """Refuse a tensor with NaN or inf: it would stylize every frame to black, silently."""
    if tensor.dtype.kind == "f" and not np.isfinite(tensor).all():
        raise ModelFileError(f"model file {path} holds non-finite weights (NaN or inf) in {key}: it comes from a "
                             "diverged training run or is damaged; use an earlier checkpoint or another model")


def _sniff(path: Path) -> None:
    """Reject files that are not safetensors with a message naming what they look like."""
    if not path.exists():
        raise ModelFileError(f"model file {path} does not exist: check the path, or omit --model to use "
                             "the default model")
    if path.is_dir():
        raise ModelFileError(f"{path} is a folder, not a model file: give the path of a .safetensors file")
    with path.open("rb") as handle:
        head = handle.read(16)
    if not head:
        raise ModelFileError(f"model file {path} is empty: re-export it with `stylecast train` or "
                             "re-download it")
    # safetensors: an 8-byte little-endian header length, then the JSON header. Check that first:
    # the length's low byte can be anything, 0x80 (a pickle's first byte) included.
    if len(head) >= 9 and head[8:9] == b"{" and struct.unpack("<Q", head[:8])[0] <= _MAX_HEADER:
        return
    if head[:1] == b"\x80" or head[:2] == b"PK":
        raise ModelFileError(
            f"{path} is a pickle/PyTorch checkpoint, which stylecast never unpickles for safety: "
            "give a .safetensors model file (a training run writes model.safetensors next to its "
            "checkpoints)")
    if len(head) < 9:
        raise ModelFileError(f"model file {path} is truncated: re-export or re-download it")
    raise ModelFileError(f"{path} is not a safetensors model file: give a model written by `stylecast train`")


def read_metadata(path: str | Path) -> dict[str, Any]:
    """Validate and return the JSON metadata of a model file without loading its tensors."""
    from safetensors import safe_open

    path = Path(path)
    _sniff(path)
    try:
        with safe_open(str(path), framework="numpy") as handle:
            raw = (handle.metadata() or {}).get(METADATA_KEY)
    except Exception as error:  # safetensors raises its own types for truncation and bad headers
        raise ModelFileError(f"model file {path} is damaged or truncated ({error}): re-export or "
                             "re-download it") from error
    if raw is None:
        raise ModelFileError(f"{path} is a safetensors file but not a stylecast model (no '{METADATA_KEY}' "
                             "metadata): give a model written by `stylecast train`")
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ModelFileError(f"the metadata of {path} is not valid JSON: re-export the model") from error
    if meta.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{path} is not a stylecast model file: give a model written by `stylecast train`")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"{path} uses model format version {version}, but this stylecast reads version "
            f"{FORMAT_VERSION}: upgrade stylecast (`pip install -U stylecast`) or re-export the model "
            "with this version")
    _check_generator(meta, path)
    return dict(meta)


def read_model_file(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Return ``(tensors as float32 numpy arrays, metadata)``."""
    from safetensors.numpy import load_file

    meta = read_metadata(path)
    try:
        tensors = load_file(str(path))
    except Exception as error:
        raise ModelFileError(f"model file {path} is damaged or truncated ({error}): re-export or "
                             "re-download it") from error
    for key, tensor in tensors.items():
        check_finite(key, tensor, path)
    return {k: v.astype(np.float32, copy=False) for k, v in tensors.items()}, meta


def write_model_file(path: str | Path, tensors: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> Path:
    """Write tensors and metadata atomically (temporary name in the same folder, then rename)."""
    from safetensors.numpy import save_file

    full_meta = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, **meta}
    text = json.dumps(full_meta, sort_keys=True)  # before any file exists: bad metadata leaves nothing
    with atomic_output(path) as tmp:
        save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(tmp), metadata={METADATA_KEY: text})
    return Path(path)


def model_digest(model_path: str | Path) -> str:
    """SHA-1 of a model file's G: every tensor named ``generator.*``, in sorted key order.

    Only G counts: a code drives G's normalisation layers, so it stays valid when the bank or the
    style encoder of the file change but not when G does. Names, dtypes and shapes are hashed with
    the bytes so that a reshaped or renamed tensor changes the digest too.

    Raises:
        ModelFileError: the file is not a readable stylecast model.
    """
    import hashlib

    from safetensors import safe_open

    path = Path(model_path)
    read_metadata(path)  # the model-file checks, with their messages
    digest = hashlib.sha1()
    try:
        with safe_open(str(path), framework="numpy") as handle:
            for key in sorted(k for k in handle.keys() if k.startswith("generator.")):
                tensor = np.ascontiguousarray(handle.get_tensor(key))
                check_finite(key, tensor, path)
                digest.update(f"{key}|{tensor.dtype.str}|{tensor.shape}|".encode())
                digest.update(tensor.tobytes())
    except ModelFileError:
        raise
    except Exception as error:  # safetensors raises its own types for truncated files
        raise ModelFileError(f"model file {path} is damaged or truncated ({error}): re-export or "
                             "re-download it") from error
    return digest.hexdigest()


def default_model_path() -> Path:
    """The model shipped inside the package."""
    return Path(__file__).parent / "zoo" / "default.safetensors"
