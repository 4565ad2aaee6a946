"""Small synthetic inputs for the data tests: images and videos are generated in tmp_path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from PIL import Image

SHIFT_PER_FRAME = 2  # pixels the test video's content moves right each frame


def texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth, non-repeating RGB texture (blurred noise), ``uint8`` ``(H, W, 3)``.

    Blurred noise rather than stripes: optical flow on a periodic pattern is ambiguous.
    """
    rng = np.random.default_rng(seed)
    noise = rng.random((height, width, 3)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), sigmaX=2.0)
    smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min())
    return (smooth * 255).round().astype(np.uint8)


def write_image(path: Path, width: int, height: int, seed: int = 0,
                color: tuple[int, int, int] | None = None) -> Path:
    """Write a textured (or solid ``color``) image; the format follows the extension."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if color is None:
        pixels = texture(height, width, seed)
    else:
        pixels = np.empty((height, width, 3), dtype=np.uint8)
        pixels[:] = color
    Image.fromarray(pixels).save(path)
    return path


def shifting_frames(width: int = 96, height: int = 64, frames: int = 8,
                    shift: int = SHIFT_PER_FRAME) -> list[np.ndarray]:
    """Frames of a texture moving right by ``shift`` pixels per frame."""
    margin = shift * frames
    canvas = texture(height, width + margin, seed=3)
    # Content at canvas column c appears at x = c - margin + shift * t in frame t: it moves right.
    return [np.ascontiguousarray(canvas[:, margin - shift * t: margin - shift * t + width])
            for t in range(frames)]


def write_video(path: Path, frames: list[np.ndarray], rotation: int = 0) -> Path:
    """Encode RGB frames to a high-quality H.264 mp4 with PyAV."""
    height, width = frames[0].shape[:2]
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "4", "preset": "ultrafast"}
        if rotation:
            stream.set_display_rotation(rotation)
        for pixels in frames:
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture
def shifting_video(tmp_path: Path) -> Path:
    """A 96x64, 8-frame mp4 whose content moves right by SHIFT_PER_FRAME pixels per frame."""
    return write_video(tmp_path / "clip.mp4", shifting_frames())


# Helpers reach the tests as fixtures, not imports: importing `conftest` by name breaks as soon as
# another test folder has its own conftest.py or pytest runs with --import-mode=importlib.
@pytest.fixture
def make_image() -> Callable[..., Path]:
    return write_image


@pytest.fixture
def make_video() -> Callable[..., Path]:
    return write_video


@pytest.fixture
def make_texture() -> Callable[..., np.ndarray]:
    return texture
