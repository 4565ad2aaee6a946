"""A live session's frames in flight, in process: the outgoing track against a camera track and a slow engine.

The engine is the shipped model's, slowed by a fixed sleep per frame (as on a small machine), so the
rate a session gets depends only on how many frames it keeps in flight.
"""

from __future__ import annotations

import asyncio
import fractions
import time
from pathlib import Path

import av
import numpy as np
import pytest
from aiortc import MediaStreamTrack

from stylecast.styles.library import StyleLibrary
from stylecast.stylizer import Stylizer
from stylecast.web.catalog import StyleCatalog
from stylecast.web.rtc import LiveHub, LiveSession, SessionControls, StylizedTrack
from tests.runtime.live.conftest import SlowEngine

CAMERA_FPS = 30
ENGINE_SECONDS = 0.1


class Camera(MediaStreamTrack):
    """Frames at ``CAMERA_FPS``, each with its own pts (its index), a small picture."""

    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.started = time.monotonic()

    async def recv(self) -> av.VideoFrame:
        await asyncio.sleep(max(0.0, self.started + self.count / CAMERA_FPS - time.monotonic()))
        frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 90 + self.count % 100, np.uint8), format="rgb24")
        frame.pts, frame.time_base = self.count, fractions.Fraction(1, CAMERA_FPS)
        self.count += 1
        return frame


@pytest.fixture(scope="module")
def stylizer() -> Stylizer:
    shipped = Stylizer(threads=1)
    shipped.engine = SlowEngine(shipped.engine, ENGINE_SECONDS)  # type: ignore[assignment]
    return shipped


def run_sessions(stylizer: Stylizer, tmp_path: Path, workers: int, count: int = 1,
                 seconds: float = 2.0) -> list[tuple[list[int], dict]]:
    """For each of ``count`` sessions at once: the pts of every frame its track gave in ``seconds``, and
    its stats."""
    async def one(track: StylizedTrack, session: LiveSession) -> tuple[list[int], dict]:
        out: list[int] = []
        await track.recv()  # the first frame: the engine is warm from here on
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            frame = await track.recv()
            assert frame.width == 64 and frame.height == 48
            out.append(int(frame.pts))
        return out, session.stats.snapshot()

    async def scenario() -> list[tuple[list[int], dict]]:
        hub = LiveHub(stylizer, StyleCatalog(stylizer, tmp_path, StyleLibrary(tmp_path / "library")), workers=workers)
        code = hub.catalog.resolve(hub.catalog.names[0])
        sessions = [LiveSession(hub, f"test{index}", SessionControls(style=hub.catalog.names[0], code=code))
                    for index in range(count)]
        hub.sessions.update((session.peer_id, session) for session in sessions)
        tracks = [StylizedTrack(Camera(), session) for session in sessions]
        try:
            pairs = zip(tracks, sessions, strict=True)
            return list(await asyncio.gather(*(one(track, session) for track, session in pairs)))
        finally:
            for track, session in zip(tracks, sessions, strict=True):
                track.stop()
                await session.pc.close()
            hub.executor.shutdown(wait=True)

    return asyncio.run(scenario())


def test_two_frames_in_flight_double_the_rate_in_order(stylizer: Stylizer, tmp_path: Path) -> None:
    [(one, one_stats)] = run_sessions(stylizer, tmp_path, workers=1)
    [(two, two_stats)] = run_sessions(stylizer, tmp_path, workers=2)
    for sent, stats in ((one, one_stats), (two, two_stats)):
        assert sent == sorted(set(sent)), sent  # in the camera's order, none twice
        assert stats["frames_out"] + stats["dropped"] <= stats["frames_in"]
        assert stats["dropped"] > 0  # the camera is faster than the engine: older frames are dropped
    # 0.1 s a frame: about 10 frames a second one at a time, about 20 with two in flight (in 2 s)
    assert 14 <= len(one) <= 24, len(one)
    assert len(two) >= 1.6 * len(one), (len(one), len(two))
    # one frame's more latency at most: a frame waits for no more than the one ahead of it
    assert two_stats["latency_ms"]["p95"] < 3.2 * ENGINE_SECONDS * 1000, two_stats


def test_sessions_share_the_frames_in_flight(stylizer: Stylizer, tmp_path: Path) -> None:
    """Two sessions on two threads: one frame in flight each, so neither waits behind the other's."""
    results = run_sessions(stylizer, tmp_path, workers=2, count=2)
    for sent, stats in results:
        assert sent == sorted(set(sent)), sent
        assert 14 <= len(sent) <= 24, len(sent)  # about 10 a second each: both threads busy, no queue
        assert stats["latency_ms"]["p95"] < 2.2 * ENGINE_SECONDS * 1000, stats  # about one frame deep
