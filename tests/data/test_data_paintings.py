from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from stylecast.data.paintings import PaintingPool, group_of, read_holdout
from stylecast.errors import InputError


def _pool_folder(root: Path, counts: dict[str, int]) -> Path:
    """A manifest with ``counts`` files per source folder (``kind/folder``), small generated images."""
    rng = np.random.default_rng(0)
    rows = []
    for source, count in counts.items():
        folder = root / source
        folder.mkdir(parents=True)
        for index in range(count):
            file = f"{source}/p{index}.png"
            Image.fromarray(rng.integers(0, 256, (72, 80, 3), dtype=np.uint8)).save(root / file)
            rows.append({"file": file, "kind": source.split("/")[0].rstrip("s")})
    with (root / "manifest.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["file", "kind"])
        writer.writeheader()
        writer.writerows(rows)
    return root


def test_group_of_names_weighted_folders_and_pools_the_rest() -> None:
    named = {"monet": 0.1}
    assert group_of("artworks/monet/a.jpg", named) == "monet"
    assert group_of("artworks/small_repo/b.jpg", named) == "artworks"
    assert group_of("textures/dtd/c.jpg", named) == "textures"


def test_sampling_follows_group_weights_not_file_counts(tmp_path: Path) -> None:
    root = _pool_folder(tmp_path, {"artworks/big": 12, "artworks/small": 2, "textures/t": 3})
    pool = PaintingPool(root, 64, {"big": 0.2, "small": 0.6, "textures": 0.2})
    draws = pool.sample(6000, torch.Generator().manual_seed(0))
    groups = Counter(pool.groups[i] for i in draws.tolist())
    # 12 files of "big" get 20% of the draws and the 2 files of "small" 60%, not 12/17 and 2/17.
    assert groups["big"] / 6000 == pytest.approx(0.2, abs=0.03)
    assert groups["small"] / 6000 == pytest.approx(0.6, abs=0.03)
    assert torch.equal(draws, pool.sample(6000, torch.Generator().manual_seed(0)))
    assert len(pool.sample(0, torch.Generator())) == 0


def test_holdout_and_zero_weight_groups_never_train(tmp_path: Path) -> None:
    root = _pool_folder(tmp_path, {"artworks/a": 4, "textures/t": 3})
    listing = tmp_path / "holdout.txt"
    listing.write_text("# kept out\nartworks/a/p0.png\n\nartworks/a/p3.png\n")
    held = read_holdout(listing)
    assert held == {"artworks/a/p0.png", "artworks/a/p3.png"}
    pool = PaintingPool(root, 64, {"textures": 0.0}, holdout=held)
    assert pool.files == ["artworks/a/p1.png", "artworks/a/p2.png"]
    assert set(pool.sample(200, torch.Generator().manual_seed(1)).tolist()) == {0, 1}
    assert pool.images.image(0).shape[-2] == 64  # held at the training scale


@pytest.mark.parametrize("weights", [{"a": -1.0}, {"a": float("nan")}, {"a": "high"}])
def test_bad_group_weights_are_refused(tmp_path: Path, weights: dict[str, object]) -> None:
    root = _pool_folder(tmp_path, {"artworks/a": 2})
    with pytest.raises(InputError, match="non-negative numbers"):
        PaintingPool(root, 64, weights)  # type: ignore[arg-type]


def test_missing_manifest_and_empty_pool_are_clear(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="manifest.csv"):
        PaintingPool(tmp_path, 64)
    root = _pool_folder(tmp_path / "p", {"artworks/a": 2})
    with pytest.raises(InputError, match="no paintings left"):
        PaintingPool(root, 64, {"artworks": 0.0})
    with pytest.raises(InputError, match="does not exist"):
        read_holdout(tmp_path / "nope.txt")
