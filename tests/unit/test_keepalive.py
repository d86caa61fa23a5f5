"""The plain keep-alive path of HttpSession (runcomfy.keepalive) against a scripted loopback server.

What it must keep of httpx: connections reused, a connection the server closed while idle never used again (a
GET still succeeds; a POST goes once, on a new connection), a GET resent once (and a POST never) when a reused
connection fails before its reply, the timeouts, the reply cap, httpx's exceptions for broken replies (so the
one error funnel maps them), the token only for the configured origins and never in a message, and httpx
itself whenever the environment names a proxy.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import select
import socket
import ssl
import sys
import threading
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import trustme
from fake_time import FakeClock

from runcomfy import errors, http
from runcomfy.auth.credentials import Token
from runcomfy.http import USER_AGENT, HttpSession
from runcomfy.keepalive import KeepAlivePool, plain_target
from runcomfy.retry import should_retry, should_retry_submit

CANARY = f"rc-canary-{uuid.uuid4()}"


@dataclass
class Seen:
    connection: int  # which accepted connection (0, 1, ...)
    turn: int  # which request on that connection (0 for its first)
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


def answer(
    status: int = 200, body: bytes | dict[str, object] = b"{}", headers: dict[str, str] | None = None
) -> bytes:
    content = json.dumps(body).encode() if isinstance(body, dict) else body
    head = [f"HTTP/1.1 {status} Whatever", f"Content-Length: {len(content)}"]
    head += [f"{name}: {value}" for name, value in (headers or {"Content-Type": "application/json"}).items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + content


Script = Callable[[Seen], bytes | None]  # the bytes to send, or None: close the connection without a reply


@dataclass
class Server:
    """A loopback HTTP/1.1 server that answers each request with ``script(seen)`` and records every request."""

    script: Script = lambda seen: answer(200, {"ok": True})
    seen: list[Seen] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)  # ends a script that waits for it
    close_after_reply: bool = False
    tls: ssl.SSLContext | None = None  # serve HTTPS with this context
    handshake_errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self._connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            self._connections.append(sock)
            number = len(self._connections) - 1
            threading.Thread(target=self._serve, args=(sock, number), daemon=True).start()

    def _serve(self, sock: socket.socket, number: int) -> None:
        if self.tls is not None:
            try:
                sock = self.tls.wrap_socket(sock, server_side=True)
            except (OSError, ValueError) as exc:  # the client refused the certificate
                self.handshake_errors.append(str(exc))
                sock.close()
                return
            self._connections[number] = sock
        reader = sock.makefile("rb")
        turn = 0
        try:
            while line := reader.readline():
                method, target, _ = line.decode().split(" ", 2)
                headers = {}
                while (header := reader.readline()) not in (b"\r\n", b""):
                    name, _, value = header.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = reader.read(int(headers.get("content-length", "0")))
                seen = Seen(number, turn, method, target, headers, body)
                self.seen.append(seen)
                turn += 1
                reply = self.script(seen)
                if reply is None:
                    break
                sock.sendall(reply)
                if self.close_after_reply:
                    break
        except OSError:
            pass
        finally:
            reader.close()
            sock.close()

    def close_connections(self) -> None:
        """Close every connection from the server's side, as a server does with idle keep-alive connections."""
        for sock in self._connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        self.release.set()
        self._listener.close()
        self.close_connections()

    def methods(self) -> list[str]:
        return [seen.method for seen in self.seen]


@pytest.fixture
def server() -> Iterator[Server]:
    running = Server()
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def no_proxy_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


_SESSIONS: list[HttpSession] = []


@pytest.fixture(autouse=True)
def close_sessions() -> Iterator[None]:
    yield
    while _SESSIONS:
        _SESSIONS.pop().close()


def make_session(**kwargs: object) -> HttpSession:
    """An HttpSession closed when the test ends."""
    session = HttpSession(token=Token(CANARY), **kwargs)  # type: ignore[arg-type]
    _SESSIONS.append(session)
    return session


def session_for(*servers: Server) -> HttpSession:
    session = make_session(trusted_origins=[s.base for s in servers])
    assert session._plain is not None  # the plain path is what these tests are about
    return session


def wait_until_closed_by_server(session: HttpSession) -> None:
    """Block until every idle connection of the session sees the server's close (no sleeping, no timing)."""
    assert session._plain is not None
    for connections in session._plain._idle.values():
        for connection in connections:
            readable, _, _ = select.select([connection.sock], [], [], 10)
            assert readable


# --- keep-alive -------------------------------------------------------------------------------------------------


def test_calls_reuse_one_kept_alive_connection_and_send_what_httpx_sends(server: Server) -> None:
    session = session_for(server)
    for _ in range(3):
        assert session.request_json("GET", f"{server.base}/requests/r1/status") == {"ok": True}
    session.request_json("POST", f"{server.base}/models/a/b", json_body={"prompt": "é"})
    assert [seen.connection for seen in server.seen] == [0, 0, 0, 0]
    get, post = server.seen[0], server.seen[3]
    assert get.target == "/requests/r1/status" and get.headers["host"] == f"127.0.0.1:{server.port}"
    assert get.headers["user-agent"] == USER_AGENT and get.headers["authorization"] == f"Bearer {CANARY}"
    assert get.headers["accept-encoding"] == "gzip, deflate" and "content-length" not in get.headers
    assert post.headers["content-type"] == "application/json"
    assert json.loads(post.body) == {"prompt": "é"} and post.headers["content-length"] == str(len(post.body))
    assert session._plain is not None and session._plain.idle_count == 1
    assert session._client is None  # httpx was never needed


@pytest.mark.parametrize("poll", [True, False], ids=["poll", "select (no poll, as on Windows)"])
def test_a_connection_the_server_closed_while_idle_is_not_reused(
    server: Server, poll: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not poll:
        monkeypatch.delattr(select, "poll", raising=False)
    session = session_for(server)
    session.request_json("GET", f"{server.base}/requests/r1/status")
    server.close_connections()
    wait_until_closed_by_server(session)

    assert session.request_json("GET", f"{server.base}/requests/r1/status") == {"ok": True}
    server.close_connections()
    wait_until_closed_by_server(session)
    assert session.request_json("POST", f"{server.base}/models/a/b", json_body={}) == {"ok": True}

    assert server.methods() == ["GET", "GET", "POST"]  # the POST sent once...
    assert [seen.connection for seen in server.seen] == [0, 1, 2]  # ...each on a new connection


def test_a_get_that_fails_on_a_reused_connection_is_sent_again_on_a_new_one(server: Server) -> None:
    # The server drops a kept-alive connection as the request arrives: the race no check before reuse can see.
    server.script = lambda seen: None if seen.turn > 0 else answer(200, {"ok": True})
    session = session_for(server)
    session.request_json("GET", f"{server.base}/requests/r1/status")
    assert session.request_json("GET", f"{server.base}/requests/r1/status") == {"ok": True}
    assert [(seen.connection, seen.turn) for seen in server.seen] == [(0, 0), (0, 1), (1, 0)]


def test_a_post_that_fails_on_a_reused_connection_is_never_sent_again(server: Server) -> None:
    server.script = lambda seen: None if seen.turn > 0 else answer(200, {"ok": True})
    session = session_for(server)
    session.request_json("GET", f"{server.base}/requests/r1/status")
    with pytest.raises(errors.APIConnectionError) as caught:
        session.request_json("POST", f"{server.base}/models/a/b", json_body={"prompt": "x"})
    assert server.methods() == ["GET", "POST"]  # one POST, and no second one
    assert not should_retry_submit(caught.value)  # nor will the submit's retry policy send it again
    assert session.request_json("POST", f"{server.base}/models/a/b", json_body={}) == {"ok": True}


def test_threads_sharing_a_session_never_share_a_connection_at_once(server: Server) -> None:
    server.script = lambda seen: answer(200, {"n": int(seen.target.rsplit("/", 1)[1])})
    session = session_for(server)
    results: dict[int, object] = {}

    def work(base: int) -> None:
        for n in range(base, base + 25):
            results[n] = session.request_json("GET", f"{server.base}/n/{n}")["n"]

    threads = [threading.Thread(target=work, args=(100 * t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {n: n for n in results} and len(results) == 200  # every reply went to its own request
    assert len({seen.connection for seen in server.seen}) <= 8
    assert session._plain is not None and session._plain.idle_count <= 8


def test_an_idle_connection_older_than_the_expiry_is_not_reused(server: Server) -> None:
    clock = FakeClock()
    pool = KeepAlivePool(tls=http.tls_context, clock=clock)
    target = plain_target(f"{server.base}/x")
    assert target is not None

    def get() -> None:
        pool.request(target, "GET", [], None, connect_timeout=5, timeout=5, max_bytes=1000)

    get()
    clock.sleep(1)
    get()
    clock.sleep(6)
    get()
    assert [seen.connection for seen in server.seen] == [0, 0, 1]
    pool.close()  # closes the idle connection (the expired one was closed when it was found so)
    with pytest.raises(RuntimeError):
        get()


def test_a_reply_that_closes_the_connection_is_read_and_the_connection_not_kept(server: Server) -> None:
    server.script = lambda seen: answer(200, {"n": seen.turn}, {"Connection": "close"})
    session = session_for(server)
    assert session.request_json("GET", f"{server.base}/a") == {"n": 0}
    assert session.request_json("GET", f"{server.base}/a") == {"n": 0}
    assert [seen.connection for seen in server.seen] == [0, 1]
    assert session._plain is not None and session._plain.idle_count == 0


# --- failures ---------------------------------------------------------------------------------------------------


def test_no_reply_within_the_timeout_is_a_timeout_error(server: Server) -> None:
    server.script = lambda seen: None if server.release.wait() else b""  # answers nothing until the test ends
    session = session_for(server)
    with pytest.raises(errors.APITimeoutError) as caught:
        session.send("GET", f"{server.base}/requests/r1/status", timeout_s=0.2)
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)
    with pytest.raises(errors.APITimeoutError):
        session.send("POST", f"{server.base}/models/a/b", json_body={}, timeout_s=0.2)
    assert server.methods() == ["GET", "POST"]


@pytest.mark.skipif(sys.platform != "linux", reason="relies on Linux dropping a SYN when the backlog is full")
def test_a_connection_not_made_within_the_timeout_is_a_connect_timeout_a_submit_may_retry() -> None:
    listener = socket.create_server(("127.0.0.1", 0), backlog=0)
    filler = socket.create_connection(listener.getsockname())  # fills the backlog: the next SYN is dropped
    try:
        port = listener.getsockname()[1]
        session = make_session(trusted_origins=[f"http://127.0.0.1:{port}"])
        with pytest.raises(errors.APITimeoutError) as caught:
            session.send("POST", f"http://127.0.0.1:{port}/models/a/b", json_body={}, timeout_s=0.2)
        assert isinstance(caught.value.__cause__, httpx.ConnectTimeout)
        assert should_retry_submit(caught.value)  # nothing reached the server
    finally:
        filler.close()
        listener.close()


def test_a_refused_connection_is_a_connect_error_that_a_submit_may_retry() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there now
    session = make_session(trusted_origins=[f"http://127.0.0.1:{port}"])
    with pytest.raises(errors.APIConnectionError) as caught:
        session.send("POST", f"http://127.0.0.1:{port}/models/a/b", json_body={})
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert should_retry_submit(caught.value) and CANARY not in str(caught.value)


@pytest.mark.parametrize(
    ("raw", "cause"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{}", httpx.RemoteProtocolError),  # cut short
        (b"garbage\r\n\r\n", httpx.RemoteProtocolError),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", httpx.RemoteProtocolError),
        (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\nnope", httpx.DecodingError),
        (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", httpx.RemoteProtocolError),
        (b"HTTP/1.1 200 OK\r\nBad Header: x\r\nContent-Length: 2\r\n\r\n{}", httpx.RemoteProtocolError),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}", httpx.RemoteProtocolError),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n{}", httpx.RemoteProtocolError),
        (b"HTTP/1.1 200 OK\r\nX: a\x01b\r\nContent-Length: 2\r\n\r\n{}", httpx.RemoteProtocolError),
        (
            b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 101 + b"Content-Length: 2\r\n\r\n{}",
            httpx.RemoteProtocolError,
        ),
        (b"", httpx.RemoteProtocolError),  # closed without a reply
    ],
)
def test_a_broken_reply_is_a_connection_error_with_httpx_s_exception_as_cause(
    server: Server, raw: bytes, cause: type[Exception]
) -> None:
    server.script = lambda seen: raw or None
    server.close_after_reply = True
    session = session_for(server)
    with pytest.raises(errors.APIConnectionError) as caught:
        session.send("GET", f"{server.base}/requests/r1/status")
    assert isinstance(caught.value.__cause__, cause)
    assert should_retry(caught.value)
    assert session._plain is not None and session._plain.idle_count == 0  # a broken connection is not kept


def test_a_token_the_server_echoes_in_a_broken_reply_never_reaches_the_message(server: Server) -> None:
    server.script = lambda seen: f"HTTP/1.1 abc {seen.headers['authorization']}\r\n\r\n".encode()
    with pytest.raises(errors.APIConnectionError) as caught:
        session_for(server).send("GET", f"{server.base}/requests/r1/status")
    assert CANARY not in str(caught.value) and "****" in str(caught.value)


def test_replies_larger_than_the_cap_are_refused_declared_chunked_or_compressed(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http, "MAX_REPLY_BYTES", 1000)
    big = b"[" + b" " * 2000 + b"]"
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"".join(
        b"100\r\n" + b" " * 256 + b"\r\n" for _ in range(8)
    )
    replies = {
        "/declared": answer(200, big),
        "/chunked": chunked + b"0\r\n\r\n",
        "/bomb": answer(200, gzip.compress(b" " * 100_000), {"Content-Encoding": "gzip"}),
    }
    server.script = lambda seen: replies[seen.target]
    session = session_for(server)
    for path in replies:
        with pytest.raises(errors.APIResponseError, match="larger than 1000 bytes"):
            session.request_json("GET", f"{server.base}{path}")


def test_compressed_chunked_and_informational_replies_are_read_as_httpx_reads_them(server: Server) -> None:
    body = json.dumps({"ok": "yes"}).encode()
    replies = {
        "/early-hints": b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n" + answer(200, body),
        "/deflate": answer(200, zlib.compress(body), {"Content-Encoding": "deflate"}),
        "/gzip": answer(200, gzip.compress(body), {"Content-Encoding": "gzip"}),
        "/chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        + f"{len(body):x}\r\n".encode()
        + body
        + b"\r\n0\r\nX-Trailer: t\r\n\r\n",
    }
    server.script = lambda seen: replies[seen.target]
    session = session_for(server)
    for path in (*replies, *replies):
        assert session.request_json("GET", f"{server.base}{path}") == {"ok": "yes"}
    assert {seen.connection for seen in server.seen} == {0}


def test_header_values_that_are_not_ascii_are_read_as_httpx_reads_them(server: Server) -> None:
    notes = {"/utf8": b"caf\xc3\xa9", "/latin1": b"caf\xe9"}
    server.script = lambda seen: (
        b"HTTP/1.1 429 Too Many\r\nContent-Length: 2\r\nRetry-After: 7\r\nX-Note: "
        + notes[seen.target]
        + b"\r\n\r\n{}"
    )
    session = session_for(server)
    for path in notes:
        reply = session.send("GET", f"{server.base}{path}")
        assert (reply.status_code, reply.headers["x-note"]) == (429, "café")
        with pytest.raises(errors.RateLimitError) as caught:
            http.read_json(reply)
        assert caught.value.retry_after_s == 7


def test_a_folded_header_value_is_joined_as_h11_joins_it(server: Server) -> None:
    server.script = lambda seen: (
        b"HTTP/1.1 429 Slow\r\nRetry-After:\r\n  7\r\nX-A: a\r\n\tb\r\nContent-Length: 0\r\n\r\n"
    )
    reply = session_for(server).send("GET", f"{server.base}/a")
    assert (reply.headers["retry-after"], reply.headers["x-a"]) == ("7", "a b")


def test_a_redirect_is_not_followed_and_its_target_is_named(server: Server) -> None:
    server.script = lambda seen: answer(302, b"", {"Location": "https://evil.example/x"})
    with pytest.raises(errors.UnexpectedRedirect, match=r"redirect to https://evil\.example/x"):
        session_for(server).request_json("GET", f"{server.base}/requests/r1/status")
    assert len(server.seen) == 1


# --- the token's scope, and when httpx does the call ---------------------------------------------------------


def test_the_token_goes_only_to_the_configured_origins(server: Server) -> None:
    other = Server()
    try:
        session = session_for(server)
        session.send("GET", f"{server.base}/a")
        session.send("GET", f"{other.base}/a")
        session.send("GET", f"{server.base}/b", authenticated=False)
        assert server.seen[0].headers["authorization"] == f"Bearer {CANARY}"
        assert "authorization" not in other.seen[0].headers
        assert "authorization" not in server.seen[1].headers
    finally:
        other.stop()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:1/a b",
        "http://127.0.0.1:1/a/../b",
        "http://user:pw@127.0.0.1:1/a",
        "http://[::1]:1/a",
        "http://127.0.0.1:1/é",
        "http://127.0.0.1:99999/a",
        "http://127.0.0.1:1/a#frag",
        "ftp://127.0.0.1:1/a",
        "http://127.0.0.1:1/a%zz",
    ],
)
def test_urls_httpx_would_rewrite_are_left_to_httpx(url: str) -> None:
    assert plain_target(url) is None


def test_plain_targets_keep_the_path_and_query_and_name_the_origin_as_origin_key_does() -> None:
    target = plain_target("https://Model-API.runcomfy.net/v1/requests/a%2Fb/status?x=1&y=%20")
    assert target is not None
    assert (target.host, target.port, target.host_header) == (
        "model-api.runcomfy.net",
        443,
        "model-api.runcomfy.net",
    )
    assert target.path == "/v1/requests/a%2Fb/status?x=1&y=%20"
    assert target.origin_key == http.origin_key("https://model-api.runcomfy.net/v1")
    bare = plain_target("http://127.0.0.1:8080")
    assert bare is not None and bare.path == "/" and bare.host_header == "127.0.0.1:8080"


def test_a_proxy_in_the_environment_sends_every_call_through_httpx_and_the_proxy(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = Server()
    proxy.script = lambda seen: answer(200, {"via": "proxy"})
    try:
        monkeypatch.setenv("HTTP_PROXY", proxy.base)
        session = make_session(trusted_origins=[server.base])
        assert session._plain is None
        assert session.request_json("GET", f"{server.base}/requests/r1/status") == {"via": "proxy"}
        # The request line names the whole URL: the form a proxy is sent.
        assert proxy.seen[0].target == f"{server.base}/requests/r1/status"
        assert server.seen == []
        monkeypatch.setenv("NO_PROXY", "*")  # httpx ignores every proxy then: so may the plain path
        assert make_session(trusted_origins=[server.base])._plain is not None
    finally:
        proxy.stop()


def test_a_trace_a_transport_or_a_non_ascii_token_keeps_httpx() -> None:
    assert make_session(trusted_origins=[], trace=lambda line: None)._plain is None
    mock = httpx.MockTransport(lambda request: httpx.Response(200))
    assert make_session(trusted_origins=[], transport=mock)._plain is None
    non_ascii = HttpSession(token=Token("tökén"), trusted_origins=[])
    assert non_ascii._plain is None
    non_ascii.close()
    with pytest.raises(errors.NotAuthenticated):  # a token that would split a header is never made at all
        Token("abc\r\nX-Injected: 1")


def test_a_closed_session_refuses_to_send(server: Server) -> None:
    session = session_for(server)
    session.send("GET", f"{server.base}/a")
    session.close()
    with pytest.raises(RuntimeError):
        session.send("GET", f"{server.base}/a")
    with pytest.raises(RuntimeError):
        session.client.get(f"{server.base}/a")


# --- HTTPS, the real service's scheme ---------------------------------------------------------------------------


@pytest.fixture
def authority() -> trustme.CA:
    return trustme.CA()


def tls_server(authority: trustme.CA, *identities: str) -> Server:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert(*identities).configure_cert(context)
    return Server(tls=context)


@pytest.fixture
def trusting(authority: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The process trusts ``authority`` (through SSL_CERT_FILE, as httpx and the plain path read it)."""
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))


@pytest.mark.usefixtures("trusting")
def test_https_calls_verify_the_server_and_reuse_one_connection(authority: trustme.CA) -> None:
    server = tls_server(authority, "127.0.0.1")
    try:
        base = f"https://127.0.0.1:{server.port}"
        session = make_session(trusted_origins=[base])
        assert session._plain is not None
        for _ in range(3):
            assert session.request_json("GET", f"{base}/requests/r1/status") == {"ok": True}
        assert session.request_json("POST", f"{base}/models/a/b", json_body={"p": 1}) == {"ok": True}
        assert [seen.connection for seen in server.seen] == [0, 0, 0, 0]
        assert server.seen[0].headers["authorization"] == f"Bearer {CANARY}"
        assert session._client is None  # the whole exchange took the plain path

        server.close_connections()  # a TLS connection the server closed while idle is not reused either
        wait_until_closed_by_server(session)
        assert session.request_json("POST", f"{base}/models/a/b", json_body={}) == {"ok": True}
        assert [seen.connection for seen in server.seen] == [0, 0, 0, 0, 1]
    finally:
        server.stop()


@pytest.mark.parametrize("trusted", [False, True], ids=["unknown authority", "another host's certificate"])
def test_a_certificate_that_does_not_verify_sends_nothing_and_is_a_connection_error(
    authority: trustme.CA, trusted: bool, request: pytest.FixtureRequest
) -> None:
    if trusted:
        request.getfixturevalue("trusting")
    server = tls_server(authority, "127.0.0.1" if not trusted else "api.example.test")
    try:
        base = f"https://127.0.0.1:{server.port}"
        session = make_session(trusted_origins=[base])
        assert session._plain is not None
        with pytest.raises(errors.APIConnectionError, match="CERTIFICATE_VERIFY_FAILED") as caught:
            session.send("POST", f"{base}/models/a/b", json_body={})
        assert isinstance(caught.value.__cause__, httpx.ConnectError)
        assert server.seen == []  # no request, so no token, went to a server that was not verified
        assert CANARY not in str(caught.value)
    finally:
        server.stop()
