"""Load on the web app: several browser sessions at once, their frame rates, and the server's memory.

    python benchmarks/web_load.py [--sessions 4] [--size 320x240] [--warmup 5] [--seconds 20]
                                  [--threads N] [--workers W] [--model M] [--camera PHOTO] [--screenshot PATH] [--json]

Starts a real ``stylecast serve`` on a free loopback port and Debian's headless Chromium
(``/usr/bin/chromium``, driven by Playwright) with a fake camera playing a generated Y4M clip. Each
session is its own browser context on the page, at ``--size``. After ``--warmup`` seconds it counts,
for ``--seconds``, the stylized frames each page presents (requestVideoFrameCallback, measured in the
page) and reads the server's own figures for each session (frames out, dropped, latency from a camera
frame's arrival to its stylized frame p50 / p95). The server's resident memory (RSS) is read idle
(ready, no session), under load (the peak of samples every 0.5 s), and after every session closed:
the last should be back at the first.

``--screenshot PATH`` saves the first page, stylized frame and gallery, at the end of the load;
docs/web.png is ``--sessions 1 --size 400x300 --camera src/stylecast/samples/cat.jpg --screenshot
docs/web.png``.

The browser, its encoders and decoders, and the server all share the machine: on 2 cores the
browser's half of the work is a large part of the load. Stop other work (training) while measuring.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import cv2
import numpy as np

CHROMIUM = Path("/usr/bin/chromium")
CLIP_FRAMES = 60  # 2 s at 30 fps, looped by Chromium
# "Back to idle": what stays after the sessions close is within 10% of the idle server (allocator arenas,
# lazily loaded codec code); it must not grow with the number of sessions served.
IDLE_TOLERANCE = 1.10


def camera_frames(width: int, height: int, photo: Path | None) -> list[np.ndarray]:
    """What the fake camera shows, RGB: a slow pan over ``photo``, or a drifting gradient with a moving
    block (some motion keeps the video encoders honest)."""
    frames = []
    if photo is not None:
        image = cv2.cvtColor(cv2.imread(str(photo), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        scale = 1.15 * max(width / image.shape[1], height / image.shape[0])  # room to pan
        image = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)),
                           interpolation=cv2.INTER_AREA)
        for index in range(CLIP_FRAMES):
            phase = 0.5 - 0.5 * np.cos(2 * np.pi * index / CLIP_FRAMES)  # there and back: the loop has no jump
            left = round(phase * (image.shape[1] - width))
            top = round(phase * (image.shape[0] - height))
            frames.append(np.ascontiguousarray(image[top: top + height, left: left + width]))
        return frames
    x = np.linspace(0.0, 1.0, width)[None, :]
    y = np.linspace(0.0, 1.0, height)[:, None]
    for index in range(CLIP_FRAMES):
        phase = index / CLIP_FRAMES
        rgb = np.stack([40 + 160 * x + 20 * np.sin(2 * np.pi * phase) + 0 * y, 30 + 180 * y + 0 * x,
                        200 - 120 * x * y], axis=-1)
        frame = np.clip(rgb, 0, 255).astype(np.uint8)
        left = int((width // 2) * phase)
        frame[height // 3: 2 * height // 3, left: left + width // 3] = (230, 200, 40)
        frames.append(frame)
    return frames


def write_camera_clip(path: Path, frames: list[np.ndarray]) -> Path:
    """A Y4M file (Chromium's --use-file-for-fake-video-capture; it loops) of RGB ``frames``."""
    height, width = frames[0].shape[:2]
    with path.open("wb") as handle:
        handle.write(f"YUV4MPEG2 W{width} H{height} F30:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            handle.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes())
    return path


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.load(answer)


def start_server(data_dir: Path, sessions: int, threads: int | None, model: str | None,
                 workers: int | None = None) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "stylecast", "serve", "--port", "0", "--data-dir", str(data_dir),
               "--max-peers", str(sessions)]
    if threads:
        command += ["--threads", str(threads)]
    if workers:
        command += ["--workers", str(workers)]
    if model:
        command += ["--model", model]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert process.stdout is not None
    line = process.stdout.readline()
    if "serving on" not in line:
        process.kill()
        raise SystemExit(f"web_load: the server did not start ({line.strip() or 'no output'})")
    return process, line.split("serving on ")[1].split()[0]


def wait_until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"web_load: {what} did not happen within {timeout} s")
        time.sleep(0.2)


class MemorySampler:
    """Samples a process's RSS every ``every`` seconds in a thread while running."""

    def __init__(self, pid: int, every: float = 0.5) -> None:
        self.pid, self.every = pid, every
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.samples.append(rss_mb(self.pid))

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run(sessions: int, size: tuple[int, int], warmup: float, seconds: float, threads: int | None,
        model: str | None, screenshot: Path | None, photo: Path | None, log: Any,
        workers: int | None = None) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.is_file():
        raise SystemExit("web_load: Debian's chromium is not installed (/usr/bin/chromium): apt-get install chromium")
    width, height = size
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        y4m = write_camera_clip(root / "camera.y4m", camera_frames(width, height, photo))
        server, url = start_server(root / "data", sessions, threads, model, workers)
        try:
            time.sleep(2.0)  # settled: imports done, the engine loaded
            idle = rss_mb(server.pid)
            log(f"server {url} ready; RSS idle {idle:.0f} MB; opening {sessions} session(s) at {width}x{height}")
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=[
                    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                    f"--use-file-for-fake-video-capture={y4m}", "--allow-loopback-in-peer-connection",
                    # Every page counts, not just the one in front.
                    "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
                    "--disable-backgrounding-occluded-windows"])
                pages = []
                for _ in range(sessions):
                    context = browser.new_context(viewport={"width": 1280, "height": 800})
                    page = context.new_page()
                    page.goto(f"{url}?size={width}x{height}")
                    page.wait_for_selector("body[data-ready=true]")
                    page.click("#start")
                    pages.append(page)
                for page in pages:
                    wait_until(lambda p=page: p.evaluate("window.stylecast.stats.framesPresented") > 0, 30,
                               "a stylized frame on every page")
                with MemorySampler(server.pid) as memory:
                    time.sleep(warmup)
                    cpu_start = cpu_seconds(server.pid)
                    start = [(time.monotonic(), p.evaluate("window.stylecast.stats.framesPresented")) for p in pages]
                    time.sleep(seconds)
                    end = [(time.monotonic(), p.evaluate("window.stylecast.stats.framesPresented")) for p in pages]
                    cpu_end = cpu_seconds(server.pid)
                    peers = [p.evaluate("window.stylecast.peerId") for p in pages]
                    server_stats = [get_json(f"{url}api/rtc/{peer}")["stats"] for peer in peers]
                if screenshot is not None:
                    screenshot.parent.mkdir(parents=True, exist_ok=True)
                    pages[0].screenshot(path=str(screenshot))
                    log(f"wrote {screenshot}")
                for page in pages:
                    page.click("#stop")
                wait_until(lambda: get_json(f"{url}api/health")["peers"] == 0, 20, "every session closing")
                for page in pages:
                    page.context.close()
                browser.close()
            time.sleep(3.0)  # the server frees a session's memory as it closes; allow the last to settle
            after = rss_mb(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=20)
    per_session = []
    for (t0, f0), (t1, f1), stats in zip(start, end, server_stats, strict=True):
        per_session.append({"fps_page": round((f1 - f0) / (t1 - t0), 1), "fps_server": stats["fps"],
                            "frames_out": stats["frames_out"], "dropped": stats["dropped"],
                            "latency_ms": stats["latency_ms"], "size": stats["size"]})
    return {"sessions": sessions, "size": f"{width}x{height}", "seconds": seconds,
            "fps_page": [s["fps_page"] for s in per_session],
            "fps_page_mean": round(statistics.mean(s["fps_page"] for s in per_session), 1),
            "server_cpu_percent": round(100 * (cpu_end - cpu_start) / seconds, 0),
            "rss_mb": {"idle": round(idle, 1), "load_peak": round(max(memory.samples, default=idle), 1),
                       "load_mean": round(statistics.mean(memory.samples) if memory.samples else idle, 1),
                       "after_close": round(after, 1)},
            "back_to_idle": after <= IDLE_TOLERANCE * idle,
            "per_session": per_session}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--size", default="320x240", help="camera size, WIDTHxHEIGHT")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before counting")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds counted")
    parser.add_argument("--threads", type=int, help="the server's compute threads (default: all cores)")
    parser.add_argument("--workers", type=int, help="the server's frames in flight (default: the server's own)")
    parser.add_argument("--model", help="model file (default: the shipped model)")
    parser.add_argument("--screenshot", type=Path, help="save the first page as a PNG at the end of the load")
    parser.add_argument("--camera", type=Path, help="a photo the fake camera pans over (default: a generated "
                                                    "gradient), e.g. src/stylecast/samples/cat.jpg")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    try:
        width, height = (int(side) for side in args.size.lower().split("x"))
    except ValueError:
        parser.error(f"--size {args.size!r} must look like 320x240")
    log = (lambda text: print(text, file=sys.stderr)) if args.json else print
    result = run(args.sessions, (width, height), args.warmup, args.seconds, args.threads, args.model,
                 args.screenshot, args.camera, log, args.workers)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"\n{result['sessions']} session(s) at {result['size']}, counted over {result['seconds']:.0f} s")
    print(f"{'session':>8} {'fps (page)':>11} {'fps (server)':>13} {'dropped':>8} {'latency p50/p95 ms':>19}")
    for index, session in enumerate(result["per_session"], 1):
        latency = session["latency_ms"] or {"p50": float("nan"), "p95": float("nan")}
        print(f"{index:>8} {session['fps_page']:>11.1f} {session['fps_server']:>13.1f} {session['dropped']:>8} "
              f"{latency['p50']:>9.1f} / {latency['p95']:<7.1f}")
    memory = result["rss_mb"]
    print(f"mean fps per session (page): {result['fps_page_mean']:.1f}; server CPU {result['server_cpu_percent']:.0f}%")
    print(f"server RSS: idle {memory['idle']:.0f} MB, under load {memory['load_peak']:.0f} MB (peak), "
          f"after closing {memory['after_close']:.0f} MB "
          f"({'back to idle' if result['back_to_idle'] else 'NOT back to idle'}, within {IDLE_TOLERANCE - 1:.0%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
