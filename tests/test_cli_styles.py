"""add-style / styles / stylize / remove-style end to end through the CLI, on a tiny model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from stylecast.cli import main
from stylecast.models.generator import GeneratorConfig
from stylecast.models.io import save_stylenet
from stylecast.models.style import StyleInfo, StyleNet


@pytest.fixture()
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    monkeypatch.setenv("STYLECAST_HOME", str(tmp_path / "home"))
    torch.manual_seed(0)
    net = StyleNet([StyleInfo("alpha", artist="A", title="T", year="1900", credit="PD")],
                   GeneratorConfig(stem_channels=8, channels=16, blocks=1, code_dim=16), encoder_hidden=32)
    torch.nn.init.normal_(net.generator.modulation.weight, std=0.3)
    model = save_stylenet(net, tmp_path / "m.safetensors", {"data": {"style_size": 64}})
    rng = np.random.default_rng(0)
    painting = tmp_path / "painting.png"
    Image.fromarray(rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)).save(painting)
    photo = tmp_path / "photo.png"
    Image.fromarray(rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)).save(photo)
    tiny = tmp_path / "tiny.png"
    Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(tiny)
    return {"model": model, "painting": painting, "photo": photo, "tiny": tiny, "home": tmp_path / "home"}


def test_add_use_list_remove(setup: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = str(setup["model"])
    assert main(["add-style", str(setup["painting"]), "--name", "mine", "--minutes", "0.05", "--model", model,
                 "--json"]) == 0
    added = json.loads(capsys.readouterr().out)
    assert Path(added["path"]).is_file()
    # The adapted vector carries the painting's palette, measured at the model's painting scale.
    from stylecast.styles.library import StyleLibrary
    from stylecast.styles.palette import PALETTE_WIDTH
    from stylecast.styling.painting import painting_palette, read_painting
    stored = StyleLibrary().get("mine").code
    np.testing.assert_allclose(stored[-PALETTE_WIDTH:], painting_palette(read_painting(setup["painting"]), 64),
                               atol=1e-6)

    assert main(["styles", "--model", model, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["styles"]
    assert [(s["name"], s["kind"]) for s in listed] == [("alpha", "model"), ("mine", "user")]
    assert listed[1]["compatible"] and Path(listed[1]["thumbnail"]).is_file()

    out = tmp_path / "out.png"
    assert main(["stylize", str(setup["photo"]), "-o", str(out), "--style", "mine", "--model", model]) == 0
    mine = np.asarray(Image.open(out)).astype(int)
    assert main(["stylize", str(setup["photo"]), "-o", str(out), "--style", "alpha", "--model", model]) == 0
    assert np.abs(np.asarray(Image.open(out)).astype(int) - mine).mean() > 0.5
    capsys.readouterr()

    assert main(["add-style", str(setup["painting"]), "--name", "mine", "--minutes", "0", "--model", model]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["add-style", str(setup["painting"]), "--name", "alpha", "--minutes", "0", "--model", model]) == 2
    assert "alpha" in capsys.readouterr().err
    assert main(["remove-style", "mine"]) == 0
    assert main(["remove-style", "mine"]) == 2
    assert "no user style named 'mine'" in capsys.readouterr().err


@pytest.mark.parametrize("name, image, message", [
    ("Bad Name!", "painting", "1 to 40 characters"),
    ("ok", "tiny", "too small"),
    ("ok", "missing", "does not exist"),
])
def test_bad_input_leaves_the_library_empty(setup: dict[str, Path], capsys: pytest.CaptureFixture[str],
                                            name: str, image: str, message: str) -> None:
    path = setup.get(image, setup["home"].parent / "missing.png")
    assert main(["add-style", str(path), "--name", name, "--minutes", "0", "--model", str(setup["model"])]) == 2
    assert message in capsys.readouterr().err
    assert not setup["home"].exists() or not any(setup["home"].rglob("*.safetensors"))


def test_ctrl_c_during_adaptation_saves_nothing(setup: dict[str, Path]) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    env = {**os.environ, "STYLECAST_HOME": str(setup["home"]), "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-m", "stylecast", "add-style", str(setup["painting"]), "--name",
                                "mine", "--minutes", "5", "--model", str(setup["model"])],
                               env=env, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    deadline = time.monotonic() + 120
    line = ""
    while "adapting mine" not in line and time.monotonic() < deadline:  # the first step has run
        line = process.stderr.readline()
    process.send_signal(signal.SIGINT)
    rest = process.communicate(timeout=60)[1]
    assert process.returncode == 130, line + rest
    assert "interrupted" in rest
    assert not setup["home"].exists() or not any(setup["home"].rglob("*"))


def test_a_style_made_for_another_model_says_how_to_remake_it(setup: dict[str, Path], tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    model = str(setup["model"])
    assert main(["add-style", str(setup["painting"]), "--name", "mine", "--minutes", "0", "--model", model]) == 0
    # The same architecture with other weights: a new release of the shipped model, say.
    torch.manual_seed(1)
    upgraded = save_stylenet(StyleNet([StyleInfo("alpha")], GeneratorConfig(stem_channels=8, channels=16, blocks=1,
                                                                             code_dim=16), encoder_hidden=32),
                             tmp_path / "upgraded.safetensors")
    capsys.readouterr()
    out = tmp_path / "out.png"
    assert main(["stylize", str(setup["photo"]), "-o", str(out), "--style", "alpha:0.5,mine:0.5",
                 "--model", str(upgraded)]) == 2
    err = capsys.readouterr().err
    assert "'mine' was adapted for another model" in err
    assert "stylecast add-style painting.png --name mine" in err
    assert not out.exists()
    assert main(["stylize", str(setup["photo"]), "-o", str(out), "--style", "mine", "--model", model]) == 0


def test_styles_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    # `stylecast styles | head -1`: the reader is gone before the listing is written.
    env = {**os.environ, "STYLECAST_HOME": str(tmp_path)}  # an empty library, not the user's
    process = subprocess.Popen([sys.executable, "-m", "stylecast", "styles"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=env)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 141
    assert "Traceback" not in stderr and stderr == ""
