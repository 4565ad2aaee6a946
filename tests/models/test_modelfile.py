from __future__ import annotations

import json
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from stylecast.errors import ModelFileError
from stylecast.modelfile import read_metadata, read_model_file, write_model_file
from stylecast.models.generator import GeneratorConfig
from stylecast.models.io import load_stylenet, save_stylenet
from stylecast.models.style import StyleInfo, StyleNet

CONFIG = GeneratorConfig(stem_channels=8, channels=16, blocks=1, code_dim=16)


def _net() -> StyleNet:
    torch.manual_seed(3)
    return StyleNet([StyleInfo("alpha", artist="A. Painter", title="Alpha", year="1900", credit="PD"),
                     StyleInfo("beta")], CONFIG, encoder_hidden=32)


def test_round_trip_keeps_outputs_and_credits(tmp_path: Path) -> None:
    net = _net()
    path = save_stylenet(net, tmp_path / "m.safetensors", {"loss": {"style_weight": 1.0}})
    loaded, meta = load_stylenet(path)
    frame = torch.rand(1, 3, 20, 28)
    with torch.no_grad():
        torch.testing.assert_close(loaded.generator(frame, loaded.bank[:1]), net.generator(frame, net.bank[:1]))
    assert loaded.styles[0].artist == "A. Painter" and loaded.names == ["alpha", "beta"]
    assert meta["training"]["loss"]["style_weight"] == 1.0
    assert meta["generator"]["channels"] == 16


def test_files_from_before_the_upsample_choice_load_as_upsample_first(tmp_path: Path) -> None:
    old = StyleNet([StyleInfo("alpha")], GeneratorConfig(stem_channels=8, channels=16, blocks=1, code_dim=16,
                                                         upsample="upsample_first"), encoder_hidden=32)
    path = save_stylenet(old, tmp_path / "m.safetensors")
    tensors, meta = read_model_file(path)
    del meta["generator"]["upsample"]  # as the first releases wrote it
    legacy = write_model_file(tmp_path / "legacy.safetensors", tensors, meta)
    loaded, _ = load_stylenet(legacy)
    assert loaded.config.upsample == "upsample_first"
    frame = torch.rand(1, 3, 20, 28)
    with torch.no_grad():
        torch.testing.assert_close(loaded.generator(frame, loaded.bank[:1]), old.generator(frame, old.bank[:1]))


def test_an_unknown_upsample_is_refused_clearly(tmp_path: Path) -> None:
    tensors, meta = read_model_file(save_stylenet(_net(), tmp_path / "m.safetensors"))
    meta["generator"]["upsample"] = "pixel_shuffle"
    path = write_model_file(tmp_path / "future.safetensors", tensors, meta)
    with pytest.raises(ModelFileError, match="generator.upsample = 'pixel_shuffle', not one of"):
        load_stylenet(path)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("blocks", "five", "generator.blocks = 'five', not a whole number"),
    ("channels", 10**9, "generator.channels = 1000000000"),
    ("code_dim", True, "generator.code_dim = True"),
    ("knob", "yes", "generator.knob = 'yes', not true or false"),
])
def test_malformed_metadata_is_one_message_on_every_reader(tmp_path: Path, key: str, value: object,
                                                           message: str) -> None:
    from stylecast.modelfile import read_metadata

    tensors, meta = read_model_file(save_stylenet(_net(), tmp_path / "m.safetensors"))
    meta["generator"][key] = value
    path = write_model_file(tmp_path / "bad.safetensors", tensors, meta)
    for reader in (read_metadata, read_model_file, load_stylenet):
        with pytest.raises(ModelFileError, match=message):
            reader(path)


def test_missing_or_misshapen_tensors_are_named_without_torchs_dump(tmp_path: Path) -> None:
    tensors, meta = read_model_file(save_stylenet(_net(), tmp_path / "m.safetensors"))
    missing = dict(tensors)
    del missing["generator.stem.weight"]
    with pytest.raises(ModelFileError, match=r"tensor generator.stem.weight missing\)") as caught:
        load_stylenet(write_model_file(tmp_path / "missing.safetensors", missing, meta))
    assert "state_dict" not in str(caught.value) and "\n" not in str(caught.value)
    misshapen = {**tensors, "generator.stem.weight": tensors["generator.stem.weight"][:1]}
    with pytest.raises(ModelFileError, match="generator.stem.weight has shape"):
        load_stylenet(write_model_file(tmp_path / "shape.safetensors", misshapen, meta))


@pytest.mark.parametrize("key", ["generator.stem.weight", "bank", "encoder.net.0.weight"])
def test_non_finite_weights_are_refused_before_they_blacken_a_video(tmp_path: Path, key: str) -> None:
    from stylecast.modelfile import model_digest
    from stylecast.stylizer import Stylizer

    tensors, meta = read_model_file(save_stylenet(_net(), tmp_path / "m.safetensors"))
    poisoned = {k: v.copy() for k, v in tensors.items()}
    poisoned[key].flat[0] = np.nan
    path = write_model_file(tmp_path / "nan.safetensors", poisoned, meta)
    with pytest.raises(ModelFileError, match=f"non-finite weights .* in {key}"):
        load_stylenet(path)
    if key != "encoder.net.0.weight":   # the light path reads G (digest) and the bank, not the encoder
        with pytest.raises(ModelFileError, match="non-finite"):
            model_digest(path) if key.startswith("generator") else Stylizer(path)


def test_file_holds_no_pickle(tmp_path: Path) -> None:
    path = save_stylenet(_net(), tmp_path / "m.safetensors")
    raw = path.read_bytes()
    (header_len,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + header_len])
    # safetensors layout: a JSON header then raw little-endian tensor bytes, nothing else
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    end = max(v["data_offsets"][1] for v in tensors.values())
    assert len(raw) == 8 + header_len + end
    assert all(v["dtype"] == "F32" for v in tensors.values())
    assert b"\x80\x04\x95" not in raw[:8 + header_len]  # no pickle protocol-4 frame in the header


def test_pickle_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "evil.safetensors"
    path.write_bytes(pickle.dumps({"x": 1}))
    with pytest.raises(ModelFileError, match="never unpickles"):
        read_metadata(path)
    torch.save(_net().state_dict(), tmp_path / "ckpt.pt")
    with pytest.raises(ModelFileError, match="never unpickles"):
        read_metadata(tmp_path / "ckpt.pt")


def test_a_header_length_starting_like_a_pickle_still_reads(tmp_path: Path) -> None:
    import numpy as np

    # The header length is little-endian: its first byte is 0x80 (pickle's first byte) for about
    # one file in 32. Pad the metadata until that happens and check the file still reads.
    for pad in range(400):
        meta = {"pad": "x" * pad, "generator": GeneratorConfig().to_dict(), "styles": [{"name": "a"}]}
        path = write_model_file(tmp_path / "m.safetensors", {"w": np.zeros(2, np.float32)}, meta)
        if path.read_bytes()[:1] == b"\x80":
            break
    else:
        pytest.fail("no padding gave a 0x80 first byte")
    assert read_metadata(path)["pad"] == "x" * pad


def test_unknown_version_missing_empty_and_truncated(tmp_path: Path) -> None:
    import numpy as np

    newer = write_model_file(tmp_path / "v2.safetensors", {"w": np.zeros(2, np.float32)}, {})
    text = newer.read_bytes().replace(b'\\"format_version\\": 1', b'\\"format_version\\": 9')
    newer.write_bytes(text)
    with pytest.raises(ModelFileError, match="version 9"):
        read_metadata(newer)
    with pytest.raises(ModelFileError, match="does not exist"):
        read_metadata(tmp_path / "nope.safetensors")
    (tmp_path / "empty.safetensors").write_bytes(b"")
    with pytest.raises(ModelFileError, match="empty"):
        read_metadata(tmp_path / "empty.safetensors")
    good = save_stylenet(_net(), tmp_path / "good.safetensors")
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ModelFileError, match="damaged or truncated"):
        read_model_file(cut)


def test_write_is_atomic_on_failure(tmp_path: Path) -> None:
    import numpy as np

    target = tmp_path / "m.safetensors"
    with pytest.raises(Exception):  # noqa: B017 - any failure of the writer
        write_model_file(target, {"w": np.zeros(2, np.float32)}, {"bad": object()})
    assert list(tmp_path.iterdir()) == []
