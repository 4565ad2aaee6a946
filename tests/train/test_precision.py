from __future__ import annotations

import pytest
import torch

from stylecast.errors import InputError
from stylecast.train.precision import fast_bf16, resolve_precision


def test_auto_follows_the_hardware() -> None:
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu) == ("bf16" if fast_bf16(cpu) else "fp32")


def test_explicit_choices_are_kept_and_emulated_bf16_warns(capsys: pytest.CaptureFixture[str]) -> None:
    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu) == "fp32"
    assert resolve_precision("bf16", cpu) == "bf16"
    warned = "no native bf16" in capsys.readouterr().err
    assert warned == (not fast_bf16(cpu))


def test_unknown_precision_names_the_setting() -> None:
    with pytest.raises(InputError, match="run.precision must be one of auto, bf16, fp32, not 'fp16'"):
        resolve_precision("fp16", torch.device("cpu"), "run.precision")
