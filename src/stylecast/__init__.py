"""stylecast: real-time video style transfer with a small GAN-trained, multi-style generator.

The public API, loaded on first use so that ``import stylecast`` stays fast and never needs torch::

    from stylecast import Stylizer, load_model, list_styles, read_image, StylecastError

    stylizer = load_model()                          # the shipped model on ONNX Runtime
    print(list_styles())                             # its styles (and yours, from add-style)
    out = stylizer.stylize(read_image("photo.jpg"), "starry_night:0.7,udnie:0.3", strength=0.9)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stylecast.errors import StylecastError

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np

    from stylecast.stylizer import Stylizer

from stylecast._version import __version__

__all__ = ["StylecastError", "Stylizer", "__version__", "list_styles", "load_model", "read_image"]


def load_model(path: str | Path | None = None, backend: str = "onnx", precision: str = "fp32",
               threads: int | None = None, working_size: int | str = "auto") -> Stylizer:
    """A ``Stylizer`` for a model file (``None``: the shipped model), ready to stylize frames.

    ``working_size``: the size G runs at for large frames (``"auto"``, ``"full"`` or a short side in
    pixels; see ``Stylizer``)."""
    from stylecast.stylizer import Stylizer

    return Stylizer(path, backend, precision, threads, working_size=working_size)


def list_styles(path: str | Path | None = None) -> list[str]:
    """The names of a model's styles (``None``: the shipped model), then the user's styles made for it."""
    from pathlib import Path

    from stylecast.modelfile import default_model_path, model_digest, read_metadata
    from stylecast.styles.library import StyleLibrary

    model = Path(path) if path is not None else default_model_path()
    shipped = [str(style["name"]) for style in read_metadata(model)["styles"]]
    return shipped + [style.name for style in StyleLibrary().list(model_digest(model))]


def read_image(path: str | Path, max_side: int | None = None) -> np.ndarray:
    """An image file as RGB ``uint8 (H, W, 3)``, EXIF orientation applied."""
    from stylecast.io.images import read_image as read

    return read(path, max_side)


def __getattr__(name: str) -> Any:
    if name == "Stylizer":
        from stylecast.stylizer import Stylizer

        return Stylizer
    raise AttributeError(f"module 'stylecast' has no attribute {name!r}")
