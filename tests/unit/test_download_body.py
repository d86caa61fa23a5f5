"""Reading a large download's body from the socket itself (``downloads/body.py``), over real HTTP on loopback:
the same bytes and sha256 as httpx would give, the same errors, a connection that is never reused, and httpx's
own path wherever reading the socket would not be safe."""

from __future__ import annotations

import gzip
import hashlib
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from file_server import FileServer, chunked, fetch, running_file_server, serve

from runcomfy.downloads import body as body_module
from runcomfy.downloads import fetch as fetch_module
from runcomfy.downloads.body import ChunkBody, SocketBody, open_body
from runcomfy.downloads.fetch import make_download_client
from runcomfy.errors import DownloadError

PATTERN = bytes(range(256)) * 4096  # 1 MiB


@pytest.fixture
def server() -> Iterator[FileServer]:
    with running_file_server() as httpd:
        yield httpd


@pytest.fixture
def bodies(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The kind of body each download read (``SocketBody`` or ``ChunkBody``), read into buffers: splicing is
    off here (``test_download_spliced.py`` covers it)."""
    kinds: list[str] = []
    monkeypatch.setattr(fetch_module, "open_spliced", lambda fd, body: None)

    def spy(response: httpx.Response, declared: int | None, read_timeout_s: float) -> Any:
        opened = open_body(response, declared, read_timeout_s)
        kinds.append(type(opened).__name__)
        return opened

    monkeypatch.setattr(fetch_module, "open_body", spy)
    return kinds


def test_a_large_body_is_read_from_the_socket_with_the_same_bytes_and_sha256(
    server: FileServer, bodies: list[str], tmp_path: Path
) -> None:
    content = PATTERN * 9 + b"tail"  # over DIRECT_MIN_BYTES, and not a whole number of buffers
    assert len(content) > body_module.DIRECT_MIN_BYTES
    server.routes["/big.bin"] = serve(content)
    with make_download_client() as client:
        saved = fetch(server, client, "/big.bin", tmp_path)
    assert bodies == ["SocketBody"]
    assert saved.bytes == len(content)
    assert saved.sha256 == hashlib.sha256(content).hexdigest()
    assert saved.path.read_bytes() == content


def test_the_connection_is_not_reused_after_the_socket_was_read(
    server: FileServer, bodies: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(body_module, "DIRECT_MIN_BYTES", 1000)
    server.routes["/a.bin"] = serve(PATTERN)
    server.routes["/b.bin"] = serve(PATTERN[:500])
    server.routes["/c.bin"] = serve(PATTERN[:500])
    with make_download_client() as client:
        first = fetch(server, client, "/a.bin", tmp_path)
        second = fetch(server, client, "/b.bin", tmp_path)
        third = fetch(server, client, "/c.bin", tmp_path)
    assert bodies == ["SocketBody", "ChunkBody", "ChunkBody"]
    assert first.path.read_bytes() == PATTERN and second.path.read_bytes() == third.path.read_bytes()
    # A new connection after the socket was read; the small bodies' connection is kept and reused.
    assert server.peers[0] != server.peers[1] == server.peers[2]


def test_a_connection_dropped_mid_body_is_a_download_error_with_no_file_left(
    server: FileServer, bodies: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(body_module, "DIRECT_MIN_BYTES", 1000)
    server.routes["/cut.bin"] = serve(PATTERN, declared=3 * len(PATTERN))
    with make_download_client() as client, pytest.raises(DownloadError, match="connection closed"):
        fetch(server, client, "/cut.bin", tmp_path)
    assert bodies == ["SocketBody"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "route",
    [
        chunked(PATTERN * 2),
        serve(gzip.compress(PATTERN * 2), headers={"Content-Encoding": "gzip"}),
    ],
    ids=["chunked", "gzip"],
)
def test_framed_or_encoded_bodies_keep_httpxs_path(
    server: FileServer, bodies: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, route: Any
) -> None:
    monkeypatch.setattr(body_module, "DIRECT_MIN_BYTES", 1000)
    server.routes["/x.bin"] = route
    with make_download_client() as client:
        saved = fetch(server, client, "/x.bin", tmp_path)
    assert bodies == ["ChunkBody"]
    assert saved.path.read_bytes() == PATTERN * 2  # decoded, as before


class _Stream:
    """A ``network_stream`` response extension, reporting the socket and TLS object given."""

    def __init__(self, sock: Any, tls: Any) -> None:
        self.info = {"socket": sock, "ssl_object": tls}

    def get_extra_info(self, name: str) -> Any:
        return self.info.get(name)


def response_with(stream: Any) -> httpx.Response:
    headers = {"Content-Length": str(body_module.DIRECT_MIN_BYTES)}
    return httpx.Response(
        200, headers=headers, extensions={"network_stream": stream, "http_version": b"HTTP/1.1"}
    )


def test_only_a_plain_socket_or_tls_directly_on_it_is_read() -> None:
    declared = body_module.DIRECT_MIN_BYTES
    with socket.socket() as plain:
        assert body_module._direct_socket(response_with(_Stream(plain, None)), declared) is plain
        # TLS done by another layer over this socket (TLS inside a proxy's TLS): its bytes are not the file's.
        assert body_module._direct_socket(response_with(_Stream(plain, object())), declared) is None
        assert body_module._direct_socket(response_with(_Stream(plain, None)), declared - 1) is None
    assert body_module._direct_socket(response_with(_Stream(object(), None)), declared) is None
    assert body_module._direct_socket(response_with(None), declared) is None


class _FailingSocket:
    def __init__(self, error: OSError) -> None:
        self.error = error

    def recv_into(self, view: memoryview, size: int) -> int:
        raise self.error


@pytest.mark.parametrize(
    ("error", "raised"),
    [(TimeoutError("timed out"), httpx.ReadTimeout), (ConnectionResetError(104, "reset"), httpx.ReadError)],
)
def test_socket_errors_are_raised_as_httpx_would_raise_them(error: OSError, raised: type[Exception]) -> None:
    body = SocketBody(_FailingSocket(error), iter(()), b"first", remaining=10)  # type: ignore[arg-type]
    view = memoryview(bytearray(16))
    assert body.readinto(view) == 5 and bytes(view[:5]) == b"first"
    with pytest.raises(raised):
        body.readinto(view)


def test_a_chunk_body_is_cut_to_the_buffers_it_is_read_into() -> None:
    body = ChunkBody(iter([b"abcdef", b"", b"gh"]))
    view = memoryview(bytearray(4))
    got = []
    while count := body.readinto(view):
        got.append(bytes(view[:count]))
    assert got == [b"abcd", b"ef", b"gh"]
