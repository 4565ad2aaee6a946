"""``stylecast live``: its options; the run is ``stylecast.runtime.live.run``."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from stylecast.argtypes import add_look_options, count, number
from stylecast.cli.common import model_option
from stylecast.cli.stylize import add_engine_options
from stylecast.runtime.live.command import LiveOptions


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``live`` on the ``stylecast`` command's subparsers; returns its parser."""
    live = subparsers.add_parser(
        "live", parents=[model_option()],
        help="stylize a camera, stream or file in real time to windows, files and streams",
        description="Stylize live video. Stop with Ctrl-C (files are finished properly).")
    live.add_argument("--source", required=True,
                      help="camera index (0) or device (/dev/video0), rtsp:// rtmp:// http(s):// srt:// URL, "
                           "or a video file")
    live.add_argument("--sink", action="append", required=True,
                      help="window, a video file (.mp4 .mov .mkv), rtmp://HOST/APP/KEY, mjpeg://HOST:PORT "
                           "(browsers, OBS media source), virtualcam, or null; repeat for several")
    add_look_options(live, style_required=False)  # all four change live: keys, or POST /state
    live.add_argument("--stabilize", action="store_true",
                      help="reduce flicker: blend with the previous output moved along the optical flow")
    live.add_argument("--size", help="output size WxH (default: the source's); the picture is scaled to cover it")
    live.add_argument("--target-fps", type=number(0.1, 1000),
                      help="lower the size G runs at when behind this rate, raise it when there is room "
                           "(the output keeps its size and the frame's fine detail)")
    live.add_argument("--loop", action="store_true", help="play a file source again when it ends")
    live.add_argument("--control", metavar="[HOST:]PORT",
                      help="serve GET/POST /state for live control (loopback unless a host is given)")
    live.add_argument("--reconnect", type=count(0, 1000), default=3,
                      help="times to reopen a lost camera or stream before giving up (default 3)")
    live.add_argument("--duration", type=number(0, 10**7), help="stop after this many seconds")
    live.add_argument("--stats-interval", type=number(0.05, 3600), default=1.0, help="seconds between stats lines")
    add_engine_options(live)  # --compile compiles for the stream's size before it starts; not with --target-fps
    live.add_argument("--workers", type=count(1, 8),
                      help="frames stylized at once, each on its share of the threads (default: 2 with the "
                           "onnx backend on 2 or more cores, else 1): more frames a second and a larger size "
                           "for G under --target-fps, for about one frame more latency; 1 for the lowest latency")
    live.add_argument("--json", action="store_true", help="print stats as JSON lines on stdout")
    live.set_defaults(func=_run)
    return live


def options(args: argparse.Namespace) -> LiveOptions:
    """The parsed ``live`` arguments as the run's options."""
    names = [f.name for f in dataclasses.fields(LiveOptions) if f.name != "sinks"]
    return LiveOptions(sinks=list(args.sink), **{name: getattr(args, name) for name in names})


def _run(args: argparse.Namespace) -> int:
    from stylecast.runtime.live import run  # the live path's modules load when it runs, not to parse

    return run(options(args))
