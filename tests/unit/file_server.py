"""A loopback HTTP file server for the download tests, and a download from it through the real fetch path."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from runcomfy.downloads.fetch import SavedFile, download_file
from runcomfy.downloads.urls import Origin, TrustedURL, check_url


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FileServer

    def do_GET(self) -> None:
        self.server.peers.append(self.client_address[1])
        try:
            self.server.routes[self.path](self)
        except OSError:
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        return None


class FileServer(ThreadingHTTPServer):
    daemon_threads = True
    routes: dict[str, Callable[[Handler], None]]
    peers: list[int]

    def handle_error(self, request: Any, client_address: Any) -> None:
        return None


@contextmanager
def running_file_server() -> Iterator[FileServer]:
    """A server on 127.0.0.1 serving ``routes`` (path -> handler function), stopped on exit."""
    httpd = FileServer(("127.0.0.1", 0), Handler)
    httpd.routes, httpd.peers = {}, []
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def serve(content: bytes, *, declared: int | None = None, headers: dict[str, str] | None = None) -> Any:
    def route(handler: Handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/octet-stream")
        handler.send_header("Content-Length", str(len(content) if declared is None else declared))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(content)
        handler.wfile.flush()
        if declared is not None:
            handler.close_connection = True

    return route


def chunked(content: bytes) -> Any:
    def route(handler: Handler) -> None:
        handler.send_response(200)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        for start in range(0, len(content), 65536):
            piece = content[start : start + 65536]
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        handler.wfile.write(b"0\r\n\r\n")

    return route


def fetch(server: FileServer, client: httpx.Client, path: str, out: Path, **options: Any) -> SavedFile:
    """``download_file`` of ``path`` on ``server`` into ``out`` (``options`` are passed on)."""
    origin = Origin("http", "127.0.0.1", server.server_address[1])
    url = check_url(f"http://127.0.0.1:{origin.port}{path}", trusted_origins=(origin,))
    assert isinstance(url, TrustedURL), url
    return download_file(client, url, out, trusted_origins=(origin,), **options)
