"""Tiny generated media for the runtime tests (64x48, at most 30 frames): nothing read from ../shared."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

SAMPLE_RATE = 48_000
TONE_HZ = 440.0


def gradient_frame(index: int, width: int = 64, height: int = 48, marker: bool = False) -> np.ndarray:
    """A smooth, saturated, moving colour gradient ``(H, W, 3)`` uint8; ``marker`` whitens the top-left 8x8."""
    x = np.linspace(0.0, 1.0, width)[None, :]
    y = np.linspace(0.0, 1.0, height)[:, None]
    red = 40 + 160 * x + 3 * index + 0 * y
    green = 30 + 180 * y + 0 * x
    blue = 200 - 120 * x * y + 2 * index
    image = np.clip(np.stack([red, green, blue], axis=-1), 0, 255).astype(np.uint8)
    if marker:
        image[:8, :8] = 255
    return image


def write_clip(
    path: Path,
    frames: int = 20,
    size: tuple[int, int] = (64, 48),
    fps: int = 24,
    pts: Sequence[int] | None = None,
    time_base: Fraction = Fraction(1, 1000),
    audio: str | None = None,
    rotation: int | None = None,
    faststart: bool = False,
    marker: bool = False,
) -> Path:
    """Write an H.264 clip with PyAV; ``audio`` names a codec for a 440 Hz sine as long as the video.

    ``pts`` (in ``time_base``) gives irregular timestamps; ``rotation`` (counter-clockwise degrees,
    PyAV's convention) stores a display matrix; ``faststart`` puts an MP4's index first.
    """
    width, height = size
    options = {"movflags": "+faststart"} if faststart else {}
    timestamps = list(pts) if pts is not None else [round(i / (fps * time_base)) for i in range(frames)]
    with av.open(str(path), "w", options=options) as container:
        video = container.add_stream("libx264", rate=fps, options={"preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.time_base = video.codec_context.time_base = time_base
        if rotation is not None:
            video.set_display_rotation(rotation)
        sound: Any = container.add_stream(audio, rate=SAMPLE_RATE) if audio else None
        if sound is not None:
            sound.layout = "stereo"
        for index, stamp in enumerate(timestamps):
            frame = av.VideoFrame.from_ndarray(gradient_frame(index, width, height, marker), format="rgb24")
            frame.pts, frame.time_base = stamp, time_base
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if sound is not None:
            seconds = float(timestamps[-1] * time_base) + 1.0 / fps
            _write_tone(container, sound, seconds)
    return path


def write_audio_only(path: Path, seconds: float = 0.5) -> Path:
    with av.open(str(path), "w") as container:
        sound = container.add_stream("aac", rate=SAMPLE_RATE)
        sound.layout = "stereo"
        _write_tone(container, sound, seconds)
    return path


def _write_tone(container: av.container.OutputContainer, sound: av.AudioStream, seconds: float) -> None:
    samples = round(seconds * SAMPLE_RATE)
    tone = (0.3 * np.sin(2 * np.pi * TONE_HZ * np.arange(samples) / SAMPLE_RATE)).astype(np.float32)
    chunk = 1024
    for start in range(0, samples, chunk):
        piece = np.repeat(tone[None, start:start + chunk], 2, axis=0)  # planar stereo
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(piece), format="fltp", layout="stereo")
        frame.sample_rate, frame.pts, frame.time_base = SAMPLE_RATE, start, Fraction(1, SAMPLE_RATE)
        container.mux(sound.encode(frame))
    container.mux(sound.encode(None))


def decode_audio(path: Path) -> tuple[np.ndarray, int, str]:
    """All audio samples (first channel, float) of ``path``, its sample rate, and its codec."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="fltp", layout="mono")
        chunks = [
            out.to_ndarray()[0] for frame in container.decode(stream) for out in resampler.resample(frame)
        ]
        return np.concatenate(chunks), stream.codec_context.sample_rate, stream.codec_context.name


def decode_times(path: Path) -> list[Fraction]:
    """Presentation times (seconds, exact) of every video frame of ``path``."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        time_base = stream.time_base
        assert time_base is not None
        return [Fraction(frame.pts or 0) * time_base for frame in container.decode(stream)]


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 frames, 64x48, 24 fps, AAC sound, index first: the all-purpose test clip."""
    return write_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", audio="aac", faststart=True)


@pytest.fixture()
def make_clip(tmp_path: Path) -> Callable[..., Path]:
    """``make_clip(name, **write_clip options)``: a clip in this test's tmp_path."""

    def make(name: str, **options: object) -> Path:
        return write_clip(tmp_path / name, **options)  # type: ignore[arg-type]

    return make


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny two-style model (file path) whose styles look clearly different."""
    import torch

    from stylecast.models.generator import GeneratorConfig
    from stylecast.models.io import save_stylenet
    from stylecast.models.style import StyleInfo, StyleNet

    torch.manual_seed(0)
    net = StyleNet([StyleInfo("alpha"), StyleInfo("beta")], GeneratorConfig(stem_channels=8, channels=16, blocks=1))
    torch.nn.init.normal_(net.generator.modulation.weight, std=0.3)
    return str(save_stylenet(net, tmp_path_factory.mktemp("model") / "m.safetensors"))
