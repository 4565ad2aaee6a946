"""Video and image file I/O: probing, threaded reading, writing with sound, bad inputs, path expansion."""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from PIL import Image

from stylecast.errors import InputError, StylecastError
from stylecast.io.frames import i420_size, i420_to_rgb, is_i420, rgb_to_i420
from stylecast.io.images import read_image, write_image
from stylecast.io.paths import expand_inputs, is_image, is_video
from stylecast.io.probe import probe_video
from stylecast.io.reader import VideoReader
from stylecast.io.writer import VideoWriter
from tests.runtime.conftest import (
    SAMPLE_RATE,
    TONE_HZ,
    decode_audio,
    decode_times,
    gradient_frame,
    write_audio_only,
    write_clip,
)

MakeClip = Callable[..., Path]


def read_all(path: Path, timeout: float = 10.0, **options: object) -> tuple[list, list[str]]:
    """Every frame of ``path`` and the reader's warnings; fails instead of hanging."""

    def run() -> tuple[list, list[str]]:
        with VideoReader(path, **options) as reader:  # type: ignore[arg-type]
            return list(reader), reader.warnings

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result(timeout=timeout)


def copy_through(source: Path, target: Path, **writer_options: object) -> VideoWriter:
    """Read ``source`` and write its frames unchanged (pts kept) to ``target``, with its sound."""
    with VideoReader(source) as reader:
        info = reader.info
        with VideoWriter(target, reader.width, reader.height, info.time_base, info.fps,
                         audio_from=source, **writer_options) as writer:  # type: ignore[arg-type]
            for frame in reader:
                writer.write(frame.image, frame.pts)
    return writer


def leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


# ------------------------------------------------------------------------------------------------
# probe_video and VideoReader


def test_probe_reports_size_rate_duration_and_sound(clip: Path) -> None:
    info = probe_video(clip)
    assert (info.width, info.height, info.rotation) == (64, 48, 0)
    assert info.frames == 20
    assert info.fps == pytest.approx(24.0, rel=0.02)
    assert info.duration == pytest.approx(20 / 24, abs=0.05)
    assert info.has_audio and info.audio_codec == "aac"
    assert info.path == clip and isinstance(info.time_base, Fraction)


def test_reader_yields_upright_rgb_frames_in_order(clip: Path) -> None:
    frames, warnings = read_all(clip)
    assert len(frames) == 20 and warnings == []
    assert [frame.index for frame in frames] == list(range(20))
    for frame in frames:
        assert frame.image.shape == (48, 64, 3) and frame.image.dtype == np.uint8
        assert frame.image.flags["C_CONTIGUOUS"]
    # Colour survives H.264 + yuv420p: a wrong YUV matrix or range would be off by 10-30 levels.
    error = np.abs(frames[5].image.astype(int) - gradient_frame(5).astype(int))
    assert error.mean() < 4.0


@pytest.mark.parametrize(
    ("stored_ccw", "clockwise", "marker_corner"),
    [(90, 270, "bottom-left"), (-90, 90, "top-right"), (180, 180, "bottom-right")],
)
def test_rotation_metadata_is_applied(make_clip: MakeClip, stored_ccw: int, clockwise: int,
                                      marker_corner: str) -> None:
    path = make_clip("rotated.mp4", frames=3, rotation=stored_ccw, marker=True)
    info = probe_video(path)
    assert info.rotation == clockwise
    assert (info.width, info.height) == ((48, 64) if clockwise in (90, 270) else (64, 48))
    frames, _ = read_all(path)
    image = frames[0].image
    assert image.shape == (info.height, info.width, 3) and image.flags["C_CONTIGUOUS"]
    rows, cols = np.nonzero(image.min(axis=2) > 220)  # the white 8x8 block stored top-left
    top = rows.max() < 10
    left = cols.max() < 10
    expected = {"bottom-left": (False, True), "top-right": (True, False), "bottom-right": (False, False)}
    assert (top, left) == expected[marker_corner]


@pytest.mark.parametrize("stored_ccw", [0, 90, -90, 180])
def test_i420_frames_are_the_rgb_frames_in_the_decoders_layout(make_clip: MakeClip, stored_ccw: int) -> None:
    path = make_clip("clip.mp4", frames=4, rotation=stored_ccw or None, marker=True)
    rgb, _ = read_all(path)
    planar, _ = read_all(path, i420=True)
    assert len(planar) == len(rgb) == 4
    for a, b in zip(rgb, planar, strict=True):
        height, width = a.image.shape[:2]
        assert is_i420(b.image) and i420_size(b.image) == (width, height) and b.pts == a.pts
        # Upright and in colour, as the RGB frames (which swscale makes with its own chroma filter).
        error = np.abs(i420_to_rgb(b.image)[0].astype(int) - a.image.astype(int))
        assert error.mean() < 3.0, error.mean()


def test_i420_reader_makes_odd_sides_even(tmp_path: Path) -> None:
    path = tmp_path / "odd.mkv"  # H.264 in 4:2:0 cannot store odd sides; FFV1 in 4:4:4 can
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=24)
        stream.width, stream.height, stream.pix_fmt = 63, 47, "yuv444p"
        for index in range(3):
            frame = av.VideoFrame.from_ndarray(gradient_frame(index, 63, 47), format="rgb24")
            container.mux(stream.encode(frame.reformat(format="yuv444p")))
        container.mux(stream.encode(None))
    with VideoReader(path, i420=True) as reader:
        assert (reader.width, reader.height) == (62, 46)
        frames = list(reader)
    assert len(frames) == 3 and all(i420_size(f.image) == (62, 46) for f in frames)


@pytest.mark.parametrize(("codec", "pixel_format"), [("mjpeg", "yuvj420p"), ("libx264", "yuv444p"),
                                                    ("ffv1", "gray")])
def test_frames_of_other_pixel_formats_keep_their_colours(tmp_path: Path, codec: str, pixel_format: str) -> None:
    # Full-range JPEG video (webcam recordings) would have its blacks turned grey if read as limited.
    path = tmp_path / "clip.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=24, options={"qscale": "2"} if codec == "mjpeg" else {})
        stream.width, stream.height, stream.pix_fmt = 64, 48, pixel_format
        for index in range(3):
            frame = av.VideoFrame.from_ndarray(gradient_frame(index), format="rgb24")
            container.mux(stream.encode(frame.reformat(format=pixel_format, dst_color_range="JPEG"
                                                       if pixel_format.startswith("yuvj") else None)))
        container.mux(stream.encode(None))
    planar, _ = read_all(path, i420=True)
    rgb, _ = read_all(path)
    expected = gradient_frame(1).astype(int)
    if pixel_format == "gray":
        expected = np.repeat(cv2.cvtColor(gradient_frame(1), cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2).astype(int)
    for image in (i420_to_rgb(planar[1].image)[0], rgb[1].image):
        assert np.abs(image.astype(int) - expected).mean() < 6.0


def test_bt709_conversions_agree_with_ffmpeg() -> None:
    image = gradient_frame(3, 64, 48)
    ours = rgb_to_i420(image)
    ffmpeg = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(
        format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG").to_ndarray()
    assert ours.shape == ffmpeg.shape == (72, 64)
    assert np.abs(ours.astype(int) - ffmpeg.astype(int)).max() <= 2
    back, luma = i420_to_rgb(ours)
    assert back.shape == image.shape and np.array_equal(luma, ours[:48])
    assert np.abs(back.astype(int) - image.astype(int)).mean() < 2.0  # only the chroma's 2x2 average is lost
    small, small_luma = i420_to_rgb(ours, (32, 24))
    assert small.shape == (24, 32, 3) and small_luma.shape == (24, 32)
    # A wrong matrix (BT.601) or range (full) would move saturated colours by 10-40 levels.
    for colour in ([255, 0, 0], [0, 255, 0], [0, 0, 255], [16, 16, 16], [235, 235, 235]):
        flat = np.full((4, 4, 3), colour, np.uint8)
        assert np.abs(i420_to_rgb(rgb_to_i420(flat))[0].astype(int) - colour).max() <= 2, colour


def test_max_side_downscales_keeping_aspect_with_even_sides(clip: Path) -> None:
    frames, _ = read_all(clip, max_side=32)
    assert frames[0].image.shape == (24, 32, 3)
    with VideoReader(clip, max_side=31) as reader:
        assert (reader.width, reader.height) == (30, 22)  # 31 x 23.25, floored to even: fits in 31
        assert next(iter(reader)).image.shape == (22, 30, 3)
    with VideoReader(clip, max_side=500) as reader:  # never enlarges
        assert (reader.width, reader.height) == (64, 48)


def test_leaving_the_block_mid_video_stops_the_decoding_thread(clip: Path) -> None:
    with VideoReader(clip, queue_size=2) as reader:
        for frame in reader:
            if frame.index == 1:
                break
    assert not any(thread.name.startswith("decode ") for thread in threading.enumerate())


def test_a_reader_is_iterated_once(clip: Path) -> None:
    with VideoReader(clip) as reader:
        list(reader)
        with pytest.raises(RuntimeError, match="iterated once"):
            list(reader)


def _cut(path: Path, fraction: float) -> Path:
    data = path.read_bytes()
    cut = path.with_name(f"cut_{path.name}")
    cut.write_bytes(data[: int(len(data) * fraction)])
    return cut


@pytest.mark.parametrize("name", ["clip.mp4", "clip.mkv"])
def test_truncated_video_yields_what_decodes_and_warns(make_clip: MakeClip, name: str) -> None:
    whole = make_clip(name, frames=30, audio="aac", faststart=True)
    frames, warnings = read_all(_cut(whole, 0.6))
    assert 0 < len(frames) < 30
    assert len(warnings) == 1 and "truncated" in warnings[0] and "stylized what decoded" in warnings[0]
    _, complete_warnings = read_all(whole)
    assert complete_warnings == []


def test_truncated_mp4_with_index_at_the_end_is_an_input_error(make_clip: MakeClip) -> None:
    cut = _cut(make_clip("clip.mp4", frames=30), 0.6)
    with pytest.raises(InputError, match="damaged, truncated or not a video"):
        probe_video(cut)


def test_file_with_no_decodable_frame_is_an_input_error(make_clip: MakeClip) -> None:
    whole = make_clip("clip.mp4", frames=20, faststart=True)
    data = whole.read_bytes()
    header_end = data.index(b"mdat") + 4  # keep the index, drop every frame
    whole.write_bytes(data[:header_end])
    with pytest.raises(InputError, match="could be decoded"):
        VideoReader(whole)


def _text_file(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.write_text("this is a note, not a clip\n" * 20)
    return path


def _random_bytes(tmp_path: Path) -> Path:
    path = tmp_path / "noise.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    return path


def _empty(tmp_path: Path) -> Path:
    path = tmp_path / "empty.mp4"
    path.touch()
    return path


@pytest.mark.parametrize(
    ("make_bad", "message"),
    [
        (lambda tmp: tmp / "missing.mp4", "does not exist: check the path"),
        (lambda tmp: tmp, "is a folder, not a video file: give a file"),
        (_empty, "is empty (0 bytes): the copy or download did not finish"),
        (_random_bytes, "damaged, truncated or not a video; re-export it"),
        (lambda tmp: _text_file(tmp, "notes.txt"), "is text, not a video: give a video file"),
        (lambda tmp: _text_file(tmp, "notes.mp4"), "not a video; re-export it or give another file"),
        (lambda tmp: write_audio_only(tmp / "song.m4a"), "has no video stream (it holds audio): give a video file"),
    ],
    ids=["missing", "folder", "empty", "random-bytes", "text", "text-named-mp4", "audio-only"],
)
def test_bad_video_inputs_name_the_problem_and_the_fix(tmp_path: Path, make_bad: Callable[[Path], Path],
                                                        message: str) -> None:
    path = make_bad(tmp_path)
    with pytest.raises(InputError) as caught:
        probe_video(path)
    assert message in str(caught.value)
    with pytest.raises(InputError):
        VideoReader(path)


# ------------------------------------------------------------------------------------------------
# VideoWriter


def test_variable_frame_rate_timestamps_survive_read_and_write(make_clip: MakeClip, tmp_path: Path) -> None:
    irregular = [0, 40, 70, 150, 160, 200, 300, 310, 320, 400, 470, 480]  # ms: not any constant rate
    source = make_clip("vfr.mp4", pts=irregular, time_base=Fraction(1, 1000))
    source_times = decode_times(source)
    assert source_times == [Fraction(p, 1000) for p in irregular]

    frames, _ = read_all(source)
    reader_times = [Fraction(frame.pts) * probe_video(source).time_base for frame in frames]
    assert reader_times == source_times

    out = tmp_path / "out" / "vfr_stylized.mp4"  # the writer creates a missing folder
    copy_through(source, out)
    assert decode_times(out) == source_times


@pytest.mark.parametrize(
    ("container", "codec", "expected_codec"),
    [("clip.mp4", "aac", "aac"), ("clip.mkv", "pcm_s16le", "aac"), ("clip.mkv", "libopus", "aac")],
    ids=["aac-copied", "pcm-reencoded", "opus-reencoded"],
)
def test_sound_survives_the_writer(make_clip: MakeClip, tmp_path: Path, container: str, codec: str,
                                   expected_codec: str) -> None:
    source = make_clip(container, frames=24, audio=codec)
    out = tmp_path / "with_sound.mp4"
    copy_through(source, out)
    assert probe_video(out).has_audio
    samples, rate, out_codec = decode_audio(out)
    assert out_codec == expected_codec
    source_samples, _, _ = decode_audio(source)
    assert len(samples) / rate == pytest.approx(len(source_samples) / SAMPLE_RATE, abs=0.06)
    assert np.sqrt(np.mean(samples**2)) > 0.1  # a 0.3-amplitude sine has RMS 0.21; silence has 0
    spectrum = np.abs(np.fft.rfft(samples[rate // 10:]))  # skip the encoder's priming
    peak_hz = np.argmax(spectrum) * rate / (2 * (len(spectrum) - 1))
    assert peak_hz == pytest.approx(TONE_HZ, abs=10)


def test_aac_sound_is_copied_bit_for_bit(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "copied.mp4"
    copy_through(clip, out)

    def payloads(path: Path) -> list[bytes]:
        with av.open(str(path)) as container:
            return [bytes(p) for p in container.demux(container.streams.audio[0]) if p.size]

    assert payloads(out) == payloads(clip)


def test_odd_frame_size_is_cropped_to_even(tmp_path: Path) -> None:
    out = tmp_path / "odd.mp4"
    with VideoWriter(out, 63, 47, Fraction(1, 24), 24.0) as writer:
        assert (writer.width, writer.height) == (62, 46)
        for index in range(5):
            writer.write(gradient_frame(index, 63, 47), index)
    info = probe_video(out)
    assert (info.width, info.height) == (62, 46)
    frames, _ = read_all(out)
    assert len(frames) == 5
    # Cropped, not resampled: the kept pixels are where they were.
    error = np.abs(frames[2].image.astype(int) - gradient_frame(2, 63, 47)[:46, :62].astype(int))
    assert error.mean() < 4.0


def test_writer_takes_i420_frames_as_they_are(tmp_path: Path) -> None:
    out = tmp_path / "planar.mp4"
    with VideoWriter(out, 64, 48, Fraction(1, 24), 24.0) as writer:
        for index in range(5):
            writer.write(rgb_to_i420(gradient_frame(index, 64, 48)), index)
        with pytest.raises(ValueError, match="I420"):
            writer.write(rgb_to_i420(gradient_frame(0, 32, 48)), 9)
    frames, _ = read_all(out)
    assert len(frames) == 5
    error = np.abs(frames[2].image.astype(int) - gradient_frame(2, 64, 48).astype(int))
    assert error.mean() < 4.0


def test_failing_block_leaves_no_file_and_no_temporary(tmp_path: Path) -> None:
    out = tmp_path / "broken.mp4"
    with pytest.raises(ZeroDivisionError):
        with VideoWriter(out, 64, 48, Fraction(1, 24), 24.0) as writer:
            for index in range(15):  # enough to get past x264's look-ahead: the file exists by now
                writer.write(gradient_frame(index), index)
            assert any(name.endswith(".partial.mp4") for name in leftovers(tmp_path))
            1 / 0  # noqa: B018 - the stylizer failing mid-video
    assert leftovers(tmp_path) == []


def test_close_without_success_or_without_frames_leaves_nothing(tmp_path: Path) -> None:
    writer = VideoWriter(tmp_path / "cancelled.mp4", 64, 48, Fraction(1, 24), 24.0)
    writer.write(gradient_frame(0), 0)
    writer.close(success=False)
    assert leftovers(tmp_path) == []
    with pytest.raises(StylecastError, match="no frame was written"):
        with VideoWriter(tmp_path / "empty.mp4", 64, 48, Fraction(1, 24), 24.0):
            pass
    assert leftovers(tmp_path) == []


def test_successful_write_replaces_the_output_and_puts_the_index_first(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "result.mp4"
    out.write_bytes(b"an old result")
    copy_through(clip, out)
    assert leftovers(tmp_path) == ["result.mp4"]
    head = out.read_bytes()[:4096]
    assert b"moov" in head  # +faststart: a player can start before the whole file arrives


def test_missing_timestamps_are_spaced_by_fps(tmp_path: Path) -> None:
    out = tmp_path / "no_pts.mp4"
    with VideoWriter(out, 64, 48, Fraction(1, 1000), 25.0) as writer:
        for index in range(4):
            writer.write(gradient_frame(index), None)
    assert decode_times(out) == [Fraction(40 * i, 1000) for i in range(4)]


def test_writer_rejects_unknown_suffix_and_unwritable_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"end the name with \.mp4"):
        VideoWriter(tmp_path / "out.webm", 64, 48, Fraction(1, 24), 24.0)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(InputError, match="choose a writable folder"):
        VideoWriter(blocker / "out.mp4", 64, 48, Fraction(1, 24), 24.0)


def test_writer_rejects_frames_of_the_wrong_size(tmp_path: Path) -> None:
    with VideoWriter(tmp_path / "x.mp4", 64, 48, Fraction(1, 24), 24.0) as writer:
        writer.write(gradient_frame(0), 0)
        with pytest.raises(ValueError, match="48x64"):
            writer.write(gradient_frame(1, 32, 24), 1)


# ------------------------------------------------------------------------------------------------
# Still images


def test_image_round_trip_png_exact_and_jpeg_close(tmp_path: Path) -> None:
    image = gradient_frame(3, 40, 30)
    write_image(tmp_path / "out" / "a.png", image)
    np.testing.assert_array_equal(read_image(tmp_path / "out" / "a.png"), image)
    write_image(tmp_path / "a.jpg", image)
    assert np.abs(read_image(tmp_path / "a.jpg").astype(int) - image).mean() < 3
    write_image(tmp_path / "a.webp", image)
    assert read_image(tmp_path / "a.webp").shape == (30, 40, 3)
    assert leftovers(tmp_path) == ["a.jpg", "a.webp", "out"]
    assert read_image(tmp_path / "out" / "a.png", max_side=20).shape == (15, 20, 3)


def test_write_image_errors(tmp_path: Path) -> None:
    image = gradient_frame(0, 8, 8)
    with pytest.raises(InputError, match=r"unknown suffix '\.gif'; end the name with \.png"):
        write_image(tmp_path / "a.gif", image)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(InputError, match="choose a writable folder"):
        write_image(blocker / "a.png", image)
    with pytest.raises(ValueError, match="uint8"):
        write_image(tmp_path / "a.png", image.astype(np.float32))
    assert leftovers(tmp_path) == ["a_file"]


def test_read_image_errors(tmp_path: Path) -> None:
    Image.new("L", (20_000, 2)).save(tmp_path / "banner.png")  # tiny file, absurd size
    with pytest.raises(InputError, match=r"20000x2 \(0 megapixels\), beyond what stylecast handles \(at most 16384"):
        read_image(tmp_path / "banner.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    with pytest.raises(InputError, match="re-export it as PNG or JPEG"):
        read_image(tmp_path / "broken.png")
    (tmp_path / "empty.jpg").touch()
    with pytest.raises(InputError, match="empty"):
        read_image(tmp_path / "empty.jpg")
    with pytest.raises(InputError, match="does not exist"):
        read_image(tmp_path / "missing.jpg")


# ------------------------------------------------------------------------------------------------
# Kinds of file and expand_inputs


def test_kind_by_suffix() -> None:
    assert is_video("a/b.MP4") and is_video("x.webm") and not is_video("x.png")
    assert is_image("a/b.JPG") and is_image("x.webp") and not is_image("x.mkv")


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_expand_single_file(tmp_path: Path) -> None:
    clip = _touch(tmp_path / "clip.mov")
    assert expand_inputs(clip, None, ".mp4") == [(clip, tmp_path / "clip_stylized.mov")]
    webm = _touch(tmp_path / "talk.webm")  # stylecast does not write WebM
    assert expand_inputs(webm, None, ".mp4") == [(webm, tmp_path / "talk_stylized.mp4")]
    bmp = _touch(tmp_path / "scan.bmp")  # nor BMP, and ".mp4" does not suit an image
    assert expand_inputs(bmp, None, ".mp4") == [(bmp, tmp_path / "scan_stylized.png")]
    out_dir = tmp_path / "results"
    out_dir.mkdir()
    assert expand_inputs(clip, out_dir, ".mp4") == [(clip, out_dir / "clip.mov")]
    assert expand_inputs(str(clip), str(tmp_path / "x.mp4"), ".mp4") == [(clip, tmp_path / "x.mp4")]


def test_expand_single_file_errors(tmp_path: Path) -> None:
    clip = _touch(tmp_path / "clip.mp4")
    with pytest.raises(InputError, match="is the input .*: give another output path"):
        expand_inputs(clip, tmp_path / "." / "clip.mp4", ".mp4")
    with pytest.raises(InputError, match="does not exist; create it or choose another output path"):
        expand_inputs(clip, tmp_path / "nowhere" / "out.mp4", ".mp4")
    with pytest.raises(InputError, match="source .* does not exist"):
        expand_inputs(tmp_path / "missing.mp4", None, ".mp4")
    with pytest.raises(InputError, match=r"end the output name with \.mp4"):
        expand_inputs(clip, tmp_path / "frame.png", ".mp4")
    with pytest.raises(InputError, match="not an image or video stylecast reads"):
        expand_inputs(_touch(tmp_path / "notes.txt"), None, ".mp4")


def test_expand_folder_mirrors_tree(tmp_path: Path) -> None:
    source = tmp_path / "shoot"
    files = [_touch(source / "a.jpg"), _touch(source / "day2" / "b.mp4"), _touch(source / "day2" / "c.webm")]
    _touch(source / "notes.txt")
    _touch(source / "._a.jpg")  # macOS resource fork
    _touch(source / ".cache" / "d.png")
    pairs = expand_inputs(source, None, ".mkv")
    out = tmp_path / "shoot_stylized"
    assert pairs == [(files[0], out / "a.jpg"), (files[1], out / "day2" / "b.mp4"), (files[2], out / "day2" / "c.mkv")]
    # An output folder inside the source is not read as input on the next run.
    _touch(source / "styled" / "a.jpg")
    assert [s for s, _ in expand_inputs(source, source / "styled", ".mp4")] == files
    with pytest.raises(InputError, match="is the input folder: give another output path"):
        expand_inputs(source, source, ".mp4")
    _touch(tmp_path / "nothing_here" / "readme.txt")
    with pytest.raises(InputError, match="no images or videos .* found in or below"):
        expand_inputs(tmp_path / "nothing_here", None, ".mp4")


def test_expand_image_sequence_pattern_and_glob(tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    for number in (2, 10, 1):
        _touch(frames / f"{number:05d}.png")
    _touch(frames / "123.png")  # not 5 digits: not part of %05d
    out = tmp_path / "frames_stylized"
    pairs = expand_inputs(str(frames / "%05d.png"), None, ".mp4")
    assert pairs == [(frames / f"{n:05d}.png", out / f"{n:05d}.png") for n in (1, 2, 10)]
    globbed = expand_inputs(str(frames / "*.png"), tmp_path / "styled", ".mp4")
    assert [o.name for _, o in globbed] == ["00001.png", "00002.png", "00010.png", "123.png"]
    assert all(o.parent == tmp_path / "styled" for _, o in globbed)
    with pytest.raises(InputError, match="no images or videos match"):
        expand_inputs(str(frames / "*.jpg"), None, ".mp4")
    with pytest.raises(InputError, match="is the input folder"):
        expand_inputs(str(frames / "*.png"), frames, ".mp4")


def test_expand_rejects_two_inputs_landing_on_one_output(tmp_path: Path) -> None:
    source = tmp_path / "mixed"
    _touch(source / "take.mp4")
    _touch(source / "take.webm")  # becomes take.mp4 too
    with pytest.raises(InputError, match="would both be written to"):
        expand_inputs(source, None, ".mp4")


def test_write_clip_helper_writes_what_it_says(tmp_path: Path) -> None:
    """Guards the fixtures the tests above rely on."""
    path = write_clip(tmp_path / "c.mp4", frames=4, fps=10, time_base=Fraction(1, 10))
    assert decode_times(path) == [Fraction(i, 10) for i in range(4)]


@pytest.mark.parametrize(("cores", "width", "height", "expected"), [
    (2, 1280, 720, "ultrafast"),   # 720p and up on a small machine: the encoder would set the pace
    (2, 1278, 720, "superfast"),
    (16, 1280, 720, "superfast"),  # x264 has threads of its own there
])
def test_auto_preset_follows_the_frame_size_and_the_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            cores: int, width: int, height: int,
                                                            expected: str) -> None:
    monkeypatch.setattr("stylecast.io.writer.os.cpu_count", lambda: cores)
    target = tmp_path / "auto.mp4"
    with VideoWriter(target, width, height, Fraction(1, 30), 30.0) as writer:
        assert writer.preset == expected
        for index in range(2):
            writer.write(np.full((height, width, 3), 40 * index, np.uint8), index)
    # x264 writes its settings into the stream: subpixel refinement 0 is ultrafast's, 1 superfast's.
    assert f"subme={0 if expected == 'ultrafast' else 1} ".encode() in target.read_bytes()
    with pytest.raises(ValueError, match="preset"):
        VideoWriter(tmp_path / "bad.mp4", width, height, Fraction(1, 30), 30.0, preset="ludicrous")
    assert not (tmp_path / "bad.mp4").exists()
