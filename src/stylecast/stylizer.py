"""``Stylizer``: the public entry point for stylizing frames with a model.

It reads the model's style bank with numpy and runs G through an engine (ONNX Runtime by default),
so stylizing needs no torch. Only turning a new painting into a style (the style encoder on VGG19
statistics) needs torch.
"""

from __future__ import annotations

import functools
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from stylecast.errors import ModelFileError, StyleError
from stylecast.fs import has_train_extra
from stylecast.io.frames import i420_size, is_i420, rgb_to_i420
from stylecast.modelfile import check_finite, default_model_path, model_digest, read_metadata
from stylecast.runtime.engine import Engine, create_engine
from stylecast.runtime.postprocess import finish, finish_i420
from stylecast.runtime.upscale import WorkingSize, guided_upscale_i420, shrink, shrink_i420, upscale_batch
from stylecast.styles import (
    check_knob,
    parse_blend,
    resolve_code,
    set_knob,
    split_palette,
    style_width,
    vector_width,
    widen,
)
from stylecast.styles.library import StyleLibrary
from stylecast.styles.palette import PALETTE_WIDTH, apply_palette


def _read_bank(path: Path) -> np.ndarray:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as handle:
            bank = np.asarray(handle.get_tensor("bank"), dtype=np.float32)
    except Exception as error:  # safetensors' own error types: a missing tensor, a damaged file
        raise ModelFileError(f"model file {path} has no readable style bank ({error}): re-export it with "
                             "`stylecast train`, or use another model file") from error
    check_finite("bank", bank, path)
    return bank


def _bank_palettes(meta: dict[str, Any]) -> np.ndarray:
    """The trained styles' palette tails ``(S, PALETTE_WIDTH)`` from the model file's metadata (each
    style's ``palette``); zero (no palette) for a style without a valid one, as in older files."""
    rows = []
    for style in meta["styles"]:
        tail = np.asarray(style.get("palette") or [], dtype=np.float32).reshape(-1)
        rows.append(tail if tail.size == PALETTE_WIDTH and np.all(np.isfinite(tail))
                    else np.zeros(PALETTE_WIDTH, np.float32))
    return np.stack(rows).reshape(-1, PALETTE_WIDTH)


class Stylizer:
    """Load a model once, then stylize any number of frames.

    Args:
        model: a model file; ``None`` for the model shipped in the package.
        backend: ``"onnx"`` (ONNX Runtime) or ``"torch"``.
        precision: ``"fp32"``; ``"int8"`` with onnx, ``"bf16"`` with torch.
        threads: intra-op threads (default: all cores).
        compile: with the torch backend, compile G (``torch.compile``): faster, after a one-off
            compilation per frame size.
        working_size: the size G runs at for large frames (``runtime/upscale.py``): ``"auto"`` (by
            the frame size and this machine's measured speed, for frames over 480 px: on a 2-core CPU
            a 216 px short side for 1280x720 video, 288 px for 1920x1080 video and 360 px for a still
            picture or 4K video; full size on a GPU), ``"full"``, or a short side in pixels. The
            result is always the frame's own size, its fine detail taken from the frame.
        workers: frames the caller stylizes at once, each on ``threads`` (``auto`` counts them for
            video; default: the cores over ``threads``).
    """

    def __init__(self, model: str | Path | None = None, backend: str = "onnx", precision: str = "fp32",
                 threads: int | None = None, compile: bool = False, working_size: int | str = "auto",
                 workers: int | None = None) -> None:
        if workers is None:  # as files, live and the web app split the cores: a frame per ``threads``
            workers = max(1, (os.cpu_count() or 1) // (threads or os.cpu_count() or 1))
        self.working_size = WorkingSize(working_size, parallel=workers)
        self.model_path = Path(model) if model is not None else default_model_path()
        self.meta = read_metadata(self.model_path)
        # Style vectors (styles.py): the trained codes with zero offsets, then the user's styles adapted
        # on this model's G, usable by name everywhere.
        self.width = style_width(self.meta["generator"])
        self.bank = np.concatenate([widen(_read_bank(self.model_path), vector_width(self.meta["generator"])),
                                    _bank_palettes(self.meta)], axis=1)
        library = StyleLibrary()
        digest = model_digest(self.model_path)
        user_names, user_vectors = library.names_and_codes(digest, self.width)
        self.user_styles = user_names
        # Styles adapted on another G (typically the model shipped before an upgrade), and entries that
        # cannot be read: named in errors, so "unknown style" is never said of a style the user has.
        self._stale_styles = {s.name: s.source for s in library.list() if s.model_digest != digest}
        self._damaged_styles = {path.stem: path for path in library.damaged}
        if user_names:
            self.bank = np.concatenate([self.bank, user_vectors])
        self.engine: Engine = create_engine(self.model_path, backend, precision, threads, compile)
        self._style_encoder: Any = None

    @property
    def styles(self) -> list[str]:
        """Shipped (or trained) styles first, then the user's styles for this model."""
        return [s["name"] for s in self.meta["styles"]] + self.user_styles

    @property
    def style_info(self) -> list[dict[str, Any]]:
        return list(self.meta["styles"])

    def _image_code(self, path: Path) -> np.ndarray:
        """Instant code for an unseen painting: the style encoder on E's statistics of it."""
        if self._style_encoder is None:
            from stylecast.styling.encode import PaintingEncoder

            self._style_encoder = PaintingEncoder(self.model_path)
        code: np.ndarray = self._style_encoder(path)
        return code

    def code(self, spec: str) -> np.ndarray:
        """The ``(1, width)`` style vector of a name, a style image, or a blend of them."""
        image_code = self._image_code if has_train_extra() else None
        try:
            return resolve_code(spec, self.styles, self.bank, image_code)
        except StyleError:
            for name, _ in parse_blend(spec):
                if name in self._damaged_styles and name not in self.styles:
                    raise StyleError(f"your style {name!r} is damaged ({self._damaged_styles[name]} cannot be read): "
                                     f"`stylecast remove-style {name}`, then add it again with `stylecast add-style "
                                     f"PAINTING --name {name}`") from None
                if name in self._stale_styles and name not in self.styles:
                    source = self._stale_styles[name] or "PAINTING"
                    raise StyleError(
                        f"your style {name!r} was adapted for another model (the one shipped with an earlier "
                        f"stylecast, or another --model), and a style code only fits the model it was made on: "
                        f"make it again with `stylecast remove-style {name}` then `stylecast add-style {source} "
                        f"--name {name}`") from None
            raise

    @property
    def has_knob(self) -> bool:
        """Whether G was trained with a content-vs-style knob (older models were not)."""
        return bool(self.meta["generator"].get("knob", False))

    def vector(self, spec: str, knob: float | None = None) -> np.ndarray:
        """``code(spec)`` with the content-vs-style knob set (``None``: the trained balance).

        Raises:
            StyleError: a knob outside 0..1, or a knob asked of a model trained without one.
        """
        code = self.code(spec)
        if knob is None:
            return code
        check_knob(knob)
        if not self.has_knob:
            raise StyleError("this model was trained without the content-vs-style knob: leave out the knob, "
                             "or use strength (an opacity over the photo) for a gentler look")
        return set_knob(code, knob, self.meta["generator"])

    def stylize(self, image: np.ndarray, style: str | np.ndarray, strength: float = 1.0,
                preserve_color: bool = False, knob: float | None = None,
                settle: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
                work_size: tuple[int, int] | None = None) -> np.ndarray:
        """One RGB uint8 ``(H, W, 3)`` frame (or a batch ``(N, H, W, 3)``) in, the same shape out.

        ``style`` is a SPEC string or a vector from ``code()`` (resolve it once for a video).
        ``knob`` is the trained content-vs-style balance, 0 (gentle) to 1 (wild); ``None`` keeps the
        vector's own (0.5, the recipe's balance, for a fresh one). ``strength`` is an opacity over the
        photo, for any model. ``settle(frame, stylized)``, if given, is called on each frame at the size
        G ran at, after the palette and before the upscale (a video's stabiliser: its cost then does
        not grow with the output size). ``work_size`` ``(w, h)``, if given, is the size G runs at for
        this call in place of the working-size setting's choice (``live --target-fps`` lowers it): a
        smaller one takes the fast path, the frame's size runs G at full size.
        """
        code, palette = self._g_code(style, knob)
        frames = image[None] if image.ndim == 3 else image
        dims = self._run_dims(frames.shape[2], frames.shape[1], code, work_size)
        small = frames if dims is None else np.stack([shrink(frame, dims) for frame in frames])
        styled = apply_palette(self.engine(small, code), palette[0])
        if settle is not None:
            styled = np.stack([settle(frame, out) for frame, out in zip(small, styled, strict=True)])
        if dims is not None:  # the fast path: G at the working size, brought back with the frame's detail
            styled = upscale_batch(frames, small, styled)
        out = finish(frames, styled, strength, preserve_color)
        return out[0] if image.ndim == 3 else out

    def stylize_i420(self, frame: np.ndarray, style: str | np.ndarray, strength: float = 1.0,
                     preserve_color: bool = False, knob: float | None = None,
                     settle: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
                     work_size: tuple[int, int] | None = None) -> np.ndarray:
        """:meth:`stylize` for one video frame as the decoder gives it and the encoder takes it: an
        I420 array ``(H * 3 // 2, W)`` uint8 (``io.frames``; BT.709, limited range) in, a new one out.

        G still sees RGB, made at the working size from the planes; on the fast path the result comes
        back to full size on the Y plane (``upscale.guided_upscale_i420``), so no full-size RGB frame
        exists (BENCHMARKS.md, "The frame stays YUV"). ``settle`` gets the working-size RGB frame and
        G's output, as in :meth:`stylize`.
        """
        code, palette = self._g_code(style, knob)
        if not is_i420(frame):
            raise ValueError(f"expected an I420 frame ((H * 3 // 2, W) uint8, even sides), got {frame.shape} "
                             f"{frame.dtype}")
        width, height = i420_size(frame)
        dims = self._run_dims(width, height, code, work_size, video=True)
        small, small_y = shrink_i420(frame, dims or (width, height))
        styled = apply_palette(self.engine(small[None], code), palette[0])[0]
        if settle is not None:
            styled = settle(small, styled)
        out = rgb_to_i420(styled) if dims is None else guided_upscale_i420(frame, small_y, styled)
        return finish_i420(frame, out, strength, preserve_color)

    def _g_code(self, style: str | np.ndarray, knob: float | None) -> tuple[np.ndarray, np.ndarray]:
        """G's part of ``style``'s vector (with ``knob`` set, if given) and its palette tail."""
        code = self.code(style) if isinstance(style, str) else style
        if knob is not None:
            code = set_knob(code, knob, self.meta["generator"])
        g_part, palette = split_palette(code, self.meta["generator"])
        return g_part, palette

    def work_size_for(self, width: int, height: int, style: str | np.ndarray | None = None,
                      video: bool = True) -> tuple[int, int]:
        """The size ``(w, h)`` G runs at for ``width x height`` frames of a video (or, with
        ``video=False``, a still picture) under the working-size setting (``auto`` times G once per
        frame size, with ``style``'s vector; the first style by default)."""
        code, _palette = self._g_code(style if isinstance(style, np.ndarray) else style or self.styles[0], None)
        return self._working_dims(width, height, code, video) or (width, height)

    def _run_dims(self, width: int, height: int, code: np.ndarray, work_size: tuple[int, int] | None,
                  video: bool = False) -> tuple[int, int] | None:
        """The size G runs at for this call (``None``: the frame's own): ``work_size`` if given, else the
        working-size setting's choice."""
        if work_size is None:
            return self._working_dims(width, height, code, video)
        return None if tuple(work_size) == (width, height) else (work_size[0], work_size[1])

    def _working_dims(self, width: int, height: int, code: np.ndarray, video: bool) -> tuple[int, int] | None:
        """The working-size setting's choice for ``width x height`` (``None``: full size), timing G
        with ``code`` (G's part of a style vector) when ``auto`` has not chosen for that size yet."""
        return self.working_size.dims(width, height, functools.partial(self._seconds_at, code), video)

    def _seconds_at(self, code: np.ndarray, dims: tuple[int, int]) -> float:
        """Seconds G (given its part of a style vector) takes for one ``dims`` frame here (median of
        three, after a first run)."""
        frame = np.zeros((dims[1], dims[0], 3), np.uint8)
        times = []
        for _ in range(4):
            start = time.perf_counter()
            self.engine(frame[None], code)
            times.append(time.perf_counter() - start)
        return statistics.median(times[1:])
