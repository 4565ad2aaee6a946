from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from stylecast.data import ContentImages, list_images, load_rgb, to_tensor
from stylecast.data.images import load_short_side
from stylecast.errors import InputError

WriteImage = Callable[..., Path]


@pytest.fixture
def photo_folder(make_image: WriteImage, tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    make_image(folder / "a.png", 80, 60, seed=1)
    make_image(folder / "b.jpg", 60, 90, seed=2)
    make_image(folder / "sub" / "c.webp", 100, 100, seed=3)
    make_image(folder / "sub" / "d.JPEG", 70, 50, seed=4)
    make_image(folder / "e.bmp", 64, 64, seed=5)
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_list_images_finds_sorted_images_recursively(photo_folder: Path) -> None:
    found = list_images(photo_folder)
    assert [p.relative_to(photo_folder).as_posix() for p in found] == [
        "a.png", "b.jpg", "e.bmp", "sub/c.webp", "sub/d.JPEG"]
    assert [p.name for p in list_images(photo_folder, recursive=False)] == ["a.png", "b.jpg", "e.bmp"]


def test_list_images_missing_folder_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(InputError, match="nowhere"):
        list_images(missing)


def test_list_images_folder_without_images(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("no pictures here")
    with pytest.raises(InputError, match="no images"):
        list_images(tmp_path)


def test_load_rgb_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="missing.png"):
        load_rgb(tmp_path / "missing.png")


def test_load_rgb_corrupt_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"this is not a jpeg at all" * 10)
    with pytest.raises(InputError, match="bad.jpg"):
        load_rgb(bad)


def test_load_rgb_truncated_file(make_image: WriteImage, tmp_path: Path) -> None:
    good = make_image(tmp_path / "good.jpg", 64, 64)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(InputError, match="cut.jpg"):
        load_rgb(cut)


def test_load_rgb_applies_exif_orientation(tmp_path: Path) -> None:
    path = tmp_path / "sideways.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    Image.new("RGB", (40, 20), (10, 200, 30)).save(path, exif=exif)
    image = load_rgb(path)
    assert image.shape == (40, 20, 3)
    assert image.dtype == np.uint8


def test_load_rgb_max_side_shrinks_only(make_image: WriteImage, tmp_path: Path) -> None:
    path = make_image(tmp_path / "wide.png", 100, 50)
    assert load_rgb(path, max_side=40).shape == (20, 40, 3)
    assert load_rgb(path, max_side=400).shape == (50, 100, 3)


@pytest.mark.parametrize(("size", "short_side", "expected"), [
    ((80, 60), 48, (48, 64)), ((60, 90), 48, (72, 48)), ((30, 20), 40, (40, 60)),
])
def test_load_short_side(make_image: WriteImage, tmp_path: Path, size: tuple[int, int], short_side: int,
                         expected: tuple[int, int]) -> None:
    path = make_image(tmp_path / "x.jpg", *size)
    assert load_short_side(path, short_side).shape == (*expected, 3)


def test_to_tensor_layout_and_range() -> None:
    image = np.zeros((4, 5, 3), dtype=np.uint8)
    image[1, 2] = (255, 51, 0)
    tensor = to_tensor(image)
    assert tensor.shape == (3, 4, 5) and tensor.dtype == torch.float32
    assert torch.allclose(tensor[:, 1, 2], torch.tensor([1.0, 0.2, 0.0]))
    assert tensor.sum() == pytest.approx(1.2)
    with pytest.raises(ValueError):
        to_tensor(image.astype(np.float32))


def test_content_images_batches_are_reproducible(photo_folder: Path) -> None:
    content = ContentImages([photo_folder], short_side=48)
    assert len(content) == 5
    first = content.sample(4, 32, torch.Generator().manual_seed(0))
    again = content.sample(4, 32, torch.Generator().manual_seed(0))
    other = content.sample(4, 32, torch.Generator().manual_seed(1))
    assert first.shape == (4, 3, 32, 32) and first.dtype == torch.float32
    assert first.min() >= 0.0 and first.max() <= 1.0
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_content_images_resume_from_generator_state(photo_folder: Path) -> None:
    content = ContentImages([photo_folder], short_side=48)
    generator = torch.Generator().manual_seed(7)
    content.sample(2, 24, generator)
    state = generator.get_state()
    expected = content.sample(2, 24, generator)
    resumed = torch.Generator()
    resumed.set_state(state)
    assert torch.equal(content.sample(2, 24, resumed), expected)


def test_content_images_values_come_from_the_photo(make_image: WriteImage, tmp_path: Path) -> None:
    make_image(tmp_path / "solid.png", 90, 60, color=(200, 100, 50))
    content = ContentImages([tmp_path], short_side=40)
    batch = content.sample(3, 16, torch.Generator().manual_seed(0))
    expected = torch.tensor([200, 100, 50]) / 255.0
    assert torch.allclose(batch, expected.view(1, 3, 1, 1).expand_as(batch), atol=1e-5)


def test_content_images_flips_and_crops_vary(tmp_path: Path) -> None:
    # A left-to-right ramp: a flip turns the mean horizontal slope negative, crops change the mean.
    ramp = np.tile(np.linspace(0, 255, 64).round().astype(np.uint8)[None, :, None], (64, 1, 3))
    Image.fromarray(ramp).save(tmp_path / "ramp.png")
    content = ContentImages([tmp_path], short_side=64)
    batch = content.sample(32, 16, torch.Generator().manual_seed(0))
    slopes = (batch[:, 0, :, -1] - batch[:, 0, :, 0]).mean(dim=1)
    assert (slopes > 0).any() and (slopes < 0).any()
    assert batch.mean(dim=(1, 2, 3)).std() > 0.02


def test_content_images_shards_are_disjoint_and_complete(photo_folder: Path) -> None:
    shards = [ContentImages([photo_folder], short_side=32, shard=(rank, 2)) for rank in range(2)]
    assert [len(shard) for shard in shards] == [3, 2]
    assert set(shards[0].paths).isdisjoint(shards[1].paths)
    assert set(shards[0].paths) | set(shards[1].paths) == set(list_images(photo_folder))
    with pytest.raises(InputError):
        ContentImages([photo_folder], short_side=32, shard=(2, 2))
    with pytest.raises(InputError, match="no content images"):
        ContentImages([photo_folder], short_side=32, shard=(6, 7))


def test_content_images_corrupt_file_is_reported(photo_folder: Path) -> None:
    (photo_folder / "zz_broken.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(InputError, match="zz_broken.png"):
        ContentImages([photo_folder], short_side=32)


def test_load_short_side_keeps_detail_of_a_full_decode(make_image: WriteImage, tmp_path: Path) -> None:
    # Reduced-size JPEG decoding must not go below the target size, or fine texture turns to blur.
    path = make_image(tmp_path / "big.jpg", 400, 320, seed=9)
    fast = load_short_side(path, 48).astype(np.float32)
    with Image.open(path) as full:
        reference = np.asarray(full.convert("RGB").resize((60, 48), Image.Resampling.LANCZOS), np.float32)
    assert fast.shape == reference.shape
    assert np.abs(fast - reference).mean() < 3.0
