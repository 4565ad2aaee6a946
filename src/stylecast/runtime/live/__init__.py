"""``stylecast live``: real-time stylization from a camera, stream or file to windows, files and streams.

The pipeline::

    capture thread ──(newest frame only)──> engine (main thread) ──(newest frame only)──> one thread per sink
    (sources.py)                            scale, stylize, stabilise,                    (sinks.py; the window
                                            scale back, window                            is drawn by the engine)

Decisions a user (and the next developer) should know:

- **Drop, never queue.** Between capture and engine, and between engine and each sink, sits a one-slot
  mailbox that keeps the newest frame. When stylizing is slower than the source, frames are dropped
  and counted (``dropped``; ``sink_dropped`` per slow sink) instead of piling up, so the latency from
  capture to sink stays about one frame time of the slowest stage, however long the run.
- **``--target-fps``.** The engine works on a scaled copy of the frame, picked from a ladder of sizes
  (100 %, 85 %, 70 % ... 25 % of G's default size, never under 64 px a side) and brought back for the
  sinks, whose size never changes. When the measured time per frame exceeds the budget (1/F) the size
  drops straight to the largest rung predicted to fit; when the next rung up is predicted to take
  under 80 % of the budget it goes up one rung. A rung that proved too slow is not retried for 10 s,
  so the size does not oscillate. Without ``--target-fps`` G stays at its default size: the output
  size, or for large frames the working size (``--working-size``; ``auto`` picks it for video from
  the measured speed: 384x216 for 1280x720 on two CPU cores).
- **Live controls.** Keys in the window (``stylecast.runtime.live.control.KEY_HELP``) and an HTTP endpoint
  (``--control``: ``GET``/``POST /state``). A style change crossfades the style code over 0.5 s
  (smoothstep), starting from wherever a running fade had got to, so the picture never jumps.
- **Latency** is glass-to-glass as far as this process sees it: from the moment a frame leaves the
  decoder or camera driver (``time.monotonic()``) to the moment its sink write returns.
- **Lifecycle.** Ctrl-C, SIGTERM, ``q`` in the window, closing the window, ``--duration`` and the end
  of a file all stop the run cleanly: the last frames are delivered, files are finished and renamed
  into place (playable), RTMP streams are ended, cameras, sockets and the window are released. A second
  Ctrl-C stops at once (files are still closed). A lost camera or stream is reopened a bounded number
  of times (``--reconnect``, see ``stylecast.runtime.live.sources``), then the run ends with a message and
  exit code 2 after the same clean shutdown. A failing sink ends the run the same way.

The live path needs no torch: the engine is ONNX Runtime.
"""


from stylecast.runtime.live.command import LiveOptions, live_workers, parse_size, run
from stylecast.runtime.live.controls import CROSSFADE_SECONDS, FrameSettings, LiveControls, StyleFader, smoothstep
from stylecast.runtime.live.governor import ResolutionGovernor
from stylecast.runtime.live.pipeline import LivePipeline, SinkWorker
from stylecast.runtime.live.stats import LiveStats

__all__ = ["CROSSFADE_SECONDS", "FrameSettings", "LiveControls", "LiveOptions", "LivePipeline", "LiveStats",
           "ResolutionGovernor", "SinkWorker", "StyleFader", "live_workers", "parse_size", "run", "smoothstep"]
