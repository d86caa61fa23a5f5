"""Which ``Host`` headers and ``Origin`` values the emulator accepts, and the middleware that enforces it.

The emulator builds every absolute URL it hands out (status, result and file URLs, the login's verify URL) from
the ``Host`` header, and its control plane and approval page have no password: being reachable is the
permission. A web page on another site can still reach a loopback server through DNS rebinding (its own name
re-pointed at 127.0.0.1), but the browser then sends that name in ``Host`` and ``Origin``. So every request
must name the emulator itself: the host it is bound to, ``localhost``, ``127.0.0.1`` or ``[::1]``, on the port
it is bound to; anything else is refused with a 400 before any route runs.

A server bound to every interface (``0.0.0.0`` or ``::``) cannot know the names it is reached by; it accepts
any IP literal (a name that DNS cannot re-point) and the machine's host name, on its port. Only the port it
is bound to is accepted, unless the user names more ``host:port`` pairs (``runcomfy emulator --allow-host``):
how an emulator behind a forwarded or published port (``ssh -L``, ``docker -p 9000:8188``) is reached.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Receive, Scope, Send

from runcomfy.emulator.errors import ServiceError

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})
DEFAULT_HTTP_PORT = 80


def split_authority(authority: str) -> tuple[str, int] | None:
    """``(host, port)`` of ``host[:port]`` (IPv6 in brackets; the port defaults to 80), or None if malformed.

    The host comes back lowercased and without brackets.
    """
    authority = authority.lower()
    port_text: str | None
    if authority.startswith("["):
        host, bracket, after = authority[1:].partition("]")
        if not bracket or (after and not after.startswith(":")):
            return None
        port_text = after[1:] if after else None
    else:
        host, colon, port_text = authority.partition(":")
        port_text = port_text if colon else None
    if port_text is None:
        port = DEFAULT_HTTP_PORT
    elif port_text.isascii() and port_text.isdigit() and len(port_text) <= 5:
        port = int(port_text)
    else:
        return None
    if not host or not 0 < port < 65536 or not (host.isascii() and host.isprintable()):
        return None
    return host, port


@dataclass(frozen=True)
class ServedHosts:
    """The names and the port a running emulator answers to."""

    bind_host: str
    port: int
    also: frozenset[tuple[str, int]] = frozenset()  # extra (host, port) pairs: a forwarded or published port
    names: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        bound = self.bind_host.strip("[]").lower()
        names = set(LOOPBACK_NAMES)
        if bound in WILDCARD_HOSTS:
            names.add(socket.gethostname().lower())
        else:
            names.add(bound)
        object.__setattr__(self, "names", frozenset(names))

    @property
    def wildcard(self) -> bool:
        """Whether the server listens on every interface."""
        return self.bind_host.strip("[]") in WILDCARD_HOSTS

    def accepts(self, host_header: str | None) -> bool:
        """Whether a ``Host`` header names this emulator."""
        parsed = split_authority(host_header) if host_header else None
        if parsed is None:
            return False
        host, port = parsed
        if (host, port) in self.also:
            return True
        if port != self.port:
            return False
        return host in self.names or (self.wildcard and _is_ip_literal(host))

    def same_origin(self, origin: str, host_header: str) -> bool:
        """Whether an ``Origin`` header is this emulator as the request reached it (same scheme, host, port)."""
        scheme, sep, authority = origin.partition("://")
        if not sep or scheme.lower() != "http" or not self.accepts(authority):
            return False
        return split_authority(authority) == split_authority(host_header)


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class HostCheck:
    """ASGI middleware: refuse (400, the service's error shape) a request whose ``Host`` is not this emulator."""

    def __init__(self, app: ASGIApp, served: ServedHosts) -> None:
        self.app = app
        self.served = served

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            hosts = [value.decode("latin-1") for name, value in scope["headers"] if name == b"host"]
            if len(hosts) != 1 or not self.served.accepts(hosts[0]):
                # Answered here, not raised: this middleware runs outside the routing's exception handlers.
                refusal = ServiceError(
                    400,
                    "Invalid Host header: this server is not the one named",
                    f"Reach the emulator as http://localhost:{self.served.port} or "
                    f"http://127.0.0.1:{self.served.port}.",
                )
                await refusal.response()(scope, receive, send)
                return
        await self.app(scope, receive, send)
