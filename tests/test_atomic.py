"""The one atomic write: whole files or none, sets of files all or nothing, the user's name in errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stylecast.atomic import atomic_output, atomic_outputs, temporary_beside


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_output_replaces_only_when_the_block_completes(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_output(target) as temp:
        temp.write_bytes(b"half")
        raise RuntimeError("killed mid-write")
    assert target.read_bytes() == b"old" and _listing(tmp_path) == ["out.bin"]
    with atomic_output(target) as temp:
        assert temp.parent == tmp_path and temp.name.startswith(".")
        temp.write_bytes(b"new")
    assert target.read_bytes() == b"new" and _listing(tmp_path) == ["out.bin"]


def test_new_files_get_the_umask_permissions(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        with atomic_output(tmp_path / "f") as temp:
            temp.write_bytes(b"x")
            temp.chmod(0o600)  # as mkstemp and some writers leave it
    finally:
        os.umask(old)
    assert (tmp_path / "f").stat().st_mode & 0o777 == 0o640


def test_a_set_of_files_is_all_or_nothing(tmp_path: Path) -> None:
    first, second = tmp_path / "style.thumb.png", tmp_path / "style.safetensors"
    second.mkdir()  # the last rename fails: a folder is in the way
    with pytest.raises(OSError) as caught, atomic_outputs(first, second) as (temp_a, temp_b):
        temp_a.write_bytes(b"thumbnail")
        temp_b.write_bytes(b"entry")
    assert caught.value.filename == str(second)  # the name the user knows, not the temporary one
    assert not first.exists(), "the first file, already committed, is taken back"
    assert _listing(tmp_path) == ["style.safetensors"]


def test_interrupt_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), atomic_outputs(tmp_path / "a", tmp_path / "b") as temps:
        for temp in temps:
            temp.write_bytes(b"x")
        raise KeyboardInterrupt
    assert _listing(tmp_path) == []


def test_writers_that_pick_the_format_by_name_keep_the_suffix(tmp_path: Path) -> None:
    temp = temporary_beside(tmp_path / "clip.mp4", keep_suffix=True)
    assert temp.name.startswith(".clip.") and temp.name.endswith(".partial.mp4")
    assert temporary_beside(tmp_path / "clip.mp4") != temporary_beside(tmp_path / "clip.mp4")


def test_errors_of_the_block_name_the_target(tmp_path: Path) -> None:
    target = tmp_path / "model.onnx"
    with pytest.raises(OSError) as caught, atomic_output(target) as temp:
        raise OSError(30, "Read-only file system", str(temp))
    assert caught.value.filename == str(target)
