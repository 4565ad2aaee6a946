"""The trained content-vs-style knob: in the style vector, the ONNX graph, Stylizer, live controls and CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from stylecast.cli import main
from stylecast.errors import StyleError
from stylecast.models.export import export_onnx
from stylecast.models.generator import GeneratorConfig
from stylecast.models.io import load_stylenet, save_stylenet
from stylecast.models.style import StyleInfo, StyleNet
from stylecast.runtime import live
from stylecast.runtime.live.control import handle_key
from stylecast.styles import set_knob, vector_width
from stylecast.styles.palette import PALETTE_WIDTH
from stylecast.stylizer import Stylizer


@pytest.fixture(scope="module")
def knob_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny model whose knob has been 'trained' (a random knob modulation), so settings differ."""
    torch.manual_seed(3)
    net = StyleNet([StyleInfo("alpha"), StyleInfo("beta")],
                   GeneratorConfig(stem_channels=8, channels=16, blocks=1, knob=True))
    with torch.no_grad():
        net.generator.modulation.weight.normal_(std=0.3)
        net.generator.knob_modulation.weight.normal_(std=0.5)
    return str(save_stylenet(net, tmp_path_factory.mktemp("knob") / "k.safetensors"))


def test_the_vector_carries_the_knob_last_of_gs_part_and_old_vectors_mean_the_balance(knob_model: str) -> None:
    stylizer = Stylizer(knob_model)
    generator = stylizer.meta["generator"]
    assert vector_width({**generator, "knob": False}) + 1 + PALETTE_WIDTH == stylizer.width
    knob_at = vector_width(generator) - 1                       # then the palette
    code = stylizer.code("alpha")
    assert code[0, knob_at] == 0.0                              # widened: the trained balance
    assert set_knob(code, 1.0, generator)[0, knob_at] == pytest.approx(0.5)
    assert set_knob(code, 0.0, generator)[0, knob_at] == pytest.approx(-0.5)
    assert code[0, knob_at] == 0.0                              # set_knob copies
    assert not set_knob(code, 0.0, generator)[0, knob_at + 1:].any()  # the palette tail is left alone


def test_onnx_graph_matches_pytorch_across_the_knob(knob_model: str, tmp_path: Path) -> None:
    net, _ = load_stylenet(knob_model)
    session = ort.InferenceSession(str(export_onnx(net.generator, tmp_path / "k.onnx", raw=True)),
                                   providers=["CPUExecutionProvider"])
    frame = torch.rand(1, 3, 45, 62)
    code = net.bank[1:2].detach()
    outputs = []
    for knob in (-0.5, 0.2):
        style = np.concatenate([code.numpy(), np.zeros((1, net.generator.offset_dim)), [[knob]]], 1).astype(np.float32)
        with torch.no_grad():
            want = net.generator(frame, code, knob=torch.tensor([[knob]]))
        got = session.run(None, {"frame": frame.numpy(), "style": style})[0]
        assert np.abs(got - want.numpy()).max() <= 1e-3
        outputs.append(got)
    assert np.abs(outputs[0] - outputs[1]).max() > 1e-2


def test_stylizer_knob_changes_the_picture_and_checks_its_range(knob_model: str) -> None:
    stylizer = Stylizer(knob_model)
    frame = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    middle = stylizer.stylize(frame, "alpha")
    assert np.array_equal(middle, stylizer.stylize(frame, "alpha", knob=0.5))
    assert not np.array_equal(middle, stylizer.stylize(frame, "alpha", knob=0.0))
    for bad in (float("nan"), float("inf"), -0.1, 1.5):
        with pytest.raises(StyleError, match="knob"):
            stylizer.vector("alpha", bad)


def test_a_model_without_a_knob_refuses_one(model: str) -> None:
    stylizer = Stylizer(model)
    assert not stylizer.has_knob
    with pytest.raises(StyleError, match="without the content-vs-style knob"):
        stylizer.vector("alpha", 0.3)
    controls = live.LiveControls(stylizer, "alpha")
    assert controls.state()["knob"] is None
    assert handle_key("]", controls) is None and controls.state()["knob"] is None
    with pytest.raises(StyleError):
        controls.update({"knob": 0.3})


def test_live_controls_move_the_knob_by_keys_and_requests(knob_model: str) -> None:
    stylizer = Stylizer(knob_model)
    controls = live.LiveControls(stylizer, "alpha", knob=0.2)
    assert controls.state()["knob"] == pytest.approx(0.2)
    handle_key("]", controls)
    handle_key("]", controls)
    assert controls.state()["knob"] == pytest.approx(0.4)
    handle_key("[", controls)
    assert controls.state()["knob"] == pytest.approx(0.3)
    settings = controls.settings(1e9)
    assert settings.code[0, vector_width(stylizer.meta["generator"]) - 1] == pytest.approx(-0.2)  # G gets it
    for bad in (float("nan"), float("inf"), "0.3", True, 2):
        with pytest.raises(StyleError):
            controls.update({"knob": bad, "strength": 0.5})
    assert controls.state()["knob"] == pytest.approx(0.3) and controls.state()["strength"] == 1.0


def test_stylize_cli_knob(knob_model: str, model: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from PIL import Image

    photo = tmp_path / "p.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(photo)
    outs = []
    for knob in ("0", "1"):
        out = tmp_path / f"k{knob}.png"
        assert main(["stylize", str(photo), "-o", str(out), "--style", "alpha", "--model", knob_model,
                     "--knob", knob]) == 0
        outs.append(np.asarray(Image.open(out)))
    assert not np.array_equal(*outs)
    capsys.readouterr()
    assert main(["stylize", str(photo), "-o", str(tmp_path / "x.png"), "--style", "alpha", "--model", model,
                 "--knob", "0.3"]) == 2
    assert "without the content-vs-style knob" in capsys.readouterr().err
    assert main(["stylize", str(photo), "-o", str(tmp_path / "y.png"), "--style", "alpha", "--model", knob_model,
                 "--knob", "nan"]) == 2
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "y.png").exists()
