"""The styles the web app offers, and how a client's style spec becomes a code.

Three kinds, in gallery order: the model's own (``shipped``: the bank, with credits and thumbnails),
the user's library (``user``: ``stylecast add-style`` or an adaptation job), and paintings uploaded to
this server (``upload``: the style encoder's instant code, kept in the data dir as
``paintings/upload-<hex>.{png,json}`` plus a thumbnail, so they survive a restart).

A client names styles only by these names. Unlike the CLI, a spec from the network never reaches
``Stylizer.code``, which would read any image path on the server.
"""

from __future__ import annotations

import io
import json
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from stylecast.atomic import atomic_output
from stylecast.errors import StyleError
from stylecast.modelfile import model_digest
from stylecast.styles import Credits, blend, parse_blend, widen
from stylecast.styles.library import StyleLibrary
from stylecast.stylizer import Stylizer
from stylecast.web.errors import NotFoundError

UPLOAD_PREFIX = "upload-"
UPLOAD_NAME = re.compile(r"upload-[0-9a-f]{12}")
# Enough for any real blend; a longer spec is a mistake or abuse.
MAX_SPEC_CHARS = 2000
MAX_BLEND_PARTS = 16
# The style encoder and adaptation look at the painting with its shorter side at 256 px: 1024 px keeps
# every detail they use, at a fraction of the disk a 4000 px original takes.
STORED_PAINTING_SIDE = 1024
THUMBNAIL_SIDE = 160


@dataclass
class GalleryEntry(Credits):
    """One style of the gallery."""

    name: str
    kind: str  # "shipped", "user" or "upload"
    thumbnail: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, **self.credits(),
                "thumbnail": f"/api/styles/{self.name}/thumbnail" if self.thumbnail is not None else None}


@dataclass(frozen=True)
class _Snapshot:
    entries: tuple[GalleryEntry, ...]
    index: dict[str, int]
    bank: np.ndarray  # (S, width) float32 style vectors, in the order of entries


class StyleCatalog:
    """Every style a client may use, by name; thread-safe (readers get an immutable snapshot).

    Args:
        stylizer: the shared stylizer (its model's bank and credits).
        paintings_dir: where uploaded paintings and their codes are kept.
        library: the user's style library (default: :func:`stylecast.styles.library.library_dir`).
    """

    def __init__(self, stylizer: Stylizer, paintings_dir: Path, library: StyleLibrary | None = None) -> None:
        self.stylizer = stylizer
        self.paintings_dir = paintings_dir
        self.library = library if library is not None else StyleLibrary()
        self.digest = model_digest(stylizer.model_path)
        thumbnails = stylizer.model_path.parent / "thumbnails"
        shipped = []
        for info in stylizer.style_info:
            thumbnail = thumbnails / f"{info['name']}.jpg"
            shipped.append(GalleryEntry(name=str(info["name"]), kind="shipped", artist=str(info.get("artist", "")),
                                      title=str(info.get("title", "")), year=str(info.get("year", "")),
                                      credit=str(info.get("credit", "")),
                                      thumbnail=thumbnail if thumbnail.is_file() else None))
        self._shipped = tuple(shipped)
        self._shipped_bank = np.asarray(stylizer.bank[: len(shipped)], dtype=np.float32)
        self._lock = threading.Lock()
        self._snapshot = self._build()

    # --- reading ----------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read the library and the uploads (after an adaptation job, or a change made by the CLI)."""
        snapshot = self._build()
        with self._lock:
            self._snapshot = snapshot

    def entries(self) -> list[GalleryEntry]:
        return list(self._snapshot.entries)

    @property
    def names(self) -> list[str]:
        return [entry.name for entry in self._snapshot.entries]

    def entry(self, name: str) -> GalleryEntry:
        snapshot = self._snapshot
        if name not in snapshot.index:
            raise NotFoundError(f"no style named {name!r}: GET /api/styles lists them")
        return snapshot.entries[snapshot.index[name]]

    def resolve(self, spec: str) -> np.ndarray:
        """The ``(1, width)`` style vector of a name or a blend of names (``"a:0.7,b:0.3"``).

        Raises:
            StyleError: an unknown name, a bad weight, or a spec too long to be real.
        """
        if not isinstance(spec, str) or not spec.strip():
            raise StyleError("empty style: give a style name from GET /api/styles, or a blend like 'a:0.7,b:0.3'")
        if len(spec) > MAX_SPEC_CHARS:
            raise StyleError(f"the style spec is {len(spec)} characters long: give at most {MAX_SPEC_CHARS}")
        parts = parse_blend(spec)
        if len(parts) > MAX_BLEND_PARTS:
            raise StyleError(f"a blend of {len(parts)} styles is too many: blend at most {MAX_BLEND_PARTS}")
        snapshot = self._snapshot
        for name, _ in parts:
            if name not in snapshot.index:
                known = ", ".join(e.name for e in snapshot.entries[:20])
                raise StyleError(f"unknown style {name[:80]!r}: use a name that GET /api/styles lists ({known}, ...)")
        return blend([w for _, w in parts], snapshot.bank[[snapshot.index[name] for name, _ in parts]])

    def painting_path(self, name: str) -> Path:
        """The stored painting of the uploaded style ``name``."""
        entry = self.entry(name)
        if entry.kind != "upload":
            raise NotFoundError(f"{name!r} is not an uploaded painting: adapt one that POST /api/paintings returned")
        return self.paintings_dir / f"{name}.png"

    def upload_source(self, name: str) -> str:
        """The file name the user uploaded the painting ``name`` under."""
        meta = self._read_upload(self.paintings_dir / f"{name}.json")
        return str(meta.get("source", "")) if meta else ""

    def _build(self) -> _Snapshot:
        entries = list(self._shipped)
        codes = [self._shipped_bank]
        for style in self.library.list(self.digest):
            entries.append(GalleryEntry(name=style.name, kind="user", artist=style.artist, title=style.title,
                                      year=style.year, credit=style.credit, thumbnail=style.thumbnail))
            codes.append(style.code.reshape(1, -1).astype(np.float32))
        if self.paintings_dir.is_dir():
            for path in sorted(self.paintings_dir.glob(f"{UPLOAD_PREFIX}*.json")):
                meta = self._read_upload(path)
                if meta is None or meta.get("model_digest") != self.digest:
                    continue  # damaged, or an instant code for another model's G
                thumbnail = path.with_suffix(".thumb.png")
                entries.append(GalleryEntry(name=path.stem, kind="upload", title=str(meta.get("title", "")),
                                          credit="uploaded painting",
                                          thumbnail=thumbnail if thumbnail.is_file() else None))
                codes.append(np.asarray(meta["code"], dtype=np.float32).reshape(1, -1))
        index: dict[str, int] = {}
        kept: list[GalleryEntry] = []
        kept_codes: list[np.ndarray] = []
        width = self._shipped_bank.shape[1]
        for entry, code in zip(entries, (row for block in codes for row in block), strict=True):
            if code.shape[0] <= width:  # a plain code (zero offsets) or a full style vector
                code = widen(code, width)
            if entry.name not in index and code.shape == (width,):
                index[entry.name] = len(kept)  # the first of two equal names wins: the shipped one
                kept.append(entry)
                kept_codes.append(code)
        return _Snapshot(tuple(kept), index, np.stack(kept_codes).astype(np.float32))

    @staticmethod
    def _read_upload(path: Path) -> dict[str, Any] | None:
        if UPLOAD_NAME.fullmatch(path.stem) is None:
            return None
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(meta, dict) or not isinstance(meta.get("code"), list):
            return None
        return meta

    # --- writing ----------------------------------------------------------------------------------
    def new_upload_name(self) -> str:
        return f"{UPLOAD_PREFIX}{secrets.token_hex(6)}"

    def store_painting(self, name: str, painting: np.ndarray) -> Path:
        """Save an uploaded painting (uint8 ``(H, W, 3)``) under ``name`` and its thumbnail; the PNG's path.

        The code is added by :meth:`add_upload`: until then the painting is not a style.
        """
        image = Image.fromarray(painting)
        image.thumbnail((STORED_PAINTING_SIDE, STORED_PAINTING_SIDE), Image.Resampling.LANCZOS)
        self.paintings_dir.mkdir(parents=True, exist_ok=True)
        target = self.paintings_dir / f"{name}.png"
        with atomic_output(target) as temp:
            image.save(temp, format="PNG")
        thumbnail = image.copy()
        thumbnail.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        thumbnail.save(buffer, format="PNG")
        with atomic_output(self.paintings_dir / f"{name}.thumb.png") as temp:
            temp.write_bytes(buffer.getvalue())
        return target

    def add_upload(self, name: str, code: np.ndarray, source: str) -> GalleryEntry:
        """Make the stored painting ``name`` a style with its instant ``code``; its gallery entry."""
        meta = {"name": name, "model_digest": self.digest, "source": source, "title": Path(source).stem,
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "code": [float(value) for value in np.asarray(code, dtype=np.float32).reshape(-1)]}
        # The JSON is written last: it is what makes the painting a style, so a crash leaves none half-made.
        with atomic_output(self.paintings_dir / f"{name}.json") as temp:
            temp.write_text(json.dumps(meta), encoding="utf-8")
        self.refresh()
        return self.entry(name)

    def discard_painting(self, name: str) -> None:
        """Remove a stored painting that never became a style (its instant code failed)."""
        if UPLOAD_NAME.fullmatch(name) is None:
            return
        for suffix in (".json", ".png", ".thumb.png"):
            (self.paintings_dir / f"{name}{suffix}").unlink(missing_ok=True)
