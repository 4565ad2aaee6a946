"""What ``stylecast stylize`` reads and writes: kinds of file, and a source argument (a file, a folder,
an image sequence) expanded into (input, output) pairs with their folders checked."""


from __future__ import annotations

import glob
import os
import re
from pathlib import Path

from stylecast.errors import InputError

VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v")
# Image files stylecast reads (the training data uses this list too).
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
WRITABLE_VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".m4v", ".mov", ".mkv")
WRITABLE_IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".webp")

# --------------------------------------------------------------------------------------------------
# Kinds of file and (input, output) pairs


def is_video(path: str | Path) -> bool:
    """Whether ``path`` names a video file stylecast reads, by its suffix (``VIDEO_EXTENSIONS``)."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def is_image(path: str | Path) -> bool:
    """Whether ``path`` names an image file stylecast reads, by its suffix (``IMAGE_EXTENSIONS``)."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def expand_inputs(source: str | Path, output: str | Path | None, default_suffix: str) -> list[tuple[Path, Path]]:
    """Expand a ``stylize`` source argument into ``(input file, output file)`` pairs.

    - a file: ``[(file, output)]``; ``output`` defaults to ``<stem>_stylized<suffix>`` beside it; an
      existing folder as ``output`` receives the file under its own name.
    - a folder: every image and video in or below it (hidden files skipped), mirrored with the same
      relative paths into ``output`` (default: ``<folder>_stylized`` beside it).
    - an image-sequence pattern (``frames/%05d.png``, sorted by number) or a glob (``frames/*.png``):
      each matching file, by name, into ``output`` (default: ``<folder>_stylized``).

    An output keeps its input's suffix when stylecast writes that format (``WRITABLE_*_EXTENSIONS``);
    otherwise (a ``.webm`` or ``.avi`` video, a ``.bmp`` image) it gets ``default_suffix`` if that suits
    the kind of file, else ``.mp4`` for a video and ``.png`` for an image. Output folders of a folder or
    pattern source need not exist (the writers create them), but the folder they go in must.

    Raises:
        InputError: the source is missing or matches nothing, an output would overwrite an input or
            another output, or an output cannot be written there.
    """
    text = str(source)
    root = Path(source).expanduser()
    if _is_pattern(text):
        base, files = _match_pattern(text)
        out_root = _output_folder(base, output)
        pairs = [(file, out_root / _output_name(file.relative_to(base), default_suffix)) for file in files]
    elif root.is_dir():
        out_root = _output_folder(root, output)
        files = _media_in_folder(root, exclude=out_root)
        pairs = [(file, out_root / _output_name(file.relative_to(root), default_suffix)) for file in files]
    elif root.is_file():
        pairs = [(root, _single_output(root, output, default_suffix))]
    elif root.exists():
        raise InputError(f"{text!r} is not a regular file or folder: give a video, an image or a folder of them")
    else:
        raise InputError(f"source {text!r} does not exist: check the path")
    _check_distinct(pairs)
    return pairs


def _is_pattern(text: str) -> bool:
    name = os.path.basename(text)
    return any(char in text for char in "*?[") or re.search(r"%0?\d*d", name) is not None


def _match_pattern(text: str) -> tuple[Path, list[Path]]:
    """The folder the matches are mirrored from, and the matching media files in order."""
    pattern = os.path.expanduser(text)
    if any(char in pattern for char in "*?["):
        found = sorted(Path(match) for match in glob.glob(pattern, recursive=True))
        # Mirror from the deepest folder with no wildcard, so ``a/**/*.png`` keeps its sub-folders.
        literal = [part for part in Path(pattern).parent.parts]
        cut = next((i for i, part in enumerate(literal) if any(char in part for char in "*?[")), len(literal))
        base = Path(*literal[:cut]) if cut else Path(".")
    else:
        base = Path(pattern).parent
        regex = _printf_regex(Path(pattern).name)
        numbered = []
        if base.is_dir():
            for candidate in base.iterdir():
                match = regex.fullmatch(candidate.name)
                if match:
                    numbered.append((int(match.group(1)), candidate))
        found = [path for _, path in sorted(numbered)]
    files = [path for path in found if path.is_file() and (is_image(path) or is_video(path))]
    if not files:
        raise InputError(
            f"no images or videos match {text!r}: check the pattern (e.g. frames/%05d.png, or 'frames/*.png' "
            "in quotes so the shell does not expand it)"
        )
    return base, files


def _printf_regex(name: str) -> re.Pattern[str]:
    """``img_%05d.png`` -> a regex whose group 1 is the frame number (as FFmpeg's image2 reads it)."""
    pieces = re.split(r"(%0?\d*d)", name)
    regex = ""
    for piece in pieces:
        spec = re.fullmatch(r"%(0?)(\d*)d", piece)
        if spec is None:
            regex += re.escape(piece)
        elif spec.group(1) and spec.group(2):
            regex += rf"(\d{{{int(spec.group(2))}}})"
        else:
            regex += r"(\d+)"
    return re.compile(regex)


def _media_in_folder(root: Path, exclude: Path) -> list[Path]:
    excluded = exclude.resolve()
    found = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        # Hidden files (macOS ._x resource forks, .git) are never media; an output folder inside the
        # source would otherwise be stylized again on the next run.
        if any(part.startswith(".") for part in relative.parts):
            continue
        if not (is_image(path) or is_video(path)) or not path.is_file():
            continue
        if excluded in path.resolve().parents:
            continue
        found.append(path)
    if not found:
        raise InputError(
            f"no images or videos ({', '.join(IMAGE_EXTENSIONS + VIDEO_EXTENSIONS)}) found in or below "
            f"{str(root)!r}: add some or point to another folder"
        )
    return found


def _output_folder(source_folder: Path, output: str | Path | None) -> Path:
    if output is None:
        absolute = source_folder.resolve()
        out = absolute.with_name(f"{absolute.name}_stylized")
    else:
        out = Path(output).expanduser()
    if out.resolve() == source_folder.resolve():
        raise InputError(f"output folder {str(out)!r} is the input folder: give another output path")
    if out.exists() and not out.is_dir():
        raise InputError(f"output {str(out)!r} is a file but the source holds many files: give a folder")
    if not out.exists():
        _check_writable_folder(out.parent, out)
    return out


def _single_output(file: Path, output: str | Path | None, default_suffix: str) -> Path:
    if not (is_image(file) or is_video(file)):
        raise InputError(
            f"{str(file)!r} is not an image or video stylecast reads "
            f"({', '.join(IMAGE_EXTENSIONS + VIDEO_EXTENSIONS)}): convert it to one of these"
        )
    name = _output_name(file, default_suffix)
    if output is None:
        out = file.with_name(f"{name.stem}_stylized{name.suffix}")
    else:
        out = Path(output).expanduser()
        if out.is_dir():
            out = out / name.name
        elif str(output).endswith(("/", os.sep)):
            raise InputError(f"output folder {str(out)!r} does not exist: create it or choose another output path")
    _check_output_kind(file, out)
    _check_writable_folder(out.parent, out)
    return out


def _output_name(relative: Path, default_suffix: str) -> Path:
    """``relative`` with the suffix its output gets (see :func:`expand_inputs`)."""
    suffix = relative.suffix
    wanted = default_suffix if default_suffix.startswith(".") else f".{default_suffix}"
    if is_video(relative):
        if suffix.lower() in WRITABLE_VIDEO_EXTENSIONS:
            return relative
        return relative.with_suffix(wanted if wanted.lower() in WRITABLE_VIDEO_EXTENSIONS else ".mp4")
    if suffix.lower() in WRITABLE_IMAGE_EXTENSIONS:
        return relative
    return relative.with_suffix(wanted if wanted.lower() in WRITABLE_IMAGE_EXTENSIONS else ".png")


def _check_output_kind(source: Path, out: Path) -> None:
    suffix = out.suffix.lower()
    if is_video(source) and suffix not in WRITABLE_VIDEO_EXTENSIONS:
        raise InputError(
            f"cannot write the video {str(source)!r} to {str(out)!r}: end the output name with "
            f"{', '.join(WRITABLE_VIDEO_EXTENSIONS)}"
        )
    if is_image(source) and suffix not in WRITABLE_IMAGE_EXTENSIONS:
        raise InputError(
            f"cannot write the image {str(source)!r} to {str(out)!r}: end the output name with "
            f"{', '.join(WRITABLE_IMAGE_EXTENSIONS)}"
        )


def _check_distinct(pairs: list[tuple[Path, Path]]) -> None:
    inputs = {source.resolve(): source for source, _ in pairs}
    seen: dict[Path, Path] = {}
    for source, out in pairs:
        key = out.resolve()
        if key in inputs:
            raise InputError(f"output {str(out)!r} is the input {str(inputs[key])!r}: give another output path")
        if key in seen:
            raise InputError(
                f"{str(seen[key])!r} and {str(source)!r} would both be written to {str(out)!r}: "
                "rename one of them or give another default suffix"
            )
        seen[key] = source


def _check_writable_folder(folder: Path, target: Path) -> None:
    """An output's folder must exist: a missing one is most often a typo, not a wish to create it."""
    if not folder.is_dir():
        reason = "is a file" if folder.exists() else "does not exist"
        raise InputError(
            f"cannot write {str(target)!r}: folder {str(folder)!r} {reason}; create it or choose another output path"
        )
    if not os.access(folder, os.W_OK):
        raise InputError(f"cannot write {str(target)!r}: folder {str(folder)!r} is read-only; choose a writable folder")


def make_folder(target: Path) -> None:
    """Create ``target``'s folder (mirrored outputs of a folder source) or say why it cannot be."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(
            f"cannot write {str(target)!r} ({error.strerror or error}): choose a writable folder"
        ) from error
    _check_writable_folder(target.parent, target)


def writable_suffix(target: Path, allowed: tuple[str, ...], what: str) -> str:
    """``target``'s suffix (lowercase) if stylecast writes that kind of file, else an InputError naming them."""
    suffix = target.suffix.lower()
    if suffix not in allowed:
        raise InputError(f"cannot write {what} {str(target)!r}: unknown suffix {target.suffix!r}; end the name with "
                         f"{', '.join(allowed)}")
    return suffix
