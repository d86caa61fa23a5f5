"""Reading one HTTP/1.1 reply from a kept-alive socket, by the rules httpx's own parser (h11) applies.

Why not ``http.client.HTTPResponse``: it parses every header block with the ``email`` package, about 60 µs of
CPU per reply, a third of a whole API call on the plain path (:mod:`runcomfy.keepalive`); the replies here are
small JSON documents whose heads take a few lines to read.

What it keeps of h11 (so both paths refuse the same broken replies): an ``HTTP/1.x`` status line; 1xx replies
skipped (but 101); header names that are tokens and values without control characters; a head of at most
:data:`MAX_HEAD_BYTES`; the body framed by ``Transfer-Encoding: chunked`` (the only coding accepted), else by one
``Content-Length``, else by the end of the connection; no body for HEAD, 204 and 304; the connection kept only
for HTTP/1.1 without ``Connection: close``. A body larger than the cap is refused (:class:`ReplyTooLarge`) before
it is read when its length is declared, else as soon as it passes the cap; gzip and deflate are undone as httpx
does, and the cap holds after decoding too.

Failures are raised as httpx's exceptions (``RemoteProtocolError``, ``DecodingError``; the caller maps socket
errors and timeouts), with messages that quote nothing the request carried. It never touches the network but
through the reader it is given.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from io import BufferedIOBase

import httpx

MAX_LINE_BYTES = 65536  # http.client's limit for one line
MAX_HEAD_BYTES = 100 * 1024  # httpcore's limit for a status line and its headers
MAX_HEADERS = 100  # http.client's
MAX_INFORMATIONAL = 10  # 1xx replies skipped before the final one; a server sending them forever is broken
_READ_SIZE = 65536

_STATUS_LINE = re.compile(rb"HTTP/1\.([0-9]) ([0-9]{3})(?: ([^\r\n]*))?\r?\n")
_TOKEN = re.compile(rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")


class ReplyTooLarge(Exception):
    """The reply's body is larger than the cap (the caller words the message: it knows the call's label)."""


class NoReply(httpx.RemoteProtocolError):
    """The server closed the connection before sending a byte of the reply (on a kept-alive connection, the
    sign that it had closed it: a GET may be sent again on a new one)."""


@dataclass(frozen=True, slots=True)
class Reply:
    """A reply read in full: status, reason, headers as sent, the decoded body, and whether the connection
    may carry another request."""

    status: int
    reason: str
    headers: list[tuple[bytes, bytes]]
    content: bytes
    keep_alive: bool


def read_reply(reader: BufferedIOBase, method: str, max_bytes: int) -> Reply:
    """Read one whole reply to ``method`` from ``reader`` (a buffered reader of the socket)."""
    for _ in range(MAX_INFORMATIONAL + 1):
        version, status, reason = _status_line(reader)
        headers = _headers(reader)
        if status == 101 or status >= 200:
            break
    else:
        raise httpx.RemoteProtocolError(f"more than {MAX_INFORMATIONAL} informational replies")
    if status == 101:
        raise httpx.RemoteProtocolError("the server switched protocols (HTTP 101) on an API call")
    connection = _comma_values(headers, b"connection")
    keep_alive = version >= 1 and b"close" not in connection
    if method == "HEAD" or status in (204, 304):
        content = b""
    elif transfer := _comma_values(headers, b"transfer-encoding"):
        if transfer != [b"chunked"]:
            raise httpx.RemoteProtocolError("unsupported Transfer-Encoding (only chunked is)")
        content = _chunked(reader, max_bytes)
    elif lengths := _comma_values(headers, b"content-length"):
        content = _sized(reader, _content_length(lengths, max_bytes), max_bytes)
    else:
        content = _until_closed(reader, max_bytes)
        keep_alive = False
    content = _decoded(content, _comma_values(headers, b"content-encoding"), max_bytes)
    return Reply(status, reason, headers, content, keep_alive)


def _status_line(reader: BufferedIOBase) -> tuple[int, int, str]:
    line = reader.readline(MAX_LINE_BYTES + 1)
    if not line:
        raise NoReply("Server disconnected without sending a response.")
    match = _STATUS_LINE.fullmatch(line)
    if match is None:
        raise httpx.RemoteProtocolError(f"malformed status line: {line[:100]!r}")
    minor, status, reason = match.groups()
    return int(minor), int(status), (reason or b"").decode("ascii", errors="ignore")


def _headers(reader: BufferedIOBase) -> list[tuple[bytes, bytes]]:
    headers: list[tuple[bytes, bytes]] = []
    size = 0
    while True:
        line = reader.readline(MAX_LINE_BYTES + 1)
        size += len(line)
        if size > MAX_HEAD_BYTES or len(line) > MAX_LINE_BYTES:
            raise httpx.RemoteProtocolError("the reply's headers are too large")
        if line in (b"\r\n", b"\n"):
            return headers
        if not line.endswith(b"\n"):
            raise httpx.RemoteProtocolError("the server closed the connection in the reply's headers")
        if line[:1] in (b" ", b"\t"):  # an obsolete folded continuation of the previous value
            if not headers:
                raise httpx.RemoteProtocolError("malformed reply header")
            name, value = headers[-1]
            headers[-1] = (name, (value + b" " + line.strip(b" \t\r\n")).strip(b" "))
            continue
        name, colon, value = line.partition(b":")
        value = value.strip(b" \t\r\n")
        if not colon or not _TOKEN.fullmatch(name) or _CONTROL.search(value):
            raise httpx.RemoteProtocolError(f"malformed reply header {name[:40]!r}")
        headers.append((name, value))
        if len(headers) > MAX_HEADERS:
            raise httpx.RemoteProtocolError(f"more than {MAX_HEADERS} reply headers")


def _comma_values(headers: Sequence[tuple[bytes, bytes]], wanted: bytes) -> list[bytes]:
    """Every comma-separated value of the headers named ``wanted``, lowercased (as h11 reads them)."""
    values: list[bytes] = []
    for name, value in headers:
        if name.lower() == wanted:
            values.extend(item.strip().lower() for item in value.split(b",") if item.strip())
    return values


def _content_length(values: Sequence[bytes], max_bytes: int) -> int:
    if len(set(values)) != 1 or not values[0].isdigit():
        raise httpx.RemoteProtocolError("bad or conflicting Content-Length")
    if len(values[0]) > len(str(max_bytes)):  # more digits than the cap has: too large (and no huge int)
        raise ReplyTooLarge
    return int(values[0])


def _sized(reader: BufferedIOBase, length: int, max_bytes: int) -> bytes:
    if length > max_bytes:
        raise ReplyTooLarge
    content = reader.read(length)
    if len(content) < length:
        raise httpx.RemoteProtocolError(
            "peer closed connection without sending complete message body: "
            f"received {len(content)} bytes, expected {length}"
        )
    return content


def _chunked(reader: BufferedIOBase, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while True:
        line = reader.readline(MAX_LINE_BYTES + 1)
        size_text = line.split(b";", 1)[0].strip()
        if not line.endswith(b"\n") or not _CHUNK_SIZE.fullmatch(size_text):
            raise httpx.RemoteProtocolError("malformed chunked body")
        size = int(size_text, 16)
        if size == 0:
            _headers(reader)  # the trailer, if any, up to the empty line that ends the body
            return b"".join(chunks)
        total += size
        if total > max_bytes:
            raise ReplyTooLarge
        chunk = reader.read(size)
        if len(chunk) < size or reader.readline(3) not in (b"\r\n", b"\n"):
            raise httpx.RemoteProtocolError("malformed chunked body")
        chunks.append(chunk)


def _until_closed(reader: BufferedIOBase, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while chunk := reader.read1(_READ_SIZE):
        total += len(chunk)
        if total > max_bytes:
            raise ReplyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _decoded(content: bytes, codings: Sequence[bytes], max_bytes: int) -> bytes:
    """The body with its gzip/deflate coding undone, as httpx does (other codings are passed through)."""
    for name in reversed(codings):
        if name in (b"gzip", b"x-gzip"):
            content = _inflate(content, zlib.MAX_WBITS | 16, max_bytes)
        elif name == b"deflate":
            try:
                content = _inflate(content, zlib.MAX_WBITS, max_bytes)
            except httpx.DecodingError:  # some servers send raw deflate without the zlib wrapper
                content = _inflate(content, -zlib.MAX_WBITS, max_bytes)
    return content


def _inflate(content: bytes, wbits: int, max_bytes: int) -> bytes:
    decompressor = zlib.decompressobj(wbits)
    try:
        result = decompressor.decompress(content, max_bytes + 1)
        if len(result) > max_bytes or decompressor.unconsumed_tail:
            raise ReplyTooLarge  # and never flush(): it would inflate all the rest, however large
        return result + decompressor.flush()
    except zlib.error as exc:
        raise httpx.DecodingError(f"the reply's content could not be decoded: {exc}") from exc
