"""Request bodies are limited while they stream in: a 413 in the service's shape as soon as a limit is passed.

These tests speak HTTP/1.1 on a raw socket so they can announce a body and never send it, or send a chunked
body and never end it: an emulator that buffered the whole body before checking its size would wait for the
rest, and the test would fail on its socket timeout instead of reading the 413.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterable

import pytest
from emulator_harness import Emulator

ECHO = "runcomfy/emulator/echo"
MIB = 1024 * 1024
SUBMIT_LIMIT = 64 * MIB
CONTROL_LIMIT = MIB
LOGIN_LIMIT = 16 * 1024
FAIL_AFTER_S = 30  # only reached when the emulator waits for a body it should have refused


def exchange(emulator: Emulator, head: str, body: Iterable[bytes] = ()) -> tuple[int, dict[str, str], bytes]:
    """Send a request head and some body bytes, then read one response: status, headers and body."""
    with socket.create_connection(("127.0.0.1", emulator.server.port), timeout=FAIL_AFTER_S) as sock:
        sock.sendall(head.encode())
        for piece in body:
            sock.sendall(piece)
        reader = sock.makefile("rb")
        status = int(reader.readline().split()[1])
        headers: dict[str, str] = {}
        while (line := reader.readline().strip()) != b"":
            name, _, value = line.decode().partition(":")
            headers[name.lower()] = value.strip()
        return status, headers, reader.read(int(headers.get("content-length", "0")))


def head(emulator: Emulator, path: str, framing: str) -> str:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{emulator.server.port}\r\n"
        f"Authorization: Bearer {emulator.token}\r\nContent-Type: application/json\r\n{framing}\r\n\r\n"
    )


def chunk(size: int) -> bytes:
    return b"%x\r\n" % size + b" " * size + b"\r\n"


def assert_too_large(status: int, headers: dict[str, str], body: bytes, limit: int) -> None:
    assert status == 413
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {
        "error_code": 413001,
        "error_message": "Request body too large",
        "detail": f"The limit is {limit} bytes.",
    }


ROUTES = [
    (f"/v1/models/{ECHO}", SUBMIT_LIMIT),
    ("/_emulator/faults", CONTROL_LIMIT),
    ("/_emulator/config", CONTROL_LIMIT),
    ("/_emulator/clock", CONTROL_LIMIT),
    ("/_emulator/tokens", CONTROL_LIMIT),
    ("/api/cli-auth/poll", LOGIN_LIMIT),
]


@pytest.mark.parametrize(("path", "limit"), ROUTES)
def test_a_content_length_over_the_limit_is_refused_before_any_byte_is_read(
    emulator: Emulator, path: str, limit: int
) -> None:
    response = exchange(emulator, head(emulator, path, "Content-Length: 800000000"))  # and no body at all

    assert_too_large(*response, limit)
    assert emulator.submit(ECHO, {"still": "alive"}).status_code == 200


@pytest.mark.parametrize(("path", "limit"), ROUTES)
def test_a_streamed_body_is_refused_as_soon_as_it_passes_the_limit(
    emulator: Emulator, path: str, limit: int
) -> None:
    pieces = [chunk(MIB)] * (limit // MIB) + [chunk(limit % MIB)] * (limit % MIB > 0) + [chunk(1)]

    response = exchange(emulator, head(emulator, path, "Transfer-Encoding: chunked"), pieces)  # never ended

    assert_too_large(*response, limit)


def test_a_body_at_the_limit_is_still_read(emulator: Emulator) -> None:
    padding = " " * (CONTROL_LIMIT - len('{"token": "at-limit"}'))
    body = ('{"token": "at-limit"}' + padding).encode()
    assert len(body) == CONTROL_LIMIT
    status, _headers, answer = exchange(
        emulator, head(emulator, "/_emulator/tokens", f"Content-Length: {len(body)}"), [body]
    )
    assert status == 200, answer
    assert emulator.submit(ECHO, {}, token="at-limit").status_code == 200


def test_the_approval_form_is_limited_too(emulator: Emulator) -> None:
    framing = "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 800000000"
    request = f"POST /cli-auth HTTP/1.1\r\nHost: 127.0.0.1:{emulator.server.port}\r\n{framing}\r\n\r\n"
    status, headers, _body = exchange(emulator, request)
    assert status == 413 and headers["content-type"].startswith("text/html")
    pieces = [b"%x\r\n" % (LOGIN_LIMIT + 1) + b"a" * (LOGIN_LIMIT + 1) + b"\r\n"]
    framing = "Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked"
    request = f"POST /cli-auth HTTP/1.1\r\nHost: 127.0.0.1:{emulator.server.port}\r\n{framing}\r\n\r\n"
    assert exchange(emulator, request, pieces)[0] == 413
