"""Background jobs of the web app, kept in SQLite so that a restart loses none.

A job is a row in ``<data dir>/jobs.sqlite3``: its kind (``stylize`` a video, ``add-style`` from a
painting), its parameters (JSON), its state and progress. One worker thread runs the jobs in the
order they came, one at a time: stylizing and adapting each use every core, so two at once would
only make both slower and the live sessions stutter.

States: ``queued`` -> ``running`` -> ``done`` | ``failed``. A job that was ``running`` when the server
died is ``queued`` again when the next server opens the store. A stopping server puts its running
job back in the queue as well. Deleting a running job cancels it at its next frame or step.
"""

from __future__ import annotations

import builtins
import json
import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stylecast.errors import StylecastError

log = logging.getLogger("stylecast.web")

JOB_KINDS = ("stylize", "add-style")
JOB_STATES = ("queued", "running", "done", "failed")
# The worker writes progress at most this often: a 30 fps job would otherwise write 30 rows a second.
PROGRESS_EVERY_S = 0.25
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    params TEXT NOT NULL,
    input_name TEXT NOT NULL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    progress REAL NOT NULL DEFAULT 0,
    done_units INTEGER NOT NULL DEFAULT 0,
    total_units INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    result TEXT
)
"""


@dataclass
class Job:
    """One row of the job table (``params`` and ``result`` decoded from JSON)."""

    id: str
    kind: str
    state: str
    params: dict[str, Any]
    input_name: str
    created: float
    started: float | None = None
    finished: float | None = None
    progress: float = 0.0
    done_units: int = 0
    total_units: int | None = None
    attempts: int = 0
    error: str | None = None
    result: dict[str, Any] | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Job:
        values = dict(row)
        values["params"] = json.loads(values["params"])
        values["result"] = json.loads(values["result"]) if values["result"] else None
        return cls(**values)


class JobCancelled(Exception):
    """Raised inside a running job (from its progress callback) when it was deleted."""


class WorkerStopping(Exception):
    """Raised inside a running job when the server stops: the job goes back to the queue."""


def new_job_id() -> str:
    """A server-chosen id: 32 hex digits, safe as a file name and in a URL."""
    return uuid.uuid4().hex


class JobStore:
    """The job table. Thread-safe: one connection, one lock (the queries are tiny)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=10)
            self._db.row_factory = sqlite3.Row
            # WAL: a reader (a poll of the page) never waits for the worker's progress writes.
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)
        except sqlite3.DatabaseError as error:
            raise StylecastError(f"cannot open the job database {path} ({error}): move it aside (the jobs in it "
                                 "are lost) or choose another --data-dir") from error
        self._lock = threading.Lock()

    @contextmanager
    def _cursor(self) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            yield self._db.cursor()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def create(self, kind: str, params: dict[str, Any], input_name: str, job_id: str | None = None) -> Job:
        if kind not in JOB_KINDS:
            raise ValueError(f"unknown job kind {kind!r}")
        job = Job(id=job_id or new_job_id(), kind=kind, state="queued", params=params, input_name=input_name,
                  created=time.time())
        with self._cursor() as cursor:
            cursor.execute("INSERT INTO jobs (id, kind, state, params, input_name, created) VALUES (?, ?, ?, ?, ?, ?)",
                           (job.id, kind, job.state, json.dumps(params), input_name, job.created))
        return job

    def get(self, job_id: str) -> Job | None:
        with self._cursor() as cursor:
            row = cursor.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return Job.from_row(row) if row is not None else None

    def list(self) -> builtins.list[Job]:
        with self._cursor() as cursor:
            rows = cursor.execute("SELECT * FROM jobs ORDER BY created, rowid").fetchall()
        return [Job.from_row(row) for row in rows]

    def counts(self) -> dict[str, int]:
        with self._cursor() as cursor:
            rows = cursor.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall()
        return {state: 0 for state in JOB_STATES} | {row[0]: int(row[1]) for row in rows}

    def claim_next(self) -> Job | None:
        """The oldest queued job, now marked running; ``None`` when the queue is empty."""
        with self._cursor() as cursor:
            row = cursor.execute("SELECT id FROM jobs WHERE state = 'queued' ORDER BY created, rowid LIMIT 1"
                                 ).fetchone()
            if row is None:
                return None
            cursor.execute("UPDATE jobs SET state = 'running', started = ?, attempts = attempts + 1, progress = 0, "
                           "done_units = 0, error = NULL WHERE id = ?", (time.time(), row[0]))
            job_row = cursor.execute("SELECT * FROM jobs WHERE id = ?", (row[0],)).fetchone()
        return Job.from_row(job_row)

    def set_progress(self, job_id: str, progress: float, done_units: int, total_units: int | None) -> None:
        with self._cursor() as cursor:
            cursor.execute("UPDATE jobs SET progress = ?, done_units = ?, total_units = ? WHERE id = ?",
                           (min(max(progress, 0.0), 1.0), done_units, total_units, job_id))

    def finish(self, job_id: str, result: dict[str, Any]) -> None:
        """Mark a job done. Its units are the result's ``frames`` where it has them (the progress reports
        are throttled and the probe's frame count is an estimate), else the expected total."""
        units = result.get("frames") if isinstance(result.get("frames"), int) else None
        with self._cursor() as cursor:
            cursor.execute("UPDATE jobs SET state = 'done', progress = 1, finished = ?, result = ?, "
                           "done_units = COALESCE(?, total_units, done_units), total_units = COALESCE(?, total_units) "
                           "WHERE id = ?", (time.time(), json.dumps(result), units, units, job_id))

    def fail(self, job_id: str, error: str) -> None:
        with self._cursor() as cursor:
            cursor.execute("UPDATE jobs SET state = 'failed', finished = ?, error = ? WHERE id = ?",
                           (time.time(), error, job_id))

    def requeue(self, job_id: str) -> None:
        with self._cursor() as cursor:
            cursor.execute("UPDATE jobs SET state = 'queued', progress = 0, done_units = 0 WHERE id = ?", (job_id,))

    def requeue_interrupted(self) -> builtins.list[str]:
        """Put every ``running`` job back in the queue (the server that ran it is gone); their ids."""
        with self._cursor() as cursor:
            rows = cursor.execute("SELECT id FROM jobs WHERE state = 'running'").fetchall()
            cursor.execute("UPDATE jobs SET state = 'queued', progress = 0, done_units = 0 WHERE state = 'running'")
        return [row[0] for row in rows]

    def delete(self, job_id: str) -> bool:
        with self._cursor() as cursor:
            return cursor.execute("DELETE FROM jobs WHERE id = ?", (job_id,)).rowcount > 0


#: ``report(done, total, progress)``: a running job's progress; it raises to stop the job.
ProgressReport = Callable[[int, "int | None", float], None]
#: Runs one job to its result (JSON-able), calling the report as it goes.
JobRunner = Callable[[Job, ProgressReport], dict[str, Any]]


class JobWorker:
    """The single thread that runs queued jobs in order.

    Args:
        store: the job table.
        runners: the function that runs each kind of job.
        on_deleted: called with a job id once the worker has stopped a deleted job (to remove what the
            job was still writing).
    """

    def __init__(self, store: JobStore, runners: dict[str, JobRunner],
                 on_deleted: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.runners = runners
        self.on_deleted = on_deleted
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._current: str | None = None
        self._cancelled: set[str] = set()
        self._idle = threading.Condition(self._lock)
        self._thread = threading.Thread(target=self._run, name="stylecast-web-jobs", daemon=True)

    def start(self) -> list[str]:
        """Re-queue jobs a dead server left running, then start; returns their ids."""
        requeued = self.store.requeue_interrupted()
        if requeued:
            log.warning("re-queued %d job(s) interrupted by the last server stop: %s", len(requeued),
                        ", ".join(requeued))
        self._thread.start()
        self._wake.set()
        return requeued

    def wake(self) -> None:
        """A job was queued: look at the queue now rather than at the next poll."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop at the running job's next frame or step (it goes back to the queue); whether it ended in time."""
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def current(self) -> str | None:
        return self._current

    def discard(self, job_id: str, timeout: float = 10.0) -> bool:
        """Delete a job; a running one is stopped at its next frame or step (waiting up to ``timeout``).

        Returns:
            Whether there was such a job.
        """
        with self._lock:
            # Under the worker's lock: the job cannot be claimed between the delete and the check.
            existed = self.store.delete(job_id)
            if self._current == job_id:
                self._cancelled.add(job_id)
                self._idle.wait_for(lambda: self._current != job_id, timeout)
        return existed

    def _run(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                job = self.store.claim_next()
                self._current = job.id if job is not None else None
            if job is None:
                self._wake.wait(timeout=1.0)
                self._wake.clear()
                continue
            try:
                self._run_one(job)
            finally:
                with self._lock:
                    self._current = None
                    cancelled = job.id in self._cancelled
                    self._cancelled.discard(job.id)
                    self._idle.notify_all()
                if cancelled and self.on_deleted is not None:
                    self.on_deleted(job.id)

    def _run_one(self, job: Job) -> None:
        last_write = 0.0

        def report(done: int, total: int | None, progress: float) -> None:
            nonlocal last_write
            if job.id in self._cancelled:
                raise JobCancelled(job.id)
            if self._stopping.is_set():
                raise WorkerStopping(job.id)
            now = time.monotonic()
            if now - last_write >= PROGRESS_EVERY_S:
                last_write = now
                self.store.set_progress(job.id, progress, done, total)

        runner = self.runners[job.kind]
        try:
            result = runner(job, report)
        except JobCancelled:
            log.info("job %s cancelled", job.id)
            self.store.delete(job.id)
        except WorkerStopping:
            log.info("job %s goes back to the queue: the server stops", job.id)
            self.store.requeue(job.id)
        except StylecastError as error:
            self.store.fail(job.id, str(error))
        except Exception as error:  # noqa: BLE001 - a job's bug must not kill the worker
            log.exception("job %s failed", job.id)
            self.store.fail(job.id, f"the job failed unexpectedly ({type(error).__name__}: {error}); the server log "
                                    "has the details")
        else:
            if job.id in self._cancelled:
                self.store.delete(job.id)
            else:
                self.store.finish(job.id, result)
