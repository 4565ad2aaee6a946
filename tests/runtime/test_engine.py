"""Which ONNX graph the engine runs: the stamped one beside the model, else a fresh export in the cache."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from stylecast.modelfile import model_digest
from stylecast.models.export import export_onnx
from stylecast.runtime.engine import exported_onnx, onnx_engine_for


@pytest.fixture()
def own_model(model: str, tmp_path: Path) -> Path:
    copy = tmp_path / "mine.safetensors"
    shutil.copy(model, copy)
    return copy


def test_a_graph_stamped_with_the_models_digest_is_run_from_beside_it(own_model: Path) -> None:
    from stylecast.models.io import load_stylenet

    net, _ = load_stylenet(own_model)
    beside = export_onnx(net.generator, own_model.with_suffix(".onnx"), digest=model_digest(own_model))
    engine = onnx_engine_for(own_model, threads=1)
    assert engine.digest == model_digest(own_model)
    assert engine.path == beside


def test_a_stale_graph_beside_the_model_is_not_run(own_model: Path) -> None:
    from stylecast.models.io import load_stylenet

    net, _ = load_stylenet(own_model)
    export_onnx(net.generator, own_model.with_suffix(".onnx"), digest="an older model")
    engine = onnx_engine_for(own_model, threads=1)
    assert engine.digest == model_digest(own_model)
    assert engine.path == exported_onnx(own_model, model_digest(own_model))


def test_a_damaged_graph_beside_the_model_is_replaced_by_an_export(own_model: Path) -> None:
    own_model.with_suffix(".onnx").write_bytes(b"not an onnx graph")
    engine = onnx_engine_for(own_model, threads=1)
    assert engine.digest == model_digest(own_model)
    assert engine.path.parent != own_model.parent


def test_compiled_torch_engine_matches_eager(model: str) -> None:
    """torch.compile fuses G's passes; the frames it makes must be those of the eager network."""
    import numpy as np

    from stylecast.runtime.engine import TorchEngine

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (1, 38, 54, 3), dtype=np.uint8)
    code = rng.normal(size=(1, 64)).astype(np.float32)
    eager = TorchEngine(model)(frames, code)
    compiled_engine = TorchEngine(model, compile=True)
    assert compiled_engine.name.endswith("+compile")
    compiled = compiled_engine(frames, code)
    assert compiled.shape == eager.shape and compiled.dtype == np.uint8
    assert np.abs(compiled.astype(int) - eager.astype(int)).max() <= 1


def test_compile_is_refused_with_the_onnx_backend(model: str, tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.runtime.conftest import gradient_frame

    image = tmp_path / "in.png"
    from PIL import Image

    Image.fromarray(gradient_frame(0)).save(image)
    run = subprocess.run([sys.executable, "-m", "stylecast", "stylize", str(image), "-o", str(tmp_path / "out.png"),
                          "--style", "alpha", "--model", model, "--compile"], capture_output=True, text=True)
    assert run.returncode == 2
    assert "--compile is for the torch backend" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "out.png").exists()
