"""One painting, one code: the CLI, the web upload, add-style and training read a painting the same way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from stylecast.errors import InputError
from stylecast.models.style import STYLE_STAT_LAYERS, style_statistics
from stylecast.styles.palette import PALETTE_WIDTH
from stylecast.styling.painting import painting_at_scale, painting_scale, read_painting


@pytest.fixture(scope="module")
def painting_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A JPEG 'painting' larger than the training scale, with texture at several sizes."""
    rng = np.random.default_rng(7)
    small = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    image = Image.fromarray(small).resize((640, 480), Image.BICUBIC)
    array = np.asarray(image).astype(np.int16) + rng.integers(-40, 40, (480, 640, 3))
    path = tmp_path_factory.mktemp("painting") / "mine.jpg"
    Image.fromarray(np.clip(array, 0, 255).astype(np.uint8)).save(path, quality=90)
    return path


def test_the_painting_scale_comes_from_the_recipe() -> None:
    assert painting_scale({"training": {"data": {"style_size": 320}}}) == 320
    assert painting_scale({}) == 256
    assert painting_scale({"training": {"data": {"style_size": "big"}}}) == 256


def test_read_painting_refuses_what_no_entry_point_may_use(tmp_path: Path, painting_file: Path) -> None:
    Image.new("RGB", (300, 40)).save(tmp_path / "thin.png")
    with pytest.raises(InputError, match="too small"):
        read_painting(tmp_path / "thin.png")
    (tmp_path / "junk.jpg").write_bytes(b"no")
    with pytest.raises(InputError, match="cannot read"):
        read_painting(tmp_path / "junk.jpg")
    scaled = painting_at_scale(read_painting(painting_file), 256)
    assert scaled.shape == (256, 341, 3) and scaled.dtype == np.uint8


def test_cli_web_upload_add_style_and_training_give_one_code(painting_file: Path, tmp_path: Path) -> None:
    from stylecast.data.styles import StyleImages
    from stylecast.styling.encode import PaintingEncoder
    from stylecast.stylizer import Stylizer
    from stylecast.train.adapt import adapt_style
    from stylecast.web.app import ServeSettings, WebApp

    stylizer = Stylizer()
    vector = stylizer.code(str(painting_file))[0]
    cli_palette = vector[-PALETTE_WIDTH:]
    web = WebApp(ServeSettings(data_dir=tmp_path / "data"), stylizer)
    try:
        uploaded = web._instant_code(web._read_painting(painting_file, "mine.jpg"))[0]
    finally:
        web.release()
        web.store.close()
    adapted = adapt_style(None, read_painting(painting_file), minutes=0.05, max_steps=0,
                          photos=[np.zeros((64, 64, 3), np.uint8)]).instant_code.reshape(-1)
    # Training holds the painting at the same scale: the encoder sees the same pixels.
    encoder = PaintingEncoder()
    held = StyleImages([painting_file], encoder.short_side).image(0)
    with torch.no_grad():
        trained = encoder.net.encoder.style_vector(style_statistics(encoder.vgg(held, STYLE_STAT_LAYERS)))
    cli = vector[:trained.shape[1]]  # the encoder's code (and offsets, when it predicts them)
    np.testing.assert_allclose(uploaded, vector, rtol=0, atol=1e-6)       # the whole vector, palette too
    np.testing.assert_allclose(adapted, cli, rtol=0, atol=1e-5)
    np.testing.assert_allclose(trained.numpy().reshape(-1), cli, rtol=0, atol=1e-5)
    # The palette from the pixels training holds: a bank style's palette is the instant path's.
    assert cli_palette[0] == 1.0
    np.testing.assert_allclose(StyleImages([painting_file], encoder.short_side).palette(0), cli_palette, atol=1e-6)


def test_live_switches_to_a_painting_file_through_the_controls(painting_file: Path) -> None:
    from stylecast.runtime import live
    from stylecast.stylizer import Stylizer

    stylizer = Stylizer()
    controls = live.LiveControls(stylizer, "udnie", fade_seconds=0.0)
    before = controls.settings(0.0).code
    state = controls.update({"style": str(painting_file)})
    assert state["style"] == str(painting_file)
    after = controls.settings(1.0).code
    np.testing.assert_allclose(after, stylizer.code(str(painting_file)), atol=1e-6)
    assert np.abs(after - before).max() > 1e-3
