"""`stylecast stylize` on files, folders, sequences and videos, through the real engine and FFmpeg."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from stylecast.cli import main
from tests.runtime.conftest import write_audio_only, write_clip


def _frames_and_pts(path: Path) -> tuple[list[np.ndarray], list[float]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [(f.to_ndarray(format="rgb24"), float(f.pts * stream.time_base)) for f in container.decode(stream)]
    return [f for f, _ in frames], [t for _, t in frames]


@pytest.mark.parametrize("extra", [[], ["--no-stabilize"]])
def test_video_keeps_frames_timestamps_and_audio(model: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 extra: list[str]) -> None:
    pts = [0, 40, 90, 120, 200, 230, 260, 330, 360, 400]  # variable frame rate, in ms
    source = write_clip(tmp_path / "in.mp4", frames=len(pts), pts=pts, time_base=Fraction(1, 1000), audio="aac")
    target = tmp_path / "out.mp4"
    assert main(["stylize", str(source), "-o", str(target), "--style", "alpha:0.5,beta:0.5", "--model", model,
                 "--json", *extra]) == 0
    result = json.loads(capsys.readouterr().out)["results"][0]
    assert result["frames"] == len(pts) and result["kind"] == "video"
    frames_in, times_in = _frames_and_pts(source)
    frames_out, times_out = _frames_and_pts(target)
    assert len(frames_out) == len(frames_in)
    np.testing.assert_allclose(times_out, times_in, atol=1e-3)
    assert np.abs(frames_out[3].astype(int) - frames_in[3]).mean() > 5  # it was stylized
    with av.open(str(target)) as container:
        assert container.streams.audio, "the audio track was lost"
        samples = np.concatenate([f.to_ndarray().ravel() for f in container.decode(audio=0)])
    assert np.abs(samples).max() > 0.05
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_folder_is_mirrored_and_sequences_work(model: str, tmp_path: Path) -> None:
    root = tmp_path / "shots"
    (root / "day").mkdir(parents=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (30, 41, 3), dtype=np.uint8)).save(root / "a.png")
    Image.fromarray(rng.integers(0, 256, (33, 20, 3), dtype=np.uint8)).save(root / "day" / "b.jpg")
    write_clip(root / "day" / "c.mp4", frames=4)
    assert main(["stylize", str(root), "-o", str(tmp_path / "out"), "--style", "beta", "--model", model,
                 "--strength", "0.6", "--preserve-color"]) == 0
    assert Image.open(tmp_path / "out" / "a.png").size == (41, 30)
    assert Image.open(tmp_path / "out" / "day" / "b.jpg").size == (20, 33)
    assert len(_frames_and_pts(tmp_path / "out" / "day" / "c.mp4")[0]) == 4

    seq = tmp_path / "seq"
    seq.mkdir()
    for index in range(3):
        Image.fromarray(rng.integers(0, 256, (22, 32, 3), dtype=np.uint8)).save(seq / f"{index:05d}.png")
    assert main(["stylize", str(seq / "%05d.png"), "-o", str(tmp_path / "seq_out"), "--style", "alpha",
                 "--model", model, "--max-side", "16"]) == 0
    outs = sorted((tmp_path / "seq_out").iterdir())
    assert [p.name for p in outs] == ["00000.png", "00001.png", "00002.png"]
    assert Image.open(outs[0]).size == (16, 11)


def _bad_inputs(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "noise.mp4").write_bytes(np.random.default_rng(1).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    (tmp_path / "notes.png").write_text("not an image")
    Image.new("RGB", (100_000, 1)).save(tmp_path / "wide.png")
    return {"missing": tmp_path / "missing.mp4", "empty": tmp_path / "empty.mp4", "corrupt": tmp_path / "noise.mp4",
            "text": tmp_path / "notes.png", "audio_only": write_audio_only(tmp_path / "song.mp4"),
            "huge": tmp_path / "wide.png"}


@pytest.mark.parametrize("case, message", [
    ("missing", "does not exist"), ("empty", "empty"), ("corrupt", "re-export"), ("text", "cannot read image"),
    ("audio_only", "no video stream"), ("huge", "beyond what stylecast handles"),
])
def test_bad_input_gives_one_message_and_no_output(model: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   case: str, message: str) -> None:
    source = _bad_inputs(tmp_path)[case]
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    assert main(["stylize", str(source), "-o", str(out_dir / ("x" + (source.suffix or ".mp4"))), "--style", "alpha",
                 "--model", model]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert list(out_dir.iterdir()) == []


def test_unknown_style_same_path_and_unwritable_folder(model: str, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    source = write_clip(tmp_path / "in.mp4", frames=3)
    assert main(["stylize", str(source), "-o", str(tmp_path / "o.mp4"), "--style", "gamma", "--model", model]) == 2
    assert "unknown style 'gamma'" in capsys.readouterr().err
    assert not (tmp_path / "o.mp4").exists()
    assert main(["stylize", str(source), "-o", str(source), "--style", "alpha", "--model", model]) == 2
    assert "is the input" in capsys.readouterr().err
    # /sys is a read-only file system, unwritable even for root (permission bits do not stop root).
    assert main(["stylize", str(source), "-o", "/sys/o.mp4", "--style", "alpha", "--model", model]) == 2
    assert "writable" in capsys.readouterr().err
    assert not Path("/sys/o.mp4").exists()


def test_crf_and_preset_reach_the_encoder(model: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write_clip(tmp_path / "in.mp4", frames=6)
    sizes = {}
    # x264's subpixel refinement level tells its presets apart: veryfast 2, superfast (the default) 1, ultrafast 0.
    for crf, preset, subme in ((10, "veryfast", 2), (18, None, 1), (40, "ultrafast", 0)):
        target = tmp_path / f"crf{crf}.mp4"
        assert main(["stylize", str(source), "-o", str(target), "--style", "alpha", "--model", model,
                     "--crf", str(crf), *(["--preset", preset] if preset else [])]) == 0
        settings = target.read_bytes()  # x264 writes its settings into the stream (an SEI message)
        assert f"crf={crf}.0".encode() in settings and f"subme={subme} ".encode() in settings
        sizes[crf] = target.stat().st_size
    assert sizes[40] < sizes[10] / 2
    for flag, value, message in (("--crf", "52", "outside 0..51"), ("--preset", "warp", "not an x264 preset")):
        assert main(["stylize", str(source), "-o", str(tmp_path / "bad.mp4"), "--style", "alpha", "--model", model,
                     flag, value]) == 2
        assert message in capsys.readouterr().err
        assert not (tmp_path / "bad.mp4").exists()


def test_truncated_video_stylizes_what_decodes_with_a_warning(model: str, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    whole = write_clip(tmp_path / "whole.mp4", frames=30, faststart=True)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: int(whole.stat().st_size * 0.6)])
    assert main(["stylize", str(cut), "-o", str(tmp_path / "o.mp4"), "--style", "alpha", "--model", model]) == 0
    assert "truncated" in capsys.readouterr().err
    assert 0 < len(_frames_and_pts(tmp_path / "o.mp4")[0]) < 30


def test_inference_path_never_imports_torch(model: str, tmp_path: Path) -> None:
    source = write_clip(tmp_path / "in.mp4", frames=3, audio="aac")
    assert main(["stylize", str(source), "-o", str(tmp_path / "warm.mp4"), "--style", "alpha", "--model", model]) == 0
    # With the ONNX graph exported (cached), a fresh process where importing torch fails must work.
    script = (
        "import sys; sys.modules['torch'] = None\n"
        "from stylecast.cli import main\n"
        f"code = main(['stylize', {str(source)!r}, '-o', {str(tmp_path / 'o.mp4')!r}, '--style', 'beta', "
        f"'--model', {model!r}])\n"
        "assert 'torch' not in [m for m in sys.modules if sys.modules[m] is not None], 'torch was imported'\n"
        "sys.exit(code)\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                            env={**os.environ})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "o.mp4").is_file()
