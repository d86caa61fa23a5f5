"""runcomfy.http1: one HTTP/1.1 reply read by h11's rules (framing, keep-alive, limits), from bytes in memory."""

from __future__ import annotations

import gzip
import io

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from runcomfy.http1 import MAX_HEAD_BYTES, MAX_INFORMATIONAL, NoReply, Reply, ReplyTooLarge, read_reply


def read(raw: bytes, method: str = "GET", max_bytes: int = 1000) -> Reply:
    return read_reply(io.BufferedReader(io.BytesIO(raw)), method, max_bytes)


def test_a_sized_reply_on_http_1_1_keeps_the_connection_and_leaves_what_follows() -> None:
    reader = io.BufferedReader(io.BytesIO(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}NEXT"))
    reply = read_reply(reader, "POST", 1000)
    assert (reply.status, reply.reason, reply.content, reply.keep_alive) == (201, "Created", b"{}", True)
    assert reply.headers == [(b"Content-Length", b"2")]
    assert reader.read() == b"NEXT"


@pytest.mark.parametrize(
    ("raw", "keep_alive"),
    [
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}", False),
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n{}", False),  # as h11
        (b"HTTP/1.1 200 OK\r\nConnection: Keep-Alive, CLOSE\r\nContent-Length: 2\r\n\r\n{}", False),
        (b"HTTP/1.1 200 OK\r\n\r\n{}", False),  # no framing: the body ends with the connection
        (b"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\n{}", True),  # no reason phrase
    ],
)
def test_whether_the_connection_may_be_kept(raw: bytes, keep_alive: bool) -> None:
    reply = read(raw)
    assert (reply.content, reply.keep_alive) == (b"{}", keep_alive)


@pytest.mark.parametrize(
    ("raw", "method"),
    [
        (b"HTTP/1.1 204 No Content\r\n\r\n", "POST"),
        (b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", "GET"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", "HEAD"),
    ],
)
def test_replies_without_a_body(raw: bytes, method: str) -> None:
    reply = read(raw, method)
    assert (reply.content, reply.keep_alive) == (b"", True)


@given(st.binary(max_size=300), st.lists(st.integers(min_value=1, max_value=40), max_size=20))
def test_a_chunked_body_is_read_back_whole_however_it_is_cut(body: bytes, cuts: list[int]) -> None:
    chunks, rest = [], body
    for size in cuts:
        if rest:
            chunks.append(rest[:size])
            rest = rest[size:]
    if rest:
        chunks.append(rest)
    wire = b"".join(f"{len(c):X};ext=1\r\n".encode() + c + b"\r\n" for c in chunks)
    reply = read(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + wire + b"0\r\n\r\n")
    assert (reply.content, reply.keep_alive) == (body, True)


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999999999999\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1001\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 1001,
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n",
    ],
)
def test_a_body_over_the_cap_is_refused(raw: bytes) -> None:
    if b"%d" in raw:
        bomb = gzip.compress(b"x" * 100_000)
        raw = raw % len(bomb) + bomb
    with pytest.raises(ReplyTooLarge):
        read(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n",  # the head ends with the connection
        b"HTTP/2 200 OK\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n: empty name\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n continued nothing\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1" * 17 + b"\r\n",
        b"HTTP/1.1 200 OK\r\nX: " + b"y" * MAX_HEAD_BYTES + b"\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\n" * (MAX_INFORMATIONAL + 1) + b"HTTP/1.1 200 OK\r\n\r\n",
    ],
)
def test_malformed_replies_are_protocol_errors(raw: bytes) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        read(raw)


def test_nothing_at_all_is_no_reply() -> None:
    with pytest.raises(NoReply):
        read(b"")
