from __future__ import annotations

import pytest
import torch

from stylecast.errors import StyleError
from stylecast.models.discriminator import Discriminator
from stylecast.models.generator import Generator, GeneratorConfig, count_macs
from stylecast.models.style import STYLE_STAT_DIM, StyleInfo, StyleNet
from stylecast.styles import blend, parse_blend


@pytest.fixture(scope="module")
def generator() -> Generator:
    torch.manual_seed(0)
    g = Generator().eval()
    with torch.no_grad():  # a non-trivial modulation so that codes matter
        g.modulation.weight.normal_(std=0.3)
    return g


@pytest.mark.parametrize("size", [(31, 45), (5, 7), (64, 64), (97, 130)])
def test_any_size(generator: Generator, size: tuple[int, int]) -> None:
    frame = torch.rand(2, 3, *size)
    out, feats = generator(frame, torch.randn(2, 64), return_features=True)
    assert out.shape == frame.shape
    assert 0.0 <= out.min() and out.max() <= 1.0
    assert feats.shape == (2, generator.config.channels, -(-size[0] // 4), -(-size[1] // 4))


def test_budget_at_640x480() -> None:
    g = Generator()
    macs = count_macs(g, torch.rand(1, 3, 480, 640), torch.randn(1, 64))
    params = sum(p.numel() for p in g.parameters())
    assert macs <= 1.5e9, macs
    assert params <= 1.0e6, params


def test_code_changes_the_output(generator: Generator) -> None:
    frame = torch.rand(1, 3, 40, 40)
    with torch.no_grad():
        a = generator(frame, torch.randn(1, 64))
        b = generator(frame, torch.randn(1, 64))
    assert (a - b).abs().mean() > 1e-3


def blend_codes(codes: torch.Tensor, weights: list[float]) -> torch.Tensor:
    return torch.from_numpy(blend(weights, codes.numpy()))


def test_blending_codes_blends_normalisation(generator: Generator) -> None:
    codes = torch.randn(2, 64)
    frame = torch.rand(1, 3, 36, 52)
    with torch.no_grad():
        only_first = generator(frame, blend_codes(codes, [1.0, 0.0]))
        first = generator(frame, codes[:1])
        half = generator(frame, blend_codes(codes, [1.0, 1.0]))
        mean_code = generator(frame, codes.mean(0, keepdim=True))
        a, b = generator(frame, codes[:1]), generator(frame, codes[1:])
    torch.testing.assert_close(only_first, first)
    torch.testing.assert_close(half, mean_code)
    # a half-half blend is a new image, between neither extreme
    assert (half - a).abs().mean() > 1e-4 and (half - b).abs().mean() > 1e-4
    gammas = generator.norm_params(blend_codes(codes, [0.25, 0.75]))[0][0]
    ga, gb = generator.norm_params(codes[:1])[0][0], generator.norm_params(codes[1:])[0][0]
    torch.testing.assert_close(gammas, 0.25 * ga + 0.75 * gb)


def test_parse_blend() -> None:
    assert parse_blend("a:0.7,b:0.3") == [("a", pytest.approx(0.7)), ("b", pytest.approx(0.3))]
    assert parse_blend("a:3,b:1") == [("a", 0.75), ("b", 0.25)]
    assert parse_blend("starry_night") == [("starry_night", 1.0)]
    assert parse_blend("C:/paintings/x.png:2") == [("C:/paintings/x.png", 1.0)]
    for bad in ["", "a:-1", "a:0,b:0"]:
        with pytest.raises(StyleError):
            parse_blend(bad)


def test_stylenet_bank_and_encoder_paths() -> None:
    net = StyleNet([StyleInfo("alpha"), StyleInfo("beta")], GeneratorConfig(channels=16, stem_channels=8, blocks=1))
    frames = torch.rand(2, 3, 24, 24)
    stats = torch.randn(2, STYLE_STAT_DIM)
    out, _, bank, enc = net(frames, torch.tensor([0, 1]), stats, torch.tensor([False, True]))
    torch.testing.assert_close(bank, net.bank[[0, 1]])
    assert out.shape == frames.shape and enc.shape == (2, 16 * 4)
    assert net.index_of("alp") == 0
    with pytest.raises(StyleError, match="alpha, beta"):
        net.index_of("gamma")


def test_discriminator_is_conditioned_on_the_code() -> None:
    torch.manual_seed(0)
    d = Discriminator(code_dim=8).eval()
    crops = torch.rand(2, 3, 48, 48)
    logits = d(crops, torch.randn(2, 8))
    assert [tuple(x.shape) for x in logits] == [(2, 1, 6, 6), (2, 1, 3, 3)]
    other = d(crops, torch.randn(2, 8))
    assert (logits[0] - other[0]).abs().mean() > 1e-4
