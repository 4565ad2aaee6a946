"""What the routes of ``stylecast serve`` share: settings, the data dir and its lock, and :class:`WebApp`.

The page (``static/``) is a client of the API like any script; FastAPI documents the API at
``/openapi.json`` and ``/docs``. One :class:`WebApp` holds what the routes share: the one Stylizer
(ONNX Runtime), the style catalog, the job store and its single worker, and the live sessions.

Data dir (``--data-dir``, default ``<user data dir>/stylecast/web``)::

    jobs.sqlite3                the jobs and their state
    uploads/<job id>            an uploaded video, until its job is done
    outputs/<job id>.mp4        a stylized video, until its job is deleted
    paintings/upload-<hex>.*    uploaded paintings with their instant codes
    incoming/                   uploads being received

Every stored file is named by the server (ids it chose); a client's file name is only ever shown
back, cleaned, and used for the download's suggested name.
"""

from __future__ import annotations

import io
import logging
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import av
import av.error
import numpy as np
from fastapi import UploadFile
from PIL import Image

from stylecast.atomic import atomic_output
from stylecast.errors import InputError, MissingDependencyError, StylecastError
from stylecast.fs import has_train_extra, home_dir
from stylecast.io.images import read_image
from stylecast.io.probe import VideoInfo, probe_video
from stylecast.runtime.live import live_workers
from stylecast.runtime.pipeline import StyleRequest, stylize_video
from stylecast.styles import MIN_PAINTING_SIDE
from stylecast.styling.painting import MAX_PAINTING_SIDE
from stylecast.stylizer import Stylizer
from stylecast.web.catalog import GalleryEntry, StyleCatalog
from stylecast.web.errors import (
    ConflictError,
    NotFoundError,
    StorageError,
    TooLargeError,
    UnsupportedMediaError,
)
from stylecast.web.jobs import Job, JobStore, JobWorker, ProgressReport
from stylecast.web.rtc import LiveHub, working_size
from stylecast.web.schemas import (
    AdaptIn,
    ErrorOut,
)

log = logging.getLogger("stylecast.web")

STATIC_DIR = Path(__file__).resolve().parent / "static"
MB = 1024 * 1024
# JSON requests (offers, controls, adaptation) are a few kB; anything near this is abuse.
JSON_BODY_LIMIT = 1 * MB
# Pillow decodes the whole image before we can scale it: 40 MP is a 120 MB RGB array, plenty for a painting.
MAX_PAINTING_PIXELS = 40_000_000
JOB_ID = re.compile(r"[0-9a-f]{32}")
COPY_CHUNK = 1 * MB
#: The photo every style's preview shows (bundled; see samples/CREDITS.md), and its longer side.
PREVIEW_PHOTO = Path(__file__).resolve().parents[1] / "samples" / "photos" / "lake_boats.jpg"
PREVIEW_SIDE = 320
# FFmpeg opens still images as one-frame "videos"; a video job wants a video.
_STILL_IMAGE_FORMATS = ("image2", "_pipe", "apng")

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": text}
    for status, text in ((400, "bad input: the detail says what and how to fix it"), (404, "no such item"),
                         (409, "not possible in the current state"), (413, "upload over the size limit"),
                         (415, "not a video / not an image"), (422, "a malformed request"),
                         (424, "this server lacks torch for painting styles"), (429, "every live slot is taken"),
                         (507, "the server's disk is full"))
}



@dataclass
class ServeSettings:
    """What ``stylecast serve`` takes (the CLI's flags)."""

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path | None = None
    model: Path | None = None
    threads: int | None = None
    workers: int | None = None  # frames stylized at once (live sessions and video jobs); None: as `live` picks
    max_upload_mb: float = 512.0
    max_painting_mb: float = 25.0
    max_peers: int = 8
    live_max_side: int = 640
    working_size: int | str = "auto"  # for video jobs (Stylizer): live frames are at most live_max_side


def lock_data_dir(data_dir: Path) -> IO[bytes]:
    """Hold the data dir for this server: a second server on it would take over the first's jobs.

    An exclusive ``flock`` on ``.server.lock``: the system drops it when the process ends, however it
    ends (``kill -9`` included), so a stale lock never blocks a restart. Returns the open file, which
    holds the lock until it is closed.

    Raises:
        StylecastError: another server holds it.
    """
    import fcntl

    handle = (data_dir / ".server.lock").open("a+b")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        owner = handle.read().decode(errors="replace").strip() or "unknown"
        handle.close()
        raise StylecastError(f"another stylecast server (pid {owner}) is using the data dir {data_dir}: stop it, "
                             "or start this one with another --data-dir") from None
    handle.truncate(0)
    handle.write(str(os.getpid()).encode())
    handle.flush()
    return handle


def default_data_dir() -> Path:
    """``$STYLECAST_HOME/web`` if set (as the style library does), else the platform's user data dir."""
    return home_dir() / "web"


def painting_styles_available() -> bool:
    """Whether this install can turn a painting into a style (the ``train`` extra: torch and VGG19)."""
    return has_train_extra()


def require_painting_styles() -> None:
    if not painting_styles_available():
        raise MissingDependencyError(
            "turning a painting into a style needs torch and VGG19, which this server lacks: install them where "
            "the server runs with `pip install 'stylecast[train]' torch==2.13.0` and restart it, or pick a "
            "style from the gallery")


def display_name(name: str | None, fallback: str) -> str:
    """A client's file name made safe to show and to suggest for a download (never used as a path)."""
    base = re.split(r"[\\/]", name or "")[-1]
    cleaned = re.sub(r"[^\w. -]+", "_", base).strip(" ._")[:100]
    return cleaned or fallback


class WebApp:
    """What the routes share; :func:`create_app` wires it to FastAPI.

    Args:
        settings: the server's settings.
        stylizer: the shared stylizer (default: loaded from ``settings.model`` on ONNX Runtime).
    """

    def __init__(self, settings: ServeSettings, stylizer: Stylizer | None = None) -> None:
        self.settings = settings
        self.data_dir = (settings.data_dir or default_data_dir()).expanduser()
        self.uploads, self.outputs = self.data_dir / "uploads", self.data_dir / "outputs"
        self.incoming, self.paintings = self.data_dir / "incoming", self.data_dir / "paintings"
        try:
            for folder in (self.uploads, self.outputs, self.incoming, self.paintings):
                folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StylecastError(f"cannot create the data dir {self.data_dir} ({error.strerror or error}): choose a "
                                 "writable one with --data-dir") from error
        self._data_lock = lock_data_dir(self.data_dir)
        self._preview_photo: np.ndarray | None = None
        self._preview_lock = threading.Lock()
        if stylizer is None:
            # As `live` and `stylize` split the cores: a frame per core, each on one thread of the engine.
            self.workers, threads = live_workers("onnx", settings.threads, settings.workers)
            stylizer = Stylizer(settings.model, "onnx", "fp32", threads, working_size=settings.working_size,
                                workers=self.workers)
        else:  # an engine made by the caller, with its own threads
            self.workers = settings.workers or 1
        self.stylizer = stylizer
        self.catalog = StyleCatalog(self.stylizer, self.paintings)
        self.store = JobStore(self.data_dir / "jobs.sqlite3")
        self.worker = JobWorker(self.store, {"stylize": self._run_stylize, "add-style": self._run_add_style},
                                on_deleted=self._remove_job_files)
        self.hub = LiveHub(self.stylizer, self.catalog, settings.max_peers, settings.live_max_side, self.workers)
        self.url = ""
        self._style_encoder: Any = None
        self._encoder_lock = threading.Lock()
        self._clean_leftovers()

    def release(self) -> None:
        """Give up the data dir (another server may take it); the store is closed by its owner."""
        self._data_lock.close()

    # --- start and stop ---------------------------------------------------------------------------
    def warm_up(self) -> None:
        """Run the engine once on a camera frame of the largest live size.

        ONNX Runtime keeps the memory of its largest run for reuse: doing that run now makes the
        first visitor's first frame fast, and the idle server's memory what it is with sessions
        open and after they close (it does not creep up with the first visitors).
        """
        side = self.settings.live_max_side
        width, height = working_size(side, side * 3 // 4, side)
        frame, code = np.zeros((height, width, 3), dtype=np.uint8), self.catalog.resolve(self.catalog.names[0])
        # As many runs at once as live sessions keep in flight: each concurrent run holds its own memory.
        list(self.hub.executor.map(lambda _: self.stylizer.stylize(frame, code), range(self.workers)))
        if painting_styles_available():
            # E and the style encoder load in the background (seconds), so that the first painting
            # uploaded becomes a style, with its preview, as fast as the next one.
            threading.Thread(target=self._painting_encoder, name="stylecast-encoder-load", daemon=True).start()

    def _clean_leftovers(self) -> None:
        """Remove what a killed server was still writing, and files of jobs that no longer exist."""
        known = {job.id for job in self.store.list()}
        for path in self.incoming.iterdir():
            path.unlink(missing_ok=True)
        for path in list(self.uploads.iterdir()) + list(self.outputs.iterdir()):
            job_id = path.name.split(".")[0]
            if path.name.startswith(".") or job_id not in known:
                path.unlink(missing_ok=True)

    def _remove_job_files(self, job_id: str) -> None:
        (self.uploads / job_id).unlink(missing_ok=True)
        (self.outputs / f"{job_id}.mp4").unlink(missing_ok=True)

    # --- uploads and styles ------------------------------------------------------------------------
    def _receive(self, upload: UploadFile, limit: int, what: str) -> Path:
        """Copy an upload into ``incoming/`` under a server-chosen name, enforcing ``limit`` bytes."""
        target = self.incoming / uuid.uuid4().hex
        size = 0
        try:
            with atomic_output(target) as temp, temp.open("wb") as out:
                while chunk := upload.file.read(COPY_CHUNK):
                    size += len(chunk)
                    if size > limit:
                        raise TooLargeError(f"the {what} is over the server's limit of {limit / MB:.0f} MB: send a "
                                            "smaller file")
                    out.write(chunk)
        except OSError as error:
            raise StorageError(f"the server cannot store the {what} ({error.strerror or error}): free some space "
                               f"in its data dir {self.data_dir}, or restart it with another --data-dir") from error
        if size == 0:
            target.unlink(missing_ok=True)
            raise InputError(f"the uploaded {what} is empty (0 bytes): choose the file again")
        return target

    def add_painting(self, upload: UploadFile) -> GalleryEntry:
        """An uploaded painting as a new style with its instant code (the style encoder; needs torch)."""
        require_painting_styles()
        shown = display_name(upload.filename, "painting")
        received = self._receive(upload, int(self.settings.max_painting_mb * MB), "painting")
        try:
            painting = self._read_painting(received, shown)
        finally:
            received.unlink(missing_ok=True)
        code = self._instant_code(painting)  # from the pixels uploaded, as the CLI reads the same file
        name = self.catalog.new_upload_name()
        try:
            self.catalog.store_painting(name, painting)
            return self.catalog.add_upload(name, code, shown)
        except BaseException:
            self.catalog.discard_painting(name)
            raise

    def preview(self, name: str) -> bytes:
        """A JPEG of the bundled preview photo in style ``name``: what a style looks like before the
        camera is on (the page shows it the moment a painting is uploaded)."""
        code = self.catalog.resolve(self.catalog.entry(name).name)
        with self._preview_lock:
            if self._preview_photo is None:
                self._preview_photo = read_image(PREVIEW_PHOTO, max_side=PREVIEW_SIDE)
            styled = self.stylizer.stylize(self._preview_photo, code)
        buffer = io.BytesIO()
        Image.fromarray(styled).save(buffer, format="JPEG", quality=88)
        return buffer.getvalue()

    @staticmethod
    def _read_painting(path: Path, shown: str) -> np.ndarray:
        try:
            with Image.open(path) as probe:
                width, height = probe.size
        except Image.DecompressionBombError as error:
            raise TooLargeError(f"{shown!r} has more pixels than a painting needs: upload at most "
                                f"{MAX_PAINTING_PIXELS // 10**6} megapixels (2048 px a side is plenty)") from error
        except (OSError, ValueError) as error:
            reason = str(error).replace(str(path), shown)
            raise UnsupportedMediaError(f"{shown!r} is not an image this server can read ({reason}): upload a "
                                        "JPEG, PNG or WebP painting") from error
        if width * height > MAX_PAINTING_PIXELS:
            raise TooLargeError(f"{shown!r} is {width}x{height} pixels: upload at most {MAX_PAINTING_PIXELS // 10**6} "
                                "megapixels (2048 px a side is plenty)")
        try:
            painting = read_image(path, max_side=MAX_PAINTING_SIDE)  # as styling.painting.read_painting
        except InputError as error:
            raise UnsupportedMediaError(str(error).replace(str(path), shown)) from error
        if min(painting.shape[:2]) < MIN_PAINTING_SIDE:
            raise InputError(f"{shown!r} is only {painting.shape[1]}x{painting.shape[0]} pixels, too small to "
                             f"describe a style: upload at least {MIN_PAINTING_SIDE} px a side, ideally 512")
        return painting

    def _instant_code(self, painting: np.ndarray) -> np.ndarray:
        # The style encoder directly rather than Stylizer.code(path): that parses its argument as a style
        # spec, and a data dir path holding ',' or ':' would read as a blend.
        encoder = self._painting_encoder()
        with self._encoder_lock:
            return np.asarray(encoder(painting), dtype=np.float32).reshape(1, -1)

    def _painting_encoder(self) -> Any:
        with self._encoder_lock:
            if self._style_encoder is None:
                from stylecast.styling.encode import PaintingEncoder  # torch is imported here, and only here

                self._style_encoder = PaintingEncoder(self.stylizer.model_path)
            return self._style_encoder

    def create_adapt_job(self, body: AdaptIn) -> Job:
        require_painting_styles()
        self.catalog.painting_path(body.painting)  # 404 for anything but an uploaded painting
        self.catalog.library.validate_name(body.name, self.catalog.names)
        for job in self.store.list():
            if job.kind == "add-style" and job.params.get("name") == body.name and job.state in ("queued", "running"):
                raise ConflictError(f"a job already adapts a style named {body.name!r} (job {job.id}): pick another "
                                    "name or wait for it")
        job = self.store.create("add-style", body.model_dump(), input_name=body.name)
        self.worker.wake()
        return job

    def _run_add_style(self, job: Job, report: ProgressReport) -> dict[str, Any]:
        try:
            from stylecast.train.adapt import add_style
        except ImportError as error:
            raise MissingDependencyError("adapting a style needs torch: install it on the server with "
                                         "`pip install 'stylecast[train]' torch==2.13.0`") from error
        params = AdaptIn.model_validate(job.params)
        painting = self.catalog.painting_path(params.painting)
        budget = max(params.minutes * 60.0, 1e-9)
        started = time.monotonic()
        added = add_style(painting, params.name, minutes=params.minutes, model=self.stylizer.model_path,
                          library=self.catalog.library, artist=params.artist, title=params.title,
                          year=params.year, credit=params.credit,
                          source_name=self.catalog.upload_source(params.painting) or painting.name,
                          on_step=lambda step, loss: report(step, None,
                                                            min(0.99, (time.monotonic() - started) / budget)))
        self.catalog.refresh()
        result = added.result
        return {"style": params.name, "steps": result.steps, "seconds": round(result.seconds, 1),
                "style_loss_instant": result.style_loss_start, "style_loss_adapted": result.style_loss_end}

    # --- video jobs -------------------------------------------------------------------------------
    def create_video_job(self, upload: UploadFile, style: str, strength: float, preserve_color: bool,
                         max_side: int | None, knob: float | None = None) -> Job:
        # A typo or a knob this model lacks fails before the upload is stored.
        code = self.hub.with_knob(self.catalog.resolve(style), None if knob is None else self.hub.check_knob(knob))
        shown = display_name(upload.filename, "video")
        received = self._receive(upload, int(self.settings.max_upload_mb * MB), "video")
        try:
            info = self._check_video(received, shown)
            job_id = uuid.uuid4().hex
            os.replace(received, self.uploads / job_id)
        finally:
            received.unlink(missing_ok=True)
        params = {"style": style, "strength": strength, "preserve_color": preserve_color, "max_side": max_side,
                  "code": [float(value) for value in code.reshape(-1)], "width": info.width, "height": info.height,
                  "duration": info.duration, "has_audio": info.has_audio}
        job = self.store.create("stylize", params, input_name=shown, job_id=job_id)
        self.worker.wake()
        return job

    @staticmethod
    def _check_video(path: Path, shown: str) -> VideoInfo:
        try:
            info = probe_video(path)
            with av.open(str(path), metadata_errors="ignore") as container:
                format_name = container.format.name
        except (InputError, av.error.FFmpegError, OSError) as error:
            reason = str(error).replace(str(path), shown)
            raise UnsupportedMediaError(f"{shown!r} is not a video this server can read ({reason}); upload a video "
                                        "file (mp4, mov, mkv, webm, avi)") from error
        if any(marker in format_name for marker in _STILL_IMAGE_FORMATS):
            raise UnsupportedMediaError(f"{shown!r} is a still image, not a video: stylize it in the page's live "
                                        "view or with `stylecast stylize`, or upload a video file")
        return info

    def _run_stylize(self, job: Job, report: ProgressReport) -> dict[str, Any]:
        source, target = self.uploads / job.id, self.outputs / f"{job.id}.mp4"
        if not source.is_file():
            raise StylecastError("the uploaded video is no longer on the server: upload it again")
        params = job.params
        request = StyleRequest(np.asarray(params["code"], dtype=np.float32).reshape(1, -1), float(params["strength"]),
                               bool(params["preserve_color"]), params.get("max_side"))

        def on_frame(done: int, total: int | None) -> None:
            report(done, total, min(done / total, 0.99) if total else 0.0)

        result = stylize_video(self.stylizer, source, target, request, show_progress=False, on_frame=on_frame,
                              workers=self.workers)
        source.unlink(missing_ok=True)  # the input is kept only until its job is done
        return {"frames": result.frames, "seconds": result.seconds, "fps": result.fps, "warnings": result.warnings,
                "bytes": target.stat().st_size}

    def job_out(self, job: Job, queued: list[str] | None = None) -> dict[str, Any]:
        if queued is None:
            queued = [j.id for j in self.store.list() if j.state == "queued"]
        params = {key: value for key, value in job.params.items() if key != "code"}
        return {"id": job.id, "kind": job.kind, "state": job.state, "progress": round(job.progress, 4),
                "done": job.done_units, "total": job.total_units, "input_name": job.input_name, "params": params,
                "created": job.created, "started": job.started, "finished": job.finished,
                "queue_position": queued.index(job.id) if job.id in queued else None, "error": job.error,
                "result": job.result,
                "result_url": f"/api/jobs/{job.id}/result" if job.state == "done" and job.kind == "stylize" else None}

    def job(self, job_id: str) -> Job:
        job = self.store.get(job_id) if JOB_ID.fullmatch(job_id) else None
        if job is None:
            raise NotFoundError(f"no job {job_id[:40]!r}: GET /api/jobs lists them (a deleted job is gone)")
        return job

    def result_file(self, job_id: str) -> tuple[Path, str]:
        job = self.job(job_id)
        if job.kind != "stylize":
            raise NotFoundError(f"job {job_id} adapts a style and has no video: the style is in GET /api/styles")
        if job.state == "failed":
            raise ConflictError(f"job {job_id} failed ({job.error}): there is nothing to download")
        if job.state != "done":
            raise ConflictError(f"job {job_id} is {job.state}: download it once GET /api/jobs/{job_id} says 'done'")
        path = self.outputs / f"{job_id}.mp4"
        if not path.is_file():
            raise NotFoundError(f"the video of job {job_id} is missing from the server: run the job again")
        return path, f"{Path(job.input_name).stem or 'video'}_stylized.mp4"

    def delete_job(self, job_id: str) -> None:
        if not JOB_ID.fullmatch(job_id) or not self.worker.discard(job_id):
            raise NotFoundError(f"no job {job_id[:40]!r}: GET /api/jobs lists them")
        self._remove_job_files(job_id)


