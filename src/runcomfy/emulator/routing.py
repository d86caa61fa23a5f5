"""What every emulated API's routes share: the endpoint declaration, the wrapper that logs each call and lets
the control plane inject faults, and the small readings of a request (its caller, its origin) and renderings
(dates) that must come out the same in every API.

An API module (:mod:`~runcomfy.emulator.web_login`, :mod:`~runcomfy.emulator.model_api`, and the Serverless and
Trainer APIs next) declares its routes as :class:`Endpoint` values, each with the route name that faults and the
call log use; :mod:`~runcomfy.emulator.app` turns them into Starlette routes with :func:`service_route`. Handlers
are ``async`` and await nothing but the request body, so state changes happen one at a time on the event loop
without locks. This module must never hold an API's own logic.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runcomfy.emulator import control_routes
from runcomfy.emulator.accounts import TokenRecord
from runcomfy.emulator.clock import iso
from runcomfy.emulator.control import Control
from runcomfy.emulator.errors import ServiceError, unauthorized
from runcomfy.emulator.state import EmulatorState

Handler = Callable[[Request], Awaitable[Response]]
__all__ = [
    "Endpoint",
    "Handler",
    "authenticated",
    "bearer",
    "caller",
    "header",
    "iso",
    "origin_of",
    "service_route",
    "url_path",
]
_CALLER_KEY = "runcomfy.emulator.caller"  # authenticated()'s answer in the scope: (accounts version, user)


@dataclass(frozen=True)
class Endpoint:
    """One route of an emulated API: where it is, the name faults and the call log know it by, its handler."""

    path: str
    name: str
    handler: Handler
    methods: tuple[str, ...]


def service_route(endpoint: Endpoint, state: EmulatorState, control: Control) -> Route:
    """The Starlette route of an endpoint, wrapped with the call log and fault injection.

    A :class:`ServiceError` the handler raises is logged with its status and passed on to the one exception
    handler that renders it.
    """

    async def logged(request: Request) -> Response:
        params = request.path_params
        call = control.begin(endpoint.name, request.method, url_path(request), params, state.clock.now())
        call.authorized = authenticated(state, request) is not None
        try:
            injected = None
            if control.faults:  # none queued: no need to look (most calls)
                injected = await control_routes.injected_answer(control, endpoint.name, params, call)
            response = injected or await endpoint.handler(request)
        except ServiceError as exc:
            call.status = exc.status
            raise
        call.status = response.status_code
        return response

    return Route(endpoint.path, logged, methods=list(endpoint.methods))


def bearer(request: Request) -> str | None:
    """The bearer token of a request, if any (from its first ``Authorization`` header)."""
    scheme, _, token = (header(request, b"authorization") or "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def authenticated(state: EmulatorState, request: Request) -> TokenRecord | None:
    """The user whose token the request carries, or None: ``state.authenticate(bearer(request))``, asked once
    per request (the call log and the handler both need it) as long as no token was added or forgotten since.
    Only the answer is kept in the request's scope, never the token."""
    scope, version = request.scope, state.accounts.version
    known = scope.get(_CALLER_KEY)
    if known is not None and known[0] == version:
        user: TokenRecord | None = known[1]
        return user
    user = state.authenticate(bearer(request))
    scope[_CALLER_KEY] = (version, user)
    return user


def caller(state: EmulatorState, request: Request) -> TokenRecord:
    """The user whose token the request carries; the service's 401 when there is none or it is unknown."""
    user = authenticated(state, request)
    if user is None:
        raise unauthorized()
    return user


def origin_of(request: Request) -> str:
    """The emulator's own origin as the client reached it (used for every absolute URL it hands out).

    The ``Host`` header has been checked against the names the emulator serves (:mod:`hosts`) by then. Read
    from the ASGI scope rather than from ``request.url``, which parses a whole URL on every request.
    """
    return f"{request.scope.get('scheme', 'http')}://{header(request, b'host') or request.url.netloc}"


def header(request: Request, name: bytes) -> str | None:
    """The first header ``name`` (lowercase) of a request, read straight from the ASGI scope: quicker than
    ``request.headers``, which these few per-call readings would otherwise build for every call."""
    for key, value in request.scope["headers"]:
        if key == name:
            text: str = value.decode("latin-1")
            return text
    return None


def url_path(request: Request) -> str:
    """``request.url.path`` (the path with ``?``, ``#`` and ``\\`` percent-encoded, as Starlette renders it),
    without building and parsing the whole URL: the call log records it for every call."""
    path: str = request.scope["path"]
    return path.replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")
