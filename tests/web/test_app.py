"""The REST API of `stylecast serve` over real HTTP: the page, styles, video jobs, and every kind of bad request.

The shared server runs with torch unimportable (see conftest): everything here works without it.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from tests.runtime.conftest import decode_audio, gradient_frame
from tests.web.conftest import Server, png_bytes, request


def test_page_api_schema_and_docs(server: Server) -> None:
    page = server.get("/")
    assert page.status == 200 and b'id="stylized"' in page.body and b"/static/app.js" in page.body
    for asset in ("/static/app.js", "/static/style.css"):
        assert server.get(asset).status == 200
    schema = server.get("/openapi.json").json()
    assert {"/api/styles", "/api/jobs", "/api/jobs/{job_id}", "/api/jobs/{job_id}/result", "/api/rtc/offer",
            "/api/rtc/{peer_id}/controls", "/api/paintings", "/api/styles/adapt"} <= set(schema["paths"])
    assert set(schema["paths"]["/api/jobs/{job_id}"]) == {"get", "delete"}
    assert server.get("/docs").status == 200
    health = server.get("/api/health").json()
    assert health["status"] == "ok" and health["backend"].startswith("onnx") and health["painting_styles"] is False


def test_styles_with_credits_and_thumbnails(server: Server) -> None:
    styles = server.get("/api/styles").json()
    shipped = [s for s in styles if s["kind"] == "shipped"]
    assert {"starry_night", "great_wave", "the_scream"} <= {s["name"] for s in shipped}
    assert all(s["artist"] and s["title"] and s["year"] and s["credit"] and s["thumbnail"] for s in shipped)
    thumbnail = server.get(shipped[0]["thumbnail"])
    assert thumbnail.status == 200 and thumbnail.headers["content-type"] == "image/jpeg"
    assert min(Image.open(io.BytesIO(thumbnail.body)).size) > 32


def test_style_previews(server: Server) -> None:
    previews = {}
    for name in ("udnie", "great_wave"):
        answer = server.get(f"/api/styles/{name}/preview")
        assert answer.status == 200 and answer.headers["content-type"] == "image/jpeg"
        image = Image.open(io.BytesIO(answer.body))
        assert max(image.size) == 320
        previews[name] = np.asarray(image.convert("RGB"), dtype=np.float32)
    assert np.abs(previews["udnie"] - previews["great_wave"]).mean() > 10  # each style its own picture
    assert server.get("/api/styles/no_such_style/preview").status == 404


def test_video_job_round_trip_keeps_frames_and_sound(server: Server, clip_with_sound: Path) -> None:
    created = server.post_files("/api/jobs", {"style": "the_scream:0.6,udnie:0.4", "strength": "0.9"},
                                {"file": (clip_with_sound.name, clip_with_sound.read_bytes())})
    assert created.status == 202, created.body
    job = created.json()
    assert job["state"] in ("queued", "running") and job["input_name"] == "holiday clip.mp4"
    assert job["params"]["style"] == "the_scream:0.6,udnie:0.4" and "code" not in job["params"]
    seen_running = server.wait_job(job["id"], until=lambda j: j["state"] != "queued")
    done = server.wait_job(job["id"])
    assert done["state"] == "done", done
    assert seen_running["state"] in ("running", "done") and done["progress"] == 1.0
    assert done["result"]["frames"] == 48 and done["result_url"] == f"/api/jobs/{job['id']}/result"

    video = server.get(done["result_url"])
    assert video.status == 200 and video.headers["content-type"] == "video/mp4"
    assert "holiday%20clip_stylized.mp4" in video.headers["content-disposition"]
    with av.open(io.BytesIO(video.body)) as container:
        assert container.streams.audio and container.streams.video[0].codec_context.name == "h264"
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert len(frames) == 48 and frames[0].shape == (120, 160, 3)
    assert np.abs(frames[10].astype(int) - gradient_frame(10, 160, 120)).mean() > 10  # stylized
    output = server.data_dir / "outputs" / f"{job['id']}.mp4"
    samples, rate, _ = decode_audio(output)
    assert rate == 48_000 and np.abs(samples).max() > 0.1  # the tone is there

    assert not (server.data_dir / "uploads" / job["id"]).exists()  # the input goes once the job is done
    assert server.delete(f"/api/jobs/{job['id']}").status == 204
    assert server.get(f"/api/jobs/{job['id']}").status == 404
    assert server.get(done["result_url"]).status == 404
    assert not output.exists()


def test_jobs_queue_and_run_one_at_a_time(server: Server, clip_with_sound: Path) -> None:
    data = clip_with_sound.read_bytes()
    ids = [server.post_files("/api/jobs", {"style": "udnie"}, {"file": (f"clip{i}.mp4", data)}).json()["id"]
           for i in range(3)]
    running_at_once = 0
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        jobs = {j["id"]: j for j in server.get("/api/jobs").json() if j["id"] in ids}
        running_at_once = max(running_at_once, sum(j["state"] == "running" for j in jobs.values()))
        queued = [j for j in jobs.values() if j["state"] == "queued"]
        assert sorted(j["queue_position"] for j in queued) == list(range(len(queued)))
        if all(j["state"] == "done" for j in jobs.values()):
            break
        time.sleep(0.05)
    assert running_at_once <= 1  # (fast jobs may finish between polls: the timestamps below are the proof)
    finished = [jobs[i] for i in ids]
    for earlier, later in zip(finished, finished[1:], strict=False):
        assert earlier["finished"] <= later["started"]  # in order, never overlapping
    for job_id in ids:
        assert server.delete(f"/api/jobs/{job_id}").status == 204


def test_deleting_a_queued_job_removes_it_and_its_upload(server: Server, clip_with_sound: Path) -> None:
    data = clip_with_sound.read_bytes()
    first, second = (server.post_files("/api/jobs", {"style": "udnie"}, {"file": ("c.mp4", data)}).json()
                     for _ in range(2))
    assert server.delete(f"/api/jobs/{second['id']}").status == 204
    assert server.delete(f"/api/jobs/{first['id']}").status == 204
    assert server.get(f"/api/jobs/{second['id']}").status == 404
    for job in (first, second):
        assert not (server.data_dir / "uploads" / job["id"]).exists()
        assert not (server.data_dir / "outputs" / f"{job['id']}.mp4").exists()


def _clip_bytes(tmp_path: Path, **options: object) -> bytes:
    from tests.runtime.conftest import write_clip

    return write_clip(tmp_path / "c.mp4", **options).read_bytes()  # type: ignore[arg-type]


@pytest.mark.parametrize("case", ["text", "png", "empty", "truncated", "too_big", "bad_style", "strength",
                                  "no_file", "max_side"])
def test_bad_uploads_get_4xx_with_a_message(server: Server, tmp_path: Path, case: str) -> None:
    clip = _clip_bytes(tmp_path, frames=6)
    fields, files = {"style": "udnie"}, {"file": ("c.mp4", clip)}
    expected, words = {
        "text": (415, "not a video"), "png": (415, "still image"), "empty": (400, "empty"),
        "truncated": (415, "not a video"), "too_big": (413, "limit of 2 MB"), "bad_style": (400, "unknown style"),
        "strength": (422, "strength"), "no_file": (422, "file"), "max_side": (422, "max_side"),
    }[case]
    if case == "text":
        files = {"file": ("notes.mp4", b"just some text, not a video\n" * 20)}
    elif case == "png":
        files = {"file": ("photo.mp4", png_bytes(gradient_frame(0)))}
    elif case == "empty":
        files = {"file": ("c.mp4", b"")}
    elif case == "truncated":
        files = {"file": ("c.mp4", clip[: len(clip) // 3])}
    elif case == "too_big":
        files = {"file": ("big.mp4", clip + b"\0" * (3 * 1024 * 1024))}
    elif case == "bad_style":
        fields = {"style": "../../etc/passwd.jpg"}
    elif case == "strength":
        fields = {"style": "udnie", "strength": "2"}
    elif case == "no_file":
        files = {}
    elif case == "max_side":
        fields = {"style": "udnie", "max_side": "-5"}
    answer = server.post_files("/api/jobs", fields, files)
    assert answer.status == expected, answer.body
    assert words in answer.detail
    assert "Traceback" not in answer.detail and str(server.data_dir) not in answer.detail
    assert not [p for p in (server.data_dir / "incoming").iterdir()]  # nothing left half-received


def test_declared_oversize_is_refused_before_reading(server: Server) -> None:
    answer = request(server.url + "api/jobs", "POST", b"x", {"Content-Type": "multipart/form-data; boundary=x",
                                                             "Content-Length": str(50 * 1024 * 1024)}, timeout=10)
    assert answer.status == 413 and "limit" in answer.detail


@pytest.mark.parametrize("path", ["/api/jobs/../../etc/passwd", "/api/jobs/..%2F..%2Fjobs.sqlite3",
                                  "/api/jobs/%2e%2e/result", "/api/jobs/0123/result", "/api/styles/..%2Fzoo/thumbnail",
                                  "/api/styles/..%2F..%2F..%2Fetc%2Fpasswd/thumbnail", "/static/..%2Fapp.py",
                                  "/static/../app.py", "/api/rtc/..%2Fx"])
def test_no_path_traversal(server: Server, path: str) -> None:
    answer = server.get(path)
    assert answer.status == 404, (path, answer.body)
    assert b"import" not in answer.body and b"SQLite" not in answer.body


def test_malformed_json_and_unknown_ids(server: Server) -> None:
    broken = request(server.url + "api/styles/adapt", "POST", b"{not json", {"Content-Type": "application/json"})
    assert broken.status == 422 and "not valid JSON" in broken.detail
    assert server.post_json("/api/rtc/offer", {"sdp": 5}).status == 422
    wrong_type = server.post_json("/api/rtc/offer", {"sdp": "v=0", "type": "answer"})
    assert wrong_type.status == 400 and "offer" in wrong_type.detail
    no_video = server.post_json("/api/rtc/offer", {"sdp": "v=0\r\n", "type": "offer"})
    assert no_video.status == 400 and "no video track" in no_video.detail
    assert server.post_json("/api/rtc/nope/controls", {"strength": 0.5}).status == 404
    assert server.post_json("/api/rtc/nope/controls", {"strength": 5}).status == 422
    assert server.post_json("/api/rtc/nope/controls", {"colour": True}).status == 422
    assert server.get("/api/jobs/" + "f" * 32).status == 404
    assert server.delete("/api/jobs/" + "f" * 32).status == 404
    assert server.delete("/api/rtc/" + "f" * 24).status == 404
    assert server.get("/api/styles/nope/thumbnail").status == 404
    assert server.get("/api/health").json()["peers"] == 0  # the failed offers left no session behind


def test_result_of_an_unfinished_job_is_a_conflict(server: Server, tmp_path: Path) -> None:
    blocker = server.post_files("/api/jobs", {"style": "udnie"}, {"file": ("a.mp4", _clip_bytes(tmp_path, frames=24))})
    waiting = server.post_files("/api/jobs", {"style": "udnie"}, {"file": ("b.mp4", _clip_bytes(tmp_path, frames=6))})
    answer = server.get(f"/api/jobs/{waiting.json()['id']}/result")
    if server.get(f"/api/jobs/{waiting.json()['id']}").json()["state"] != "done":  # it may have been quick
        assert answer.status == 409 and "download it once" in answer.detail
    for job in (blocker, waiting):
        server.wait_job(job.json()["id"])
        assert server.delete(f"/api/jobs/{job.json()['id']}").status == 204


def test_other_sites_and_foreign_hosts_are_refused(server: Server, clip_with_sound: Path) -> None:
    cross = server.post_json("/api/styles/adapt", {"painting": "x", "name": "y"}, {"Origin": "http://evil.example"})
    assert cross.status == 403 and "other sites" in cross.detail
    rebound = request(server.url + "api/styles", headers={"Host": "evil.example:8000"})
    assert rebound.status == 400 and "127.0.0.1" in rebound.detail
    same_origin = server.post_json("/api/rtc/nope/controls", {"strength": 0.5}, {"Origin": server.url.rstrip("/")})
    assert same_origin.status == 404  # the page's own requests pass


def test_painting_without_torch_says_how_to_get_it(server: Server) -> None:
    answer = server.post_files("/api/paintings", {}, {"file": ("p.png", png_bytes(gradient_frame(0, 128, 128)))})
    assert answer.status == 424
    assert "torch" in answer.detail and "pip install 'stylecast[train]' torch==2.13.0" in answer.detail
    adapt = server.post_json("/api/styles/adapt", {"painting": "upload-000000000000", "name": "mine"})
    assert adapt.status == 424
