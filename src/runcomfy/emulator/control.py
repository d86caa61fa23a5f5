"""The control plane under ``/_emulator/``: fault injection, the call log, the clock and configuration.

Faults are queued per route name and consumed in order: each matching call takes one (``times`` counts down;
``null`` means forever). ``latency`` faults delay the call and let the next fault or the real handler answer;
every other kind answers instead of the handler:

- ``error``: a status code (default 503) with the service's error body and an optional ``Retry-After``;
- ``respond``: any status and JSON body (for example a device poll's ``slow_down``);
- ``non_json``: an HTML page with status 200 (or ``status``), as a misbehaving proxy would send;
- ``drop``: the connection is closed after the headers, before the body;
- ``redirect``: a ``Location`` to any URL (``status`` 302 by default), e.g. to test a client's redirect checks.

Route names: ``submit``, ``status``, ``result``, ``cancel``, ``models``, ``model``, ``categories``, ``file``,
``me``, ``cli-auth-start``, ``cli-auth-poll``, ``cli-auth-page``, or ``*`` for any of them.
Control routes are not logged and never faulted. Tokens are never recorded.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import Receive, Scope, Send

ROUTES = (
    "submit",
    "status",
    "result",
    "cancel",
    "models",
    "model",
    "categories",
    "file",
    "me",
    "cli-auth-start",
    "cli-auth-poll",
    "cli-auth-page",
)
KINDS = ("error", "respond", "non_json", "drop", "redirect", "latency")
MAX_CALLS = 50_000


@dataclass
class Fault:
    """One injected misbehaviour."""

    route: str
    kind: str
    times: int | None = 1
    status: int | None = None
    retry_after: str | None = None
    seconds: float = 0.0
    location: str | None = None
    body: Any = None
    request_id: str | None = None
    model_id: str | None = None

    def matches(self, route: str, params: dict[str, str]) -> bool:
        """Whether this fault applies to a call of ``route`` with these path parameters."""
        if self.route not in ("*", route):
            return False
        if self.request_id is not None and params.get("request_id") != self.request_id:
            return False
        return self.model_id is None or params.get("model_id") == self.model_id


@dataclass
class Call:
    """One call received, as the call log shows it."""

    seq: int
    time: float
    method: str
    path: str
    route: str
    status: int | None = None
    authorized: bool = False
    request_id: str | None = None
    model_id: str | None = None
    fault: str | None = None


class DropConnection(Response):
    """Sends the headers, then ends without the promised body, so the server closes the connection."""

    def __init__(self) -> None:
        super().__init__(
            status_code=200, headers={"content-length": "1024", "content-type": "application/json"}
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})


def parse_fault(data: Any) -> Fault:
    """A :class:`Fault` from a control request body; ValueError says what is wrong."""
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    route, kind = data.get("route", "*"), data.get("kind", "error")
    if route != "*" and route not in ROUTES:
        raise ValueError(f"unknown route {route!r}; one of {', '.join(ROUTES)} or *")
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; one of {', '.join(KINDS)}")
    if kind == "redirect" and not isinstance(data.get("location"), str):
        raise ValueError("a redirect fault needs a location")
    times = data.get("times", 1)
    if times is not None and (not isinstance(times, int) or times < 1):
        raise ValueError("times must be a positive integer or null (forever)")
    retry_after = data.get("retry_after")
    return Fault(
        route=route,
        kind=kind,
        times=times,
        status=_int_or_none(data.get("status")),
        retry_after=None if retry_after is None else str(retry_after),
        seconds=float(data.get("seconds", 0.0)),
        location=data.get("location"),
        body=data.get("body"),
        request_id=data.get("request_id"),
        model_id=data.get("model_id"),
    )


def _int_or_none(value: Any) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or not 100 <= value <= 599:
        raise ValueError("status must be an HTTP status code")
    return value


class Control:
    """Injected faults and the log of calls received."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self.calls: deque[Call] = deque(maxlen=MAX_CALLS)
        self._seq = itertools.count(1)

    def reset(self) -> None:
        """Forget every fault and call."""
        self.faults.clear()
        self.calls.clear()

    def begin(self, route: str, request: Request, now: float) -> Call:
        """Log a call as it arrives."""
        params = request.path_params
        call = Call(
            next(self._seq),
            now,
            request.method,
            request.url.path,
            route,
            request_id=params.get("request_id"),
            model_id=params.get("model_id"),
        )
        self.calls.append(call)
        return call

    def _take(self, route: str, params: dict[str, str]) -> Fault | None:
        for fault in self.faults:
            if fault.matches(route, params):
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times == 0:
                        self.faults.remove(fault)
                return fault
        return None

    async def intercept(self, route: str, request: Request, call: Call) -> Response | None:
        """Apply the faults queued for this call: sleep for latency ones, answer for the first other one."""
        while (fault := self._take(route, request.path_params)) is not None:
            call.fault = fault.kind if call.fault is None else f"{call.fault},{fault.kind}"
            if fault.kind == "latency":
                await asyncio.sleep(fault.seconds)
                continue
            return render_fault(fault)
        return None

    def calls_json(self, route: str | None = None, since: int = 0) -> list[dict[str, Any]]:
        """The call log, optionally filtered by route and by sequence number."""
        return [asdict(c) for c in self.calls if c.seq > since and (route is None or c.route == route)]


def render_fault(fault: Fault) -> Response:
    """The response a non-latency fault answers with."""
    if fault.kind == "drop":
        return DropConnection()
    if fault.kind == "redirect":
        return Response(status_code=fault.status or 302, headers={"location": fault.location or "/"})
    if fault.kind == "non_json":
        page = "<html><body><h1>502 Bad Gateway</h1><p>upstream hiccup (emulated)</p></body></html>"
        return HTMLResponse(page, status_code=fault.status or 200)
    headers = {"retry-after": fault.retry_after} if fault.retry_after is not None else None
    if fault.kind == "respond":
        return JSONResponse(fault.body, status_code=fault.status or 200, headers=headers)
    status = fault.status or 503
    body = (
        fault.body
        if fault.body is not None
        else {
            "error_code": status * 1000 + 1,
            "error_message": f"injected fault: HTTP {status}",
            "detail": "This error was injected through the emulator's control plane.",
        }
    )
    return JSONResponse(body, status_code=status, headers=headers)
