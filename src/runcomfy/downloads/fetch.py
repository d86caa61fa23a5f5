"""Fetching one trusted file to disk.

Owns: the download HTTP client (:func:`make_download_client`), redirects followed by hand with every hop
checked again, the size cap, streaming into an exclusive temporary file with the byte count and sha256 taken
on the way, and the final atomic placement under a name nobody else holds (:func:`download_file`). How the body
is read (``body.py``) and hashed and written (``blocks.py``, or ``spliced.py`` for a large plain-TCP body) is what
makes a large file as fast as ``curl -o``.

The file is not fsynced (neither is curl's): forcing a gigabyte to the disk before returning doubled the time of
a large download, for a guarantee nothing relies on. What the rename gives is kept: another process, or this
one after a crash or a kill, sees the file whole under its name or not at all. Only the machine losing power
right after a download could leave that name with incomplete contents; the recorded sha256 then no longer
matches, and ``runcomfy result`` (like ``Client.download`` given ``known_files``) fetches the file again instead
of reusing it (``reuse.py``).

Must never: send the API token, any ``Authorization`` header or cookies (requests are built here from scratch
and sent with ``auth=None``, so nothing a caller's client carries is merged in); save a 3xx body; write
anything for a non-2xx answer or an over-size ``Content-Length``; or leave a partial file behind, whatever the
failure, including ``KeyboardInterrupt``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from runcomfy._version import __version__
from runcomfy.downloads.blocks import BLOCK_BYTES, BlockWriter
from runcomfy.downloads.body import READ_BYTES, Body, open_body
from runcomfy.downloads.naming import create_temp_file, filename_from_url, place_file, sanitize_filename
from runcomfy.downloads.spliced import SplicedWriter, open_spliced
from runcomfy.downloads.urls import Origin, Rejection, TrustedURL, check_redirect
from runcomfy.errors import DownloadError, DownloadTooLarge, Interrupted
from runcomfy.http import hold_redirect_location, redirect_location, tls_context
from runcomfy.safe_text import MASK, contains_secret, redact

DEFAULT_MAX_DOWNLOAD_BYTES = 2 * 1024**3
READ_TIMEOUT_S = 120.0
CHUNK_SIZE = READ_BYTES  # the most read at once: past the cap, at most this much is read before the refusal

# Next steps, by cause: a failed download is not always a full disk.
HOST_REFUSED_HINT = "the file host answered with an error; fetching the result again later may work"
HOST_UNREACHABLE_HINT = "the file host could not be reached or broke off; fetching the result again may work"
REDIRECT_HINT = "the file host sent the download somewhere this CLI does not trust; the file was not fetched"
TOO_LARGE_HINT = "the file is over the download cap; fetch its URL yourself if you trust it"
DISK_HINT = "check free space and that the output directory is writable"

# No total timeout: a large file may take long; only 120 s without a byte is a failure.
_TIMEOUT = httpx.Timeout(connect=30.0, read=READ_TIMEOUT_S, write=30.0, pool=30.0)

ProgressCallback = Callable[[int, int | None], None]
"""Called as ``on_progress(bytes_so_far, total_or_None)`` after each chunk is read (at most ``CHUNK_SIZE``;
it is then hashed and written while the next one is read)."""

AbortCheck = Callable[[], bool]
"""Polled between chunks; returning True stops the download with :class:`~runcomfy.errors.Interrupted`."""


@dataclass(frozen=True)
class SavedFile:
    """A file written to disk: where, from which URL, how big, and its sha256 (hex)."""

    path: Path
    url: str
    bytes: int
    sha256: str
    content_type: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The one JSON form of a saved file (records, the journal, ``--emit record``); the path absolute, so it
        is found again from any directory."""
        return {
            "path": os.path.abspath(self.path),
            "url": self.url,
            "bytes": self.bytes,
            "sha256": self.sha256,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SavedFile | None:
        """A saved file as :meth:`to_dict` wrote it, or ``None`` when the record is not one."""
        path, url, size, sha256 = (data.get(key) for key in ("path", "url", "bytes", "sha256"))
        if not (isinstance(path, str) and isinstance(url, str) and isinstance(sha256, str)):
            return None
        return cls(
            Path(path), url, size if isinstance(size, int) and not isinstance(size, bool) else 0, sha256
        )


def make_download_client(*, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """An ``httpx.Client`` for file hosts: no auth, no redirects, 120 s read inactivity, no total timeout.

    Redirect targets are kept away from httpx (:func:`~runcomfy.http.hold_redirect_location`): each hop is
    decided here, by the allow-list, however odd its ``Location``.
    """
    return httpx.Client(
        follow_redirects=False,
        timeout=_TIMEOUT,
        transport=transport,
        event_hooks={"response": [hold_redirect_location]},
        verify=tls_context() if transport is None else True,
    )


def download_file(
    client: httpx.Client,
    url: TrustedURL,
    output_dir: str | os.PathLike[str],
    *,
    max_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
    trusted_origins: Iterable[Origin] = (),
    on_progress: ProgressCallback | None = None,
    should_abort: AbortCheck | None = None,
    name_prefix: str = "",
    hidden: Iterable[str] = (),
) -> SavedFile:
    """Download ``url`` into ``output_dir`` (which must exist) under a new, unique name.

    ``name_prefix`` is put before the name taken from the URL (a batch uses the input's line number, so the
    files of different items never collide and sort by line). Any of ``hidden`` (the token) found in the name is
    replaced, so a server cannot make the token part of a path that is printed and recorded.

    Raises :class:`DownloadError` (with ``url`` set) on any HTTP, redirect or file-system failure,
    :class:`DownloadTooLarge` over ``max_bytes`` and :class:`Interrupted` when ``should_abort`` says so.
    """
    directory = Path(output_dir)
    try:
        with _final_response(client, url, frozenset(trusted_origins)) as response:
            _require_success(response, url)
            total = _declared_length(response)
            if total is not None and total > max_bytes:
                raise DownloadTooLarge(
                    f"refusing to download {total} bytes (limit {max_bytes}) from {url}",
                    url=url.text,
                    hint=TOO_LARGE_HINT,
                )
            content_type = response.headers.get("Content-Type")
            name = filename_from_url(url.url, content_type)
            if name_prefix:
                name = sanitize_filename(name_prefix + name)
            if contains_secret(name, hidden):
                name = sanitize_filename(redact(name, hidden).replace(MASK, "redacted"))
            sink = _Sink(url, max_bytes, total, on_progress, should_abort)
            return _save(response, directory, name, sink, content_type)
    except httpx.InvalidURL as exc:  # a caller's own client let httpx read an unusable redirect target
        raise DownloadError(
            f"refused redirect from {url}: the target is not a usable URL", url=url.text, hint=REDIRECT_HINT
        ) from exc
    except (httpx.HTTPError, httpx.CookieConflict, httpx.StreamError) as exc:
        raise DownloadError(
            f"could not download {url}: {_describe(exc)}", url=url.text, hint=HOST_UNREACHABLE_HINT
        ) from exc
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise DownloadError(
            f"could not save {url} in {directory}: {reason}", url=url.text, hint=DISK_HINT
        ) from exc


def sha256_of_file(path: str | os.PathLike[str]) -> str:
    """The hex sha256 of a file's content, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_has_sha256(path: str | os.PathLike[str], expected_sha256: str) -> bool:
    """True if ``path`` is a regular file whose sha256 is ``expected_sha256``; else False."""
    try:
        if not Path(path).is_file():
            return False
        return sha256_of_file(path) == expected_sha256.lower()
    except OSError:
        return False


@contextlib.contextmanager
def _final_response(
    client: httpx.Client, url: TrustedURL, trusted_origins: frozenset[Origin]
) -> Iterator[httpx.Response]:
    """The first non-3xx response, following at most five redirects, each target checked like the first."""
    current = url
    hop = 0
    while True:
        response = client.send(_request_for(current), stream=True, auth=None, follow_redirects=False)
        if not 300 <= response.status_code < 400:
            break
        location = redirect_location(response)
        response.close()  # a redirect's body is never read, let alone saved
        hop += 1
        decision = check_redirect(current, location, hop=hop, trusted_origins=trusted_origins)
        if isinstance(decision, Rejection):
            raise DownloadError(
                f"refused redirect from {url}: {decision.reason}", url=url.text, hint=REDIRECT_HINT
            )
        current = decision
    try:
        yield response
    finally:
        response.close()


def _request_for(url: TrustedURL) -> httpx.Request:
    headers = {"Accept-Encoding": "identity", "Accept": "*/*", "User-Agent": f"runcomfy/{__version__}"}
    return httpx.Request("GET", url.url, headers=headers, extensions={"timeout": _TIMEOUT.as_dict()})


def _require_success(response: httpx.Response, url: TrustedURL) -> None:
    if not 200 <= response.status_code < 300:
        reason = response.reason_phrase or "error"
        raise DownloadError(
            f"could not download {url}: HTTP {response.status_code} {reason}",
            url=url.text,
            hint=HOST_REFUSED_HINT,
        )


def _declared_length(response: httpx.Response) -> int | None:
    value = response.headers.get("Content-Length")
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


class _Sink:
    """Counts, caps and reports the bytes of one body on their way to disk (spliced into the file by a
    :class:`SplicedWriter`, or hashed and written by a :class:`BlockWriter`)."""

    def __init__(
        self,
        url: TrustedURL,
        max_bytes: int,
        total: int | None,
        on_progress: ProgressCallback | None,
        should_abort: AbortCheck | None,
    ) -> None:
        self.url = url
        self.max_bytes = max_bytes
        self.total = total
        self.on_progress = on_progress
        self.should_abort = should_abort
        self.count = 0

    def copy(self, response: httpx.Response, body: Body, writer: BlockWriter | SplicedWriter) -> None:
        """Move the body to the writer: spliced in the kernel, or read into the writer's buffers one read at
        a time, each full buffer handed over whole."""
        if isinstance(writer, SplicedWriter):
            writer.copy(self._account)
        else:
            self._copy_blocks(body, writer)
        identity = response.headers.get("Content-Encoding", "identity").lower() == "identity"
        if identity and self.total is not None and self.count != self.total:
            raise DownloadError(
                f"could not download {self.url}: got {self.count} of {self.total} bytes",
                url=self.url.text,
                hint=HOST_UNREACHABLE_HINT,
            )

    def _copy_blocks(self, body: Body, writer: BlockWriter) -> None:
        block, filled = writer.take(), 0
        while True:
            if filled == len(block):
                writer.put(block, filled)
                block, filled = writer.take(), 0
            with memoryview(block) as view, view[filled:] as space:
                got = body.readinto(space)
            if got == 0:
                break
            self._account(got)
            filled += got
        if filled:
            writer.put(block, filled)
        else:
            writer.give_back(block)

    def _account(self, got: int) -> None:
        """Count ``got`` more bytes: over the cap or asked to stop, raise before they are written."""
        if self.should_abort is not None and self.should_abort():
            raise Interrupted(f"download of {self.url} interrupted")
        self.count += got
        if self.count > self.max_bytes:
            message = f"stream exceeded {self.max_bytes} bytes; aborted download of {self.url}"
            raise DownloadTooLarge(message, url=self.url.text, hint=TOO_LARGE_HINT)
        if self.on_progress is not None:
            self.on_progress(self.count, self.total)


def _save(
    response: httpx.Response, directory: Path, name: str, sink: _Sink, content_type: str | None
) -> SavedFile:
    """Stream the body into a temp file, then give it its final name; the temp file never survives."""
    fd, temp_path = create_temp_file(directory, name)
    body: Body | None = None
    try:
        body = open_body(response, sink.total, READ_TIMEOUT_S)
        writer = open_spliced(fd, body) or _block_writer(fd, sink.total)
    except BaseException:
        if body is not None:
            body.close()
        os.close(fd)
        with contextlib.suppress(OSError):
            temp_path.unlink(missing_ok=True)
        raise
    try:
        try:
            sink.copy(response, body, writer)
        finally:
            body.close()
        sha256 = writer.finish()
        final_path = place_file(temp_path, directory, name)
    except BaseException:
        try:
            writer.abandon()
        finally:  # even if a second Ctrl-C cuts the wait for the writer short
            with contextlib.suppress(OSError):
                temp_path.unlink(missing_ok=True)
        raise
    return SavedFile(final_path, sink.url.text, sink.count, sha256, content_type)


def _block_writer(fd: int, total: int | None) -> BlockWriter:
    """One buffer (and no thread) for a body known to fit in it; else buffers of BLOCK_BYTES."""
    small = total is not None and total <= BLOCK_BYTES
    return BlockWriter(fd, block_bytes=max(total or 0, 1) if small else BLOCK_BYTES, background=not small)


def _describe(exc: Exception) -> str:
    """A short reason for an httpx failure, without the request details httpx may put in ``str(exc)``."""
    if isinstance(exc, httpx.ConnectTimeout):
        return "connection timed out"
    if isinstance(exc, httpx.TimeoutException):
        return f"no data for {READ_TIMEOUT_S:.0f} s (timeout)"
    if isinstance(exc, httpx.ConnectError):
        return "connection failed"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "connection closed before the file was complete"
    return type(exc).__name__
