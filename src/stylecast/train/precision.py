"""Which precision to train in: bf16 autocast where the hardware runs it natively, fp32 elsewhere.

bf16 autocast doubles training speed on a CPU with AVX-512 (1.8x measured on Zen 4) and on CUDA
GPUs, but on an AVX2-only CPU oneDNN has no bf16 kernels: convolutions fall back to a reference
GEMM, and a zoo training step took over 10 s instead of about 1 s in fp32 (seventh session).
"""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch

from stylecast.errors import InputError

PRECISIONS = ("auto", "bf16", "fp32")


def fast_bf16(device: torch.device) -> bool:
    """Whether ``device`` runs bf16 matrix work natively (a CUDA GPU with bf16, or a CPU whose oneDNN
    build has bf16 kernels for it: AVX-512 or newer)."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


def resolve_precision(requested: str, device: torch.device, setting: str = "precision") -> str:
    """``"bf16"`` or ``"fp32"`` for ``requested`` (``"auto"``, ``"bf16"`` or ``"fp32"``) on ``device``.

    ``"auto"`` picks bf16 only where it is fast. An explicit ``"bf16"`` is kept, with a warning on
    stderr where it is emulated.

    Raises:
        InputError: ``requested`` is not one of ``PRECISIONS``.
    """
    if requested not in PRECISIONS:
        raise InputError(f"{setting} must be one of {', '.join(PRECISIONS)}, not {requested!r}")
    if requested == "auto":
        return "bf16" if fast_bf16(device) else "fp32"
    if requested == "bf16" and not fast_bf16(device):
        sys.stderr.write(f"stylecast: warning: this {device.type.upper()} has no native bf16, so bf16 autocast is "
                         f"emulated and many times slower; set {setting} to auto or fp32\n")
    return requested


def autocast(precision: str, device: torch.device) -> AbstractContextManager[Any]:
    """The autocast context for a resolved ``precision`` (``"bf16"``: bf16 autocast; else none)."""
    return torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16" else nullcontext()
