"""The user's style library (torch-free): names, round trips, damaged entries, atomic writes."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stylecast.errors import StylecastError, StyleError
from stylecast.modelfile import model_digest, write_model_file
from stylecast.styles.library import StyleLibrary, UserStyle, library_dir

CODE_DIM = 16


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("STYLECAST_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _model(path: Path, seed: int, bank_seed: int = 0) -> Path:
    """A model file with the layout model_digest reads: G tensors plus a bank (no torch needed)."""
    rng = np.random.default_rng(seed)
    tensors = {"generator.stem.weight": rng.normal(size=(8, 3, 3, 3)).astype(np.float32),
               "generator.modulation.weight": rng.normal(size=(40, CODE_DIM)).astype(np.float32),
               "bank": np.random.default_rng(bank_seed).normal(size=(2, CODE_DIM)).astype(np.float32)}
    generator = {"stem_channels": 8, "channels": 16, "blocks": 1, "block_kernel": 3, "code_dim": CODE_DIM}
    return write_model_file(path, tensors, {"styles": [{"name": "alpha"}, {"name": "beta"}], "generator": generator})


def _painting(height: int = 96, width: int = 160) -> np.ndarray:
    rng = np.random.default_rng(3)
    stripes = (127 + 120 * np.sin(np.arange(width) / 3.0))[None, :, None]
    return np.clip(stripes + rng.integers(-20, 20, size=(height, width, 3)), 0, 255).astype(np.uint8)


def _style(name: str, digest: str, seed: int = 0) -> UserStyle:
    code = np.random.default_rng(seed).normal(size=CODE_DIM).astype(np.float32)
    return UserStyle(name=name, code=code, model_digest=digest, artist="A. Painter", title="Stripes",
                     year="2026", credit="own work", source="stripes.png", adapted_seconds=12.5,
                     adapted_steps=30)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())} if folder.exists() else {}


def test_library_dir_follows_stylecast_home(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert library_dir() == home / "styles"
    assert StyleLibrary().root == home / "styles"
    monkeypatch.delenv("STYLECAST_HOME")
    assert library_dir().name == "styles" and "stylecast" in str(library_dir())


def test_digest_depends_on_g_only(tmp_path: Path) -> None:
    a = model_digest(_model(tmp_path / "a.safetensors", seed=1))
    same_g_other_bank = model_digest(_model(tmp_path / "b.safetensors", seed=1, bank_seed=5))
    other_g = model_digest(_model(tmp_path / "c.safetensors", seed=2))
    assert a == same_g_other_bank != other_g
    assert len(a) == 40


def test_add_list_get_remove_round_trip(home: Path, tmp_path: Path) -> None:
    digest = model_digest(_model(tmp_path / "m.safetensors", seed=1))
    library = StyleLibrary()
    assert library.list() == [] and library.damaged == []
    style = _style("zebra", digest)
    entry = library.add(style, painting=_painting())
    assert entry == home / "styles" / "zebra.safetensors"
    thumb = home / "styles" / "zebra.png"
    with Image.open(thumb) as image:
        assert max(image.size) == 128 and image.size == (128, 77)
    library.add(_style("apple", digest, seed=1))  # no painting: no thumbnail

    got = library.get("zebra")
    np.testing.assert_array_equal(got.code, style.code)
    assert got.code.dtype == np.float32 and got.code.shape == (CODE_DIM,)
    assert (got.artist, got.title, got.year, got.credit, got.source) == (
        "A. Painter", "Stripes", "2026", "own work", "stripes.png")
    assert (got.adapted_seconds, got.adapted_steps, got.model_digest) == (12.5, 30, digest)
    assert got.created and got.thumbnail == thumb
    assert library.get("apple").thumbnail is None
    assert [s.name for s in library.list()] == ["apple", "zebra"]
    names, codes = library.names_and_codes(digest, CODE_DIM)
    assert names == ["apple", "zebra"] and codes.shape == (2, CODE_DIM)
    # As style vectors of a wider G input: zero offsets after each code.
    names, vectors = library.names_and_codes(digest, CODE_DIM + 5)
    assert vectors.shape == (2, CODE_DIM + 5) and not vectors[:, CODE_DIM:].any()
    np.testing.assert_array_equal(vectors[:, :CODE_DIM], codes)

    library.remove("zebra")
    assert not entry.exists() and not thumb.exists()
    assert [s.name for s in library.list()] == ["apple"]
    with pytest.raises(StyleError, match="no user style named 'zebra'.*stylecast styles"):
        library.get("zebra")
    with pytest.raises(StyleError, match="no user style named"):
        library.remove("zebra")


def test_listing_by_digest_keeps_only_compatible_styles(home: Path, tmp_path: Path) -> None:
    ours = model_digest(_model(tmp_path / "a.safetensors", seed=1))
    theirs = model_digest(_model(tmp_path / "b.safetensors", seed=2))
    library = StyleLibrary()
    library.add(_style("mine", ours))
    library.add(_style("foreign", theirs))
    assert [s.name for s in library.list(ours)] == ["mine"]
    assert [s.name for s in library.list(theirs)] == ["foreign"]
    assert [s.name for s in library.list()] == ["foreign", "mine"]
    assert library.names_and_codes("0" * 40, CODE_DIM)[1].shape == (0, CODE_DIM)


def test_an_entry_longer_than_the_style_vector_is_reported_not_used(home: Path, tmp_path: Path) -> None:
    digest = model_digest(_model(tmp_path / "a.safetensors", seed=1))
    library = StyleLibrary()
    library.add(_style("fits", digest))
    long = _style("too_long", digest)
    long.code = np.ones(CODE_DIM + 9, dtype=np.float32)
    library.add(long)
    names, vectors = library.names_and_codes(digest, CODE_DIM + 4)
    assert names == ["fits"] and vectors.shape == (1, CODE_DIM + 4)
    assert library.damaged == [library.entry_path("too_long")]


@pytest.mark.parametrize("name", ["", "Upper", "-dash", "_under", "has space", "dot.png", "a:0.5", "a,b",
                                  "../escape", "x" * 41, "é"])
def test_invalid_names_are_rejected_with_the_rule(home: Path, name: str) -> None:
    library = StyleLibrary()
    with pytest.raises(StyleError, match="invalid: use 1 to 40 characters"):
        library.validate_name(name, [])
    with pytest.raises(StyleError):
        library.add(_style(name, "d"))
    assert not (home / "styles").exists() or _snapshot(home / "styles") == {}


def test_duplicate_names_are_rejected(home: Path) -> None:
    library = StyleLibrary()
    library.validate_name("x" * 40, ["alpha"])
    library.validate_name("my-style_2", ["alpha"])
    with pytest.raises(StyleError, match="shipped style: pick another name"):
        library.validate_name("alpha", ["alpha", "beta"])
    library.add(_style("mine", "d"))
    with pytest.raises(StyleError, match="already exists: pick another name or `stylecast remove-style mine`"):
        library.validate_name("mine", ["alpha"])
    before = _snapshot(home / "styles")
    with pytest.raises(StyleError, match="already exists"):
        library.add(_style("mine", "d", seed=9))
    assert _snapshot(home / "styles") == before


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_full_disk_leaves_the_library_as_it_was(home: Path, monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    library = StyleLibrary()
    library.add(_style("kept", "d"), painting=_painting())
    before = _snapshot(home / "styles")
    real_replace = os.replace
    calls: list[str] = []

    def replace_then_fail(src: str | Path, dst: str | Path) -> None:
        # The thumbnail lands, then the entry's rename hits a full disk: the thumbnail must go too.
        calls.append(str(dst))
        if str(dst).endswith(".safetensors"):
            raise OSError(code, os.strerror(code))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace_then_fail)
    with pytest.raises(StylecastError, match=r"not enough disk space to save style 'new': free some space in "
                                             r".*styles and run add-style again"):
        library.add(_style("new", "d"), painting=_painting())
    assert len(calls) == 2
    assert _snapshot(home / "styles") == before  # no temp file, no orphan thumbnail
    assert [s.name for s in library.list()] == ["kept"]


def test_write_failure_while_writing_leaves_nothing(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    library = StyleLibrary()
    (home / "styles").mkdir(parents=True)
    real_fsync = os.fsync

    def fsync_then_fail(fd: int) -> None:
        if ".new.safetensors." in os.readlink(f"/proc/self/fd/{fd}"):  # the entry's data, after the thumbnail's
            raise OSError(errno.EIO, "Input/output error")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync_then_fail)
    with pytest.raises(StylecastError, match="cannot save style 'new'.*Input/output error"):
        library.add(_style("new", "d"), painting=_painting())
    assert _snapshot(home / "styles") == {}


def test_interrupted_add_saves_nothing(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    library = StyleLibrary()

    def interrupted(src: str | Path, dst: str | Path) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        library.add(_style("new", "d"), painting=_painting())
    assert _snapshot(home / "styles") == {}


def test_damaged_entries_are_skipped_and_reported(home: Path) -> None:
    library = StyleLibrary()
    library.add(_style("good", "d"))
    folder = home / "styles"
    (folder / "broken.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"trunc")
    good_bytes = (folder / "good.safetensors").read_bytes()
    (folder / "cut.safetensors").write_bytes(good_bytes[: len(good_bytes) - 10])
    (folder / "Bad Name.safetensors").write_bytes(good_bytes)
    (folder / ".good.safetensors.abc.tmp").write_bytes(b"half")  # a killed add: ignored, not damaged
    assert [s.name for s in library.list()] == ["good"]
    assert sorted(p.name for p in library.damaged) == ["Bad Name.safetensors", "broken.safetensors",
                                                       "cut.safetensors"]
    with pytest.raises(StyleError, match="'broken'.*is damaged.*`stylecast remove-style broken`"):
        library.get("broken")
    library.remove("broken")
    library.list()
    assert sorted(p.name for p in library.damaged) == ["Bad Name.safetensors", "cut.safetensors"]
