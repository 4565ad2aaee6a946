"""Widening G (``models.widen``): the wider G starts as the narrower one and can learn from there."""

from __future__ import annotations

import pytest
import torch

from stylecast.models.generator import GeneratorConfig
from stylecast.models.style import STYLE_STAT_DIM, StyleInfo, StyleNet
from stylecast.models.widen import norm_rows, widened_state

STYLES = [StyleInfo("alpha"), StyleInfo("beta")]


def _trained_like(channels: int, knob: bool = True, offsets: bool = True) -> StyleNet:
    net = StyleNet(STYLES, GeneratorConfig(stem_channels=8, channels=channels, blocks=2, knob=knob),
                   encoder_hidden=16, encoder_offsets=offsets)
    with torch.no_grad():   # parts that start at zero, made to draw, as training leaves them
        for module in [net.generator.modulation, net.generator.knob_modulation, net.encoder.offsets]:
            if module is not None:
                module.weight.normal_(std=0.2)
                module.bias.normal_(std=0.2)
    return net


def test_norm_rows_map_each_layers_gammas_and_betas() -> None:
    new, old = norm_rows([2, 3], [2, 5])
    # old layout: g0 g0 b0 b0 | g1 g1 g1 b1 b1 b1; new: g0 g0 b0 b0 | g1 x5, b1 x5
    assert old.tolist() == list(range(10))
    assert new.tolist() == [0, 1, 2, 3, 4, 5, 6, 9, 10, 11]


def test_the_wider_g_computes_what_the_narrower_one_did() -> None:
    torch.manual_seed(3)
    narrow, wide = _trained_like(12), _trained_like(20)
    wide.load_state_dict(widened_state(narrow, wide))
    frame, stats = torch.rand(2, 3, 36, 44), torch.rand(2, STYLE_STAT_DIM)
    with torch.no_grad():
        code_n, offsets_n = narrow.encoder.vector(stats)
        code_w, offsets_w = wide.encoder.vector(stats)
        torch.testing.assert_close(code_w, code_n)
        torch.testing.assert_close(wide.bank, narrow.bank)
        for knob in (None, -0.5, 0.5):
            k = None if knob is None else torch.full((2, 1), knob)
            torch.testing.assert_close(wide.generator(frame, code_w, offsets=offsets_w, knob=k),
                                       narrow.generator(frame, code_n, offsets=offsets_n, knob=k))
    # the new channels are live: the weights out of them get gradients, so training can use them
    wide.generator(frame, code_w.detach()).mean().backward()
    grad = wide.generator.up.pointwise.weight.grad
    assert grad is not None and grad[:, 12:].abs().sum() > 0
    assert wide.generator.up.pointwise.weight[:, 12:].abs().sum() == 0


def test_a_narrower_g_without_a_knob_or_offset_head_grows_into_one_with_them() -> None:
    torch.manual_seed(4)
    narrow = _trained_like(12, knob=False, offsets=False)
    wide = StyleNet(STYLES, GeneratorConfig(stem_channels=8, channels=16, blocks=2, knob=True), encoder_hidden=16,
                    encoder_offsets=True)   # fresh: its knob's modulation and offset head start at zero
    wide.load_state_dict(widened_state(narrow, wide))
    frame, code = torch.rand(1, 3, 20, 28), narrow.bank[:1].detach()
    with torch.no_grad():
        torch.testing.assert_close(wide.encoder.vector(torch.rand(1, STYLE_STAT_DIM))[1],
                                   torch.zeros(1, wide.generator.offset_dim))
        torch.testing.assert_close(wide.generator(frame, code, knob=torch.full((1, 1), 0.5)),
                                   narrow.generator(frame, code))


@pytest.mark.parametrize(("narrow", "wide", "message"), [
    (GeneratorConfig(stem_channels=8, channels=16, blocks=2), GeneratorConfig(stem_channels=8, channels=12, blocks=2),
     "only be widened"),
    (GeneratorConfig(stem_channels=8, channels=12, blocks=2), GeneratorConfig(stem_channels=8, channels=16, blocks=3),
     "only G's channels"),
    (GeneratorConfig(stem_channels=8, channels=12, blocks=2, knob=True),
     GeneratorConfig(stem_channels=8, channels=16, blocks=2), "lacks"),
])
def test_widening_refuses_anything_but_more_channels(narrow: GeneratorConfig, wide: GeneratorConfig,
                                                     message: str) -> None:
    with pytest.raises(ValueError, match=message):
        widened_state(StyleNet(STYLES, narrow), StyleNet(STYLES, wide))
