"""Live sessions: a browser's camera in over WebRTC (aiortc), stylized frames back on the same connection.

A session keeps a few camera frames in flight: ``workers`` (two on two cores, as ``live``) shared
among the open sessions, at least one each (``LiveHub.depth``). A pump task takes every decoded
frame off the incoming track and starts stylizing it at once if a slot is free; otherwise it waits
as the newest, overwriting any older one waiting (counted as dropped). The outgoing track hands the
encoder the oldest frame in flight, so frames leave in the order they came, and a slot frees when
its frame leaves. So a session that falls behind drops frames instead of queueing them, and its
latency stays about its depth in frames.

All sessions share one Stylizer and a pool of ``workers`` inference threads, each running G on one
core: G's layers are too short to keep two threads busy on one frame, so two frames at once give
about 1.4x the frames of one frame on two threads (``stylecast live``, BENCHMARKS.md, "Live: two
frames in flight"), and stylizing the next frame overlaps encoding this one.

Controls (style, strength, colour) come over a data channel (the page) or REST (scripts); stats go
back over the data channel twice a second. A session ends when its peer closes the connection or the
data channel, when the connection fails or stays disconnected, or when it never connects; ending it
stops its tracks, closes the connection and frees its decoder and encoder.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import json
import logging
import secrets
import time
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
from aiortc import MediaStreamTrack, RTCConfiguration, RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaBlackhole
from aiortc.mediastreams import MediaStreamError
from pydantic import ValidationError

from stylecast.errors import InputError, StylecastError, StyleError
from stylecast.runtime.live.stats import latency_percentiles
from stylecast.styles import DEFAULT_KNOB, check_knob, set_knob
from stylecast.stylizer import Stylizer
from stylecast.web.catalog import StyleCatalog
from stylecast.web.errors import NotFoundError, TooManyPeersError
from stylecast.web.schemas import ControlsIn

log = logging.getLogger("stylecast.web")

STATS_EVERY_S = 0.5
# A peer that has not connected this long after its offer is gone (or never meant to come).
CONNECT_TIMEOUT_S = 20.0
# A browser that vanished (killed, lost its network) sends no more frames long before ICE gives up (~30 s).
INPUT_TIMEOUT_S = 10.0
# "disconnected" often heals (a Wi-Fi hiccup); a connection that stays so this long is over.
DISCONNECTED_GRACE_S = 5.0
FPS_WINDOW_S = 2.0
LATENCY_WINDOW = 60
MAX_MESSAGE_BYTES = 4096


def release_freed_memory() -> None:
    """Give freed heap back to the system: after the last session closes, the server's RSS returns to idle.

    glibc keeps freed arenas mapped; a long-running server that once served many sessions would
    otherwise look as big as it was at its busiest.
    """
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def working_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """The size a camera frame is stylized at: at most ``max_side`` a side, even sides (for the encoder)."""
    scale = min(1.0, max_side / max(width, height))
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


@dataclass(frozen=True)
class SessionControls:
    """One session's controls; replaced whole, so the inference thread always reads a consistent set."""

    style: str
    code: np.ndarray  # (1, width) float32 style vector, the knob set in it
    strength: float = 1.0
    preserve_color: bool = False
    knob: float | None = None  # the trained content-vs-style knob; None for a model without one


class SessionStats:
    """Counters and recent timings of one session (written on the event loop, read anywhere)."""

    def __init__(self) -> None:
        self.frames_in = 0
        self.last_frame_at: float | None = None
        self.frames_out = 0
        self.dropped = 0
        self.size = ""
        self._out_times: deque[float] = deque(maxlen=240)
        self._latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)

    def delivered(self, latency_s: float) -> None:
        self.frames_out += 1
        self._out_times.append(time.monotonic())
        self._latencies.append(latency_s)

    def snapshot(self) -> dict[str, Any]:
        now = time.monotonic()
        recent = [t for t in self._out_times if now - t <= FPS_WINDOW_S]
        fps = (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) > 1 and recent[-1] > recent[0] else 0.0
        # The same percentiles as `stylecast live` reports (linear interpolation between ranks).
        percentiles = latency_percentiles(list(self._latencies))
        latency = {"p50": percentiles["p50"], "p95": percentiles["p95"]} if self._latencies else None
        return {"frames_in": self.frames_in, "frames_out": self.frames_out, "dropped": self.dropped,
                "fps": round(fps, 1), "latency_ms": latency, "size": self.size}


class StylizedTrack(MediaStreamTrack):
    """The outgoing video: the session's camera frames, newest first in, stylized in order out."""

    kind = "video"

    def __init__(self, source: MediaStreamTrack, session: LiveSession) -> None:
        super().__init__()
        self._source = source
        self._session = session
        self._next_frame: tuple[av.VideoFrame, float] | None = None  # the newest frame, not started yet
        self._in_flight: deque[tuple[asyncio.Future[av.VideoFrame], float]] = deque()  # oldest first
        self._changed = asyncio.Event()
        self._source_ended = False
        self._pump = asyncio.ensure_future(self._take_frames())

    async def _take_frames(self) -> None:
        stats = self._session.stats
        try:
            while True:
                frame = await self._source.recv()
                if not isinstance(frame, av.VideoFrame):
                    continue
                stats.frames_in += 1
                stats.last_frame_at = time.monotonic()
                if self._next_frame is not None:
                    stats.dropped += 1  # never stylized: a newer one came first
                self._next_frame = (frame, time.monotonic())
                self._start_next()
        except MediaStreamError:
            self._source_ended = True
            self._changed.set()

    def _start_next(self) -> None:
        """Start stylizing the newest waiting frame if this session has a slot free."""
        session = self._session
        if self._next_frame is None or len(self._in_flight) >= session.hub.depth() or self.readyState != "live":
            return
        frame, arrived = self._next_frame
        self._next_frame = None
        job = asyncio.get_running_loop().run_in_executor(session.hub.executor, session.stylize_frame, frame)
        self._in_flight.append((job, arrived))
        self._changed.set()

    async def recv(self) -> av.VideoFrame:
        while not self._in_flight:
            if self._source_ended or self.readyState != "live":
                self.stop()
                raise MediaStreamError
            self._changed.clear()
            await self._changed.wait()
        job, arrived = self._in_flight[0]
        session = self._session
        try:
            out = await job
        except Exception as error:  # noqa: BLE001 - aiortc would only log it and leave the peer waiting
            log.error("live session %s: stylizing a frame failed (%s: %s)", session.peer_id, type(error).__name__,
                      error)
            session.hub.schedule_close(session.peer_id, "stylizing failed")
            raise MediaStreamError from error
        finally:
            if self._in_flight and self._in_flight[0][0] is job:
                self._in_flight.popleft()
            self._start_next()  # its slot is free
        session.stats.delivered(time.monotonic() - arrived)
        return out

    def stop(self) -> None:
        super().stop()
        self._pump.cancel()
        for job, _ in self._in_flight:  # frames nobody will send: their results (or errors) are dropped
            if not job.cancel() and not job.cancelled():
                job.exception()  # mark an error as seen: it is not news once the session ends
        self._in_flight.clear()


class LiveSession:
    """One browser (or script) connection: its peer connection, controls, stats and tracks."""

    def __init__(self, hub: LiveHub, peer_id: str, controls: SessionControls) -> None:
        self.hub = hub
        self.peer_id = peer_id
        self.controls = controls
        self.stats = SessionStats()
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))  # no STUN: the page and server are near
        self.output: StylizedTrack | None = None
        self.channel: RTCDataChannel | None = None
        self._blackholes: list[MediaBlackhole] = []
        self._tasks: list[asyncio.Task[Any]] = []
        self.closed = False

    # --- frames (the inference thread) ------------------------------------------------------------
    def stylize_frame(self, frame: av.VideoFrame) -> av.VideoFrame:
        controls = self.controls
        width, height = working_size(frame.width, frame.height, self.hub.max_side)
        image = frame.to_ndarray(format="rgb24", width=width, height=height)
        styled = self.hub.stylizer.stylize(image, controls.code, controls.strength, controls.preserve_color)
        out = av.VideoFrame.from_ndarray(styled, format="rgb24")
        out.pts, out.time_base = frame.pts, frame.time_base
        self.stats.size = f"{width}x{height}"
        return out

    # --- controls ---------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        controls = self.controls
        return {"peer_id": self.peer_id, "style": controls.style, "strength": controls.strength,
                "knob": controls.knob, "preserve_color": controls.preserve_color, "connection": self.pc.connectionState,
                "stats": self.stats.snapshot()}

    def update(self, fields: ControlsIn) -> dict[str, Any]:
        """Apply the fields that are set; the new state. Raises ``StyleError`` for an unknown style."""
        current = self.controls
        style, code = current.style, current.code
        knob = current.knob if fields.knob is None else self.hub.check_knob(fields.knob)
        if fields.style is not None:
            code = self.hub.catalog.resolve(fields.style)
            style = fields.style
        self.controls = SessionControls(style=style, code=self.hub.with_knob(code, knob),
                                     strength=current.strength if fields.strength is None else fields.strength,
                                     preserve_color=current.preserve_color if fields.preserve_color is None
                                     else fields.preserve_color, knob=knob)
        return self.state()

    # --- wiring -----------------------------------------------------------------------------------
    def attach(self) -> None:
        pc = self.pc

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "video" and self.output is None:
                self.output = StylizedTrack(track, self)
                pc.addTrack(self.output)
            else:
                # Frames nobody reads pile up in aiortc's queue: read and drop them.
                blackhole = MediaBlackhole()
                blackhole.addTrack(track)
                self._blackholes.append(blackhole)
                self._tasks.append(asyncio.ensure_future(blackhole.start()))

        @pc.on("datachannel")
        def on_datachannel(channel: RTCDataChannel) -> None:
            self.channel = channel
            channel.on("message", self._on_message)
            channel.on("close", lambda: self.hub.schedule_close(self.peer_id, "its data channel closed"))

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            state = pc.connectionState
            if state in ("failed", "closed"):
                self.hub.schedule_close(self.peer_id, f"the connection {state}")
            elif state == "disconnected":
                self._tasks.append(asyncio.ensure_future(self._close_if_still("disconnected", DISCONNECTED_GRACE_S)))

        self._tasks.append(asyncio.ensure_future(self._close_if_still("new", CONNECT_TIMEOUT_S)))
        self._tasks.append(asyncio.ensure_future(self._send_stats()))
        self._tasks.append(asyncio.ensure_future(self._watch_input()))

    async def _watch_input(self) -> None:
        connected_at: float | None = None
        while not self.closed:
            await asyncio.sleep(1.0)
            if self.pc.connectionState != "connected":
                continue
            now = time.monotonic()
            connected_at = connected_at or now
            last = max(self.stats.last_frame_at or connected_at, connected_at)
            if now - last > INPUT_TIMEOUT_S:
                self.hub.schedule_close(self.peer_id, f"no camera frame for {INPUT_TIMEOUT_S:.0f} s")
                return

    async def _close_if_still(self, state: str, seconds: float) -> None:
        await asyncio.sleep(seconds)
        if self.pc.connectionState in (state, "connecting"):
            self.hub.schedule_close(self.peer_id, f"the connection stayed {self.pc.connectionState} {seconds:.0f} s")

    def _on_message(self, message: str | bytes) -> None:
        try:
            if len(message) > MAX_MESSAGE_BYTES:
                raise InputError(f"a control message is {len(message)} bytes: send at most {MAX_MESSAGE_BYTES}")
            data = json.loads(message)
            if not isinstance(data, dict):
                raise InputError('send a JSON object, e.g. {"type": "controls", "style": "udnie"}')
            data.pop("type", None)
            reply = {"type": "state", **self.update(ControlsIn.model_validate(data))}
        except ValidationError as error:
            reply = {"type": "error", "detail": describe_validation_error(error.errors())}
        except (ValueError, UnicodeDecodeError):
            reply = {"type": "error",
                     "detail": 'the message is not JSON: send e.g. {"type": "controls", "strength": 0.5}'}
        except StylecastError as error:
            reply = {"type": "error", "detail": str(error)}
        self.send(reply)

    def send(self, message: Mapping[str, Any]) -> None:
        channel = self.channel
        if channel is not None and channel.readyState == "open":
            channel.send(json.dumps(message))

    async def _send_stats(self) -> None:
        while not self.closed:
            await asyncio.sleep(STATS_EVERY_S)
            self.send({"type": "stats", **self.stats.snapshot()})

    async def close(self) -> None:
        self.closed = True
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        for blackhole in self._blackholes:
            await blackhole.stop()
        if self.output is not None:
            self.output.stop()
        await self.pc.close()


def describe_validation_error(errors: Sequence[Mapping[str, Any]]) -> str:
    """Pydantic's (or FastAPI's) ``errors()`` as one line: which field, what is wrong."""
    parts = []
    for item in errors:
        if item.get("type") == "json_invalid":
            parts.append(f"the body is not valid JSON ({item.get('ctx', {}).get('error', 'decode error')} at "
                         f"character {item.get('loc', ('', '?'))[-1]}): send a JSON object")
            continue
        where = ".".join(str(part) for part in item.get("loc", ()) if part != "body") or "the request"
        parts.append(f"{where}: {item.get('msg', 'invalid')}")
    return "; ".join(parts)


class LiveHub:
    """Every live session, the shared stylizer and its inference threads.

    Args:
        stylizer: the shared stylizer.
        catalog: the styles a client may name.
        max_peers: sessions at once; more are refused (each costs a decoder, an encoder and frames).
        max_side: camera frames are stylized at most this size (a side), whatever the camera sends.
        workers: inference threads, and frames in flight among all sessions (see the module docs); the
            stylizer's engine should use ``1 / workers`` of the cores for each.
    """

    def __init__(self, stylizer: Stylizer, catalog: StyleCatalog, max_peers: int = 8, max_side: int = 640,
                 workers: int = 1) -> None:
        self.stylizer = stylizer
        self.catalog = catalog
        self.max_peers = max_peers
        self.max_side = max_side
        self.workers = max(1, workers)
        self.executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="stylecast-web-live")
        self.sessions: dict[str, LiveSession] = {}
        self._closing: set[str] = set()

    def depth(self) -> int:
        """Frames a session keeps in flight: the inference threads shared among the open sessions, at
        least one each. More would only queue behind the other sessions' frames and add latency."""
        return max(1, self.workers // max(1, len(self.sessions)))

    def check_knob(self, knob: float | None) -> float | None:
        """The knob a session runs at: ``knob`` (checked) or the trained balance; ``None`` for a model
        without one, which refuses an explicit knob."""
        if not self.stylizer.has_knob:
            if knob is not None:
                raise StyleError("this model was trained without the content-vs-style knob: use strength instead")
            return None
        return DEFAULT_KNOB if knob is None else check_knob(knob)

    def with_knob(self, code: np.ndarray, knob: float | None) -> np.ndarray:
        return code if knob is None else set_knob(code, knob, self.stylizer.meta["generator"])

    async def offer(self, sdp: str, kind: str, controls: ControlsIn) -> tuple[str, RTCSessionDescription]:
        """Answer a browser's offer; ``(peer_id, answer)``.

        Raises:
            TooManyPeersError: every slot is taken.
            InputError: not an offer, an SDP aiortc cannot read, or no video track in it.
            StyleError: an unknown style.
        """
        if kind != "offer":
            raise InputError(f"type is {kind[:20]!r}: send the browser's offer (type 'offer')")
        if len(self.sessions) >= self.max_peers:
            raise TooManyPeersError(f"all {self.max_peers} live slots are in use: close another tab or try again "
                                    "later (the server's --max-peers sets the number)")
        style = controls.style or self.catalog.names[0]
        knob = self.check_knob(controls.knob)
        initial = SessionControls(style=style, code=self.with_knob(self.catalog.resolve(style), knob),
                               strength=1.0 if controls.strength is None else controls.strength,
                               preserve_color=bool(controls.preserve_color), knob=knob)
        peer_id = secrets.token_hex(12)
        session = LiveSession(self, peer_id, initial)
        self.sessions[peer_id] = session
        try:
            session.attach()
            try:
                await session.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            except (ValueError, KeyError, IndexError, TypeError, AssertionError) as error:
                raise InputError(f"the offer's SDP cannot be read ({str(error)[:200] or type(error).__name__}): "
                                 "send pc.localDescription.sdp of the browser's RTCPeerConnection") from error
            if session.output is None:
                raise InputError("the offer carries no video track: add the camera's track (addTrack or "
                                 "addTransceiver, direction sendrecv) before createOffer")
            answer = await session.pc.createAnswer()
            await session.pc.setLocalDescription(answer)
        except BaseException:
            await self.close(peer_id, "its offer failed")
            raise
        log.info("live session %s opened (%d open)", peer_id, len(self.sessions))
        local = session.pc.localDescription
        return peer_id, local

    def get(self, peer_id: str) -> LiveSession:
        session = self.sessions.get(peer_id)
        if session is None:
            raise NotFoundError(f"no live session {peer_id[:40]!r}: it ended, or the id is wrong (POST "
                                "/api/rtc/offer starts one)")
        return session

    def schedule_close(self, peer_id: str, reason: str) -> None:
        """Close a session from an aiortc event handler (which must not wait for the close itself)."""
        if peer_id in self.sessions and peer_id not in self._closing:
            asyncio.ensure_future(self.close(peer_id, reason))

    async def close(self, peer_id: str, reason: str = "closed by the client") -> bool:
        """End a session and free what it holds; False if there was none."""
        session = self.sessions.get(peer_id)
        if session is None or peer_id in self._closing:
            return False
        self._closing.add(peer_id)
        try:
            await session.close()
        finally:
            self.sessions.pop(peer_id, None)
            self._closing.discard(peer_id)
        log.info("live session %s closed: %s (%d open)", peer_id, reason, len(self.sessions))
        if not self.sessions:
            # Off the loop: a full collection takes a moment, and no session is waiting for it anyway.
            await asyncio.get_running_loop().run_in_executor(self.executor, release_freed_memory)
        return True

    async def close_all(self) -> None:
        for peer_id in list(self.sessions):
            await self.close(peer_id, "the server stops")
        self.executor.shutdown(wait=True, cancel_futures=True)
