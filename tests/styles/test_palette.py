"""A painting's palette (torch-free): measured from the painting, carried in the vector, applied to frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stylecast.errors import InputError
from stylecast.modelfile import model_digest, read_metadata, write_model_file
from stylecast.styles import attach_palette, blend, split_palette, style_width, vector_width
from stylecast.styles.palette import PALETTE_WIDTH, apply_palette, palette_of, palette_parts

GENERATOR = {"stem_channels": 4, "channels": 8, "blocks": 1, "block_kernel": 3, "code_dim": 6}


def _moments(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pixels = image.reshape(-1, 3).astype(np.float64)
    return pixels.mean(axis=0), np.cov(pixels.T, bias=True)


def _colourful(seed: int, mean: tuple[float, float, float], mix: np.ndarray, size: tuple[int, int] = (120, 160)
               ) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=(*size, 3)) @ mix.T
    return np.clip(np.asarray(mean) + noise, 0, 255).round().astype(np.uint8)


FRAME = _colourful(0, (90.0, 120.0, 100.0), np.diag([30.0, 20.0, 25.0]))
# A warm painting whose red and green move together: a palette a frame cannot get by shifting channels.
PAINTING = _colourful(1, (170.0, 120.0, 60.0), np.array([[40.0, 0, 0], [25.0, 12.0, 0], [0, 0, 15.0]]))


def test_a_frame_takes_the_paintings_mean_and_covariance() -> None:
    out = apply_palette(FRAME[None], palette_of(PAINTING))[0]
    mean, cov = _moments(out)
    want_mean, want_cov = _moments(PAINTING)
    assert np.abs(mean - want_mean).max() < 3.0
    # The frame's spread (about 25 levels) is well above the covariance floor: the match is close.
    assert np.abs(cov - want_cov).max() < 0.15 * np.abs(want_cov).max()
    before = np.corrcoef(FRAME.reshape(-1, 3).T)[0, 1]
    assert abs(before) < 0.1 and np.corrcoef(out.reshape(-1, 3).T)[0, 1] > 0.7  # red and green now move together


def test_the_map_is_global_so_the_frames_structure_is_kept() -> None:
    gradient = np.repeat(np.linspace(0, 255, 160)[None, :, None], 120, axis=0).repeat(3, axis=2)
    frame = np.clip(gradient + np.random.default_rng(2).normal(0, 8, (120, 160, 3)), 0, 255).astype(np.uint8)
    out = apply_palette(frame[None], palette_of(PAINTING))[0].astype(np.float64)
    luma = out @ [0.299, 0.587, 0.114]
    assert np.corrcoef(luma.mean(axis=0), np.arange(160))[0, 1] > 0.99   # still a left-to-right ramp


def test_no_palette_leaves_the_frames_alone_and_a_flat_frame_stays_finite() -> None:
    frames = FRAME[None]
    assert apply_palette(frames, np.zeros(PALETTE_WIDTH, np.float32)) is frames
    assert apply_palette(frames, None) is frames
    assert palette_parts(np.full(PALETTE_WIDTH, np.nan)) is None
    flat = np.full((1, 32, 32, 3), 128, np.uint8)
    out = apply_palette(flat, palette_of(PAINTING))
    assert np.abs(out.reshape(-1, 3).mean(axis=0) - _moments(PAINTING)[0]).max() < 2.0  # the painting's mean colour


def test_a_blend_with_a_style_without_palette_applies_half_of_it() -> None:
    with_palette = attach_palette(np.ones((1, 6), np.float32), palette_of(PAINTING), GENERATOR)
    without = attach_palette(np.ones((1, 6), np.float32), np.zeros(PALETTE_WIDTH), GENERATOR)
    assert with_palette.shape == (1, style_width(GENERATOR)) == (1, vector_width(GENERATOR) + PALETTE_WIDTH)
    half = blend([0.5, 0.5], np.concatenate([with_palette, without]))
    g_part, tail = split_palette(half, GENERATOR)
    np.testing.assert_allclose(g_part, with_palette[:, :vector_width(GENERATOR)])
    amount, mean, _ = palette_parts(tail[0])  # type: ignore[misc]
    assert amount == pytest.approx(0.5) and np.allclose(mean, palette_parts(palette_of(PAINTING))[1])  # type: ignore[index]
    full = apply_palette(FRAME[None], palette_of(PAINTING))[0].reshape(-1, 3).mean(axis=0)
    halfway = apply_palette(FRAME[None], tail[0])[0].reshape(-1, 3).mean(axis=0)
    np.testing.assert_allclose(halfway, (full + FRAME.reshape(-1, 3).mean(axis=0)) / 2, atol=1.5)


def test_vectors_from_before_the_palette_split_with_a_zero_tail() -> None:
    old = np.arange(vector_width(GENERATOR), dtype=np.float32)[None]
    g_part, tail = split_palette(old, GENERATOR)
    np.testing.assert_array_equal(g_part, old)
    assert tail.shape == (1, PALETTE_WIDTH) and not tail.any()


def test_write_palettes_fills_the_metadata_and_keeps_gs_digest(tmp_path: Path) -> None:
    from stylecast.styling.painting import write_palettes

    images = tmp_path / "paintings"
    images.mkdir()
    Image.fromarray(PAINTING).save(images / "warm.png")
    tensors = {"generator.stem.weight": np.ones((4, 3, 3, 3), np.float32), "bank": np.ones((1, 6), np.float32)}
    model = write_model_file(tmp_path / "m.safetensors", tensors,
                             {"styles": [{"name": "warm", "extra": {"image": "warm.png"}}], "generator": GENERATOR})
    digest = model_digest(model)
    assert write_palettes(model, images) == ["warm"]
    assert model_digest(model) == digest
    palette = np.asarray(read_metadata(model)["styles"][0]["palette"])
    assert palette.shape == (PALETTE_WIDTH,) and palette[0] == 1.0
    np.testing.assert_allclose(palette[1:4] * 255, _moments(PAINTING)[0], atol=2.0)
    (images / "warm.png").unlink()
    with pytest.raises(InputError, match="no painting 'warm.png'"):
        write_palettes(model, images)
