"""Your own painting through the web app: the instant style, then adaptation into your library (needs torch)."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from tests.runtime.conftest import write_clip
from tests.web.conftest import Server, png_bytes


def stripes(height: int = 160, width: int = 192) -> np.ndarray:
    """Saturated diagonal stripes: a painting unlike any shipped style."""
    y, x = np.mgrid[0:height, 0:width]
    wave = (np.sin((x + y) / 3.0) > 0)[..., None]
    return np.where(wave, np.array([230, 40, 20]), np.array([20, 60, 220])).astype(np.uint8)


@pytest.mark.slow
def test_upload_a_painting_use_it_and_adapt_it(fresh_server: Callable[..., Server]) -> None:
    server = fresh_server(torch=True)
    assert server.get("/api/health").json()["painting_styles"] is True
    created = server.post_files("/api/paintings", {}, {"file": ("../../My Painting.png", png_bytes(stripes()))})
    assert created.status == 201, created.body
    style = created.json()
    assert style["kind"] == "upload" and style["name"].startswith("upload-") and style["title"] == "My Painting"
    assert style["name"] in [s["name"] for s in server.get("/api/styles").json()]
    thumbnail = server.get(style["thumbnail"])
    assert thumbnail.status == 200 and max(Image.open(io.BytesIO(thumbnail.body)).size) <= 160
    assert {p.name for p in (server.data_dir / "paintings").iterdir()} == {
        f"{style['name']}.png", f"{style['name']}.json", f"{style['name']}.thumb.png"}  # server-chosen names only

    clip = write_clip(server.data_dir.parent / "c.mp4", frames=6).read_bytes()
    job = server.post_files("/api/jobs", {"style": f"{style['name']}:0.5,udnie:0.5"}, {"file": ("c.mp4", clip)})
    assert job.status == 202 and server.wait_job(job.json()["id"])["state"] == "done"

    assert server.post_json("/api/styles/adapt", {"painting": "udnie", "name": "x"}).status == 404
    assert server.post_json("/api/styles/adapt", {"painting": style["name"], "name": "Bad Name"}).status == 400
    assert server.post_json("/api/styles/adapt", {"painting": style["name"], "name": "udnie"}).status == 400
    adapt = server.post_json("/api/styles/adapt", {"painting": style["name"], "name": "stripes", "minutes": 0.05,
                                                   "artist": "Me", "year": "2026"})
    assert adapt.status == 202, adapt.body
    duplicate = server.post_json("/api/styles/adapt", {"painting": style["name"], "name": "stripes"})
    assert duplicate.status == 409 and "already adapts" in duplicate.detail
    done = server.wait_job(adapt.json()["id"], timeout=180)
    assert done["state"] == "done" and done["kind"] == "add-style", done
    assert done["result"]["style"] == "stripes" and done["result_url"] is None

    listed = {s["name"]: s for s in server.get("/api/styles").json()}
    assert listed["stripes"]["kind"] == "user" and listed["stripes"]["artist"] == "Me"
    assert (server.home / "styles" / "stripes.safetensors").is_file()  # in the user's library, for the CLI too
    assert server.get(listed["stripes"]["thumbnail"]).status == 200


def test_bad_paintings_get_4xx(fresh_server: Callable[..., Server]) -> None:
    server = fresh_server(torch=True)
    not_image = server.post_files("/api/paintings", {}, {"file": ("p.png", b"<html>not an image</html>")})
    assert not_image.status == 415 and "not an image" in not_image.detail
    assert str(server.data_dir) not in not_image.detail  # the server's own paths stay its own
    tiny = server.post_files("/api/paintings", {}, {"file": ("p.png", png_bytes(stripes(20, 20)))})
    assert tiny.status == 400 and "too small" in tiny.detail
    assert server.post_files("/api/paintings", {}, {}).status == 422
    assert not any((server.data_dir / "paintings").iterdir())
