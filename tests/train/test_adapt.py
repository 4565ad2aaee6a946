"""Adapting a new style: instant code, optimisation of the code (and offsets), bad inputs, interruption."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from stylecast.errors import InputError
from stylecast.models.encoder import VGG19Features
from stylecast.models.generator import GeneratorConfig
from stylecast.models.io import load_stylenet, save_stylenet
from stylecast.models.style import StyleInfo, StyleNet
from stylecast.train import adapt
from stylecast.train.adapt import SAMPLE_PHOTOS_DIR, adapt_style, load_style_image

TINY = GeneratorConfig(stem_channels=8, channels=16, blocks=1, code_dim=16)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    net = StyleNet([StyleInfo("alpha"), StyleInfo("beta")], TINY, encoder_hidden=32)
    # A freshly initialised modulation (std 0.02) barely reacts to the code; a trained one does.
    torch.nn.init.normal_(net.generator.modulation.weight, std=0.3)
    training: dict[str, object] = {"loss": {"content_weight": 1e-5, "style_weight": 1e-4, "tv_weight": 10.0,
                         "style_layers": ["relu1_1", "relu2_1", "relu3_1"], "style_layer_weights": [1, 1, 1]},
                "data": {"style_size": 64}}
    return save_stylenet(net, tmp_path_factory.mktemp("model") / "tiny.safetensors", training)


@pytest.fixture(scope="module", autouse=True)
def _one_vgg_one_thread() -> Iterator[None]:
    """Every adaptation here shares one E (loading VGG19 costs more than a tiny adaptation) and runs
    on one thread: these small convolutions gain nothing from two, and two threads next to a busy
    neighbour process ran 6x slower."""
    vgg = VGG19Features()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(adapt, "VGG19Features", lambda: vgg)
        yield
    torch.set_num_threads(threads)


def _stripes(height: int = 80, width: int = 96, period: float = 2.5, seed: int = 0) -> np.ndarray:
    """Saturated diagonal stripes: a strong, easily told-apart texture."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    wave = np.sin((x + y) / period)[..., None]
    colours = np.array([[230, 40, 20], [20, 60, 220]], dtype=np.float32)
    image = np.where(wave > 0, colours[0], colours[1]) + rng.normal(0, 8, size=(height, width, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def _photos() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    out = []
    for _ in range(3):
        small = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
        out.append(np.asarray(Image.fromarray(small).resize((96, 72), Image.Resampling.BICUBIC)))
    return out


def test_load_style_image_rejects_tiny_and_unreadable(tmp_path: Path) -> None:
    Image.fromarray(_stripes(63, 200)).save(tmp_path / "thin.png")
    with pytest.raises(InputError, match=r"only 200x63 pixels, too small to describe a style: give at least 64x64"):
        load_style_image(tmp_path / "thin.png")
    (tmp_path / "junk.jpg").write_bytes(b"not an image at all")
    with pytest.raises(InputError, match="cannot read image"):
        load_style_image(tmp_path / "junk.jpg")
    with pytest.raises(InputError, match="does not exist"):
        load_style_image(tmp_path / "missing.png")
    Image.fromarray(_stripes(64, 64)).save(tmp_path / "ok.png")
    assert load_style_image(tmp_path / "ok.png").shape == (64, 64, 3)


def test_adapt_rejects_a_tiny_painting(tiny_model: Path) -> None:
    with pytest.raises(InputError, match="too small to describe a style"):
        adapt_style(tiny_model, _stripes(40, 90), max_steps=1)


def test_adapting_the_code_lowers_the_style_loss_and_leaves_g_alone(
        tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file_hash = hashlib.sha1(tiny_model.read_bytes()).hexdigest()
    net, meta = load_stylenet(tiny_model)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    monkeypatch.setattr(adapt, "load_stylenet", lambda path: (net, meta))  # to inspect the very G it used
    seen: list[tuple[int, float]] = []
    result = adapt_style(tiny_model, _stripes(), max_steps=15, photos=_photos(), size=64, batch=2, lr=0.1,
                         offset_lr=None, on_step=lambda step, loss: seen.append((step, loss)))
    assert result.steps == 15 and [s for s, _ in seen] == list(range(1, 16))
    assert result.style_loss_end < result.style_loss_start
    assert result.code.shape == result.instant_code.shape == (TINY.code_dim,)
    assert result.code.dtype == np.float32 and not np.array_equal(result.code, result.instant_code)
    with torch.no_grad():
        stats_code = net.encoder(torch.zeros(1, 1920))  # the encoder still answers: it was not touched
    assert stats_code.shape == (1, TINY.code_dim)
    after = net.state_dict()
    assert before.keys() == after.keys()
    for key in before:
        assert torch.equal(before[key], after[key]), key
    assert all(not p.requires_grad for p in net.parameters())
    assert hashlib.sha1(tiny_model.read_bytes()).hexdigest() == file_hash


def _offsets_act(net: StyleNet, vector: np.ndarray) -> bool:
    """Whether the offsets part of a style vector (code, then offsets) changes G's output."""
    frame = torch.rand(1, 3, 32, 32)
    row = torch.from_numpy(vector)[None]
    with torch.no_grad():
        full = net.generator(frame, row[:, :TINY.code_dim], offsets=row[:, TINY.code_dim:])
        bare = net.generator(frame, row[:, :TINY.code_dim])
    return bool((full - bare).abs().max() > 1e-3)


def test_offsets_are_kept_where_they_pay_and_dropped_where_they_do_not(
        tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = dict(max_steps=15, photos=_photos(), size=64, batch=2, lr=0.1, seed=1)
    code_only = adapt_style(tiny_model, _stripes(), offset_lr=None, **settings)  # type: ignore[arg-type]
    both = adapt_style(tiny_model, _stripes(), offset_lr=0.05, **settings)  # type: ignore[arg-type]
    net, _ = load_stylenet(tiny_model)
    assert both.has_offsets and not code_only.has_offsets
    assert both.code.shape == (TINY.code_dim + net.generator.offset_dim,)
    assert both.style_loss_end < code_only.style_loss_end
    # The stored vector is what G sees: the code part and the offsets part both act.
    assert _offsets_act(net, both.code)
    monkeypatch.setattr(adapt, "OFFSET_GAIN", 1.0)  # no offsets can lower the loss by 100%
    dropped = adapt_style(tiny_model, _stripes(), offset_lr=0.05, **settings)  # type: ignore[arg-type]
    assert dropped.code.shape == (TINY.code_dim,)


def test_adaptation_is_deterministic_and_uses_the_shipped_photos(tiny_model: Path) -> None:
    assert len(list(SAMPLE_PHOTOS_DIR.glob("*.jpg"))) == 6
    first = adapt_style(tiny_model, _stripes(), max_steps=3, size=48, precision="fp32", seed=3)
    second = adapt_style(tiny_model, _stripes(), max_steps=3, size=48, precision="fp32", seed=3)
    np.testing.assert_array_equal(first.code, second.code)
    np.testing.assert_array_equal(first.instant_code, second.instant_code)
    assert first.style_loss_start == second.style_loss_start


def test_zero_steps_or_no_time_gives_the_instant_code(tiny_model: Path) -> None:
    result = adapt_style(tiny_model, _stripes(), max_steps=0, photos=_photos(), size=48)
    assert result.steps == 0
    np.testing.assert_array_equal(result.code, result.instant_code)
    assert result.style_loss_end == result.style_loss_start
    quick = adapt_style(tiny_model, _stripes(), minutes=1e-6, photos=_photos(), size=48)
    assert quick.steps == 0


def test_an_interrupt_propagates(tiny_model: Path) -> None:
    def stop(step: int, loss: float) -> None:
        if step == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        adapt_style(tiny_model, _stripes(), max_steps=10, photos=_photos(), size=48, on_step=stop)


@pytest.mark.parametrize("kwargs", [{"precision": "fp16"}, {"minutes": 0}, {"size": 8}, {"batch": 0},
                                    {"photos": []}, {"offset_lr": 0.0}])
def test_bad_settings_are_input_errors(tiny_model: Path, kwargs: dict[str, object]) -> None:
    with pytest.raises(InputError):
        adapt_style(tiny_model, _stripes(), max_steps=1, **kwargs)  # type: ignore[arg-type]


def test_an_encoder_with_offsets_gives_them_to_the_instant_vector_and_adaptation_starts_there(
        tiny_model: Path, tmp_path: Path) -> None:
    """A model whose style encoder predicts offsets: the instant vector carries them (add-style's
    zero-step result, the CLI's and the web's instant path), and adaptation starts from them."""
    from stylecast.styles import vector_width
    from stylecast.styling.encode import PaintingEncoder

    net, meta = load_stylenet(tiny_model)
    with_head = StyleNet(net.styles, net.config, encoder_hidden=32, encoder_offsets=True)
    missing, unexpected = with_head.load_state_dict(net.state_dict(), strict=False)
    assert not unexpected and sorted(missing) == ["encoder.offsets.bias", "encoder.offsets.weight"]
    assert with_head.encoder.offsets is not None
    torch.nn.init.normal_(with_head.encoder.offsets.weight, std=0.05)
    path = save_stylenet(with_head, tmp_path / "offsets.safetensors", meta["training"])
    painting = _stripes()
    instant = adapt_style(path, painting, max_steps=0, photos=_photos(), size=48)
    width = TINY.code_dim + with_head.generator.offset_dim
    assert instant.instant_code.shape == instant.code.shape == (width,)
    assert np.abs(instant.instant_code[TINY.code_dim:]).max() > 1e-3
    # The same painting through the instant path of stylize and the web page: the same vector.
    vector = PaintingEncoder(path)(painting)
    assert vector.shape[1] > width and vector.shape[1] >= vector_width(meta["generator"])
    np.testing.assert_allclose(vector[0, :width], instant.instant_code, rtol=0, atol=1e-5)
    # Its offsets act on G: the style differs from the code alone.
    assert _offsets_act(with_head, instant.instant_code)
    # Adaptation starts from the instant offsets, and what it returns keeps offsets.
    adapted = adapt_style(path, painting, max_steps=3, photos=_photos(), size=48, offset_lr=None, seed=2)
    assert adapted.code.shape == (width,)
    np.testing.assert_array_equal(adapted.code[TINY.code_dim:], instant.instant_code[TINY.code_dim:])
