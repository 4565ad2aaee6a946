"""The shapes of the REST API's requests and answers (they make FastAPI's OpenAPI schema)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MAX_SDP_CHARS = 64_000  # a browser's offer is a few kB; more is not an offer


class ErrorOut(BaseModel):
    detail: str = Field(description="what went wrong and what to do about it")


class StyleOut(BaseModel):
    name: str = Field(description="what to put in a style spec")
    kind: str = Field(description="'shipped' (the model's), 'user' (your library) or 'upload' (an uploaded painting)")
    artist: str = ""
    title: str = ""
    year: str = ""
    credit: str = ""
    thumbnail: str | None = Field(None, description="URL of a small picture of the style")


class HealthOut(BaseModel):
    status: str
    model: str
    backend: str
    peers: int = Field(description="open live sessions")
    jobs: dict[str, int] = Field(description="jobs by state")
    painting_styles: bool = Field(description="whether this server can turn a painting into a style (needs torch)")
    max_upload_mb: float = Field(description="the largest video upload")
    max_painting_mb: float = Field(description="the largest painting upload")
    knob: bool = Field(False, description="whether the model has the trained content-vs-style knob")


class JobOut(BaseModel):
    id: str
    kind: str = Field(description="'stylize' (a video) or 'add-style' (adapting a painting)")
    state: str = Field(description="queued, running, done or failed")
    progress: float = Field(description="0..1")
    done: int = Field(description="frames (stylize) or steps (add-style) so far")
    total: int | None = Field(None, description="frames expected, when known")
    input_name: str = Field(description="the uploaded file's name, or the new style's name")
    params: dict[str, Any] = Field(description="style, strength, preserve_color, max_side (or the adaptation's)")
    created: float = Field(description="Unix time")
    started: float | None = None
    finished: float | None = None
    queue_position: int | None = Field(None, description="jobs ahead of this one, while queued")
    error: str | None = None
    result: dict[str, Any] | None = Field(None, description="frames, fps, warnings (stylize) or the new style")
    result_url: str | None = Field(None, description="where the stylized video downloads, once done")


class AdaptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    painting: str = Field(description="the 'upload-...' style name that POST /api/paintings returned")
    name: str = Field(description="the new style's name: lowercase letters, digits, '_' or '-'", max_length=40)
    minutes: float = Field(5.0, ge=0, le=120, description="adaptation budget; 0 keeps the instant code")
    artist: str = Field("", max_length=200)
    title: str = Field("", max_length=200)
    year: str = Field("", max_length=40)
    credit: str = Field("", max_length=400)


class ControlsIn(BaseModel):
    """Any of the live controls; the ones left out keep their value."""

    model_config = ConfigDict(extra="forbid")

    style: str | None = Field(None, description="a style name or a blend like 'starry_night:0.7,udnie:0.3'",
                              max_length=2000)
    strength: float | None = Field(None, ge=0, le=1, description="0 (the camera) .. 1 (full style)")
    knob: float | None = Field(None, ge=0, le=1, allow_inf_nan=False,
                               description="content vs style, trained into G: 0 the picture .. 1 the painting")
    preserve_color: bool | None = Field(None, description="keep the camera's colours")


class OfferIn(ControlsIn):
    sdp: str = Field(description="the browser's offer (ICE gathering complete: no trickle)", max_length=MAX_SDP_CHARS)
    type: str = Field("offer", description="'offer'")


class AnswerOut(BaseModel):
    peer_id: str = Field(description="names this live session in /api/rtc/{peer_id}")
    sdp: str
    type: str


class LiveOut(BaseModel):
    peer_id: str
    style: str
    strength: float
    knob: float | None = Field(None, description="the trained content-vs-style knob; null: the model has none")
    preserve_color: bool
    connection: str = Field(description="the WebRTC connection state")
    stats: dict[str, Any] = Field(description="frames_in, frames_out, dropped, fps, latency_ms (p50, p95), size")
