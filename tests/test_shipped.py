"""The model and sample shipped inside the package work with no network and no ../shared."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from stylecast.cli import main
from stylecast.modelfile import default_model_path, read_metadata

SAMPLES = Path(__file__).resolve().parents[1] / "src" / "stylecast" / "samples"


def test_default_model_lists_credited_styles(capsys: pytest.CaptureFixture[str]) -> None:
    meta = read_metadata(default_model_path())
    assert len(meta["styles"]) >= 2
    assert main(["styles", "--json"]) == 0
    styles = json.loads(capsys.readouterr().out)["styles"]
    assert {"starry_night", "great_wave"} <= {s["name"] for s in styles}
    assert all(s["artist"] and s["title"] and s["year"] and s["credit"] for s in styles)


def test_readme_main_job_on_the_sample(tmp_path: Path) -> None:
    target = tmp_path / "cat.png"
    assert main(["stylize", str(SAMPLES / "cat.jpg"), "-o", str(target), "--style", "starry_night"]) == 0
    assert Image.open(target).size == Image.open(SAMPLES / "cat.jpg").size
