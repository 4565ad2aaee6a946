"""Training through the painting's palette (loss.palette): the runtime's map, with gradients to G."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from stylecast.styles.palette import PALETTE_WIDTH, apply_palette, palette_of
from stylecast.train.palette import batch_palettes, through_palette
from tests.train.test_trainer import _trainer


def _images(seed: int) -> torch.Tensor:
    torch.manual_seed(seed)
    return (0.3 + 0.4 * torch.rand(2, 3, 24, 32)).requires_grad_(True)


def test_the_training_map_is_the_runtimes_and_passes_gradients() -> None:
    images = _images(0)
    painting = (np.random.default_rng(1).random((40, 40, 3)) * [200, 120, 60]).astype(np.uint8)
    tails = torch.from_numpy(np.stack([palette_of(painting), np.zeros(PALETTE_WIDTH, np.float32)]))
    mapped = through_palette(images, tails)
    frames = images.detach().mul(255).round().byte().permute(0, 2, 3, 1).numpy()
    runtime = apply_palette(frames[:1], tails[0].numpy())[0].astype(np.float32) / 255
    np.testing.assert_allclose(mapped[0].detach().permute(1, 2, 0).numpy(), runtime, atol=2.5 / 255)
    torch.testing.assert_close(mapped[1], images[1].detach())       # no palette: unchanged
    mapped[0].mean().backward()
    assert images.grad is not None and images.grad[0].abs().sum() > 0


def test_pool_samples_take_their_crops_palette(tiny_overrides: list[str], tmp_path: Path) -> None:
    trainer = _trainer(tiny_overrides, tmp_path, ["loss.palette=true"])
    bank = trainer.bank_palettes
    assert bank.shape == (2, PALETTE_WIDTH) and torch.all(bank[:, 0] == 1.0)
    crops = torch.rand(1, 3, 32, 32)
    tails = batch_palettes(bank, torch.tensor([1, 0]), torch.tensor([False, True]), crops)
    torch.testing.assert_close(tails[0], bank[1])
    expected = palette_of(crops[0].mul(255).round().byte().permute(1, 2, 0).numpy())
    torch.testing.assert_close(tails[1], torch.from_numpy(expected))
    before = {k: v.detach().clone() for k, v in trainer.net.generator.state_dict().items()}
    report = trainer.train_step(trainer.make_batch(0))
    assert np.isfinite(report["g_total"])
    assert any(not torch.equal(before[k], v) for k, v in trainer.net.generator.state_dict().items())
