"""Carrying a source's sound into the output: copied where the container allows, else AAC."""


from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error

from stylecast.errors import InputError
from stylecast.io.images import existing_file
from stylecast.io.probe import describe_error

# Audio codecs copied as they are, by muxer. MP4 accepts more (Opus, FLAC, even PCM), but QuickTime,
# Premiere and Final Cut do not read those in MP4, and the people handing us clips are editors.
_COPYABLE_AUDIO = {
    "mp4": frozenset({"aac", "mp3", "ac3", "eac3", "alac"}),
    "mov": frozenset({"aac", "mp3", "ac3", "eac3", "alac", "pcm_s16le", "pcm_s16be", "pcm_s24le",
                      "pcm_s24be", "pcm_f32le", "pcm_f32be"}),
    "matroska": None,  # Matroska carries any codec FFmpeg can mux into it.
}
AAC_BITRATE_PER_CHANNEL = 96_000  # 192 kb/s for stereo: transparent for most listeners
_AAC_LAYOUTS = {1: "mono", 2: "stereo", 6: "5.1", 8: "7.1"}

class AudioCarrier:
    """Carries the first audio stream of a file into an output container: packet copy or AAC re-encode.

    Packets keep their timestamps (rebased by the muxer to the output stream's time base), so the
    sound stays on the timeline of the video frames written with the source's ``pts``.
    """

    def __init__(self, source: Any, in_stream: Any, out_stream: Any, copy: bool) -> None:
        self._source = source
        self._in = in_stream
        self._out = out_stream
        self._copy = copy
        self._packets = source.demux(in_stream)
        self._pending: Any = None  # the next packet, read ahead to know its time
        self._exhausted = False
        self._next_sample: int | None = None
        self._container: Any = None

    @classmethod
    def open(cls, path: Path, container: Any, muxer: str) -> AudioCarrier | None:
        """The carrier for ``path``'s sound into ``container``, or ``None`` if it has no sound."""
        file = existing_file(path, "audio source")
        try:
            source = av.open(str(file), metadata_errors="ignore")
        except (av.error.FFmpegError, OSError) as error:
            raise InputError(
                f"cannot read the sound of {str(file)!r} ({describe_error(error)}): check the file or leave the "
                "sound out"
            ) from error
        try:
            if not source.streams.audio:
                source.close()
                return None
            in_stream = source.streams.audio[0]
            codec = in_stream.codec_context.name
            copyable = _COPYABLE_AUDIO[muxer]
            if (copyable is None or codec in copyable) and codec in container.supported_codecs:
                out_stream = container.add_stream_from_template(in_stream)
                carrier = cls(source, in_stream, out_stream, copy=True)
            else:
                context = in_stream.codec_context
                out_stream = container.add_stream("aac", rate=context.sample_rate)
                # Sources often have an unnamed layout ("1 channels") the AAC encoder refuses; name it
                # by count, and fold anything else to stereo (the encoder's resampler downmixes).
                layout = _AAC_LAYOUTS.get(context.layout.nb_channels, "stereo")
                out_stream.layout = layout
                out_stream.bit_rate = AAC_BITRATE_PER_CHANNEL * av.AudioLayout(layout).nb_channels
                carrier = cls(source, in_stream, out_stream, copy=False)
            carrier._container = container
            return carrier
        except BaseException:
            source.close()
            raise

    def _next_packet(self, warnings_out: list[str]) -> Any:
        if self._pending is None and not self._exhausted:
            try:
                self._pending = next(self._packets)
            except StopIteration:
                self._exhausted = True
            except av.error.FFmpegError as error:
                self._exhausted = True
                warnings_out.append(
                    f"the sound stops early ({describe_error(error)}): its track is damaged; re-export the file "
                    "for all of it"
                )
        return self._pending

    def carry_until(self, seconds: float, warnings_out: list[str], strict: bool = False) -> None:
        """Carry every packet starting at or before ``seconds`` (before it when ``strict``)."""
        while True:
            packet = self._next_packet(warnings_out)
            if packet is None:
                return
            start = packet.pts if packet.pts is not None else packet.dts
            if packet.size and start is not None:
                time = float(start * packet.time_base)
                if time > seconds or (strict and time >= seconds):
                    return
            self._pending = None
            self._carry(packet, warnings_out)

    def _carry(self, packet: Any, warnings_out: list[str]) -> None:
        if self._copy:
            if packet.size == 0:
                return  # demux's end-of-stream marker: nothing to store
            packet.stream = self._out
            self._container.mux(packet)
            return
        try:
            frames = packet.decode()
        except av.error.FFmpegError:
            return  # a damaged audio packet is a click, not a reason to fail the job
        for frame in frames:
            self._encode(frame)

    def _encode(self, frame: Any) -> None:
        # Count samples from the first frame's time: one continuous track on the video's timeline,
        # whatever gaps or jitter the source's timestamps had.
        if self._next_sample is None:
            start = frame.time if frame.time is not None else 0.0
            self._next_sample = round(start * frame.sample_rate)
        frame.pts = self._next_sample
        frame.time_base = Fraction(1, frame.sample_rate)
        self._next_sample += frame.samples
        self._container.mux(self._out.encode(frame))

    def finish(self, video_end: float, warnings_out: list[str]) -> None:
        """Carry the rest of the sound up to ``video_end`` seconds, then flush the encoder."""
        self.carry_until(video_end, warnings_out, strict=True)
        if not self._copy:
            try:
                for frame in self._in.codec_context.decode(None):
                    self._encode(frame)
            except av.error.FFmpegError:
                pass
            self._container.mux(self._out.encode(None))

    def close(self) -> None:
        self._source.close()
