"""End to end in Debian's headless Chromium: a fake camera (a generated Y4M file) through the page, WebRTC
and the server and back; switching styles; your own painting; a video upload that comes back playable
with its sound.

Playwright drives /usr/bin/chromium (never a downloaded browser); without it these tests skip.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from tests.web.conftest import Server, camera_picture, png_bytes, start_server, write_y4m
from tests.web.test_paintings import stripes

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not CHROMIUM.is_file(), reason="Debian's chromium is not installed at "
                                                                "/usr/bin/chromium: `apt-get install chromium`")]

GRAB = """(selector) => {
  const video = document.querySelector(selector);
  const canvas = document.createElement("canvas");
  canvas.width = 160; canvas.height = 120;
  const context = canvas.getContext("2d");
  context.drawImage(video, 0, 0, 160, 120);
  return Array.from(context.getImageData(0, 0, 160, 120).data);
}"""

PLAY = """async (video) => {
  video.muted = true;
  await video.play();
  await new Promise((resolve) => setTimeout(resolve, 1500));
  video.pause();
  return {time: video.currentTime, duration: video.duration, width: video.videoWidth, height: video.videoHeight,
          audioBytes: video.webkitAudioDecodedByteCount, error: video.error && video.error.message};
}"""


def chromium_args(y4m: Path) -> list[str]:
    return ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={y4m}",
            # The page and the server share this machine; without this Chromium offers no loopback candidates.
            "--allow-loopback-in-peer-connection", "--autoplay-policy=no-user-gesture-required"]


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server that can also turn paintings into styles (with torch)."""
    root = tmp_path_factory.mktemp("browser")
    running = start_server(root / "data", root / "home", torch=True)
    yield running
    assert running.stop() == 0, running.stderr
    assert "Traceback" not in running.stderr, running.stderr


@pytest.fixture(scope="module")
def page(web: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    y4m = write_y4m(tmp_path_factory.mktemp("camera") / "camera.y4m")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=chromium_args(y4m))
        context = browser.new_context(accept_downloads=True)
        opened = context.new_page()
        opened.failures = []  # type: ignore[attr-defined]
        opened.on("pageerror", lambda error: opened.failures.append(f"page error: {error}"))  # type: ignore[attr-defined]
        opened.on("response", lambda r: r.status >= 400 and opened.failures.append(f"{r.status} {r.url}"))  # type: ignore[attr-defined]
        opened.goto(f"{web.url}?size=320x240")
        opened.wait_for_selector("body[data-ready=true]")
        yield opened
        context.close()
        browser.close()


def grab(page: Any, selector: str) -> np.ndarray:
    pixels = np.asarray(page.evaluate(GRAB, selector), dtype=np.uint8).reshape(120, 160, 4)
    return pixels[..., :3].astype(int)


def wait_for(condition: Callable[[], Any], timeout: float = 20.0, what: str = "the condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value is not None and value is not False:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what}: not met within {timeout} s")


def difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean())


def frame_unlike(page: Any, before: np.ndarray, threshold: float = 12.0) -> np.ndarray | None:
    """The stylized frame shown now, if it clearly differs from ``before``."""
    frame = grab(page, "#stylized")
    return frame if difference(frame, before) > threshold else None


def test_live_stylized_camera_and_style_switching(page: Any, web: Server) -> None:
    page.click(".style-card[data-name=starry_night]")
    page.click("#start")
    wait_for(lambda: page.evaluate("window.stylecast.stats.framesPresented") > 10, what="stylized frames shown")
    camera = grab(page, "#camera")
    expected_camera = np.asarray(camera_picture(160, 120), dtype=int)
    assert difference(camera, expected_camera) < 12  # the fake camera plays our picture
    starry = grab(page, "#stylized")
    assert difference(starry, camera) > 20  # the page shows stylized frames, not the camera's

    page.click(".style-card[data-name=the_scream]")
    scream = wait_for(lambda: frame_unlike(page, starry), what="the picture changing with the style")
    assert difference(scream, camera) > 20

    page.fill("#strength", "0")
    page.dispatch_event("#strength", "input")
    wait_for(lambda: difference(grab(page, "#stylized"), camera) < 10, what="strength 0 giving the camera back")
    page.fill("#strength", "1")
    page.dispatch_event("#strength", "input")

    wait_for(lambda: float(page.text_content("#fps") or 0) > 2, what="an fps figure on the page")
    assert page.text_content("#latency").endswith("ms")  # type: ignore[union-attr]
    assert web.get("/api/health").json()["peers"] == 1

    page.click("#stop")  # the page closes its connection: the server frees the session at once
    web.wait_peers(0, timeout=5)
    assert not page.failures  # type: ignore[attr-defined]


def test_your_own_painting(page: Any, web: Server, tmp_path: Path) -> None:
    painting = tmp_path / "stripes.png"
    painting.write_bytes(png_bytes(stripes()))
    page.set_input_files("#painting-file", str(painting))
    page.click("#painting-form button[type=submit]")
    page.wait_for_selector("text=Now painting with stripes.png", timeout=60_000)
    # A preview with the camera off: the painting beside a photo in its style, both loaded.
    page.wait_for_selector("#painting-preview:not([hidden])")
    sizes = page.eval_on_selector_all("#painting-preview img", "imgs => imgs.map(i => [i.naturalWidth, i.complete])")
    assert all(width > 0 and complete for width, complete in sizes), sizes
    assert float(page.get_attribute("#painting-preview", "data-seconds") or "nan") > 0
    assert "stripes.png as a style" in page.inner_text("#painting-caption")
    card = page.locator(".style-card[aria-pressed=true]")
    assert (card.get_attribute("data-name") or "").startswith("upload-")
    page.fill("#adapt-name", "stripes")
    page.fill("#adapt-minutes", "0")
    page.click("#adapt-start")
    page.wait_for_selector('.job[data-state="done"] >> text=style “stripes” is in your library', timeout=120_000)
    page.wait_for_selector(".style-card[data-name=stripes]")
    assert not page.failures  # type: ignore[attr-defined]


def test_video_upload_comes_back_playable_with_sound(page: Any, web: Server, clip_with_sound: Path,
                                                     tmp_path: Path) -> None:
    page.click(".style-card[data-name=udnie]")
    page.set_input_files("#video-file", str(clip_with_sound))
    page.click("#video-form button[type=submit]")
    job = page.locator('.job[data-state="done"]', has_text="holiday clip.mp4")
    job.wait_for(timeout=60_000)
    played = job.locator("video").evaluate(PLAY)
    assert played["error"] is None and played["duration"] > 1.5, played
    assert played["time"] > 0.5 and (played["width"], played["height"]) == (160, 120), played
    assert played["audioBytes"] > 0, played  # Chromium decoded the sound

    with page.expect_download() as download:
        job.locator("a.download").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.name == "holiday clip_stylized.mp4"
    with av.open(str(saved)) as container:
        assert container.streams.audio and container.streams.audio[0].codec_context.name == "aac"
        assert sum(1 for _ in container.decode(video=0)) == 48
    assert not page.failures  # type: ignore[attr-defined]
