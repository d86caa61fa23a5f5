"""Plain keep-alive HTTP/1.1 for the API's own small JSON calls, on a socket of the standard library.

Why: a batch makes three calls per item from 16 threads that share one GIL. Through httpx each call cost about
0.7 ms of CPU (its URL and header models, cookie jar, auth flow, event hooks, httpcore's pool and h11's state
machine), most of the CLI's CPU per item. Here the request is written in one ``sendall`` on a kept-alive socket
and the reply read by :mod:`runcomfy.http1`: about a fifth of that.

:class:`runcomfy.http.HttpSession` decides when it is used: only for a URL that goes on the wire exactly as httpx
would send it (:func:`plain_target`), and never when the environment names a proxy, a trace is on or a transport
was given (then httpx does it all). What this module keeps of httpx's and httpcore's behaviour:

- an idle connection is reused only if it has been idle at most :data:`KEEPALIVE_EXPIRY_S` and is not readable
  (a server that closed it, or sent something unasked, makes it readable): a request never goes on a connection
  the server has already closed. A GET that still fails on a reused connection before its reply is sent once
  more on a new one (a GET cannot take effect twice); a POST never is, so a submit is never sent twice;
- TLS with the process's shared verifying context (hostname checked, SNI sent);
- the connect timeout, and the read/write timeout per socket operation;
- every failure is raised as the matching httpx exception (``ConnectError``, ``ConnectTimeout``,
  ``ReadTimeout``, ``WriteTimeout``, ``ReadError``, ``WriteError``, ``RemoteProtocolError``, ``DecodingError``),
  so the session's one error funnel treats both paths alike; a reply over the cap raises
  :class:`~runcomfy.http1.ReplyTooLarge`. A connection that failed, or whose reply was refused, is dropped.

It never follows a redirect and keeps no cookies (API calls are authorised by the bearer token alone).
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from io import BufferedIOBase

import httpx

from runcomfy.http1 import NoReply, Reply, read_reply

KEEPALIVE_EXPIRY_S = 5.0  # httpcore's: a connection idle longer may be closing on the server's side right now
MAX_IDLE_PER_ORIGIN = 20  # httpx's max_keepalive_connections
IDEMPOTENT = frozenset({"GET", "HEAD"})
_DEFAULT_PORTS = {"http": 80, "https": 443}

# A URL httpx would send unchanged: http(s), a plain ASCII host name or IPv4 address, an optional port, a path
# and query of characters that need no escaping (or valid %XX escapes), no fragment and no user info. Anything
# else (IPv6, IDNA, spaces, non-ASCII...) is left to httpx, which normalises it.
_CHAR = r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})"
_PLAIN_URL = re.compile(
    rf"(https?)://([A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9.])?)(?::([0-9]{{1,5}}))?"
    rf"((?:/{_CHAR}*)?)((?:\?(?:{_CHAR}|\?)*)?)"
)
_DOT_SEGMENT = re.compile(r"/\.\.?(?:/|$)")  # httpx removes these; the server would see another path
_MAX_URL_CHARS = 65536


@dataclass(frozen=True, slots=True)
class Target:
    """Where a plain URL sends a request: the origin's parts, the ``Host`` header and the request target."""

    scheme: str
    host: str
    port: int
    host_header: str
    path: str

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)

    @property
    def origin_key(self) -> str:
        """As :func:`runcomfy.api_urls.origin_key` writes it (what decides whether the token goes there)."""
        return f"{self.scheme}://{self.host.removesuffix('.')}:{self.port}"


def plain_target(url: str) -> Target | None:
    """The :class:`Target` of ``url`` if it goes on the wire unchanged, as httpx would send it; else ``None``."""
    if len(url) > _MAX_URL_CHARS:
        return None
    match = _PLAIN_URL.fullmatch(url)
    if match is None:
        return None
    scheme, host, port_text, path, query = match.groups()
    if _DOT_SEGMENT.search(path):
        return None
    default = _DEFAULT_PORTS[scheme]
    port = int(port_text) if port_text else default
    if not 0 < port < 65536:
        return None
    host = host.lower()
    host_header = host if port == default else f"{host}:{port}"
    return Target(scheme, host, port, host_header, (path or "/") + query)


class _Connection:
    """One socket to one origin, and the timeout it is set to (set again only when a call wants another)."""

    __slots__ = ("idle_since", "sock", "timeout")

    def __init__(self, sock: socket.socket, timeout: float | None) -> None:
        self.sock = sock
        self.timeout = timeout
        self.idle_since = 0.0

    def set_timeout(self, timeout: float) -> None:
        if timeout != self.timeout:
            self.sock.settimeout(timeout)
            self.timeout = timeout

    def is_stale(self) -> bool:
        """Readable while idle: the server closed it (EOF), reset it, or sent bytes nobody asked for."""
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
            return True
        try:
            if hasattr(select, "poll"):
                poller = select.poll()
                poller.register(self.sock, select.POLLIN)
                return bool(poller.poll(0))
            readable, _, _ = select.select([self.sock], [], [], 0)  # Windows has no poll()
            return bool(readable)
        except (OSError, ValueError):
            return True

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


class _Stale(Exception):
    """A reused connection failed before its reply arrived; ``error`` is what to raise if it is not resent."""

    def __init__(self, error: httpx.TransportError) -> None:
        super().__init__(str(error))
        self.error = error


class KeepAlivePool:
    """Kept-alive connections per origin, each used by one thread at a time (see the module docstring).

    Thread-safe: a connection is taken from its origin's idle list under a lock and given back once its reply
    has been read in full. ``tls`` gives the verifying context for https origins.
    """

    def __init__(
        self, *, tls: Callable[[], ssl.SSLContext], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._tls = tls
        self._clock = clock
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._lock = threading.Lock()
        self._closed = False

    def request(
        self,
        target: Target,
        method: str,
        headers: Sequence[tuple[str, str]],
        body: bytes | None,
        *,
        connect_timeout: float,
        timeout: float,
        max_bytes: int,
    ) -> Reply:
        """Send one request and read its reply; raises httpx's exceptions, or ``ReplyTooLarge``."""
        if self._closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        message = _request_bytes(target, method, headers, body)
        connection = self._checkout(target)
        if connection is not None:
            try:
                return self._exchange(connection, target, method, message, timeout, max_bytes, reused=True)
            except _Stale as stale:
                if method not in IDEMPOTENT:
                    raise stale.error from stale.error.__cause__
        connection = self._connect(target, connect_timeout)
        return self._exchange(connection, target, method, message, timeout, max_bytes, reused=False)

    def close(self) -> None:
        """Close the idle connections; one in use is closed when its call ends. Later calls raise."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()

    @property
    def idle_count(self) -> int:
        """How many connections are idle now (tests)."""
        with self._lock:
            return sum(len(connections) for connections in self._idle.values())

    # -- connections ---------------------------------------------------------------------------------------------

    def _checkout(self, target: Target) -> _Connection | None:
        """The most recently used idle connection to the origin that is still fit for a request, or ``None``."""
        expired: list[_Connection] = []
        found = None
        now = self._clock()
        with self._lock:
            idle = self._idle.get(target.origin)
            while idle:
                connection = idle.pop()
                if now - connection.idle_since > KEEPALIVE_EXPIRY_S:
                    expired.append(connection)  # and every older one: they have been idle even longer
                    expired.extend(idle)
                    idle.clear()
                    break
                if connection.is_stale():
                    expired.append(connection)
                    continue
                found = connection
                break
        for connection in expired:
            connection.close()
        return found

    def _checkin(self, target: Target, connection: _Connection) -> None:
        connection.idle_since = self._clock()
        with self._lock:
            if not self._closed:
                idle = self._idle.setdefault(target.origin, [])
                if len(idle) < MAX_IDLE_PER_ORIGIN:
                    idle.append(connection)
                    return
        connection.close()

    def _connect(self, target: Target, timeout: float) -> _Connection:
        try:
            sock = socket.create_connection((target.host, target.port), timeout=timeout)
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(_reason(exc)) from exc
        except OSError as exc:
            raise httpx.ConnectError(_reason(exc)) from exc
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if target.scheme == "https":
                sock = self._tls().wrap_socket(sock, server_hostname=target.host.removesuffix("."))
        except TimeoutError as exc:
            sock.close()
            raise httpx.ConnectTimeout(_reason(exc)) from exc
        except (OSError, ValueError) as exc:  # ssl.SSLError (a certificate refused) is an OSError
            sock.close()
            raise httpx.ConnectError(_reason(exc)) from exc
        return _Connection(sock, timeout)

    # -- one exchange --------------------------------------------------------------------------------------------

    def _exchange(
        self,
        connection: _Connection,
        target: Target,
        method: str,
        message: bytes,
        timeout: float,
        max_bytes: int,
        *,
        reused: bool,
    ) -> Reply:
        keep = False
        try:
            try:
                connection.set_timeout(timeout)
                connection.sock.sendall(message)
            except TimeoutError as exc:
                raise httpx.WriteTimeout(_reason(exc)) from exc
            except OSError as exc:
                raise _unless_reused(httpx.WriteError(_reason(exc)), exc, reused) from exc
            reader = connection.sock.makefile("rb")
            try:
                reply = _read_reply(reader, method, max_bytes, reused=reused)
            finally:
                reader.close()
            keep = reply.keep_alive
            return reply
        finally:
            if keep:
                self._checkin(target, connection)
            else:
                connection.close()


def _unless_reused(
    error: httpx.TransportError, cause: BaseException | None, reused: bool
) -> httpx.TransportError | _Stale:
    """``error``, or on a reused connection the :class:`_Stale` that lets a GET be sent again."""
    error.__cause__ = cause
    return _Stale(error) if reused else error


def _read_reply(reader: BufferedIOBase, method: str, max_bytes: int, *, reused: bool) -> Reply:
    """Read the whole reply (:func:`runcomfy.http1.read_reply`); socket failures become httpx's exceptions."""
    try:
        return read_reply(reader, method, max_bytes)
    except NoReply as exc:
        raise _unless_reused(exc, None, reused) from None
    except (ConnectionResetError, ConnectionAbortedError) as exc:
        raise _unless_reused(httpx.ReadError(_reason(exc)), exc, reused) from exc
    except TimeoutError as exc:
        raise httpx.ReadTimeout(_reason(exc)) from exc
    except OSError as exc:
        raise httpx.ReadError(_reason(exc)) from exc


def _request_bytes(
    target: Target, method: str, headers: Sequence[tuple[str, str]], body: bytes | None
) -> bytes:
    """The request head and body, to be sent in one write (the values are ours and checked by the caller)."""
    lines = [f"{method} {target.path} HTTP/1.1", f"Host: {target.host_header}"]
    lines.extend(f"{name}: {value}" for name, value in headers)
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    elif method in ("POST", "PUT", "PATCH"):
        lines.append("Content-Length: 0")  # as httpx sends it
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")
    return head + body if body else head


def _reason(exc: BaseException) -> str:
    """What went wrong, in the socket's words (they never quote a header we sent)."""
    return str(exc) or type(exc).__name__
