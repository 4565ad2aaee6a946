"""A trained G in more channels: a wider G that starts as the narrower one it grows from.

The objective's own optimum is far ahead of G on every measure (BENCHMARKS.md, "What the objective
reaches"): G falls short of its losses, and a wider G within the speed budget is the lever that
follows. Training one from scratch takes many CPU-hours; widening lets it start from the shipped G.
At 60 channels and 1,000 steps on two cores it did not pass its 48-channel control, at 0.76x the frame
rate (BENCHMARKS.md, "The wider G at step 1,000"); a much longer run is what could still show a gain.

Only the residual width (``GeneratorConfig.channels``, at H/4) grows. In the wider G each of the old
channels is computed exactly as before: every weight among old channels is copied, a dense (1 x 1)
convolution's weights from a new channel into any channel start at zero, and the new channels' own
weights (into them, their depthwise kernels, their normalisation parameters) keep the wider G's fresh
initialisation, so they carry signal and their outgoing weights get gradients from the first step.
"""

from __future__ import annotations

import dataclasses

import torch

from stylecast.models.style import StyleNet

# Rows of these parameters are (gamma, beta) pairs of G's normalisation layers, laid out per layer
# as ``Generator.norm_params`` reads them.
_NORM_ROWS = ("generator.modulation.", "generator.knob_modulation.", "encoder.offsets.")


def norm_rows(old_channels: list[int], new_channels: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Where each normalisation parameter of the narrower G sits in the wider one's layout.

    Returns ``(new, old)`` index tensors: row ``old[i]`` of a narrow G's modulation output is row
    ``new[i]`` of the wide G's (each layer's gammas, then its betas)."""
    new_rows: list[int] = []
    old_rows: list[int] = []
    old_at = new_at = 0
    for old, new in zip(old_channels, new_channels, strict=True):
        for part in (0, 1):   # gamma, beta
            old_rows.extend(range(old_at + part * old, old_at + part * old + old))
            new_rows.extend(range(new_at + part * new, new_at + part * new + old))
        old_at += 2 * old
        new_at += 2 * new
    return torch.tensor(new_rows), torch.tensor(old_rows)


def widened_state(narrow: StyleNet, wide: StyleNet) -> dict[str, torch.Tensor]:
    """``wide``'s state dict with ``narrow``'s weights in place, so that ``wide`` computes what ``narrow``
    does (G's picture at every code, knob and offset; the bank; the encoder's codes and offsets).

    Raises:
        ValueError: the two differ in anything but a wider ``channels`` (or the same), or ``narrow``
            has parts ``wide`` lacks (a knob, an offset head).
    """
    old_cfg, new_cfg = narrow.generator.config, wide.generator.config
    if dataclasses.replace(old_cfg, channels=new_cfg.channels, knob=new_cfg.knob) != new_cfg:
        raise ValueError(f"only G's channels can grow: {old_cfg} against {new_cfg}")
    if new_cfg.channels < old_cfg.channels:
        raise ValueError(f"G can only be widened: {old_cfg.channels} channels into {new_cfg.channels}")
    old_state = narrow.state_dict()
    state = {key: value.detach().clone() for key, value in wide.state_dict().items()}
    extra = sorted(set(old_state) - set(state))
    if extra:
        raise ValueError(f"the narrower model has parts the wider one lacks: {extra}")
    new_rows, old_rows = norm_rows(narrow.generator.norm_channels, wide.generator.norm_channels)
    for key, old in old_state.items():
        new = state[key]
        if key.startswith(_NORM_ROWS):
            if key.startswith("encoder.offsets."):
                new.zero_()   # a style's offsets for the new channels start at none, as the head did
            new[new_rows] = old[old_rows]
        elif new.shape == old.shape:
            new.copy_(old)
        else:
            new[tuple(slice(0, size) for size in old.shape)] = old
            if new.dim() == 4 and new.shape[1] > old.shape[1]:   # a dense convolution (a depthwise one reads
                new[:, old.shape[1]:] = 0.0                      # one channel): the new channels add nothing yet
    return state
