"""The standing hostile-input suite for `stylecast serve`: bad requests and faults, over real HTTP.

Every bad request gets a 4xx with a ``detail`` that names the problem, the job list is unchanged, and
no job runs. Faults: a second server on the same data dir, a server killed with ``kill -9`` mid-job
and restarted.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.web.conftest import Server, png_bytes, request, start_server

PHOTO = png_bytes(np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8))
JOB = {"file": ("clip.mp4", b"")}   # replaced by the real clip in the test


def _bomb() -> bytes:
    import io

    buffer = io.BytesIO()
    Image.new("L", (20000, 20000)).save(buffer, "PNG", optimize=False, compress_level=9)
    return buffer.getvalue()


# (id, method, path, body kind, payload, expected status, fragment of the detail)
CASES: list[tuple[str, str, str, str, object, int, str]] = [
    ("job-style-inf", "POST", "/api/jobs", "job", {"style": "udnie:inf"}, 400, "must be a number from 0"),
    ("job-style-nan", "POST", "/api/jobs", "job", {"style": "udnie:nan"}, 400, "must be a number from 0"),
    ("job-style-unknown", "POST", "/api/jobs", "job", {"style": "nobody"}, 400, "unknown style"),
    ("job-style-empty", "POST", "/api/jobs", "job", {"style": ","}, 400, "empty style"),
    ("job-strength-nan", "POST", "/api/jobs", "job", {"style": "udnie", "strength": "nan"}, 422, ""),
    ("job-strength-2", "POST", "/api/jobs", "job", {"style": "udnie", "strength": "2"}, 422, ""),
    ("job-knob-inf", "POST", "/api/jobs", "job", {"style": "udnie", "knob": "inf"}, 422, ""),
    ("job-knob-2", "POST", "/api/jobs", "job", {"style": "udnie", "knob": "2"}, 422, ""),
    ("job-max-side-tiny", "POST", "/api/jobs", "job", {"style": "udnie", "max_side": "2"}, 422, ""),
    ("job-not-a-video", "POST", "/api/jobs", "photo", {"style": "udnie"}, 415, "still image"),
    ("job-empty-file", "POST", "/api/jobs", "empty", {"style": "udnie"}, 400, "empty"),
    ("controls-knob-nan", "POST", "/api/rtc/nobody/controls", "json", '{"knob": NaN}', 422, ""),
    ("controls-strength-inf", "POST", "/api/rtc/nobody/controls", "json", '{"strength": Infinity}', 422, ""),
    ("controls-unknown-peer", "POST", "/api/rtc/nobody/controls", "json", '{"strength": 0.5}', 404, "nobody"),
    ("controls-get-unknown-peer", "GET", "/api/rtc/nobody/controls", "none", None, 404, "nobody"),
    ("painting-without-torch", "POST", "/api/paintings", "painting", {}, 424, "torch"),
]


@pytest.fixture(scope="module")
def clip_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    from tests.runtime.conftest import write_clip

    return write_clip(tmp_path_factory.mktemp("clip") / "c.mp4", frames=6).read_bytes()


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_requests_get_a_4xx_that_names_the_problem(server: Server, clip_bytes: bytes,
                                                       case: tuple[str, str, str, str, object, int, str]) -> None:
    _, method, path, kind, payload, status, says = case
    jobs_before = server.get("/api/jobs").json()
    if kind in ("job", "photo", "empty"):
        data = {"job": clip_bytes, "photo": PHOTO, "empty": b""}[kind]
        answer = server.post_files(path, dict(payload), {"file": ("x.mp4", data)})  # type: ignore[arg-type]
    elif kind in ("bomb", "painting"):
        data = _bomb() if kind == "bomb" else png_bytes(np.zeros((96, 96, 3), np.uint8))
        answer = server.post_files(path, {"name": "mine"}, {"file": ("p.png", data)})
    elif kind == "json":
        answer = request(server.url + path.lstrip("/"), method, str(payload).encode(),
                         {"Content-Type": "application/json"})
    else:
        answer = request(server.url + path.lstrip("/"), method)
    assert answer.status == status, answer.body
    detail = json.dumps(answer.json()["detail"])
    assert says.lower() in detail.lower(), detail
    assert "Traceback" not in detail
    assert server.get("/api/jobs").json() == jobs_before


def test_a_knob_asked_of_a_model_without_one_is_refused(fresh_server: Callable[..., Server],
                                                        clip_bytes: bytes, tmp_path: Path) -> None:
    from stylecast.models.generator import GeneratorConfig
    from stylecast.models.io import save_stylenet
    from stylecast.models.style import StyleInfo, StyleNet

    model = save_stylenet(StyleNet([StyleInfo("alpha")], GeneratorConfig(stem_channels=8, channels=16, blocks=1)),
                          tmp_path / "no_knob.safetensors")
    server = fresh_server("--model", str(model), torch=True)
    answer = server.post_files("/api/jobs", {"style": "alpha", "knob": "0.3"}, {"file": ("x.mp4", clip_bytes)})
    assert answer.status == 400 and "without the content-vs-style knob" in answer.detail, answer.body
    assert server.get("/api/jobs").json() == []


def test_a_decompression_bomb_painting_is_too_large_not_a_wrong_format(fresh_server: Callable[..., Server]) -> None:
    answer = fresh_server(torch=True).post_files("/api/paintings", {}, {"file": ("p.png", _bomb())})
    assert answer.status == 413 and "megapixels" in answer.detail, answer.body


def test_a_second_server_on_the_same_data_dir_refuses_to_start(server: Server, tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="another stylecast server .* is using the data dir"):
        start_server(server.data_dir, tmp_path / "home", timeout=60)
    assert server.get("/api/health").status == 200


def test_kill_9_mid_job_then_restart_finishes_the_job(fresh_server: Callable[..., Server], tmp_path: Path) -> None:
    from tests.runtime.conftest import write_clip

    clip = write_clip(tmp_path / "long.mp4", frames=240, size=(320, 240))
    first = fresh_server()
    job = first.post_files("/api/jobs", {"style": "udnie"}, {"file": ("long.mp4", clip.read_bytes())}).json()
    first.wait_job(job["id"], until=lambda j: j["state"] == "running" and j["done"] > 0, timeout=120)
    first.stop(signal.SIGKILL)
    second = fresh_server(data_dir=first.data_dir)        # the lock died with the process
    done = second.wait_job(job["id"], timeout=240)
    assert done["state"] == "done" and done["error"] is None, done
    assert done["done"] == done["total"] == done["result"]["frames"] == 240
    leftovers = [p.name for p in (first.data_dir / "outputs").iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_the_live_control_endpoint_refuses_other_sites(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.runtime.conftest import write_clip

    clip = write_clip(tmp_path / "c.mp4", frames=24)
    process = subprocess.Popen([sys.executable, "-c", "import sys; from stylecast.cli import main; "
                                "sys.exit(main(sys.argv[1:]))", "live", "--source", str(clip), "--loop", "--sink",
                                "null", "--control", "127.0.0.1:0", "--json", "--threads", "1"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = ""
        deadline = time.monotonic() + 60
        assert process.stdout is not None
        while not url and time.monotonic() < deadline:
            line = process.stdout.readline()
            if line.startswith("{") and json.loads(line).get("control"):
                url = json.loads(line)["control"]
        assert url, "live never announced its control URL"
        body = b'{"strength": 0.5}'
        rebinding = request(url, "POST", body, {"Content-Type": "application/json", "Host": "evil.example:80"})
        assert rebinding.status == 400 and "127.0.0.1 or localhost only" in rebinding.json()["error"]
        cross_site = request(url, "POST", body, {"Content-Type": "application/json", "Origin": "http://evil.example"})
        assert cross_site.status == 403
        form = request(url, "POST", body, {"Content-Type": "application/x-www-form-urlencoded"})
        assert form.status == 415 and "-H 'Content-Type: application/json'" in form.json()["error"]
        script = request(url, "POST", body, {"Content-Type": "application/json"})
        assert script.status == 200 and script.json()["strength"] == 0.5
        assert request(url).json()["strength"] == 0.5
        nan = request(url, "POST", b'{"strength": NaN}', {"Content-Type": "application/json"})
        assert nan.status == 400 and request(url).json()["strength"] == 0.5
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    assert process.returncode == 0
