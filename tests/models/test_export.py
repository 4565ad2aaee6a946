from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from stylecast.cli import main
from stylecast.models.export import InferenceGraph, export_onnx
from stylecast.models.generator import GeneratorConfig
from stylecast.models.io import load_stylenet, save_stylenet
from stylecast.models.style import StyleInfo, StyleNet
from stylecast.runtime.engine import create_engine
from stylecast.runtime.postprocess import finish, inference_inputs


@pytest.fixture(scope="module", params=["project_first", "upsample_first"])
def model(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both ways up of G: today's, and that of model files from the first releases."""
    torch.manual_seed(7)
    net = StyleNet([StyleInfo("alpha"), StyleInfo("beta")], GeneratorConfig(upsample=request.param))
    with torch.no_grad():  # a trained-like modulation, so styles differ
        net.generator.modulation.weight.normal_(std=0.2)
    return save_stylenet(net, tmp_path_factory.mktemp("m") / "m.safetensors")


def _style_vector(net: StyleNet, index: int, offsets_std: float = 0.0) -> np.ndarray:
    """Bank code ``index`` as a ``(1, width)`` style vector, with random offsets if ``offsets_std``."""
    offsets = np.random.default_rng(index).normal(0, offsets_std, (1, net.generator.offset_dim))
    return np.concatenate([net.bank[index:index + 1].detach().numpy(), offsets], axis=1).astype(np.float32)


@pytest.mark.parametrize("offsets_std", [0.0, 0.3])
def test_raw_export_matches_pytorch_on_an_odd_size(model: Path, tmp_path: Path, offsets_std: float) -> None:
    net, _ = load_stylenet(model)
    path = export_onnx(net.generator, tmp_path / "g.onnx", raw=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    frame = torch.rand(2, 3, 67, 93)
    style = _style_vector(net, 1, offsets_std)
    code_dim = net.config.code_dim
    with torch.no_grad():
        expected = net.generator(frame, torch.from_numpy(style[:, :code_dim]),
                                 offsets=torch.from_numpy(style[:, code_dim:]))
    assert isinstance(expected, torch.Tensor)
    got = session.run(None, {"frame": frame.numpy(), "style": style})[0]
    assert got.shape == (2, 3, 67, 93)
    assert np.abs(got - expected.numpy()).max() <= 1e-3


def test_frame_graph_matches_pytorch(model: Path, tmp_path: Path) -> None:
    net, _ = load_stylenet(model)
    path = export_onnx(net.generator, tmp_path / "f.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    frames = np.random.default_rng(0).integers(0, 256, (2, 41, 59, 3), dtype=np.uint8)
    code = _style_vector(net, 0, 0.3)
    got = session.run(None, inference_inputs(frames, code))[0]
    with torch.no_grad():
        want = InferenceGraph(net.generator).eval()(torch.from_numpy(frames), torch.from_numpy(code)).numpy()
    assert got.dtype == np.uint8 and got.shape == frames.shape
    assert np.abs(got.astype(int) - want).max() <= 1


def test_strength_and_colour_preservation() -> None:
    rng = np.random.default_rng(3)
    original = rng.integers(0, 256, (2, 9, 11, 3), dtype=np.uint8)
    stylized = rng.integers(0, 256, (2, 9, 11, 3), dtype=np.uint8)
    assert finish(original, stylized) is stylized  # the default costs nothing
    np.testing.assert_array_equal(finish(original, stylized, strength=0.0), original)
    half = finish(original, stylized, strength=0.5).astype(float)
    assert np.abs(half - (original.astype(float) + stylized) / 2).max() <= 1.0
    kept = finish(original, stylized, preserve_color=True).astype(float)
    luma = np.array([0.299, 0.587, 0.114])
    # luminance from the stylized frame, chroma (differences between channels) from the original
    inside = (kept > 0).all(-1) & (kept < 255).all(-1)
    assert np.abs((kept @ luma - stylized.astype(float) @ luma)[inside]).max() <= 1.0
    chroma = lambda x: x - x.mean(-1, keepdims=True)  # noqa: E731
    assert np.abs(chroma(kept) - chroma(original.astype(float)))[inside].max() <= 1.0


def test_backends_agree(model: Path) -> None:
    frames = np.random.default_rng(1).integers(0, 256, (2, 33, 47, 3), dtype=np.uint8)
    net = load_stylenet(model)[0]
    code = net.bank[1:].detach().numpy()
    onnx_out = create_engine(model, "onnx")(frames, code)  # a plain code: zero offsets
    torch_out = create_engine(model, "torch")(frames, code)
    assert np.abs(onnx_out.astype(int) - torch_out).max() <= 1
    np.testing.assert_array_equal(create_engine(model, "onnx")(frames, _style_vector(net, 1)), onnx_out)
    with_offsets = _style_vector(net, 1, 0.3)
    onnx_offsets = create_engine(model, "onnx")(frames, with_offsets)
    assert np.abs(onnx_offsets.astype(int) - create_engine(model, "torch")(frames, with_offsets)).max() <= 1
    assert np.abs(onnx_offsets.astype(int) - onnx_out).mean() > 1.0
    bf16 = create_engine(model, "torch", "bf16")(frames, code)
    assert np.abs(bf16.astype(float) - torch_out).mean() < 4.0


def test_cli_export_with_int8(model: Path, tmp_path: Path) -> None:
    target = tmp_path / "out.onnx"
    assert main(["export", "--format", "onnx", "-o", str(target), "--int8", "--model", str(model)]) == 0
    assert target.is_file() and target.with_suffix(".int8.onnx").is_file()
    frames = np.random.default_rng(2).integers(0, 256, (1, 48, 64, 3), dtype=np.uint8)
    code = _style_vector(load_stylenet(model)[0], 0)
    fp32 = ort.InferenceSession(str(target)).run(None, inference_inputs(frames, code))[0]
    int8 = ort.InferenceSession(str(target.with_suffix(".int8.onnx"))).run(None, inference_inputs(frames, code))[0]
    assert int8.shape == fp32.shape
    assert main(["export", "-o", str(tmp_path / "x.txt"), "--model", str(model)]) == 2
