"""Sustained speed and latency of ``stylecast live``, and an optional memory soak.

    python benchmarks/live_latency.py [--seconds 20] [--resolutions 640x480,1280x720] [--sink null]
                                      [--target-fps F] [--threads N] [--workers N] [--model M] [--soak-minutes 30]
                                      [--stabilize off|on|both] [--backend torch --precision bf16 --compile]
                                      [--source-fps 30] [--json]

For each resolution a 30 fps clip (``--source-fps``: a faster camera, to see what the pipeline has to
spare) is made from the shipped sample clip (looped), and the real live pipeline plays it in real time
(a file source paces itself like a camera) into ``--sink`` (``null``: the engine and pipeline alone;
give a file or ``mjpeg://127.0.0.1:0`` to include an encoder). Prints the sustained frames per second
in and out, the share of frames dropped, and glass-to-glass latency
(capture to sink write) p50 / p95 over the whole run, first seconds included.

``--soak-minutes M`` then runs 640x480 for M minutes and samples the process's resident memory every
5 s: the growth from the end of the first minute (caches, arenas and thread pools warmed up) to the
end should be about zero; a steady climb is a leak. Pause other work (training) while measuring: the
machine has 2 cores.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from stylecast.cli import live as live_command
from stylecast.runtime import live
from stylecast.runtime.bench import make_clip
from stylecast.runtime.live.command import live_workers
from stylecast.stylizer import Stylizer

CLIP_SECONDS = 2  # looped: decoding it is cheap next to stylizing


def resident_mb() -> float:
    """This process's resident memory now (Linux ``/proc``; peak RSS elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def run_live(stylizer: Stylizer, clip: Path, seconds: float, sink: str, target_fps: float | None,
             stop: threading.Event | None = None, stabilize: bool = False, workers: int = 1) -> dict[str, Any]:
    """One live run of ``clip`` for ``seconds``; its ``end`` summary and last stats line."""
    parser = argparse.ArgumentParser()
    live_command.add_parser(parser.add_subparsers())
    argv = ["live", "--source", str(clip), "--loop", "--sink", sink, "--duration", str(seconds), "--json",
            "--workers", str(workers)]
    if target_fps:
        argv += ["--target-fps", str(target_fps)]
    if stabilize:
        argv.append("--stabilize")
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        live.run(live_command.options(parser.parse_args(argv)), stop=stop, stylizer=stylizer)
    lines = [json.loads(line) for line in captured.getvalue().splitlines() if line.startswith("{")]
    stats = [line for line in lines if line["event"] == "stats"]
    return {"end": lines[-1], "last": stats[-1] if stats else None}


def soak(stylizer: Stylizer, clip: Path, minutes: float, sink: str) -> dict[str, Any]:
    """RSS every 5 s over a ``minutes`` run at the clip's size; growth after the first minute."""
    samples: list[tuple[float, float]] = []
    done = threading.Event()

    def sample() -> None:
        started = time.monotonic()
        while not done.wait(5.0):
            samples.append((time.monotonic() - started, resident_mb()))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = run_live(stylizer, clip, minutes * 60, sink, None)
    finally:
        done.set()
        sampler.join()
    warm = [mb for t, mb in samples if t >= min(60.0, minutes * 30)] or [mb for _, mb in samples]
    growth = warm[-1] - warm[0] if warm else 0.0
    span_minutes = max((samples[-1][0] - min(60.0, minutes * 30)) / 60, 1e-9) if samples else 1.0
    return {"minutes": minutes, "rss_start_mb": round(warm[0], 1) if warm else None,
            "rss_end_mb": round(warm[-1], 1) if warm else None, "growth_mb": round(growth, 1),
            "growth_mb_per_minute": round(growth / span_minutes, 2), "frames_out": result["end"]["frames_out"]}


def measure(stylizer: Stylizer, clip: Path, resolution: str, args: argparse.Namespace,
            stabilize: bool) -> dict[str, Any]:
    result = run_live(stylizer, clip, args.seconds, args.sink, args.target_fps, stabilize=stabilize,
                      workers=args.workers)
    end, last = result["end"], result["last"]
    row = {"resolution": resolution, "engine": stylizer.engine.name, "sink": args.sink, "stabilize": stabilize,
           "workers": args.workers,
           "seconds": end["seconds"], "fps_in": end["fps_in"], "fps_out": end["fps_out"],
           "dropped_share": round(end["dropped"] / max(end["frames_in"], 1), 3),
           "latency_p50_ms": end["latency_ms"]["p50"], "latency_p95_ms": end["latency_ms"]["p95"],
           "g_at": last["processing_size"] if last else None,
           "g_default": stylizer.working_size.describe(*map(int, resolution.split("x")), video=True)}
    if not args.json:
        print(f"{resolution:>9}  in {row['fps_in']:5.1f} fps  out {row['fps_out']:5.1f} fps  "
              f"dropped {100 * row['dropped_share']:4.1f} %  latency p50 {row['latency_p50_ms']} ms  "
              f"p95 {row['latency_p95_ms']} ms  (G at {row['g_at']}, by default {row['g_default']}, {row['engine']}"
              f"{', stabilised' if stabilize else ''}, {args.workers} in flight)", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each run")
    parser.add_argument("--resolutions", default="640x480,1280x720")
    parser.add_argument("--sink", default="null")
    parser.add_argument("--target-fps", type=float)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--model")
    parser.add_argument("--soak-minutes", type=float, default=0.0)
    parser.add_argument("--stabilize", choices=["off", "on", "both"], default="off",
                        help="`live --stabilize`; `both` runs each resolution without then with it")
    parser.add_argument("--backend", choices=["onnx", "torch"], default="onnx")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--compile", action="store_true", help="torch backend: compile G (before each timed run)")
    parser.add_argument("--workers", type=int, help="frames in flight (default: as `live` picks)")
    parser.add_argument("--source-fps", type=int, default=30, help="the clip's frame rate, which the source keeps")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    args.workers, threads = live_workers(args.backend, args.threads, args.workers)
    stylizer = Stylizer(args.model, args.backend, args.precision, threads, args.compile)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for resolution in args.resolutions.split(","):
            width, height = (int(side) for side in resolution.lower().split("x"))
            clip = make_clip(Path(folder) / f"{width}x{height}.mp4", width, height, CLIP_SECONDS * args.source_fps,
                             args.source_fps)
            if args.compile:  # as `live --compile` does: compile before the stream starts
                stylizer.stylize(np.zeros((height, width, 3), np.uint8), stylizer.code(stylizer.styles[0]))
            for stabilize in {"off": [False], "on": [True], "both": [False, True]}[args.stabilize]:
                rows.append(measure(stylizer, clip, resolution, args, stabilize))
        soak_result = None
        if args.soak_minutes > 0:
            clip = make_clip(Path(folder) / "soak.mp4", 640, 480, CLIP_SECONDS * 30)
            soak_result = soak(stylizer, clip, args.soak_minutes, args.sink)
            if not args.json:
                print(f"soak {args.soak_minutes} min at 640x480: RSS {soak_result['rss_start_mb']} -> "
                      f"{soak_result['rss_end_mb']} MB after warm-up ({soak_result['growth_mb_per_minute']} MB/min)")
    if args.json:
        print(json.dumps({"rows": rows, "soak": soak_result}, indent=2))


if __name__ == "__main__":
    main()
