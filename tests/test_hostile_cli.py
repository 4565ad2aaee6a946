"""The standing hostile-input suite for the command line: every bad input is refused the same way.

Each case runs ``stylecast`` in-process and asserts the promise of the README ("What stylecast
promises"): exit code 2, exactly one line on stderr that starts ``stylecast: error:`` and names the
problem (a fragment of it is checked), no traceback, nothing written where the output would go, and
what existed before (an earlier output, the style library) unchanged. Faults that need a process of
their own (signals, a full or read-only disk) are at the end.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stylecast.cli import main
from tests.runtime.conftest import write_clip

BEFORE = b"an earlier output that must survive"


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    says: str            # a fragment of the one-line message (case-insensitive)


def _cases() -> list[Case]:
    s = ("stylize", "{photo}", "-o", "{out}")
    cases = [
        # --- stylize: inputs
        Case("missing-input", ("stylize", "{tmp}/nope.png", "-o", "{out}", "--style", "udnie"), "does not exist"),
        Case("empty-image", ("stylize", "{empty_png}", "-o", "{out}", "--style", "udnie"), "empty"),
        Case("corrupt-image", ("stylize", "{corrupt_png}", "-o", "{out}", "--style", "udnie"), "cannot read"),
        Case("text-as-video", ("stylize", "{text_mp4}", "-o", "{out_mp4}", "--style", "udnie"), "mp4"),
        Case("empty-video", ("stylize", "{empty_mp4}", "-o", "{out_mp4}", "--style", "udnie"), "empty"),
        Case("empty-folder", ("stylize", "{empty_dir}", "-o", "{tmp}/outdir", "--style", "udnie"), "no images"),
        Case("huge-image", ("stylize", "{huge_png}", "-o", "{out}", "--style", "udnie"), "megapixels"),
        # --- stylize: styles
        Case("style-inf", (*s, "--style", "udnie:inf"), "must be a number from 0"),
        Case("style-nan", (*s, "--style", "udnie:nan"), "must be a number from 0"),
        Case("style-negative", (*s, "--style", "udnie:-1"), "must be a number from 0"),
        Case("style-huge-weight", (*s, "--style", "udnie:1e300,the_scream:1e300"), "must be a number from 0"),
        Case("style-zero-sum", (*s, "--style", "udnie:0,the_scream:0"), "add up to 0"),
        Case("style-empty", (*s, "--style", ""), "empty style"),
        Case("style-commas", (*s, "--style", ",,,"), "empty style"),
        Case("style-unknown", (*s, "--style", "van_gogh_ultra"), "unknown style"),
        Case("style-image-missing", (*s, "--style", "{tmp}/painting.jpg"), "does not exist"),
        Case("style-image-tiny", (*s, "--style", "{tiny_png}"), "too small"),
        Case("style-damaged-library-entry", (*s, "--style", "kept"), "is damaged"),
        # --- stylize: numbers
        Case("strength-nan", (*s, "--style", "udnie", "--strength", "nan"), "--strength"),
        Case("strength-inf", (*s, "--style", "udnie", "--strength", "inf"), "--strength"),
        Case("strength-2", (*s, "--style", "udnie", "--strength", "2"), "--strength"),
        Case("strength-text", (*s, "--style", "udnie", "--strength", "lots"), "--strength"),
        Case("knob-out-of-range", (*s, "--style", "udnie", "--knob", "1.5"), "--knob"),
        Case("knob-on-a-model-without", (*s, "--style", "alpha", "--knob", "0.3", "--model", "{good_model}"),
             "without the content-vs-style"),
        Case("threads-huge", (*s, "--style", "udnie", "--threads", "100000"), "--threads"),
        Case("threads-negative", (*s, "--style", "udnie", "--threads", "-5"), "--threads"),
        Case("threads-zero", (*s, "--style", "udnie", "--threads", "0"), "--threads"),
        Case("working-size-tiny", (*s, "--style", "udnie", "--working-size", "8"), "--working-size"),
        Case("working-size-word", (*s, "--style", "udnie", "--working-size", "half"), "--working-size"),
        Case("working-size-nan", (*s, "--style", "udnie", "--working-size", "nan"), "--working-size"),
        Case("workers-huge", (*s, "--style", "udnie", "--workers", "5000"), "--workers"),
        Case("workers-zero", (*s, "--style", "udnie", "--workers", "0"), "--workers"),
        Case("max-side-tiny", (*s, "--style", "udnie", "--max-side", "3"), "--max-side"),
        Case("max-side-huge", (*s, "--style", "udnie", "--max-side", "99999999"), "--max-side"),
        Case("crf-out-of-range", (*s, "--style", "udnie", "--crf", "99"), "--crf"),
        Case("crf-float", (*s, "--style", "udnie", "--crf", "18.5"), "--crf"),
        Case("preset-unknown", (*s, "--style", "udnie", "--preset", "ludicrous"), "x264 preset"),
        Case("backend-unknown", (*s, "--style", "udnie", "--backend", "tpu"), "--backend"),
        Case("no-style", s, "--style"),
        Case("unknown-option", (*s, "--style", "udnie", "--turbo"), "unrecognized"),
        # --- stylize: model files
        Case("model-missing", (*s, "--style", "udnie", "--model", "{tmp}/none.safetensors"), "does not exist"),
        Case("model-empty", (*s, "--style", "udnie", "--model", "{empty_model}"), "empty"),
        Case("model-garbage", (*s, "--style", "udnie", "--model", "{corrupt_png}"), "not a safetensors"),
        Case("model-nan", (*s, "--style", "alpha", "--model", "{nan_model}"), "non-finite"),
        Case("model-bad-metadata", (*s, "--style", "alpha", "--model", "{blocks_five}"), "generator.blocks"),
        Case("model-folder", (*s, "--style", "udnie", "--model", "{tmp}"), "folder"),
        # --- add-style and remove-style
        Case("add-missing", ("add-style", "{tmp}/nope.jpg", "--name", "mine", "--minutes", "0"), "does not exist"),
        Case("add-tiny", ("add-style", "{tiny_png}", "--name", "mine", "--minutes", "0"), "too small"),
        Case("add-corrupt", ("add-style", "{corrupt_png}", "--name", "mine", "--minutes", "0"), "cannot read"),
        Case("add-bad-name", ("add-style", "{painting}", "--name", "../evil", "--minutes", "0"), "name"),
        Case("add-minutes-nan", ("add-style", "{painting}", "--name", "mine", "--minutes", "nan"), "--minutes"),
        Case("add-minutes-negative", ("add-style", "{painting}", "--name", "mine", "--minutes", "-1"), "--minutes"),
        Case("add-minutes-huge", ("add-style", "{painting}", "--name", "mine", "--minutes", "1e9"), "--minutes"),
        Case("add-nan-model", ("add-style", "{painting}", "--name", "mine", "--minutes", "0", "--model",
                               "{nan_model}"), "non-finite"),
        Case("remove-unknown", ("remove-style", "nobody"), "nobody"),
        Case("remove-bad-name", ("remove-style", "../../etc"), "name"),
        # --- train
        Case("train-config-missing", ("train", "--config", "{tmp}/nope.toml", "--out", "{run}"), "does not exist"),
        Case("train-config-folder", ("train", "--config", "{tmp}", "--out", "{run}"), "is a folder"),
        Case("train-config-not-toml", ("train", "--config", "{corrupt_png}", "--out", "{run}"), "toml"),
        Case("train-unknown-key", ("train", "--config", "{tiny_toml}", "--out", "{run}", "--set", "loss.styel=1"),
             "unknown config keys"),
        Case("train-negative-weight", ("train", "--config", "{tiny_toml}", "--out", "{run}", "--set",
                                       "loss.style_weight=-5"), "loss.style_weight"),
        Case("train-nan-rate", ("train", "--config", "{tiny_toml}", "--out", "{run}", "--set", "optim.g_lr=nan"),
             "optim.g_lr"),
        Case("train-inf-weight", ("train", "--config", "{tiny_toml}", "--out", "{run}", "--set",
                                  "loss.content_weight=inf"), "loss.content_weight"),
        Case("train-probability", ("train", "--config", "{tiny_toml}", "--out", "{run}", "--set",
                                   "loss.encoder_probability=2"), "encoder_probability"),
        Case("train-batch-zero", ("train", "--config", "{tiny_toml}", "--out", "{run}", "--set", "data.batch=0"),
             "data.batch"),
        Case("train-steps-negative", ("train", "--config", "{tiny_toml}", "--out", "{run}", "--steps", "-1"),
             "--steps"),
        Case("train-out-is-a-file", ("train", "--config", "{tiny_toml}", "--out", "{existing}"), "is a file"),
        Case("train-resume-garbage", ("train", "--config", "{tiny_toml}", "--out", "{run}", "--resume",
                                      "{corrupt_png}"), "cannot be read as a stylecast checkpoint"),
        Case("train-resume-missing", ("train", "--config", "{tiny_toml}", "--out", "{run}", "--resume",
                                      "{tmp}/none.pt"), "does not exist"),
        Case("train-init-nan", ("train", "--config", "{tiny_toml}", "--out", "{run}", "--init", "{nan_model}"),
             "non-finite"),
        Case("train-override-syntax", ("train", "--config", "{tiny_toml}", "--out", "{run}", "--set", "nonsense"),
             "section.key=value"),
        # --- export
        Case("export-suffix", ("export", "-o", "{tmp}/model.txt"), ".onnx"),
        Case("export-no-folder", ("export", "-o", "{tmp}/no/such/folder/m.onnx"), "does not exist"),
        Case("export-nan-model", ("export", "-o", "{tmp}/m.onnx", "--model", "{nan_model}"), "non-finite"),
        Case("export-raw-int8", ("export", "-o", "{tmp}/m.onnx", "--raw", "--int8"), "--raw"),
        # --- bench
        Case("bench-zero-size", ("bench", "--resolutions", "0x0", "--no-peer"), "16x16"),
        Case("bench-bad-size", ("bench", "--resolutions", "wide", "--no-peer"), "640x480"),
        Case("bench-empty-sizes", ("bench", "--resolutions", ",", "--no-peer"), "empty"),
        Case("bench-frames-zero", ("bench", "--frames", "0"), "--frames"),
        Case("bench-threads-huge", ("bench", "--threads", "99999"), "--threads"),
        # --- live (refused before any source or sink opens)
        Case("live-size-zero", ("live", "--source", "{clip}", "--sink", "null", "--size", "0x0"), "16x16"),
        Case("live-size-text", ("live", "--source", "{clip}", "--sink", "null", "--size", "big"), "640x480"),
        Case("live-working-size", ("live", "--source", "{clip}", "--sink", "null", "--working-size", "99999"),
             "--working-size"),
        Case("live-strength", ("live", "--source", "{clip}", "--sink", "null", "--strength", "-0.5"), "--strength"),
        Case("live-target-fps", ("live", "--source", "{clip}", "--sink", "null", "--target-fps", "0"),
             "--target-fps"),
        Case("live-reconnect", ("live", "--source", "{clip}", "--sink", "null", "--reconnect", "-1"), "--reconnect"),
        Case("live-duration-nan", ("live", "--source", "{clip}", "--sink", "null", "--duration", "nan"),
             "--duration"),
        Case("live-missing-file", ("live", "--source", "{tmp}/none.mp4", "--sink", "null"), "none.mp4"),
        Case("live-camera-absent", ("live", "--source", "99", "--sink", "null"), "cannot open camera 99"),
        Case("live-mjpeg-foreign-address", ("live", "--source", "{clip}", "--sink", "mjpeg://192.0.2.1:8080"),
             "not an address of this machine"),
        Case("live-unknown-style", ("live", "--source", "{clip}", "--sink", "null", "--style", "nobody"),
             "unknown style"),
        # --- serve (refused before it listens)
        Case("serve-port", ("serve", "--port", "70000"), "--port"),
        Case("serve-peers", ("serve", "--max-peers", "0"), "--max-peers"),
        Case("serve-upload-nan", ("serve", "--max-upload-mb", "nan"), "--max-upload-mb"),
        Case("serve-live-side", ("serve", "--live-max-side", "1"), "--live-max-side"),
        # --- the command itself
        Case("no-command", (), "required"),
        Case("unknown-command", ("paint",), "invalid choice"),
    ]
    return cases


CASES = _cases()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Bad and good inputs, generated: nothing from ../shared."""
    from stylecast.modelfile import read_model_file, write_model_file
    from stylecast.models.generator import GeneratorConfig
    from stylecast.models.io import save_stylenet
    from stylecast.models.style import StyleInfo, StyleNet

    root = tmp_path_factory.mktemp("hostile")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(root / "photo.png")
    (root / "photos").mkdir()
    Image.fromarray(rng.integers(0, 256, (48, 56, 3), dtype=np.uint8)).save(root / "photos" / "p.png")
    Image.fromarray(rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)).save(root / "painting.png")
    Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(root / "tiny8.png")
    Image.new("L", (15000, 14000)).save(root / "huge.png", optimize=False, compress_level=1)
    (root / "empty.png").write_bytes(b"")
    (root / "corrupt.png").write_bytes(b"\x89PNG not really" + bytes(rng.integers(0, 256, 300, dtype=np.uint8)))
    (root / "text.mp4").write_text("this is not a video")
    (root / "empty.mp4").write_bytes(b"")
    (root / "empty_dir").mkdir()
    (root / "empty.safetensors").write_bytes(b"")
    (root / "existing.bin").write_bytes(BEFORE)
    net = StyleNet([StyleInfo("alpha"), StyleInfo("beta")], GeneratorConfig(stem_channels=8, channels=16, blocks=1))
    good = save_stylenet(net, root / "good.safetensors")
    tensors, meta = read_model_file(good)
    tensors["generator.stem.weight"].flat[0] = np.nan
    write_model_file(root / "nan.safetensors", tensors, meta)
    tensors, meta = read_model_file(good)
    meta["generator"]["blocks"] = "five"
    write_model_file(root / "five.safetensors", tensors, meta)
    write_clip(root / "clip.mp4", frames=4)
    tiny_toml = root / "tiny.toml"
    tiny_toml.write_text(f'[data]\ncontent = ["{root / "photos"}"]\nsize = 32\nbatch = 1\nstyle_size = 64\n'
                         f'd_crop = 16\ncontent_short_side = 40\n[[data.styles]]\npath = "{root / "painting.png"}"\n'
                         '[model]\nstem_channels = 8\nchannels = 16\nblocks = 1\n[run]\nsteps = 1\nimage_every = 0\n')
    return {"tmp": str(root), "photo": str(root / "photo.png"), "painting": str(root / "painting.png"),
            "tiny_png": str(root / "tiny8.png"), "huge_png": str(root / "huge.png"),
            "empty_png": str(root / "empty.png"), "corrupt_png": str(root / "corrupt.png"),
            "text_mp4": str(root / "text.mp4"), "empty_mp4": str(root / "empty.mp4"),
            "empty_dir": str(root / "empty_dir"), "empty_model": str(root / "empty.safetensors"),
            "nan_model": str(root / "nan.safetensors"), "blocks_five": str(root / "five.safetensors"),
            "existing": str(root / "existing.bin"), "clip": str(root / "clip.mp4"), "tiny_toml": str(tiny_toml),
            "good_model": str(good)}


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A style library with one entry, which no refused command may touch."""
    library = tmp_path / "home"
    monkeypatch.setenv("STYLECAST_HOME", str(library))
    (library / "styles").mkdir(parents=True)
    (library / "styles" / "kept.safetensors").write_bytes(BEFORE)
    return library


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 80 and len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_is_refused_in_one_line(case: Case, files: dict[str, str], home: Path, tmp_path: Path,
                                          capfd: pytest.CaptureFixture[str]) -> None:
    out, out_mp4 = tmp_path / "out.png", tmp_path / "out.mp4"
    earlier = tmp_path / "earlier.png"
    earlier.write_bytes(BEFORE)
    values = {**files, "out": str(out), "out_mp4": str(out_mp4), "run": str(tmp_path / "run")}
    argv = [part.format(**values) for part in case.argv]
    library_before, data_before = _snapshot(home), _snapshot(Path(files["tmp"]))
    capfd.readouterr()
    code = main(argv)
    captured = capfd.readouterr()   # the file descriptors: a C library's warnings count as lines too
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert code == 2, (code, captured.err)
    assert len(lines) == 1 and lines[0].startswith("stylecast: error: "), captured.err
    assert "Traceback" not in captured.err and "weights_only" not in captured.err
    assert case.says.lower() in lines[0].lower(), lines[0]
    assert not out.exists() and not out_mp4.exists() and not (tmp_path / "run" / "model.safetensors").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "a temporary file was left"
    assert earlier.read_bytes() == BEFORE
    assert _snapshot(home) == library_before and _snapshot(Path(files["tmp"])) == data_before


# --- faults: a full disk, a read-only disk, signals ---------------------------------------------------


def _tmpfs(path: Path, size: str) -> Path:
    path.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                                           capture_output=True).returncode != 0:
        pytest.skip("needs root to mount a small tmpfs")
    return path


@pytest.fixture()
def small_disk(tmp_path: Path) -> Path:
    disk = _tmpfs(tmp_path / "disk", "300k")
    yield disk
    subprocess.run(["umount", str(disk)], check=False)


_MAIN = "import sys; from stylecast.cli import main; sys.exit(main(sys.argv[1:]))"


def _run(*argv: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _MAIN, *argv], capture_output=True, text=True,
                          timeout=300, **kwargs)  # type: ignore[call-overload]


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("stylecast:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.slow
def test_a_full_disk_mid_video_is_one_line_and_leaves_nothing(small_disk: Path, tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "long.mp4", frames=60, size=(320, 240))
    (small_disk / "out.mp4").write_bytes(BEFORE)            # the old output stays
    result = _run("stylize", str(clip), "-o", str(small_disk / "out.mp4"), "--style", "udnie", "--crf", "0")
    assert result.returncode == 2
    assert "space" in _one_line(result.stderr)
    assert sorted(p.name for p in small_disk.iterdir()) == ["out.mp4"]
    assert (small_disk / "out.mp4").read_bytes() == BEFORE


def test_export_to_a_read_only_or_full_disk(small_disk: Path) -> None:
    result = _run("export", "-o", str(small_disk / "m.onnx"))           # 1.6 MB into 300 kB
    assert result.returncode == 2 and "space" in _one_line(result.stderr)
    assert list(small_disk.iterdir()) == []
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    result = _run("export", "-o", str(small_disk / "m.onnx"))
    line = _one_line(result.stderr)
    assert result.returncode == 2 and "read-only" in line and "m.onnx" in line and ".tmp" not in line


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_mid_video_removes_the_partial_file(sig: int, tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "long.mp4", frames=400, size=(320, 240))
    out = tmp_path / "out" / "styled.mp4"
    out.parent.mkdir()
    process = subprocess.Popen([sys.executable, "-c", _MAIN, "stylize", str(clip), "-o", str(out),
                                "--style", "udnie", "--threads", "1"], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not any(out.parent.iterdir()) and time.monotonic() < deadline:   # encoding has begun
        time.sleep(0.05)
    assert any(out.parent.iterdir()), "the run never started writing"
    process.send_signal(sig)
    _, err = process.communicate(timeout=60)
    assert process.returncode == (143 if sig == signal.SIGTERM else 130), err
    assert "Traceback" not in err
    assert list(out.parent.iterdir()) == []
