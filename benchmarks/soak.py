"""Soak: long runs of `live` and `serve` under constant change, watching for leaks.

    python benchmarks/soak.py live  --minutes 120 [--clip CLIP] [--json out.json]
    python benchmarks/soak.py serve --minutes 60  [--json out.json]

``live``: ``stylecast live`` from a looping file into an MJPEG sink (read by a client the whole
time) and a file sink, with ``--control``; every few seconds a new style, strength and knob (when
the model has one) are posted to ``/state``. ``serve``: ``stylecast serve`` with a video job
submitted, waited for and deleted in a loop.

Every ``--every`` seconds the process's resident memory (VmRSS), open file descriptors and threads
are read from /proc. The verdict compares the median of the last tenth of the run with the median
of the second tenth (the first is warm-up: caches, arenas, codec tables): flat means within 10%.
At the end it counts leftover temporary files (hidden names in the output and data folders) and,
for ``live``, the frames dropped beyond the pacing (the stream's own counters, from ``--json``).
A benchmark, not a test: the figures go to BENCHMARKS.md with the machine and the date.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

MAIN = "import sys; from stylecast.cli import main; sys.exit(main(sys.argv[1:]))"
FLAT = 1.10
STYLES = ["starry_night", "the_scream", "great_wave:0.5,udnie:0.5", "composition_vii", "water_lilies"]


def proc_figures(pid: int) -> dict[str, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {"rss_mb": int(fields["VmRSS"].split()[0]) / 1024, "threads": int(fields["Threads"]),
            "fds": len(os.listdir(f"/proc/{pid}/fd"))}


def verdict(samples: list[dict[str, float]]) -> dict[str, Any]:
    tenth = max(1, len(samples) // 10)
    out: dict[str, Any] = {}
    for key in ("rss_mb", "threads", "fds"):
        early = statistics.median(s[key] for s in samples[tenth:2 * tenth] or samples[:1])
        late = statistics.median(s[key] for s in samples[-tenth:])
        out[key] = {"early": round(early, 1), "late": round(late, 1), "ratio": round(late / max(early, 1e-9), 3),
                    "flat": late <= early * FLAT}
    return out


def post_json(url: str, payload: dict[str, Any]) -> int:
    request = urllib.request.Request(url, json.dumps(payload).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return int(answer.status)


def read_mjpeg(url: str, stop: threading.Event, counter: list[int]) -> None:
    """A client that reads the MJPEG stream for the whole run (a browser tab left open)."""
    while not stop.is_set():
        try:
            with urllib.request.urlopen(url, timeout=10) as stream:
                while not stop.is_set():
                    chunk = stream.read(65536)
                    if not chunk:
                        break
                    counter[0] += chunk.count(b"\xff\xd8")
        except OSError:
            time.sleep(0.5)


def soak_live(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    clip = Path(args.clip)
    process = subprocess.Popen([sys.executable, "-c", MAIN, "live", "--source", str(clip), "--loop", "--sink",
                                "mjpeg://127.0.0.1:0", "--sink", str(work / "out.mkv"), "--control", "127.0.0.1:0",
                                "--json", "--stats-interval", "5", "--threads", str(args.threads)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    start = json.loads(process.stdout.readline())
    control = start["control"]
    mjpeg_url = next(s for s in start["sinks"] if s.startswith("http://"))   # the MJPEG sink's address
    stats: list[dict[str, Any]] = []
    threading.Thread(target=lambda: stats.extend(json.loads(line) for line in process.stdout  # type: ignore[union-attr]
                                                 if line.startswith("{")), daemon=True).start()
    stop, frames = threading.Event(), [0]
    reader = threading.Thread(target=read_mjpeg, args=(mjpeg_url, stop, frames), daemon=True)
    reader.start()
    requests_ok = 0
    has_knob = int(json.loads(urllib.request.urlopen(control, timeout=10).read()).get("knob") is not None)
    samples, changes, started = [], 0, time.monotonic()
    while time.monotonic() - started < args.minutes * 60:
        change = {"style": STYLES[changes % len(STYLES)], "strength": round(0.5 + 0.5 * ((changes * 7) % 10) / 10, 2)}
        if has_knob:
            change["knob"] = round(((changes * 3) % 11) / 10, 2)
        requests_ok += post_json(control, change) == 200
        changes += 1
        time.sleep(args.change_every)
        if not samples or time.monotonic() - samples[-1]["t"] >= args.every:
            samples.append({"t": time.monotonic(), **proc_figures(process.pid)})
    process.send_signal(signal.SIGTERM)
    process.wait(60)
    stop.set()
    last = [s for s in stats if "frames_in" in s]
    summary = last[-1] if last else {}
    leftovers = [p.name for p in work.iterdir() if p.name.startswith(".")]
    return {"mode": "live", "minutes": args.minutes, "changes": changes, "changes_ok": requests_ok,
            "mjpeg_frames_read": frames[0], "samples": len(samples), "verdict": verdict(samples),
            "stream": {k: summary.get(k) for k in ("frames_in", "frames_out", "dropped", "fps_in", "fps_out")},
            "leftover_temporary_files": leftovers, "exit_code": process.returncode}


def soak_serve(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.web.conftest import start_server  # a real server process, its URL read from its first line

    server = start_server(work / "data", work / "home", "--max-upload-mb", "64")
    clip_bytes = Path(args.clip).read_bytes()
    samples, jobs, failed, started = [], 0, 0, time.monotonic()
    while time.monotonic() - started < args.minutes * 60:
        job = server.post_files("/api/jobs", {"style": STYLES[jobs % len(STYLES)]},
                                {"file": ("clip.mp4", clip_bytes)}).json()
        done = server.wait_job(job["id"], timeout=600)
        failed += done["state"] != "done"
        server.delete(f"/api/jobs/{job['id']}")
        jobs += 1
        if not samples or time.monotonic() - samples[-1]["t"] >= args.every:
            samples.append({"t": time.monotonic(), **proc_figures(server.process.pid)})
    code = server.stop()
    data = work / "data"
    leftovers = [str(p.relative_to(data)) for p in data.rglob("*")
                 if p.is_file() and (p.name.startswith(".") and p.name != ".server.lock" or "uploads" in p.parts
                                     or "outputs" in p.parts or "incoming" in p.parts)]
    return {"mode": "serve", "minutes": args.minutes, "jobs": jobs, "failed": failed, "samples": len(samples),
            "verdict": verdict(samples), "leftover_files": leftovers, "exit_code": code}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["live", "serve"])
    parser.add_argument("--minutes", type=float, default=120.0)
    parser.add_argument("--clip", default=str(Path(__file__).resolve().parents[1] / "src/stylecast/samples/sample.mp4"))
    parser.add_argument("--every", type=float, default=10.0, help="seconds between /proc samples")
    parser.add_argument("--change-every", type=float, default=3.0, help="live: seconds between /state changes")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="stylecast-soak-") as tmp:
        result = (soak_live if args.mode == "live" else soak_serve)(args, Path(tmp))
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
