"""Export G to ONNX for the light runtime (needs torch: the `train` extra).

The exported graph does all per-frame work, so a frame crosses into the engine once:

    frames  (N, H, W, 3) uint8 RGB   ──┬─> G ─> (N, H, W, 3) uint8 RGB
    style   (1, width) float32       ──┘

``style`` is a style vector (``styles.py``): the code, then offsets to the normalisation
parameters (zeros for trained styles), ``width = code_dim + offset_dim``.

Strength and colour preservation are applied afterwards, only when asked for
(``export_inputs.finish``): inside the graph they cost full-size passes on every frame.

Instance normalisation exports as the fused InstanceNormalization op; the export test checks
parity with PyTorch.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from stylecast.atomic import atomic_output
from stylecast.models.generator import Generator
from stylecast.runtime.postprocess import inference_inputs

INPUT_NAMES = ["frames", "style"]
OUTPUT_NAMES = ["stylized"]
OPSET = 17


def split_style(generator: Generator, style: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """A style vector ``(B, code_dim + offset_dim [+ 1])`` as ``(code, offsets, knob or None)``."""
    code_dim, offset_dim = generator.config.code_dim, generator.offset_dim
    knob = style[:, code_dim + offset_dim:code_dim + offset_dim + 1] if generator.config.knob else None
    return style[:, :code_dim], style[:, code_dim:code_dim + offset_dim], knob


class RawGraph(nn.Module):
    """G on float frames ``(N, 3, H, W)`` in [0, 1] with a style vector: for other pipelines."""

    def __init__(self, generator: Generator) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, frame: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        code, offsets, knob = split_style(self.generator, style)
        out = self.generator(frame, code, offsets=offsets, knob=knob)
        assert isinstance(out, torch.Tensor)
        return out


class InferenceGraph(nn.Module):
    """uint8 frames in, uint8 stylized frames out; see the module docstring for shapes."""

    def __init__(self, generator: Generator) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, frames: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        x = frames.permute(0, 3, 1, 2).float() * (1.0 / 255.0)
        code, offsets, knob = split_style(self.generator, style)
        out = self.generator(x, code, offsets=offsets, knob=knob)
        assert isinstance(out, torch.Tensor)
        # G ends in a sigmoid: no clamp needed before rounding.
        return (out.float() * 255.0 + 0.5).to(torch.uint8).permute(0, 2, 3, 1)


DIGEST_KEY = "stylecast_model_digest"


def _stamp(path: str, digest: str | None) -> None:
    """Record which model's G an ONNX file holds (``modelfile.model_digest``)."""
    if digest is None:
        return
    import onnx

    graph = onnx.load(path)
    del graph.metadata_props[:]
    graph.metadata_props.add(key=DIGEST_KEY, value=digest)
    onnx.save(graph, path)


def export_onnx(generator: Generator, path: str | Path, raw: bool = False, digest: str | None = None) -> Path:
    """Write G's inference graph to ``path`` atomically; dynamic batch, height and width.

    ``raw=True`` exports the bare network instead: ``frame (N, 3, H, W)`` float32 in [0, 1] and
    ``style (1, width)`` in, ``stylized (N, 3, H, W)`` float32 out, for use in other pipelines.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    graph: nn.Module = InferenceGraph(generator).eval()
    style = torch.zeros(1, generator.config.code_dim + generator.offset_dim + int(generator.config.knob))
    example: tuple[torch.Tensor, ...] = (torch.zeros(1, 37, 53, 3, dtype=torch.uint8), style)
    input_names, axes = INPUT_NAMES, {"frames": {0: "batch", 1: "height", 2: "width"},
                                      "stylized": {0: "batch", 1: "height", 2: "width"}}
    if raw:
        graph = RawGraph(generator).eval()
        example = (torch.rand(1, 3, 37, 53), style)
        input_names, axes = ["frame", "style"], {"frame": {0: "batch", 2: "height", 3: "width"},
                                                  "stylized": {0: "batch", 2: "height", 3: "width"}}
    with atomic_output(path) as temp:
        tmp = str(temp)
        with torch.no_grad(), warnings.catch_warnings():
            # The exporter's notes on instance_norm (G always normalises by the frame's own
            # statistics, train or eval) and on constant folding are expected.
            warnings.simplefilter("ignore")
            torch.onnx.export(graph, example, tmp, input_names=input_names, output_names=OUTPUT_NAMES,
                              dynamic_axes=axes, opset_version=OPSET, dynamo=False)
        _stamp(tmp, digest)
    return path


def quantize_int8(source: str | Path, target: str | Path, calibration: Iterable[np.ndarray],
                  code: np.ndarray, digest: str | None = None) -> Path:
    """Static int8 (QDQ, per-channel weights) quantisation of the convolutions, for VNNI CPUs.

    ``calibration`` yields ``(1, H, W, 3)`` uint8 frames; ``code`` is the style vector used while
    calibrating activation ranges.
    """
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.feeds = iter([inference_inputs(frame, code) for frame in calibration])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.feeds, None)

    target = Path(target)
    with atomic_output(target) as temp:
        tmp = str(temp)
        quantize_static(str(source), tmp, _Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        op_types_to_quantize=["Conv"])
        _stamp(tmp, digest)
    return target
