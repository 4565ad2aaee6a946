"""The input feed of the exported inference graph (torch-free, shared by export and engine)."""

from __future__ import annotations

import numpy as np


def inference_inputs(frames: np.ndarray, code: np.ndarray, strength: float = 1.0,
                     preserve_color: bool = False) -> dict[str, np.ndarray]:
    """The ONNX input feed for ``frames`` (N, H, W, 3) uint8 and ``code`` (1, D) float32."""
    return {"frames": np.ascontiguousarray(frames, dtype=np.uint8),
            "code": np.ascontiguousarray(code, dtype=np.float32).reshape(1, -1),
            "strength": np.array([strength], dtype=np.float32),
            "preserve_color": np.array([1.0 if preserve_color else 0.0], dtype=np.float32)}
