"""Media I/O, torch-free: the files of ``stylecast stylize`` and the decoding the live sources share.

One module per role, as in vidgear: ``paths`` (kinds of file, a source argument expanded into
(input, output) pairs), ``images`` (still images), ``probe`` (what a video holds), ``reader``
(:class:`~stylecast.io.reader.VideoReader`: decoding in a background thread into a bounded queue),
``writer`` (:class:`~stylecast.io.writer.VideoWriter`: H.264 with the source's sound), ``audio`` (the
sound carried across), ``frames`` (colour-range helpers). Readers and writers are context managers
that always release their files. A frame travels forward once: FFmpeg (swscale) scales and converts
it to RGB in one step on the way in and to YUV in one step on the way out.

Decisions a caller should know:

- **Timestamps are kept.** A ``VideoFrame`` carries the decoder's ``pts`` (in ``VideoInfo.time_base``)
  and the writer writes each frame at that ``pts``, so a variable-frame-rate clip comes back with the
  same number of frames at the same times (the sound stays in sync).
- **Truncated files.** A file cut short is stylized as far as it decodes; ``VideoReader.warnings``
  then says where it stopped. Only a file that yields no frame at all is an error. (An MP4 whose
  index sits at the end cannot be opened at all once truncated: ``probe_video`` says so.)
- **Odd sizes.** H.264 in ``yuv420p`` needs even sides, so the writer crops the last column and/or
  row (1 px) of an odd-sized frame rather than scaling; the reader with ``max_side`` picks even
  sides itself, so downscaled video is never cropped.
- **Sound.** Copied untouched when the output container and common editors read that codec (AAC,
  MP3, AC-3, E-AC-3, ALAC in MP4; also PCM in MOV; anything in MKV), re-encoded to AAC otherwise,
  and trimmed to the stylized video's length.
- **Colour.** Output is tagged BT.709 limited range and converted with that matrix; input is
  converted with whatever matrix and range its frames are tagged with.
"""
