"""Live sessions over real WebRTC: an aiortc client (what a browser does, scripted) against the server.

The client sends a constant picture, so any change in what comes back comes from the controls.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription, VideoStreamTrack
from aiortc.mediastreams import MediaStreamTrack

from tests.web.conftest import Server, camera_picture, request


class PictureTrack(VideoStreamTrack):
    """A camera that shows one picture at 30 fps."""

    def __init__(self, image: np.ndarray) -> None:
        super().__init__()
        self.image = image

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = av.VideoFrame.from_ndarray(self.image, format="rgb24")
        frame.pts, frame.time_base = pts, time_base
        return frame


class Client:
    """One live session from the client's side."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.channel = self.pc.createDataChannel("controls")
        self.messages: list[dict[str, Any]] = []
        self.channel.on("message", lambda text: self.messages.append(json.loads(text)))
        self.incoming: asyncio.Future[MediaStreamTrack] = asyncio.get_running_loop().create_future()
        self.pc.on("track", lambda track: self.incoming.set_result(track))
        self.peer_id = ""

    async def connect(self, style: str, size: tuple[int, int] = (320, 240)) -> None:
        self.pc.addTrack(PictureTrack(camera_picture(*size)))
        await self.pc.setLocalDescription(await self.pc.createOffer())
        offer = {"sdp": self.pc.localDescription.sdp, "type": "offer", "style": style}
        answer = await asyncio.to_thread(self.server.post_json, "/api/rtc/offer", offer)
        assert answer.status == 200, answer.body
        body = answer.json()
        self.peer_id = body["peer_id"]
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=body["sdp"], type=body["type"]))

    async def frame(self) -> np.ndarray:
        track = await asyncio.wait_for(self.incoming, 20)
        frame = await asyncio.wait_for(track.recv(), 20)
        assert isinstance(frame, av.VideoFrame)
        return np.asarray(frame.to_ndarray(format="rgb24"), dtype=int)

    async def frame_where(self, condition: Callable[[np.ndarray], bool], timeout: float = 20.0) -> np.ndarray:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            image = await self.frame()
            if condition(image):
                return image
        raise AssertionError(f"no frame met the condition within {timeout} s")

    async def message(self, kind: str, timeout: float = 10.0, fresh: bool = False) -> dict[str, Any]:
        """The oldest waiting message of ``kind``; with ``fresh``, the next one sent from now on (stats
        are sent every second from the start, so a waiting one may predate the first frame)."""
        if fresh:
            self.messages[:] = [m for m in self.messages if m["type"] != kind]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for index, message in enumerate(self.messages):
                if message["type"] == kind:
                    return self.messages.pop(index)
            await asyncio.sleep(0.05)
        raise AssertionError(f"no {kind!r} message within {timeout} s: {self.messages}")


def difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(int) - b.astype(int)).mean())


def test_live_session_stylizes_and_follows_the_controls(server: Server) -> None:
    camera = camera_picture()

    async def scenario() -> None:
        client = Client(server)
        await client.connect("starry_night")
        try:
            first = await client.frame_where(lambda image: image.shape == camera.shape)
            assert difference(first, camera) > 20  # stylized, not the camera
            again = await client.frame()
            assert difference(again, first) < 6  # the same picture stays the same (VP8 noise aside)

            # REST, tied to the peer id (what a script does)
            state = await asyncio.to_thread(server.post_json, f"/api/rtc/{client.peer_id}/controls",
                                            {"style": "the_scream"})
            assert state.status == 200 and state.json()["style"] == "the_scream"
            scream = await client.frame_where(lambda image: difference(image, first) > 15)

            # the data channel (what the page does): strength 0 gives the camera back
            client.channel.send(json.dumps({"type": "controls", "strength": 0.0}))
            assert (await client.message("state"))["strength"] == 0.0
            await client.frame_where(lambda image: difference(image, camera) < 8)
            client.channel.send(json.dumps({"type": "controls", "strength": 1.0, "style": "the_scream:0.5,udnie:0.5"}))
            blend = await client.frame_where(lambda image: difference(image, camera) > 15)
            assert difference(blend, scream) > 3

            client.channel.send(json.dumps({"type": "controls", "style": "no_such_style"}))
            assert "unknown style" in (await client.message("error"))["detail"]
            client.channel.send("{not json")
            assert "not JSON" in (await client.message("error"))["detail"]

            stats = await client.message("stats", fresh=True)
            assert stats["frames_out"] > 0 and stats["size"] == "320x240" and stats["latency_ms"]["p95"] < 1000
            assert stats["frames_out"] + stats["dropped"] <= stats["frames_in"]
            live = (await asyncio.to_thread(server.get, f"/api/rtc/{client.peer_id}")).json()
            assert live["connection"] == "connected" and live["style"] == "the_scream:0.5,udnie:0.5"
        finally:
            await client.pc.close()

    asyncio.run(scenario())
    server.wait_peers(0, timeout=10)  # closing the connection frees the session


def test_large_camera_frames_are_stylized_at_the_size_limit(fresh_server: Callable[..., Server]) -> None:
    server = fresh_server("--live-max-side", "160")

    async def scenario() -> None:
        client = Client(server)
        await client.connect("udnie", size=(640, 480))
        try:
            await client.frame()
            stats = await client.message("stats", fresh=True)
            assert stats["size"] == "160x120"
        finally:
            await client.pc.close()

    asyncio.run(scenario())


def test_two_frames_in_flight_leave_in_order(fresh_server: Callable[..., Server]) -> None:
    server = fresh_server("--workers", "2")

    async def scenario() -> None:
        client = Client(server)
        await client.connect("udnie")
        try:
            track = await asyncio.wait_for(client.incoming, 20)
            stamps = []
            for _ in range(30):
                frame = await asyncio.wait_for(track.recv(), 20)
                stamps.append(frame.pts)
            assert stamps == sorted(set(stamps)), stamps  # the camera's order, each frame once
            stats = await client.message("stats", fresh=True)
            assert stats["frames_out"] >= 30 and stats["frames_out"] + stats["dropped"] <= stats["frames_in"]
        finally:
            await client.pc.close()

    asyncio.run(scenario())
    server.wait_peers(0, timeout=10)
    assert "Traceback" not in server.stderr, server.stderr


def test_peer_limit_and_delete(fresh_server: Callable[..., Server]) -> None:
    server = fresh_server("--max-peers", "1")

    async def scenario() -> None:
        first = Client(server)
        await first.connect("udnie")
        second = Client(server)
        second.pc.addTrack(PictureTrack(camera_picture()))
        await second.pc.setLocalDescription(await second.pc.createOffer())
        refused = await asyncio.to_thread(server.post_json, "/api/rtc/offer",
                                          {"sdp": second.pc.localDescription.sdp, "type": "offer"})
        assert refused.status == 429 and "--max-peers" in refused.detail
        await second.pc.close()
        await first.frame()
        assert (await asyncio.to_thread(server.delete, f"/api/rtc/{first.peer_id}")).status == 204
        await first.pc.close()

    asyncio.run(scenario())
    server.wait_peers(0, timeout=5)


_VANISHING_CLIENT = """
import asyncio, sys
from tests.web.test_rtc import Client
from tests.web.conftest import Server

async def main():
    client = Client(Server(None, sys.argv[1], None, None))
    await client.connect("udnie")
    await client.frame()
    print("connected", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


@pytest.mark.slow
def test_a_client_that_vanishes_frees_its_session(server: Server) -> None:
    client = subprocess.Popen([sys.executable, "-c", _VANISHING_CLIENT, server.url], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
    try:
        assert client.stdout is not None
        assert client.stdout.readline().strip() == "connected", client.stderr.read() if client.stderr else ""
        server.wait_peers(1)
        client.send_signal(signal.SIGKILL)  # no goodbye: no DTLS close, no data channel close
        client.wait()
        started = time.monotonic()
        server.wait_peers(0, timeout=20)
        assert time.monotonic() - started < 15  # the input watchdog, not ICE's 30 s consent timeout
        assert "no camera frame" in server.stderr
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
    assert request(server.url + "api/health").json()["status"] == "ok"
