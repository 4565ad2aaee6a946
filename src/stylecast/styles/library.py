"""The user's style library: styles added with ``stylecast add-style``, usable by name everywhere.

One style is one style vector for the shipped G (``styles.vectors``: a code, optionally followed by
offsets to G's normalisation parameters), stored as two files in the library folder:

    <root>/<name>.safetensors   tensor ``code`` ``(code_dim,)`` or ``(code_dim + offset_dim,)`` float32,
                                JSON metadata (credits, the digest of the G it was adapted on, how
                                long adaptation ran)
    <root>/<name>.png           a thumbnail of the painting, 128 px on the longer side (optional)

A code only means something to the G it was adapted on, so every entry records that G's digest
(:func:`model_digest`) and callers list only the compatible ones. Torch-free: the light runtime
reads the library with numpy and safetensors.
"""

from __future__ import annotations

import builtins
import errno
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from stylecast.atomic import atomic_outputs
from stylecast.errors import StylecastError, StyleError
from stylecast.fs import home_dir
from stylecast.styles.vectors import Credits, widen

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,39}$"
NAME_RULE = ("1 to 40 characters: lowercase letters, digits, '_' or '-', starting with a letter or digit "
             "(e.g. 'my_painting')")
STYLE_FORMAT = "stylecast-style"
STYLE_FORMAT_VERSION = 1
METADATA_KEY = "stylecast_style"
THUMBNAIL_SIDE = 128
ENTRY_SUFFIX = ".safetensors"
THUMBNAIL_SUFFIX = ".png"

# The errno values that mean "the disk (or the user's quota) is full".
_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_NO_PERMISSION = {errno.EACCES, errno.EPERM, errno.EROFS}


def library_dir() -> Path:
    """The style library folder: ``$STYLECAST_HOME/styles`` if set, else the platform's data dir.

    ``STYLECAST_HOME`` exists for tests, portable installs and users whose data dir is read-only.
    """
    return home_dir() / "styles"


@dataclass
class UserStyle(Credits):
    """A style from the user's library.

    Attributes:
        code: float32 style vector for the G whose digest is ``model_digest``: a code ``(code_dim,)``,
            or a code followed by offsets to G's normalisation parameters (``styles.py``).
        source: file name of the painting it was made from.
        created: ISO 8601 time (UTC); :meth:`StyleLibrary.add` fills it in when empty.
        adapted_seconds, adapted_steps: how long the adaptation after the instant code ran.
        thumbnail: the thumbnail file when there is one (set when read from the library).
    """

    name: str
    code: np.ndarray
    model_digest: str
    source: str = ""
    created: str = ""
    adapted_seconds: float = 0.0
    adapted_steps: int = 0
    thumbnail: Path | None = field(default=None, compare=False)

    def metadata(self) -> dict[str, Any]:
        """The JSON-able fields (everything but ``code`` and ``thumbnail``)."""
        return {"name": self.name, "model_digest": self.model_digest, **self.credits(), "source": self.source,
                "created": self.created, "adapted_seconds": float(self.adapted_seconds),
                "adapted_steps": int(self.adapted_steps)}


class _DamagedEntry(Exception):
    """An entry file that cannot be read back (internal: list() skips it, get() explains it)."""


def _check_name(name: str) -> None:
    if not isinstance(name, str) or re.fullmatch(NAME_PATTERN, name) is None:
        raise StyleError(f"style name {name!r} is invalid: use {NAME_RULE}")


def _thumbnail_png(painting: np.ndarray) -> bytes:
    from PIL import Image

    if painting.dtype != np.uint8 or painting.ndim != 3 or painting.shape[2] != 3:
        raise ValueError(f"painting must be a uint8 (H, W, 3) RGB array, got {painting.dtype} {painting.shape}")
    image = Image.fromarray(painting)
    image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


class StyleLibrary:
    """The folder of user styles (default :func:`library_dir`).

    Attributes:
        root: the library folder; created on the first :meth:`add`.
        damaged: entries the last :meth:`list` could not read (skipped there, so that one bad file
            never hides the others); ``stylecast remove-style NAME`` deletes them.
    """

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else library_dir()
        self.damaged: list[Path] = []

    # --- paths ------------------------------------------------------------------------------------
    def entry_path(self, name: str) -> Path:
        return self.root / f"{name}{ENTRY_SUFFIX}"

    def thumbnail_path(self, name: str) -> Path:
        return self.root / f"{name}{THUMBNAIL_SUFFIX}"

    # --- reading ----------------------------------------------------------------------------------
    def _read(self, path: Path) -> UserStyle:
        """One entry; ``_DamagedEntry`` for anything that is not a whole, valid style file."""
        from safetensors import safe_open

        name = path.name[: -len(ENTRY_SUFFIX)]
        if re.fullmatch(NAME_PATTERN, name) is None:
            raise _DamagedEntry(f"the file name is not a valid style name ({NAME_RULE})")
        try:
            with safe_open(str(path), framework="numpy") as handle:
                raw = (handle.metadata() or {}).get(METADATA_KEY)
                code = np.asarray(handle.get_tensor("code"), dtype=np.float32)
            meta = json.loads(raw) if raw is not None else None
        except Exception as error:  # truncated file, bad header, no "code" tensor, bad JSON
            raise _DamagedEntry(str(error)) from error
        if not isinstance(meta, dict) or meta.get("format") != STYLE_FORMAT:
            raise _DamagedEntry(f"no '{METADATA_KEY}' metadata of format '{STYLE_FORMAT}'")
        if meta.get("format_version") != STYLE_FORMAT_VERSION:
            raise _DamagedEntry(f"style format version {meta.get('format_version')}, this stylecast reads "
                                f"{STYLE_FORMAT_VERSION}")
        if code.ndim != 1 or code.size == 0 or not np.all(np.isfinite(code)):
            raise _DamagedEntry(f"the code has shape {code.shape} or non-finite values")
        if not isinstance(meta.get("model_digest"), str):
            raise _DamagedEntry("no model digest")
        thumbnail = self.thumbnail_path(name)
        try:
            # The file name is authoritative (it is what users type); the stored name is informative.
            return UserStyle(
                name=name, code=code, model_digest=meta["model_digest"],
                artist=str(meta.get("artist", "")), title=str(meta.get("title", "")),
                year=str(meta.get("year", "")), credit=str(meta.get("credit", "")),
                source=str(meta.get("source", "")), created=str(meta.get("created", "")),
                adapted_seconds=float(meta.get("adapted_seconds", 0.0)),
                adapted_steps=int(meta.get("adapted_steps", 0)),
                thumbnail=thumbnail if thumbnail.is_file() else None)
        except (TypeError, ValueError) as error:
            raise _DamagedEntry(str(error)) from error

    def list(self, model_digest: str | None = None) -> list[UserStyle]:
        """User styles sorted by name: all of them, or only those for the G with ``model_digest``.

        Unreadable entries are skipped and collected in :attr:`damaged`.
        """
        self.damaged = []
        if not self.root.is_dir():
            return []
        styles = []
        for path in sorted(self.root.glob(f"*{ENTRY_SUFFIX}")):
            if path.name.startswith(".") or not path.is_file():
                continue  # temporary files of an add in progress (or one killed mid-write)
            try:
                style = self._read(path)
            except _DamagedEntry:
                self.damaged.append(path)
                continue
            if model_digest is None or style.model_digest == model_digest:
                styles.append(style)
        return styles

    def names_and_codes(self, model_digest: str, width: int) -> tuple[builtins.list[str], np.ndarray]:
        """Names and ``(N, width)`` float32 style vectors of the styles compatible with ``model_digest``.

        Ready to append to a model's bank of style vectors (``N`` may be 0). An entry longer than
        ``width`` cannot belong to that G: it is reported in :attr:`damaged` and left out.
        """
        names, vectors = [], []
        for style in self.list(model_digest):
            if style.code.size > width:
                self.damaged.append(self.entry_path(style.name))
                continue
            names.append(style.name)
            vectors.append(widen(style.code, width))
        if not names:
            return [], np.zeros((0, width), dtype=np.float32)
        return names, np.stack(vectors).astype(np.float32)

    def get(self, name: str) -> UserStyle:
        """The user style ``name``.

        Raises:
            StyleError: no such style, or its entry is damaged.
        """
        if not isinstance(name, str) or re.fullmatch(NAME_PATTERN, name) is None \
                or not self.entry_path(name).is_file():
            raise StyleError(f"no user style named {name!r}: `stylecast styles` lists them")
        try:
            return self._read(self.entry_path(name))
        except _DamagedEntry as error:
            raise StyleError(f"the user style {name!r} ({self.entry_path(name)}) is damaged ({error}): delete it "
                             f"with `stylecast remove-style {name}` and add it again") from error

    # --- writing ----------------------------------------------------------------------------------
    def validate_name(self, name: str, taken: Iterable[str] = ()) -> None:
        """Check that ``name`` is a valid, free name for a new style.

        Args:
            taken: names already in use elsewhere (the model's shipped styles); the library's own
                entries, damaged ones included, are always checked.

        Raises:
            StyleError: the name breaks :data:`NAME_PATTERN` or is already used.
        """
        _check_name(name)
        if self.entry_path(name).exists():
            raise StyleError(f"a user style named {name!r} already exists: pick another name or "
                             f"`stylecast remove-style {name}` first")
        if name in set(taken):
            raise StyleError(f"{name!r} is already the name of a shipped style: pick another name "
                             "(`stylecast styles` lists the names in use)")

    def add(self, style: UserStyle, painting: np.ndarray | None = None) -> Path:
        """Save ``style`` (and a thumbnail of ``painting``, uint8 ``(H, W, 3)``); return the entry path.

        Both files are written to temporary names and renamed into place, thumbnail first and entry
        last: the entry is what makes a style exist, so an interruption at any point leaves either
        the whole style or none of it.

        Raises:
            StyleError: invalid name, or a style of that name exists.
            StylecastError: the disk is full or the folder is not writable; nothing is left behind.
        """
        from safetensors.numpy import save

        self.validate_name(style.name)
        code = np.asarray(style.code, dtype=np.float32).reshape(-1)
        if code.size == 0 or not np.all(np.isfinite(code)):
            raise StyleError(f"the code of style {style.name!r} is empty or not finite: run add-style again")
        if not style.created:
            style.created = datetime.now(UTC).isoformat(timespec="seconds")
        meta = {"format": STYLE_FORMAT, "format_version": STYLE_FORMAT_VERSION, **style.metadata()}
        entry_bytes = save({"code": np.ascontiguousarray(code)},
                           metadata={METADATA_KEY: json.dumps(meta, sort_keys=True)})
        thumb_bytes = _thumbnail_png(painting) if painting is not None else None
        entry, thumb = self.entry_path(style.name), self.thumbnail_path(style.name)
        files = [(thumb, thumb_bytes)] if thumb_bytes is not None else []
        files.append((entry, entry_bytes))  # last: once the entry is in place, the style is saved
        try:
            with atomic_outputs(*(path for path, _ in files)) as temps:
                for temp, (_, data) in zip(temps, files, strict=True):
                    temp.write_bytes(data)
        except OSError as error:  # nothing half-saved: atomic_outputs removed what it had written
            raise StylecastError(self._write_error_message(style.name, error)) from error
        style.thumbnail = thumb if thumb_bytes is not None else None
        return entry

    def _write_error_message(self, name: str, error: OSError) -> str:
        if error.errno in _DISK_FULL:
            return (f"not enough disk space to save style {name!r}: free some space in {self.root} and run "
                    "add-style again")
        if error.errno in _NO_PERMISSION:
            return (f"cannot write to the style library {self.root} ({error.strerror}): make it writable, or set "
                    "STYLECAST_HOME to a folder you can write to, and run add-style again")
        return (f"cannot save style {name!r} in {self.root} ({error.strerror or error}): fix the problem and run "
                "add-style again")

    def remove(self, name: str) -> None:
        """Delete the style ``name`` (damaged entries too) and its thumbnail.

        Raises:
            StyleError: no such style.
            StylecastError: the folder is not writable.
        """
        if not isinstance(name, str) or re.fullmatch(NAME_PATTERN, name) is None \
                or not self.entry_path(name).is_file():
            raise StyleError(f"no user style named {name!r}: `stylecast styles` lists them")
        try:
            # The entry first: once it is gone the style is gone, whatever happens to the thumbnail.
            self.entry_path(name).unlink()
            self.thumbnail_path(name).unlink(missing_ok=True)
        except OSError as error:
            raise StylecastError(f"cannot remove style {name!r} from {self.root} ({error.strerror or error}): "
                                 "check the folder's permissions") from error
