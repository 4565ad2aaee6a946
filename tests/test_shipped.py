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


def test_shipped_onnx_graphs_belong_to_the_shipped_model() -> None:
    from stylecast.modelfile import model_digest
    from stylecast.runtime.engine import onnx_digest

    model = default_model_path()
    assert onnx_digest(model.with_suffix(".onnx")) == model_digest(model), (
        "default.onnx is stale: run scripts/release_model.py")


def test_readme_main_job_on_the_sample_clip_without_torch(tmp_path: Path) -> None:
    import subprocess
    import sys

    import av

    target = tmp_path / "sample_starry_night.mp4"
    script = ("import sys; sys.modules['torch'] = None\n"
              "from stylecast.cli import main\n"
              f"sys.exit(main(['stylize', {str(SAMPLES / 'sample.mp4')!r}, '-o', {str(target)!r}, "
              "'--style', 'starry_night']))\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    with av.open(str(target)) as container:
        assert container.streams.video[0].frames == 144 and container.streams.audio


def test_still_image_and_thumbnails(tmp_path: Path) -> None:
    target = tmp_path / "cat.png"
    assert main(["stylize", str(SAMPLES / "cat.jpg"), "-o", str(target), "--style", "starry_night"]) == 0
    assert Image.open(target).size == Image.open(SAMPLES / "cat.jpg").size
    thumbnails = default_model_path().parent / "thumbnails"
    for style in read_metadata(default_model_path())["styles"]:
        assert (thumbnails / f"{style['name']}.jpg").is_file(), style["name"]
