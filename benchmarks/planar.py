"""What keeping a video frame in YUV saves the encoder, and what x264's settings cost on stylized frames.

    python benchmarks/planar.py [--size 1280x720] [--frames 30] [--rounds 5] [--style starry_night]

The sample clip, scaled to ``--size``, is stylized once as ``stylecast stylize`` does (I420 in and
out, the fast path for large frames). Then, interleaved, ``--rounds`` times, on those frames:
1. the writer given I420 (as the pipeline now does) against the same frames as RGB (converted by
   swscale inside the writer, as before): CPU milliseconds a frame, all threads;
2. x264 on its own with a few settings (preset, CRF, tune, deblocking): CPU milliseconds a frame,
   kilobytes a frame, and the PSNR of the decoded Y plane against the frames given.
Medians over the rounds.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from stylecast.io.frames import i420_to_rgb
from stylecast.io.reader import VideoReader
from stylecast.io.writer import VideoWriter
from stylecast.runtime.bench import make_clip
from stylecast.stylizer import Stylizer

SETTINGS: tuple[tuple[str, int, dict[str, str]], ...] = (
    ("superfast", 18, {}),
    ("superfast", 18, {"tune": "fastdecode"}),
    ("superfast", 18, {"x264-params": "no-deblock=1"}),
    ("superfast", 20, {}),
    ("ultrafast", 18, {}),
)


def _writer_ms(frames: list[np.ndarray], target: Path) -> float:
    width = frames[0].shape[1]
    height = frames[0].shape[0] if frames[0].ndim == 3 else frames[0].shape[0] * 2 // 3
    start = time.process_time()
    with VideoWriter(target, width, height, Fraction(1, 30), 30.0) as writer:
        for index, frame in enumerate(frames):
            writer.write(frame, index)
    return (time.process_time() - start) * 1000.0 / len(frames)


def _x264(frames: list[np.ndarray], target: Path, preset: str, crf: int, extra: dict[str, str]
          ) -> tuple[float, float, float]:
    """CPU ms a frame, KB a frame, PSNR of Y (dB) for I420 ``frames`` through x264 on one thread."""
    height, width = frames[0].shape[0] * 2 // 3, frames[0].shape[1]
    start = time.process_time()
    with av.open(str(target), "w") as container:
        stream = container.add_stream("libx264", rate=30,
                                      options={"crf": str(crf), "preset": preset, "threads": "1", **extra})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index, frame in enumerate(frames):
            picture = av.VideoFrame.from_ndarray(frame, format="yuv420p")
            picture.pts = index
            container.mux(stream.encode(picture))
        container.mux(stream.encode(None))
    ms = (time.process_time() - start) * 1000.0 / len(frames)
    with av.open(str(target)) as container:
        decoded = [f.to_ndarray() for f in container.decode(video=0)]
    mse = float(np.mean([(d[:height].astype(np.float64) - f[:height]) ** 2
                         for d, f in zip(decoded, frames, strict=True)]))
    return ms, target.stat().st_size / len(frames) / 1024, 10 * np.log10(255.0**2 / mse)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--style", default="starry_night")
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clip = make_clip(folder / "in.mp4", width, height, args.frames)
        stylizer = Stylizer()
        code = stylizer.code(args.style)
        with VideoReader(clip, i420=True) as reader:
            planar = [stylizer.stylize_i420(f.image, code) for f in itertools.islice(reader, args.frames)]
        rgb = [i420_to_rgb(frame)[0] for frame in planar]
        writer: dict[str, list[float]] = {"I420": [], "RGB": []}
        x264: dict[int, list[tuple[float, float, float]]] = {i: [] for i in range(len(SETTINGS))}
        for _ in range(args.rounds):
            writer["I420"].append(_writer_ms(planar, folder / "a.mp4"))
            writer["RGB"].append(_writer_ms(rgb, folder / "b.mp4"))
            for index, (preset, crf, extra) in enumerate(SETTINGS):
                x264[index].append(_x264(planar, folder / "c.mp4", preset, crf, extra))
    print(f"{args.size}, {args.frames} stylized frames, medians of {args.rounds} rounds")
    for kind, values in writer.items():
        print(f"writer given {kind}: {statistics.median(values):.1f} CPU ms a frame")
    for index, (preset, crf, extra) in enumerate(SETTINGS):
        ms, kb, db = (statistics.median(v[i] for v in x264[index]) for i in range(3))
        print(f"x264 {preset} crf {crf} {extra or ''}: {ms:.1f} CPU ms, {kb:.0f} KB a frame, PSNR Y {db:.2f} dB")


if __name__ == "__main__":
    main()
