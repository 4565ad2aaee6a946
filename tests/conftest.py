"""Shared fixtures: small generated photos and paintings, so tests never need ../shared."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

torch.set_num_threads(2)


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Exported ONNX graphs go to a test folder, never into the user's cache."""
    import os

    os.environ["STYLECAST_CACHE"] = str(tmp_path_factory.mktemp("cache"))


def _smooth_texture(rng: np.random.Generator, height: int, width: int, cells: int) -> np.ndarray:
    """A smooth random colour field (upsampled noise) plus edges, like a tiny photo or painting."""
    small = rng.integers(0, 256, size=(cells, cells, 3), dtype=np.uint8)
    image = np.asarray(Image.fromarray(small).resize((width, height), Image.BICUBIC), dtype=np.float32)
    stripes = 40.0 * np.sin(np.arange(width) / rng.uniform(2.0, 6.0))[None, :, None]
    return np.clip(image + stripes, 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny_data")
    rng = np.random.default_rng(1234)
    content = root / "content"
    content.mkdir()
    for index in range(6):
        Image.fromarray(_smooth_texture(rng, 72, 96, 6)).save(content / f"photo_{index}.png")
    styles = root / "styles"
    styles.mkdir()
    for index in range(2):
        Image.fromarray(_smooth_texture(rng, 96, 96, 12 + 8 * index)).save(styles / f"style_{index}.png")
    return {"content": content, "style_a": styles / "style_0.png", "style_b": styles / "style_1.png"}


@pytest.fixture()
def tiny_overrides(tiny_dataset: dict[str, Path]) -> list[str]:
    """Overrides that point configs/tiny.toml at the generated data and make it smaller still."""
    d = tiny_dataset
    return [
        f'data.content=["{d["content"]}"]',
        f'data.styles=[{{path="{d["style_a"]}", name="alpha"}}, {{path="{d["style_b"]}", name="beta"}}]',
        "data.size=32", "data.d_crop=24", "data.style_size=64", "data.content_short_side=40",
        "run.image_every=0", "run.threads=1",
    ]


REPO = Path(__file__).resolve().parents[1]
TINY_CONFIG = REPO / "configs" / "tiny.toml"
