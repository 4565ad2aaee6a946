"""A pool of many paintings and textures for training the style encoder to generalise (issue 16).

The pool is a folder with a ``manifest.csv`` (``file``, ``kind``, ...) such as
``../shared/data/paintings``. Files are grouped by the folder they came from; a sample first draws a
group by its weight, then a file uniformly within it, so that two painters who make up 40% of the
artworks do not make up 40% of what G learns. A held-out list (one path per line, ``#`` comments)
keeps a validation set out of training.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path

import torch

from stylecast.data.styles import StyleImages
from stylecast.errors import InputError


def read_holdout(path: str | Path | None) -> set[str]:
    """Manifest paths listed in a held-out file (blank lines and ``#`` comments ignored)."""
    if not path:
        return set()
    file = Path(path)
    if not file.is_file():
        raise InputError(f"held-out list {file} does not exist: give a file with one manifest path per line")
    return {line.strip() for line in file.read_text().splitlines() if line.strip() and not line.startswith("#")}


def group_of(file: str, named: Mapping[str, float]) -> str:
    """The sampling group of a manifest path: its source folder if ``named`` weighs it, else the
    kind (``artworks`` / ``textures``) for every other folder of that kind."""
    parts = Path(file).parts
    folder = parts[1] if len(parts) > 2 else parts[0]
    return folder if folder in named else parts[0]


class PaintingPool:
    """Paintings of a manifest at one training scale, sampled by group weight.

    Attributes:
        files: manifest paths, in the order of the images (a painting's index is its position).
        images: the paintings as ``StyleImages`` (whole images and random crops).
    """

    def __init__(self, root: str | Path, short_side: int, group_weights: Mapping[str, float] | None = None,
                 holdout: set[str] | None = None, limit: int = 0) -> None:
        root = Path(root).expanduser()
        manifest = root / "manifest.csv"
        if not manifest.is_file():
            raise InputError(f"{manifest} does not exist: data.paintings must be a folder with a manifest.csv")
        weights = dict(group_weights or {})
        bad = {k: v for k, v in weights.items() if not (isinstance(v, int | float) and v >= 0 and v == v)}
        if bad:
            raise InputError(f"painting group weights must be non-negative numbers, got {bad}")
        with manifest.open(newline="") as handle:
            files = [row["file"] for row in csv.DictReader(handle)]
        files = sorted(f for f in files if f not in (holdout or set()))
        groups = [group_of(f, weights) for f in files]
        keep = [i for i, g in enumerate(groups) if weights.get(g, 1.0) > 0]
        if limit:
            keep = keep[:: max(1, len(keep) // limit)][:limit]
        if not keep:
            raise InputError(f"no paintings left in {root} after the held-out list and zero group weights")
        self.files = [files[i] for i in keep]
        self.groups = [groups[i] for i in keep]
        self.images = StyleImages([root / f for f in self.files], short_side)
        counts: dict[str, int] = {}
        for group in self.groups:
            counts[group] = counts.get(group, 0) + 1
        # Each file's probability: its group's weight shared equally among the group's files.
        self.probabilities = torch.tensor([weights.get(g, 1.0) / counts[g] for g in self.groups],
                                          dtype=torch.float64)
        self.probabilities /= self.probabilities.sum()
        self.group_counts = counts

    def __len__(self) -> int:
        return len(self.files)

    def sample(self, count: int, generator: torch.Generator) -> torch.Tensor:
        """``(count,)`` long painting indices drawn by group weight (with replacement)."""
        if count <= 0:
            return torch.empty(0, dtype=torch.long)
        return torch.multinomial(self.probabilities, count, replacement=True, generator=generator)
