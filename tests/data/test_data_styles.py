from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from stylecast.data import StyleImages
from stylecast.errors import InputError

WriteImage = Callable[..., Path]


@pytest.fixture
def paintings(make_image: WriteImage, tmp_path: Path) -> list[Path]:
    return [make_image(tmp_path / "starry.png", 120, 80, seed=1),
            make_image(tmp_path / "scream.jpg", 90, 150, seed=2)]


def test_style_images_keep_aspect_at_the_training_scale(paintings: list[Path]) -> None:
    styles = StyleImages(paintings, short_side=64)
    assert styles.names == ["starry", "scream"] and len(styles) == 2
    first, second = styles.image(0), styles.image(1)
    assert first.shape == (1, 3, 64, 96) and second.shape == (1, 3, 107, 64)
    assert first.dtype == torch.float32 and 0.0 <= first.min() and first.max() <= 1.0


def test_style_crops_shapes_ranges_and_determinism(paintings: list[Path]) -> None:
    styles = StyleImages(paintings, short_side=64)
    indices = torch.tensor([0, 1, 1, 0])
    crops = styles.crops(indices, 32, torch.Generator().manual_seed(0))
    assert crops.shape == (4, 3, 32, 32) and crops.dtype == torch.float32
    assert 0.0 <= crops.min() and crops.max() <= 1.0
    assert torch.equal(crops, styles.crops(indices, 32, torch.Generator().manual_seed(0)))
    assert not torch.equal(crops, styles.crops(indices, 32, torch.Generator().manual_seed(1)))


def test_style_crops_come_from_the_requested_style(make_image: WriteImage, tmp_path: Path) -> None:
    red = make_image(tmp_path / "red.png", 100, 80, color=(255, 0, 0))
    blue = make_image(tmp_path / "blue.png", 80, 100, color=(0, 0, 255))
    styles = StyleImages([red, blue], short_side=64)
    crops = styles.crops(torch.tensor([1, 0, 1]), 16, torch.Generator().manual_seed(0))
    assert torch.allclose(crops.mean(dim=(2, 3)),
                          torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]), atol=1e-5)


def test_tiny_style_image_is_rejected(make_image: WriteImage, tmp_path: Path) -> None:
    tiny = make_image(tmp_path / "thumb.png", 50, 80)
    with pytest.raises(InputError, match="thumb.png"):
        StyleImages([tiny], short_side=64)


def test_unreadable_style_image_is_rejected(tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really")
    with pytest.raises(InputError, match="broken.jpg"):
        StyleImages([broken], short_side=64)
