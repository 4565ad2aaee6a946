"""Jobs survive the server: the SQLite store, and a real server killed mid-job and started again."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import av
import pytest

from stylecast.web.jobs import JobStore
from tests.runtime.conftest import write_clip
from tests.web.conftest import Server


def test_store_keeps_order_and_requeues_what_was_running(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    first = store.create("stylize", {"style": "a"}, "one.mp4")
    second = store.create("stylize", {"style": "b"}, "two.mp4")
    claimed = store.claim_next()
    assert claimed is not None and claimed.id == first.id and claimed.state == "running" and claimed.attempts == 1
    store.set_progress(first.id, 0.5, 10, 20)
    store.close()

    reopened = JobStore(tmp_path / "jobs.sqlite3")  # the server died: the job table is all that is left
    assert reopened.requeue_interrupted() == [first.id]
    again = reopened.claim_next()
    assert again is not None and again.id == first.id and again.attempts == 2 and again.done_units == 0
    reopened.finish(first.id, {"frames": 20})
    nxt = reopened.claim_next()
    assert nxt is not None and nxt.id == second.id
    reopened.fail(second.id, "broken")
    assert reopened.claim_next() is None
    assert reopened.counts() == {"queued": 0, "running": 0, "done": 1, "failed": 1}
    assert reopened.delete(first.id) and not reopened.delete(first.id)


@pytest.mark.slow
def test_a_killed_server_loses_no_job(fresh_server: Callable[..., Server], tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = fresh_server(data_dir=data_dir)
    long_clip = write_clip(tmp_path / "long.mp4", frames=480, size=(160, 120), audio="aac").read_bytes()
    short_clip = write_clip(tmp_path / "short.mp4", frames=12, size=(64, 48), audio="aac").read_bytes()
    running = server.post_files("/api/jobs", {"style": "udnie"}, {"file": ("long.mp4", long_clip)}).json()
    waiting = server.post_files("/api/jobs", {"style": "great_wave"}, {"file": ("short.mp4", short_clip)}).json()
    server.wait_job(running["id"], until=lambda job: job["state"] == "running" and 0 < job["progress"] < 0.5)
    assert server.stop(signal.SIGKILL) == -signal.SIGKILL  # no chance to tidy up

    restarted = fresh_server(data_dir=data_dir)
    jobs = {job["id"]: job for job in restarted.get("/api/jobs").json()}
    assert set(jobs) == {running["id"], waiting["id"]}
    assert jobs[running["id"]]["state"] in ("queued", "running")  # re-queued, and first again
    assert "re-queued 1 job" in restarted.stderr or _eventually(lambda: "re-queued 1 job" in restarted.stderr)
    for job in (running, waiting):
        done = restarted.wait_job(job["id"], timeout=120)
        assert done["state"] == "done", done
    assert restarted.get(f"/api/jobs/{running['id']}").json()["result"]["frames"] == 480
    with av.open(str(data_dir / "outputs" / f"{running['id']}.mp4")) as container:
        assert container.streams.video[0].frames == 480 and container.streams.audio
    assert not [p for p in (data_dir / "outputs").iterdir() if p.name.startswith(".")]  # the killed run's partial


@pytest.mark.slow
def test_stopping_the_server_puts_the_running_job_back(fresh_server: Callable[..., Server], tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = fresh_server(data_dir=data_dir)
    clip = write_clip(tmp_path / "long.mp4", frames=480, size=(160, 120)).read_bytes()
    job = server.post_files("/api/jobs", {"style": "udnie"}, {"file": ("long.mp4", clip)}).json()
    server.wait_job(job["id"], until=lambda j: j["state"] == "running" and 0 < j["progress"] < 0.5)
    assert server.stop(signal.SIGTERM) == 0
    assert "goes back to the queue" in server.stderr
    restarted = fresh_server(data_dir=data_dir)
    assert restarted.wait_job(job["id"], timeout=120)["state"] == "done"


def test_deleting_a_running_job_stops_it(fresh_server: Callable[..., Server], tmp_path: Path) -> None:
    server = fresh_server()
    clip = write_clip(tmp_path / "long.mp4", frames=480, size=(160, 120)).read_bytes()
    job = server.post_files("/api/jobs", {"style": "udnie"}, {"file": ("long.mp4", clip)}).json()
    server.wait_job(job["id"], until=lambda j: j["state"] == "running" and j["done"] > 0)
    assert server.delete(f"/api/jobs/{job['id']}").status == 204
    assert server.get(f"/api/jobs/{job['id']}").status == 404
    outputs = server.data_dir / "outputs"
    assert _eventually(lambda: not any(outputs.iterdir()))  # its partial output is gone too
    assert not (server.data_dir / "uploads" / job["id"]).exists()


def _eventually(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()
