"""The REST API of ``stylecast serve``, one router per resource: styles, jobs, live sessions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import FileResponse, Response

from stylecast.web.errors import (
    NotFoundError,
)
from stylecast.web.schemas import (
    AdaptIn,
    AnswerOut,
    ControlsIn,
    HealthOut,
    JobOut,
    LiveOut,
    OfferIn,
    StyleOut,
)
from stylecast.web.service import ERRORS, WebApp, painting_styles_available


def styles_router(web: WebApp) -> APIRouter:
    """Health, the styles with their credits and thumbnails, uploaded paintings and their adaptation."""
    router = APIRouter()

    # --- styles -----------------------------------------------------------------------------------
    @router.get("/api/health", response_model=HealthOut, tags=["server"])
    def health() -> dict[str, Any]:
        """Whether the server runs, what it serves, and how busy it is."""
        return {"status": "ok", "model": web.stylizer.model_path.name, "backend": web.stylizer.engine.name,
                "peers": len(web.hub.sessions), "jobs": web.store.counts(),
                "painting_styles": painting_styles_available(), "max_upload_mb": web.settings.max_upload_mb,
                "max_painting_mb": web.settings.max_painting_mb, "knob": web.stylizer.has_knob}

    @router.get("/api/styles", response_model=list[StyleOut], tags=["styles"])
    def list_styles() -> list[dict[str, Any]]:
        """Every style: the model's (with artist, title, year, credit), your library's, uploaded paintings."""
        web.catalog.refresh()
        return [entry.to_dict() for entry in web.catalog.entries()]

    @router.get("/api/styles/{name}/thumbnail", tags=["styles"], responses={404: ERRORS[404]},
             response_class=FileResponse)
    def style_thumbnail(name: str) -> FileResponse:
        """A small picture of the style (JPEG or PNG)."""
        entry = web.catalog.entry(name)
        if entry.thumbnail is None or not entry.thumbnail.is_file():
            raise NotFoundError(f"style {name!r} has no thumbnail")
        return FileResponse(entry.thumbnail, headers={"Cache-Control": "max-age=3600"})

    @router.get("/api/styles/{name}/preview", tags=["styles"], responses={404: ERRORS[404]},
                response_class=Response)
    def style_preview(name: str) -> Response:
        """A bundled photo in this style (JPEG, 320 px): how a style looks before the camera is on."""
        return Response(web.preview(name), media_type="image/jpeg", headers={"Cache-Control": "no-cache"})

    @router.post("/api/paintings", status_code=201, response_model=StyleOut, tags=["styles"],
              responses={k: ERRORS[k] for k in (400, 413, 415, 424)})
    def upload_painting(file: Annotated[UploadFile, File(description="the painting: JPEG, PNG or WebP")]
                        ) -> dict[str, Any]:
        """Turn a painting into a style at once (the style encoder's instant code; needs torch on the server).

        The answer's `name` works in any style spec at once; POST /api/styles/adapt refines it into a
        style of your library.
        """
        return web.add_painting(file).to_dict()

    @router.post("/api/styles/adapt", status_code=202, response_model=JobOut, tags=["styles"],
              responses={k: ERRORS[k] for k in (400, 404, 409, 424)})
    def adapt_painting(body: AdaptIn) -> dict[str, Any]:
        """Start adapting an uploaded painting's code (a background job, as `stylecast add-style`).

        When the job is done the style is in your library under `name` (and in GET /api/styles).
        """
        return web.job_out(web.create_adapt_job(body))
    return router


def jobs_router(web: WebApp) -> APIRouter:
    """Video jobs: upload, progress, result, delete."""
    router = APIRouter()

    # --- jobs -------------------------------------------------------------------------------------
    @router.get("/api/jobs", response_model=list[JobOut], tags=["jobs"])
    def list_jobs() -> list[dict[str, Any]]:
        """Every job, oldest first."""
        jobs = web.store.list()
        queued = [job.id for job in jobs if job.state == "queued"]
        return [web.job_out(job, queued) for job in jobs]

    @router.post("/api/jobs", status_code=202, response_model=JobOut, tags=["jobs"],
              responses={k: ERRORS[k] for k in (400, 413, 415)})
    def create_job(file: Annotated[UploadFile, File(description="the video (mp4, mov, mkv, webm, avi)")],
                   style: Annotated[str, Form(description="a style name or blend, e.g. 'starry_night:0.7,udnie:0.3'",
                                              max_length=2000)],
                   strength: Annotated[float, Form(ge=0, le=1, description="0 (the original) .. 1")] = 1.0,
                   preserve_color: Annotated[bool, Form(description="keep the original colours")] = False,
                   max_side: Annotated[int | None, Form(ge=16, le=8192, description="downscale to this")] = None,
                   knob: Annotated[float | None, Form(ge=0, le=1, allow_inf_nan=False,
                                                      description="content vs style, trained: 0 .. 1")] = None,
                   ) -> dict[str, Any]:
        """Upload a video to stylize; the job queues behind the others (one runs at a time).

        Poll GET /api/jobs/{id} for progress; GET /api/jobs/{id}/result downloads the MP4 (sound kept).
        """
        return web.job_out(web.create_video_job(file, style, strength, preserve_color, max_side, knob))

    @router.get("/api/jobs/{job_id}", response_model=JobOut, tags=["jobs"], responses={404: ERRORS[404]})
    def get_job(job_id: str) -> dict[str, Any]:
        """One job: state, progress (0..1), frames done, and its result once done."""
        return web.job_out(web.job(job_id))

    @router.get("/api/jobs/{job_id}/result", tags=["jobs"], response_class=FileResponse,
             responses={200: {"content": {"video/mp4": {}}, "description": "the stylized video"},
                        404: ERRORS[404], 409: ERRORS[409]})
    def job_result(job_id: str) -> FileResponse:
        """The stylized video (H.264 MP4 with the original's sound), once the job is done."""
        path, filename = web.result_file(job_id)
        return FileResponse(path, media_type="video/mp4", filename=filename)

    @router.delete("/api/jobs/{job_id}", status_code=204, tags=["jobs"], responses={404: ERRORS[404]})
    def delete_job(job_id: str) -> Response:
        """Delete a job and its files; a running job is stopped first."""
        web.delete_job(job_id)
        return Response(status_code=204)
    return router


def live_router(web: WebApp) -> APIRouter:
    """Live sessions over WebRTC: the offer, each session's state and controls, its end."""
    router = APIRouter()

    # --- live -------------------------------------------------------------------------------------
    @router.post("/api/rtc/offer", response_model=AnswerOut, tags=["live"],
              responses={k: ERRORS[k] for k in (400, 429)})
    async def rtc_offer(body: OfferIn) -> dict[str, Any]:
        """Start a live session: the browser's WebRTC offer (its camera as a sendrecv video track, and
        optionally a data channel for controls and stats) in, the answer out.

        The stylized video comes back on the same track. Over the data channel the page sends
        `{"type": "controls", ...}` and gets `{"type": "stats", ...}` twice a second.
        """
        peer_id, answer = await web.hub.offer(body.sdp, body.type, body)
        return {"peer_id": peer_id, "sdp": answer.sdp, "type": answer.type}

    @router.get("/api/rtc/{peer_id}", response_model=LiveOut, tags=["live"], responses={404: ERRORS[404]})
    async def rtc_state(peer_id: str) -> dict[str, Any]:
        """A live session's controls and stats (fps, latency, dropped frames)."""
        return web.hub.get(peer_id).state()

    @router.get("/api/rtc/{peer_id}/controls", response_model=LiveOut, tags=["live"], responses={404: ERRORS[404]})
    async def rtc_controls_state(peer_id: str) -> dict[str, Any]:
        """The same as GET /api/rtc/{peer_id}: the controls beside the URL that changes them."""
        return web.hub.get(peer_id).state()

    @router.post("/api/rtc/{peer_id}/controls", response_model=LiveOut, tags=["live"],
              responses={k: ERRORS[k] for k in (400, 404)})
    async def rtc_controls(peer_id: str, body: ControlsIn) -> dict[str, Any]:
        """Change a live session's style, strength or colour; they apply from the next frame."""
        return web.hub.get(peer_id).update(body)

    @router.delete("/api/rtc/{peer_id}", status_code=204, tags=["live"], responses={404: ERRORS[404]})
    async def rtc_close(peer_id: str) -> Response:
        """End a live session and free its connection."""
        web.hub.get(peer_id)
        await web.hub.close(peer_id)
        return Response(status_code=204)
    return router
