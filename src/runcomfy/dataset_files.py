"""The local side of a dataset upload: which files a path names, their MIME types, and the pre-flight check.

A training dataset fails on the service only after every file was uploaded and processed (a missing caption,
a broken image); the check here finds the same problems first, all at once, so nothing is uploaded until the
directory is right. Owns:

- :func:`discover`: a path is a file, or a directory whose top-level regular files are taken (dotfiles
  skipped, sorted by name), as the official CLI takes them;
- :func:`mime_type`: the type sent with each file, from its extension;
- :func:`preflight` / :func:`check_dataset`: every image or video has its same-stem ``.txt`` caption, every
  file is readable and of a supported type, images are what their first bytes say (sniffed here: the library
  does not depend on Pillow), and no two files would be uploaded under one name.

It never reads a whole file (a few bytes to sniff an image), never uploads, never prints.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runcomfy.errors import InputFileNotFound, InputProblems

#: Files up to this size go in one multipart request; larger ones through a signed upload URL.
SMALL_UPLOAD_MAX_BYTES = 150_000_000

IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}
VIDEO_TYPES = {".mp4": "video/mp4", ".mov": "video/quicktime", ".webm": "video/webm"}
CAPTION_EXTENSION = ".txt"
OTHER_TYPES = {
    CAPTION_EXTENSION: "text/plain",
    ".json": "application/json",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
}
SUPPORTED_TYPES = {**IMAGE_TYPES, **VIDEO_TYPES, **OTHER_TYPES}
OCTET_STREAM = "application/octet-stream"
_SNIFF_BYTES = 16


@dataclass(frozen=True)
class LocalFile:
    """One file to upload: where it is, the name it gets in the dataset, its size and MIME type."""

    path: Path
    name: str
    size: int
    mime: str

    @property
    def small(self) -> bool:
        """Whether it goes in one multipart request (else through a signed upload URL)."""
        return self.size <= SMALL_UPLOAD_MAX_BYTES


def mime_type(name: str) -> str:
    """The MIME type for a file name, from its extension (images, videos, txt, json, yaml; else octet-stream)."""
    return SUPPORTED_TYPES.get(Path(name).suffix.lower(), OCTET_STREAM)


def is_media(name: str) -> bool:
    """Whether a file is an image or a video (it needs a caption)."""
    suffix = Path(name).suffix.lower()
    return suffix in IMAGE_TYPES or suffix in VIDEO_TYPES


def caption_name(name: str) -> str:
    """The caption a media file needs: the same stem with ``.txt``."""
    return Path(name).stem + CAPTION_EXTENSION


def discover(paths: Iterable[str | os.PathLike[str]]) -> list[LocalFile]:
    """The files the paths name, in the order given (a directory's files sorted by name).

    Raises :class:`InputFileNotFound` for a path that does not exist (the first one).
    """
    found: list[LocalFile] = []
    for raw in paths:
        path = Path(raw)
        try:
            info = path.stat()
        except FileNotFoundError:
            raise InputFileNotFound(f"no such file or directory: {path}") from None
        except OSError as exc:
            raise InputFileNotFound(f"cannot read {path}: {exc.strerror or type(exc).__name__}") from None
        if stat.S_ISDIR(info.st_mode):
            found.extend(_directory_files(path))
        else:
            found.append(_local_file(path, info))
    return found


def _directory_files(directory: Path) -> list[LocalFile]:
    files: list[LocalFile] = []
    try:
        entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
    except OSError as exc:
        raise InputFileNotFound(
            f"cannot read directory {directory}: {exc.strerror or type(exc).__name__}"
        ) from None
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            info = entry.stat()  # follows a symlink: a link to a regular file is taken as that file
        except OSError:
            continue  # a dangling link is not a file of the directory
        if stat.S_ISREG(info.st_mode):
            files.append(_local_file(Path(entry.path), info))
    return files


def _local_file(path: Path, info: os.stat_result) -> LocalFile:
    return LocalFile(path, path.name, info.st_size, mime_type(path.name))


def preflight(files: Sequence[LocalFile], *, present: Collection[str] = ()) -> list[dict[str, Any]]:
    """Every problem with uploading ``files`` as a dataset, as ``{"field": name, "message", "kind"}``.

    ``present`` names files the dataset already holds (a caption uploaded earlier counts).
    """
    problems: list[dict[str, Any]] = []
    names = [item.name for item in files]
    available = set(names) | set(present)
    seen: dict[str, Path] = {}
    for item in files:
        problems.extend(_file_problems(item, seen, available))
        seen.setdefault(item.name, item.path)
    return problems


def _file_problems(item: LocalFile, seen: dict[str, Path], available: set[str]) -> list[dict[str, Any]]:
    def problem(kind: str, message: str) -> dict[str, Any]:
        return {"field": str(item.path), "message": message, "kind": kind}

    if item.name in seen:
        return [problem("duplicate", f"another file is uploaded under the same name ({seen[item.name]})")]
    suffix = item.path.suffix.lower()
    if suffix not in SUPPORTED_TYPES:
        supported = " ".join(sorted(SUPPORTED_TYPES))
        return [
            problem("unsupported", f"unsupported file type {suffix or '(none)'} (supported: {supported})")
        ]
    found: list[dict[str, Any]] = []
    try:
        with open(item.path, "rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError as exc:
        return [problem("unreadable", f"cannot be read: {exc.strerror or type(exc).__name__}")]
    if suffix in IMAGE_TYPES and image_format(head) is None:
        found.append(
            problem("not_an_image", "is not a PNG, JPEG or WebP image (its first bytes say otherwise)")
        )
    if is_media(item.name) and caption_name(item.name) not in available:
        found.append(problem("no_caption", f"has no caption: add {caption_name(item.name)} beside it"))
    return found


def image_format(head: bytes) -> str | None:
    """``png``, ``jpeg`` or ``webp`` from a file's first bytes (at least 12), or ``None``."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


def check_dataset(files: Sequence[LocalFile], *, present: Collection[str] = ()) -> None:
    """Raise :class:`InputProblems` (exit 65) listing every problem of :func:`preflight`, if any."""
    problems = preflight(files, present=present)
    if problems:
        raise InputProblems(
            f"the dataset is not ready to upload ({len(problems)} problem(s)); nothing was uploaded",
            problems,
            hint="fix the files listed, then run the same command again",
        )
