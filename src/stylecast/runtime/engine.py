"""Inference engines: ONNX Runtime (default, no torch) and PyTorch, behind one call.

``engine(frames, style, strength, preserve_color)`` takes ``(N, H, W, 3)`` uint8 RGB frames and a
``(1, width)`` float32 style vector (``styles.py``; a plain ``(1, code_dim)`` code is widened) and
returns stylized ``(N, H, W, 3)`` uint8 frames.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from stylecast.errors import InputError, MissingDependencyError, ModelFileError
from stylecast.styles import vector_width, widen

BACKENDS = ("onnx", "torch")
# The exported graph's version: 3 puts the style's scale and shift inside each InstanceNormalization
# (faster); 2 took a style vector ("style"); 1 took a bare code ("code").
GRAPH_VERSION = "g3"
# Reduced precision is offered only where it keeps PSNR >= 35 dB against fp32 on the sample set
# (BENCHMARKS.md): bf16 does (49 dB); static int8 of the trained zoo does not (32 dB mean, 19 dB worst),
# and was no faster here, so int8 stays an export option (`stylecast export --int8`), not a precision.
PRECISIONS = {"onnx": ("fp32",), "torch": ("fp32", "bf16")}


class Engine(Protocol):
    name: str

    def __call__(self, frames: np.ndarray, style: np.ndarray, strength: float = 1.0,
                 preserve_color: bool = False) -> np.ndarray: ...


def _cache_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(os.environ.get("STYLECAST_CACHE") or user_cache_dir("stylecast"))


def _stamp(session: Any) -> str | None:
    value = session.get_modelmeta().custom_metadata_map.get("stylecast_model_digest")
    return str(value) if value else None


def onnx_digest(path: Path) -> str | None:
    """The model digest an exported ONNX file was stamped with, or None."""
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception:  # a damaged file: treated as absent, and re-exported where possible
        return None
    return _stamp(session)


def exported_onnx(model: Path, digest: str) -> Path:
    """The ONNX graph of a model of your own: exported once into the cache (needs torch), keyed by its
    G digest."""
    cached = _cache_dir() / "onnx" / f"{digest}.{GRAPH_VERSION}.onnx"
    if cached.is_file():
        return cached
    try:
        from stylecast.models.export import export_onnx
        from stylecast.models.io import load_stylenet
    except ImportError as error:
        beside = model.with_suffix(".onnx")
        raise MissingDependencyError(
            f"{model} has no matching ONNX graph beside it, and exporting one needs torch: run `stylecast "
            f"export --model {model} -o {beside}` where torch is installed, or install it here with "
            "`pip install 'stylecast[train]' torch==2.13.0`") from error
    net, _ = load_stylenet(model)
    return export_onnx(net.generator, cached, digest=digest)


def onnx_engine_for(model: Path, threads: int | None = None) -> OnnxEngine:
    """The ONNX Runtime engine of a model file, from the graph shipped beside it when that graph is
    stamped with the digest of the model's G (``default.safetensors`` ships with ``default.onnx``; file
    dates mean nothing after a git checkout), else from :func:`exported_onnx`. The graph beside is
    opened once: the session that reads its stamp is the one that runs."""
    from stylecast.modelfile import model_digest

    digest = model_digest(model)
    beside = model.with_suffix(".onnx")
    if beside.is_file():
        try:
            engine = OnnxEngine(beside, threads)
        except ModelFileError:  # a damaged graph beside the model, or one from an older stylecast
            pass
        else:
            if engine.digest == digest:
                return engine
    return OnnxEngine(exported_onnx(model, digest), threads)


def calibration_frames() -> list[np.ndarray]:
    """Frames that calibrate int8 activation ranges: crops and scales of the shipped sample photo."""
    from stylecast.io.images import read_image

    photo = read_image(Path(__file__).resolve().parents[1] / "samples" / "cat.jpg")
    frames = [photo, photo[::-1], photo[:, ::-1], photo[50:250, 100:400], photo[::2, ::2]]
    return [np.ascontiguousarray(f)[None] for f in frames]


class OnnxEngine:
    """ONNX Runtime: CPU by default; the TensorRT and CUDA providers first when present."""

    def __init__(self, onnx_path: str | Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or (os.cpu_count() or 1)
        options.inter_op_num_threads = 1
        # Idle pool threads sleep instead of spinning: every real path runs decoding and encoding threads
        # beside the engine on the same cores, and spinning took ~15 CPU-ms a 640x480 frame from them.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        available = ort.get_available_providers()
        providers = [p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider") if p in available]
        try:
            self.session = ort.InferenceSession(str(onnx_path), options,
                                                providers=providers + ["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own exception types
            raise ModelFileError(f"ONNX graph {onnx_path} cannot be loaded ({error}): re-export it with "
                                 "`stylecast export --format onnx`") from error
        inputs = {i.name: i.shape for i in self.session.get_inputs()}
        width = inputs.get("style", [None, None])[-1]
        if "frames" not in inputs or not isinstance(width, int):
            raise ModelFileError(f"ONNX graph {onnx_path} has inputs {sorted(inputs)}, not the frames and style "
                                 "vector this stylecast feeds (it comes from an older version): re-export it with "
                                 "`stylecast export --format onnx`")
        self.width = width
        self.name = f"onnx:{self.session.get_providers()[0]}"
        self.digest = _stamp(self.session)
        self.path = Path(onnx_path)

    def __call__(self, frames: np.ndarray, style: np.ndarray, strength: float = 1.0,
                 preserve_color: bool = False) -> np.ndarray:
        from stylecast.runtime.postprocess import finish, inference_inputs

        feed = inference_inputs(frames, widen(np.asarray(style, dtype=np.float32).reshape(1, -1), self.width))
        return finish(frames, self.session.run(None, feed)[0], strength, preserve_color)


class TorchEngine:
    """PyTorch: fp32, or bf16 autocast (fast on CPUs with AVX-512 BF16, and on GPUs).

    ``compile=True`` runs G through ``torch.compile`` (Inductor): it fuses each normalisation, its
    style scale and shift, the activation and the skip additions into one pass over memory, which is
    what sets the pace of this small network on a CPU (2x the eager speed in bf16 here, BENCHMARKS.md).
    The first frame of each new size pays the compilation (about 30 s on 2 cores), so it is for videos
    and streams of one size, not folders of photos of many sizes.
    """

    def __init__(self, model: str | Path, threads: int | None = None, precision: str = "fp32",
                 compile: bool = False) -> None:
        try:
            import torch
        except ImportError as error:
            raise MissingDependencyError("the torch backend needs torch: install it with "
                                         "`pip install 'stylecast[train]' torch==2.13.0`, or use --backend onnx"
                                         ) from error
        from stylecast.models.export import InferenceGraph
        from stylecast.models.io import load_stylenet

        if threads:
            torch.set_num_threads(threads)
        self.torch = torch
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        net, _ = load_stylenet(model)
        self.graph: Any = InferenceGraph(net.generator).eval().to(self.device)
        self.width = vector_width(net.config.to_dict())
        self.precision = precision
        self.name = f"torch:{self.device.type}:{precision}"
        if compile:
            if self.device.type == "cpu" and not any(shutil.which(c) for c in ("c++", "g++", "clang++")):
                raise MissingDependencyError("--compile builds C++ kernels and needs a C++ compiler: install one "
                                             "(Debian/Ubuntu: `apt install g++`), or drop --compile")
            # One static graph per frame size: Inductor's dynamic-shape path fails on G's pad-to-4 arithmetic.
            # Freezing folds the weights in as constants, so oneDNN gets its convolutions' weights packed
            # once; channels-last is oneDNN's native layout, so no reorder runs between the fused kernels.
            # Together 1.16x the frame rate of a plain compile (640x480 bf16, BENCHMARKS.md).
            self.graph = self.graph.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
            self.graph = torch.compile(self.graph, dynamic=False, options={"freezing": True})
            self.name += "+compile"

    def __call__(self, frames: np.ndarray, style: np.ndarray, strength: float = 1.0,
                 preserve_color: bool = False) -> np.ndarray:
        torch = self.torch
        vector = widen(np.asarray(style, dtype=np.float32).reshape(1, -1), self.width)
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=torch.bfloat16,
                                                    enabled=self.precision == "bf16"):
            out = self.graph(torch.from_numpy(np.require(frames, requirements=("C", "W"))).to(self.device),
                             torch.from_numpy(vector).to(self.device))
        from stylecast.runtime.postprocess import finish

        # The graph's output is a permuted view: made contiguous on the device, it reaches numpy in the
        # layout OpenCV needs (the stabiliser's blend refused the strided one).
        result: Any = finish(frames, out.contiguous().cpu().numpy(), strength, preserve_color)
        return result


def create_engine(model: Path, backend: str = "onnx", precision: str = "fp32", threads: int | None = None,
                  compile: bool = False) -> Engine:
    if backend not in BACKENDS:
        raise InputError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    if precision not in PRECISIONS[backend]:
        raise InputError(f"the {backend} backend offers precision {' or '.join(PRECISIONS[backend])}, "
                         f"not {precision!r}")
    if backend == "torch":
        return TorchEngine(model, threads, precision, compile)
    if compile:
        raise InputError("--compile is for the torch backend (ONNX Runtime optimises its graph by itself): "
                         "add --backend torch, or drop --compile")
    return onnx_engine_for(model, threads)
