"""A loopback HTTP server that answers whatever a test tells it to: the hostile or broken service.

Not a test module. ``HostileServer.answer(method, path, status, body, headers)`` sets the reply for one route
(the body is sent byte for byte, so it may be JSON a well-behaved server could never produce, like ``1e999``);
anything else answers 404. Every request is recorded. The server binds 127.0.0.1 on a free port and stops when
the ``with`` block (or the fixture) ends.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"{}"
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        host = self.server.owner
        host.record(Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
        reply = host.replies.get((self.command, self.path.split("?")[0])) or Reply(
            404, b'{"error_code": 404001}'
        )
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
        except (OSError, ValueError):  # a hostile header value, or the client hung up: part of the test
            self.close_connection = True

    do_GET = do_POST = do_HEAD = _answer

    def log_message(self, format: str, *args: Any) -> None:
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: HostileServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        return None


class HostileServer:
    """The service, as badly behaved as a test wants."""

    def __init__(self) -> None:
        self.replies: dict[tuple[str, str], Reply] = {}
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def base(self) -> str:
        return f"{self.origin}/v1"

    def answer(
        self,
        method: str,
        path: str,
        status: int = 200,
        body: bytes | str | Any = b"{}",
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer ``method path`` with exactly this (a non-bytes, non-str body is sent as JSON)."""
        if isinstance(body, str):
            body = body.encode("utf-8")
        elif not isinstance(body, bytes):
            body = json.dumps(body).encode("utf-8")
        self.replies[(method, path)] = Reply(
            status, body, {"Content-Type": "application/json"} if headers is None else headers
        )

    def record(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


def hostile() -> Iterator[HostileServer]:
    server = HostileServer()
    try:
        yield server
    finally:
        server.close()
