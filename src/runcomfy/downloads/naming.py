"""Local file names for downloads: deriving them from a URL, and claiming them on disk.

Owns: turning the last URL path segment into a safe file name (:func:`filename_from_url`,
:func:`sanitize_filename`), adding an extension from ``Content-Type``, the exclusive temporary file a download
streams into (:func:`create_temp_file`) and moving it to a name nobody else holds (:func:`place_file`).

Must never: produce a name that leaves the target directory, hides itself (leading dot) or carries control
characters; overwrite an existing file; or let two concurrent downloads pick the same name. Names are claimed
with ``os.link`` (or an ``O_EXCL`` placeholder where hard links are unsupported), which fails instead of
replacing, so the check and the claim are one step.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import httpx

from runcomfy.errors import DownloadError

FALLBACK_NAME = "output"
MAX_NAME_BYTES = 200
MAX_NAME_ATTEMPTS = 10_000

_RESERVED_CHARS = frozenset('/\\:*?"<>|')
_EXTENSION_RE = re.compile(r"^\.[A-Za-z0-9]{1,16}$")
_WINDOWS_DEVICE_NAMES = frozenset(
    ["CON", "PRN", "AUX", "NUL"] + [f"COM{i}" for i in range(1, 10)] + [f"LPT{i}" for i in range(1, 10)]
)
# A fixed table rather than the platform's mimetypes database, so a name never depends on the machine.
_EXTENSIONS_BY_TYPE = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/webp": ".webp",
    "image/gif": ".gif",
    "image/avif": ".avif",
    "image/bmp": ".bmp",
    "image/tiff": ".tiff",
    "image/svg+xml": ".svg",
    "video/mp4": ".mp4",
    "video/webm": ".webm",
    "video/quicktime": ".mov",
    "audio/mpeg": ".mp3",
    "audio/wav": ".wav",
    "audio/x-wav": ".wav",
    "audio/ogg": ".ogg",
    "audio/flac": ".flac",
    "model/gltf-binary": ".glb",
    "application/json": ".json",
    "application/zip": ".zip",
    "text/plain": ".txt",
}
_FILE_MODE = 0o644
_OPEN_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)


def filename_from_url(url: httpx.URL | str, content_type: str | None = None) -> str:
    """A safe local name from the last non-empty path segment, percent-decoded first and sanitised after.

    If the name has no extension, one is added from ``content_type`` when the type is known.
    """
    parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    path = parsed.raw_path.decode("ascii").partition("?")[0]
    segments = [segment for segment in path.split("/") if segment]
    decoded = unquote(segments[-1], errors="replace") if segments else ""
    name = sanitize_filename(decoded)
    if split_extension(name)[1] == "":
        extension = extension_for_content_type(content_type)
        if extension is not None:
            name = _fit(name, extension)
    return name


def sanitize_filename(name: str) -> str:
    """Make ``name`` a plain file name: no separators, reserved or control characters, no leading dot.

    The result is at most :data:`MAX_NAME_BYTES` bytes of UTF-8 (the extension kept) and never empty.
    """
    cleaned = "".join("_" if _is_unsafe_char(ch) else ch for ch in name)
    cleaned = cleaned.lstrip(". ").rstrip(". ")
    if not cleaned:
        return FALLBACK_NAME
    stem, extension = split_extension(cleaned)
    if stem.split(".", 1)[0].upper() in _WINDOWS_DEVICE_NAMES:
        stem = f"_{stem}"
    return _fit(stem, extension)


def split_extension(name: str) -> tuple[str, str]:
    """``("photo", ".png")`` for ``photo.png``; the extension is empty unless it is short and alphanumeric."""
    stem, dot, suffix = name.rpartition(".")
    if dot and stem and _EXTENSION_RE.match(f".{suffix}"):
        return stem, f".{suffix}"
    return name, ""


def extension_for_content_type(content_type: str | None) -> str | None:
    """The extension for a ``Content-Type`` header value, or None if the type is unknown."""
    if not content_type:
        return None
    media_type = content_type.split(";", 1)[0].strip().lower()
    return _EXTENSIONS_BY_TYPE.get(media_type)


def candidate_names(name: str) -> Iterator[str]:
    """``name``, then ``stem-1.ext``, ``stem-2.ext``, ... up to :data:`MAX_NAME_ATTEMPTS` names."""
    yield name
    stem, extension = split_extension(name)
    for number in range(1, MAX_NAME_ATTEMPTS):
        yield f"{stem}-{number}{extension}"


def create_temp_file(directory: Path, name: str) -> tuple[int, Path]:
    """Exclusively create a hidden ``.name.part-<pid>-<random>`` file in ``directory``; return its fd and path.

    The process id lets :func:`remove_stale_temp_files` tell a file left by a killed process (SIGKILL cannot be
    cleaned up after) from one another process is still writing.
    """
    prefix = _truncate_utf8(split_extension(name)[0], 60)
    while True:
        path = directory / f".{prefix}.part-{os.getpid()}-{secrets.token_hex(8)}"
        try:
            return os.open(path, _OPEN_FLAGS, _FILE_MODE), path
        except FileExistsError:
            continue


_TEMP_NAME = re.compile(r"^\..*\.part-(\d+)-[0-9a-f]{16}$")


def remove_stale_temp_files(directory: Path) -> list[Path]:
    """Delete the temp files in ``directory`` whose writing process no longer exists; the paths removed."""
    removed: list[Path] = []
    try:
        entries = list(directory.iterdir())
    except OSError:
        return removed
    for path in entries:
        match = _TEMP_NAME.match(path.name)
        if match is None or _process_alive(int(match.group(1))):
            continue
        with contextlib.suppress(OSError):
            path.unlink()
            removed.append(path)
    return removed


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def place_file(temp_path: Path, directory: Path, name: str) -> Path:
    """Give ``temp_path`` the first free name among :func:`candidate_names` and remove the temp name.

    Raises :class:`DownloadError` if every candidate is taken.
    """
    for candidate in candidate_names(name):
        target = directory / candidate
        if _claim(temp_path, target):
            return target
    raise DownloadError(f"no free file name for {name} in {directory}")


def _claim(temp_path: Path, target: Path) -> bool:
    """Move ``temp_path`` to ``target`` only if ``target`` does not exist; False if it does."""
    try:
        os.link(temp_path, target)
    except FileExistsError:
        return False
    except (OSError, NotImplementedError):
        # No hard links here (some network or FAT file systems): hold the name with an exclusive empty file,
        # then replace that placeholder, which only this process can have created.
        try:
            os.close(os.open(target, _OPEN_FLAGS, _FILE_MODE))
        except FileExistsError:
            return False
        os.replace(temp_path, target)
        return True
    temp_path.unlink()
    return True


def _is_unsafe_char(ch: str) -> bool:
    """Separators, characters Windows reserves, controls, format characters (such as right-to-left
    overrides) and every space but the plain one."""
    if ch in _RESERVED_CHARS:
        return True
    return ch != " " and unicodedata.category(ch).startswith(("C", "Z"))


def _fit(stem: str, extension: str) -> str:
    """``stem + extension`` cut to :data:`MAX_NAME_BYTES` bytes of UTF-8, shortening the stem only."""
    budget = MAX_NAME_BYTES - len(extension.encode())
    return _truncate_utf8(stem, budget) + extension


def _truncate_utf8(text: str, max_bytes: int) -> str:
    return text.encode()[:max_bytes].decode(errors="ignore")
