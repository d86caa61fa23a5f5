"""Reading a download's body into buffers: straight from the socket for a large, plainly framed body, else
through httpx.

Why: httpx's HTTP/1.1 parser (h11, under httpcore) copies every byte several times, in pieces of 64 KiB, and
for a 1 GiB file that alone took longer than ``curl -o`` took for the whole download. Once the headers are
parsed and the body has no framing left to undo (a ``Content-Length``, no transfer coding, no content coding),
the bytes that follow on the connection are the file's, in order: :class:`SocketBody` reads them with
``recv_into`` into the buffer that is hashed and written next. The first piece of the body still comes through
httpx: httpcore hands over, as that piece, everything it had read past the headers, so after it the rest is
on the socket. Exactly ``Content-Length`` bytes are read, never more.

httpcore then holds a connection whose response it never saw end, so closing the response closes the
connection rather than returning it to the pool: nothing else ever reads from it. Everything else keeps httpx's
path (:class:`ChunkBody`): bodies under :data:`DIRECT_MIN_BYTES` (which keep a reusable connection), chunked or
compressed bodies, HTTP/2, transports without a socket (``httpx.MockTransport``) and TLS inside a proxy's TLS
(where the socket carries the outer layer). The socket comes from httpcore's documented ``network_stream``
response extension.

Errors reading the socket are raised as the httpx errors the same failure raises on httpx's path, so callers
tell a broken connection from a full disk the same way for both.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from typing import Protocol

import httpx

READ_BYTES = 128 * 1024  # the most one read takes: progress, the cap and Ctrl-C are checked between reads
DIRECT_MIN_BYTES = 8 * 1024 * 1024


class Body(Protocol):
    def readinto(self, view: memoryview) -> int:
        """Put the next bytes of the body at the start of ``view``; how many (0: the body has ended)."""

    def close(self) -> None:
        """Stop reading (idempotent)."""


def open_body(response: httpx.Response, declared: int | None, read_timeout_s: float) -> Body:
    """The body of ``response`` (whose ``Content-Length`` is ``declared``), read the fastest safe way."""
    sock = _direct_socket(response, declared)
    if sock is None or declared is None:
        return ChunkBody(response.iter_bytes())  # decoded: a host may compress even when asked not to
    chunks = response.iter_raw()
    first = next(chunks, b"")
    sock.settimeout(read_timeout_s)
    return SocketBody(sock, chunks, first, declared - len(first))


class ChunkBody:
    """The body as httpx yields it, cut to the buffers it is read into."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = memoryview(b"")

    def readinto(self, view: memoryview) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
        taken = min(len(view), len(self._pending), READ_BYTES)
        view[:taken] = self._pending[:taken]
        self._pending = self._pending[taken:]
        return taken

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()


class SocketBody(ChunkBody):
    """The first piece from httpx, then ``remaining`` bytes from the socket."""

    def __init__(self, sock: socket.socket, chunks: Iterator[bytes], first: bytes, remaining: int) -> None:
        super().__init__(iter((first,)))
        self._httpx_chunks = chunks
        self.sock = sock
        self.first = first
        self._remaining = remaining

    @property
    def remaining(self) -> int:
        """How many bytes of the body are still on the socket."""
        return self._remaining

    def first_taken(self) -> None:
        """The first piece was consumed elsewhere (``spliced.py`` put it in the file): do not yield it."""
        self._chunks = iter(())
        self._pending = memoryview(b"")
        self.first = b""

    def readinto(self, view: memoryview) -> int:
        taken = super().readinto(view)
        if taken or self._remaining <= 0:
            return taken
        try:
            received = self.sock.recv_into(view, min(len(view), self._remaining, READ_BYTES))
        except TimeoutError as exc:
            raise httpx.ReadTimeout(str(exc) or "timed out") from exc
        except OSError as exc:  # reset, or a TLS failure (ssl.SSLError is an OSError)
            raise httpx.ReadError(str(exc) or type(exc).__name__) from exc
        if received == 0:
            raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")
        self._remaining -= received
        return received

    def close(self) -> None:
        # httpcore closes the connection: its parser never saw the body end, so it is never reused.
        close = getattr(self._httpx_chunks, "close", None)
        if close is not None:
            close()


def _direct_socket(response: httpx.Response, declared: int | None) -> socket.socket | None:
    """The socket the rest of the body can be read from, or None where only httpx may read it."""
    if declared is None or declared < DIRECT_MIN_BYTES or response.http_version != "HTTP/1.1":
        return None
    headers = response.headers
    if "Transfer-Encoding" in headers or headers.get("Content-Encoding", "identity").strip().lower() not in (
        "",
        "identity",
    ):
        return None
    stream = response.extensions.get("network_stream")
    extra_info = getattr(stream, "get_extra_info", None)
    if extra_info is None:
        return None
    sock, tls = extra_info("socket"), extra_info("ssl_object")
    if type(sock) is socket.socket and tls is None:  # plain TCP
        return sock
    # TLS on the socket itself; not TLS inside a proxy's TLS, where the socket is the outer layer's.
    if isinstance(sock, ssl.SSLSocket) and tls is not None and tls is getattr(sock, "_sslobj", None):
        return sock
    return None
