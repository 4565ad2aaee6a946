"""Make ``src/stylecast/samples/sample.mp4``: the short clip, with sound, that the README stylizes.

A slow pan and zoom (Ken Burns) over three public-domain / CC0 photos from scikit-image's data set,
with crossfades, and a gentle arpeggiated chord progression synthesised here with numpy: every pixel
and every sample has a clean licence (see ``src/stylecast/samples/CREDITS.md``). Nothing is random,
so the same inputs and FFmpeg give the same clip.

    python scripts/make_sample_clip.py [PHOTO_FOLDER] [--out PATH]

PHOTO_FOLDER defaults to ``../shared/data/content/train/misc`` beside the repository and must hold
``skimage_astronaut.jpg``, ``skimage_coffee.jpg`` and ``skimage_chelsea.jpg``.
"""

from __future__ import annotations

import argparse
import math
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from stylecast.io.images import read_image
from stylecast.io.probe import probe_video
from stylecast.io.writer import VideoWriter

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PHOTOS = REPO.parent / "shared" / "data" / "content" / "train" / "misc"
DEFAULT_OUT = REPO / "src" / "stylecast" / "samples" / "sample.mp4"

# 480x270 rather than 640x360: the photos are only 450-600 px wide, so a larger frame would be
# upscaled and soft; it also keeps the README's first run quick.
WIDTH, HEIGHT = 480, 270
FPS = 24
SHOT_FRAMES = 56  # 2.33 s per photo
FADE_FRAMES = 12  # 0.5 s crossfades: 3 * 56 - 2 * 12 = 144 frames = 6.0 s
SAMPLE_RATE = 48_000
AUDIO_BITRATE = 128_000


@dataclass(frozen=True)
class Shot:
    """A photo and the 16:9 window (left, top, width in source pixels) the camera moves between."""

    photo: str
    start: tuple[float, float, float]
    end: tuple[float, float, float]


# Windows chosen by eye on the photos; each stays inside its photo for the whole move.
SHOTS = (
    Shot("skimage_astronaut.jpg", start=(0.0, 0.0, 512.0), end=(30.0, 20.0, 380.0)),  # in to the face
    Shot("skimage_coffee.jpg", start=(0.0, 50.0, 480.0), end=(110.0, 70.0, 480.0)),  # pan across the cup
    Shot("skimage_chelsea.jpg", start=(95.0, 35.0, 330.0), end=(0.0, 20.0, 451.0)),  # out from the eyes
)


def render_shot(photo: np.ndarray, shot: Shot, frames: int) -> list[np.ndarray]:
    """The shot's frames, ``uint8`` ``(HEIGHT, WIDTH, 3)``, resampled from the photo at sub-pixel windows.

    The window's width changes geometrically (a zoom looks steady only at a constant ratio per frame)
    and its top-left corner so that the window's centre moves in a straight line.
    """
    (x0, y0, w0), (x1, y1, w1) = shot.start, shot.end
    centre0 = np.array([x0 + w0 / 2, y0 + w0 * HEIGHT / WIDTH / 2])
    centre1 = np.array([x1 + w1 / 2, y1 + w1 * HEIGHT / WIDTH / 2])
    out = []
    for index in range(frames):
        t = index / (frames - 1)
        width = w0 * (w1 / w0) ** t
        scale = width / WIDTH  # source pixels per output pixel
        centre = centre0 + (centre1 - centre0) * t
        left, top = centre[0] - width / 2, centre[1] - HEIGHT * scale / 2
        # Output pixel centres (u + 0.5) map to source pixel centres (x + 0.5).
        matrix = np.array([[scale, 0.0, left + 0.5 * scale - 0.5], [0.0, scale, top + 0.5 * scale - 0.5]])
        frame = cv2.warpAffine(photo, matrix, (WIDTH, HEIGHT), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_REFLECT)
        out.append(frame)
    return out


def render_video(photo_folder: Path) -> list[np.ndarray]:
    """All frames: the shots, each crossfading into the next over ``FADE_FRAMES``."""
    shots = [render_shot(read_image(photo_folder / shot.photo), shot, SHOT_FRAMES) for shot in SHOTS]
    frames = list(shots[0])
    for shot in shots[1:]:
        for index in range(FADE_FRAMES):
            alpha = (index + 1) / (FADE_FRAMES + 1)
            tail = frames[-FADE_FRAMES + index].astype(np.float32)
            mixed = (1 - alpha) * tail + alpha * shot[index].astype(np.float32)
            frames[-FADE_FRAMES + index] = np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
        frames.extend(shot[FADE_FRAMES:])
    return frames


def _midi_hz(note: int) -> float:
    return 440.0 * 2.0 ** ((note - 69) / 12)


# One chord per photo (Cmaj7, Am7, Fmaj7), arpeggiated up and back down in eighth notes at 120 bpm.
CHORDS = ((60, 64, 67, 71, 72), (57, 60, 64, 67, 69), (53, 57, 60, 64, 65))
NOTE_SECONDS = 0.25


def synthesise_sound(seconds: float) -> np.ndarray:
    """A soft electric-piano arpeggio over a low pad: ``float32`` ``(2, samples)`` stereo in [-0.5, 0.5]."""
    samples = round(seconds * SAMPLE_RATE)
    time = np.arange(samples) / SAMPLE_RATE
    sound = np.zeros((2, samples))
    chord_seconds = seconds / len(CHORDS)
    for chord_index, chord in enumerate(CHORDS):
        chord_start = chord_index * chord_seconds
        pattern = list(chord) + list(chord[-2:0:-1])  # 1 2 3 4 5 4 3 2
        for step in range(round(chord_seconds / NOTE_SECONDS)):
            note = pattern[step % len(pattern)]
            onset = chord_start + step * NOTE_SECONDS
            tail = time >= onset
            t = time[tail] - onset
            frequency = _midi_hz(note)
            # A few harmonics that die faster than the fundamental: a mellow, bell-like piano.
            tone = (np.sin(2 * np.pi * frequency * t) + 0.3 * np.exp(-t / 0.25) * np.sin(4 * np.pi * frequency * t)
                    + 0.1 * np.exp(-t / 0.12) * np.sin(6 * np.pi * frequency * t))
            envelope = np.minimum(t / 0.008, 1.0) * np.exp(-t / 0.7)  # 8 ms attack: no click
            pan = 0.5 + (0.3 if step % 2 else -0.3)
            sound[0, tail] += 0.18 * math.sqrt(1 - pan) * tone * envelope
            sound[1, tail] += 0.18 * math.sqrt(pan) * tone * envelope
        # The pad: root and fifth an octave down, swelling in and out with its chord.
        root = chord[0] - 12
        inside = (time >= chord_start) & (time < chord_start + chord_seconds + 0.3)
        t = time[inside] - chord_start
        swell = np.sin(np.pi * np.clip(t / (chord_seconds + 0.3), 0, 1)) ** 2
        pad = np.sin(2 * np.pi * _midi_hz(root) * t) + 0.6 * np.sin(2 * np.pi * _midi_hz(root + 7) * t)
        sound[:, inside] += 0.07 * swell * pad
    fade = np.minimum(1.0, np.minimum(time / 0.05, (seconds - time) / 1.0)).clip(0, 1)
    sound *= fade
    sound *= 0.5 / np.abs(sound).max()  # peak at -6 dBFS
    return sound.astype(np.float32)


def write_sound(path: Path, sound: np.ndarray) -> None:
    """Encode ``(2, samples)`` float32 to AAC in an M4A (the clip's writer then copies its packets)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=SAMPLE_RATE)
        stream.layout = "stereo"
        stream.bit_rate = AUDIO_BITRATE
        chunk = 1024
        for start in range(0, sound.shape[1], chunk):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(sound[:, start:start + chunk]),
                                               format="fltp", layout="stereo")
            frame.sample_rate, frame.pts, frame.time_base = SAMPLE_RATE, start, Fraction(1, SAMPLE_RATE)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("photos", nargs="?", type=Path, default=DEFAULT_PHOTOS, help="folder holding the photos")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the clip to write")
    args = parser.parse_args()

    frames = render_video(args.photos)
    seconds = len(frames) / FPS
    with tempfile.TemporaryDirectory() as scratch:
        sound_file = Path(scratch) / "sound.m4a"
        write_sound(sound_file, synthesise_sound(seconds))
        # crf 20 / slow: the clip ships in the wheel, so spend encode time on bytes, not quality.
        with VideoWriter(args.out, WIDTH, HEIGHT, Fraction(1, FPS), FPS, audio_from=sound_file,
                         crf=20, preset="slow") as writer:
            for index, frame in enumerate(frames):
                writer.write(frame, index)
    info = probe_video(args.out)
    print(f"wrote {args.out}: {info.width}x{info.height}, {info.frames} frames, {info.duration:.2f} s, "
          f"audio {info.audio_codec}, {args.out.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
