"""The control plane's model: injected faults, the call log, and the checks on what the control plane is told.

Faults are queued per route name and consumed in order: each matching call takes one (``times`` counts down;
``null`` means forever). ``latency`` faults delay the call and let the next fault or the real handler answer;
every other kind answers instead of the handler:

- ``error``: a status code (default 503) with the service's error body and an optional ``Retry-After``;
- ``respond``: any status and JSON body (for example a device poll's ``slow_down``);
- ``non_json``: an HTML page with status 200 (or ``status``), as a misbehaving proxy would send;
- ``drop``: the connection is closed after the headers, before the body;
- ``redirect``: a ``Location`` to any URL (``status`` 302 by default), e.g. to test a client's redirect checks.

Route names are those of the emulated APIs' routes (``GET /_emulator`` lists them), or ``*`` for any of them.
Control routes are not logged and never faulted. Webhook deliveries (calls the emulator makes, not receives)
are logged as route ``webhook`` with their target, status and attempt. Tokens are never recorded.

Everything the control plane is told is checked before it is kept (:func:`parse_fault`, :func:`parse_config`,
:func:`parse_advance`): a value that would break a later answer (a header with a line break, a status code
HTTP/1.1 cannot send with a body, an endless sleep or duration, a clock beyond what dates can show) is refused
at once with a reason, rather than accepted and turned into a failure of some unrelated call.

This module holds data and matching only: it knows nothing of HTTP. The routes of the control plane and the way
a fault is answered live in :mod:`~runcomfy.emulator.control_routes` and :mod:`~runcomfy.emulator.routing`.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

WEBHOOK_ROUTE = "webhook"  # the call log's name for webhook deliveries (outgoing: never faulted)
KINDS = ("error", "respond", "non_json", "drop", "redirect", "latency")
MAX_CALLS = 50_000
MAX_FAULTS = 10_000
DAY_S = 86_400
YEAR_S = 365 * DAY_S
MAX_LATENCY_S = DAY_S  # longer than any client timeout worth testing
MAX_SECONDS = 10 * YEAR_S  # one clock step or one run time
MAX_CLOCK_OFFSET_S = 1000 * YEAR_S  # every date the emulator shows stays a valid ISO 8601 date
MAX_WORKERS = 1024
MAX_HEADER_CHARS = 8192
MAX_ID_CHARS = 1024


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

    def matches(self, route: str, params: Mapping[str, str]) -> bool:
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
    target: str | None = None  # a webhook delivery's URL
    attempt: int | None = None  # a webhook delivery's attempt (1 = the first)
    detail: str | None = None  # a webhook delivery's outcome


def parse_fault(data: Any, routes: Collection[str]) -> Fault:
    """A :class:`Fault` from a control request body, for one of the route names ``routes``; ValueError says
    what is wrong."""
    if not isinstance(data, dict):
        raise ValueError("a fault must be a JSON object")
    route, kind = data.get("route", "*"), data.get("kind", "error")
    if not isinstance(route, str) or (route != "*" and route not in routes):
        raise ValueError(f"unknown route {route!r:.60}; one of {', '.join(routes)} or *")
    if not isinstance(kind, str) or kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r:.60}; one of {', '.join(KINDS)}")
    if kind == "redirect" and data.get("location") is None:
        raise ValueError("a redirect fault needs a location")
    times = data.get("times", 1)
    status, retry_after, location = data.get("status"), data.get("retry_after"), data.get("location")
    return Fault(
        route=route,
        kind=kind,
        times=None if times is None else integer(times, "times (or null, forever)", low=1, high=10**9),
        status=None if status is None else integer(status, "status", low=200, high=599),
        retry_after=None if retry_after is None else _retry_after(retry_after),
        seconds=number(data.get("seconds", 0), "seconds", low=0, high=MAX_LATENCY_S),
        location=None if location is None else header_value(location, "location"),
        body=data.get("body"),
        request_id=_optional_id(data.get("request_id"), "request_id"),
        model_id=_optional_id(data.get("model_id"), "model_id"),
    )


def number(value: Any, name: str, *, low: float, high: float) -> float:
    """A JSON number (not a boolean) within ``low..high``; ValueError names the field otherwise.

    The range check also refuses NaN and the infinities (they compare false), and is done before any
    conversion, so a huge integer cannot overflow ``float``.
    """
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ValueError(f"{name} must be a number from {_plain(low)} to {_plain(high)}")
    return float(value)


def _plain(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def integer(value: Any, name: str, *, low: int, high: int) -> int:
    """A JSON integer (not a boolean) within ``low..high``; ValueError names the field otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer from {low} to {high}")
    return value


def header_value(value: Any, name: str, max_chars: int = MAX_HEADER_CHARS) -> str:
    """Text that can go into a response header as it is: printable ASCII, no line breaks, no edge spaces."""
    if (
        not isinstance(value, str)
        or not 0 < len(value) <= max_chars
        or not all(" " <= ch <= "~" for ch in value)
        or value != value.strip()
    ):
        raise ValueError(
            f"{name} must be 1 to {max_chars} printable ASCII characters without control characters "
            "(percent-encode anything else)"
        )
    return value


def _retry_after(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = number(value, "retry_after", low=0, high=MAX_SECONDS)
        return str(int(seconds)) if seconds.is_integer() else str(seconds)
    return header_value(value, "retry_after (seconds or an HTTP date)", max_chars=64)


def _optional_id(value: Any, name: str) -> str | None:
    if value is not None and (not isinstance(value, str) or not 0 < len(value) <= MAX_ID_CHARS):
        raise ValueError(f"{name} must be a non-empty string (or null)")
    return value


@dataclass(frozen=True)
class ConfigChange:
    """What a ``POST /_emulator/config`` asks to change (None: leave as is)."""

    workers: int | None = None
    durations: dict[str, float] = field(default_factory=dict)
    device_expires_s: int | None = None
    device_poll_interval_s: int | None = None


def parse_config(data: Any) -> ConfigChange:
    """A :class:`ConfigChange` from a control request body, checked whole; ValueError says what is wrong."""
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    workers, durations = data.get("workers"), data.get("durations")
    expires, interval = data.get("device_expires_s"), data.get("device_poll_interval_s")
    if durations is not None and not isinstance(durations, dict):
        raise ValueError("durations must map model ids (or *) to seconds")
    return ConfigChange(
        workers=None if workers is None else integer(workers, "workers", low=1, high=MAX_WORKERS),
        durations={
            model: number(seconds, f"durations[{model!r:.80}]", low=0, high=MAX_SECONDS)
            for model, seconds in (durations or {}).items()
        },
        device_expires_s=None if expires is None else integer(expires, "device_expires_s", low=0, high=DAY_S),
        device_poll_interval_s=(
            None if interval is None else integer(interval, "device_poll_interval_s", low=0, high=60)
        ),
    )


def parse_advance(data: Any, offset: float) -> float:
    """Seconds to move a clock now ``offset`` seconds ahead forward, from ``{"advance": s}``; or ValueError."""
    advance = data.get("advance") if isinstance(data, dict) else None
    seconds = number(advance, "advance", low=0, high=MAX_SECONDS)
    if offset + seconds > MAX_CLOCK_OFFSET_S:
        raise ValueError(f"the clock cannot run more than {MAX_CLOCK_OFFSET_S} seconds ahead")
    return seconds


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

    def begin(self, route: str, method: str, path: str, params: Mapping[str, str], now: float) -> Call:
        """Log a call as it arrives."""
        call = Call(
            next(self._seq),
            now,
            method,
            path,
            route,
            request_id=params.get("request_id"),
            model_id=params.get("model_id"),
        )
        self.calls.append(call)
        return call

    def log_delivery(
        self, url: str, *, request_id: str, status: int | None, attempt: int, detail: str, now: float
    ) -> None:
        """Log one attempt to deliver a webhook callback (route ``webhook``)."""
        path = urlsplit(url).path or "/"
        call = Call(next(self._seq), now, "POST", path, WEBHOOK_ROUTE, status, request_id=request_id)
        call.target, call.attempt, call.detail = url, attempt, detail
        self.calls.append(call)

    def take(self, route: str, params: Mapping[str, str], applied: Collection[int]) -> Fault | None:
        """The first queued fault for this call that has not yet been ``applied`` to it (ids), counted down.

        A fault applies at most once to one call, so a lasting latency fault (``times: null``) delays every
        call once and then lets it through, instead of holding it forever.
        """
        for fault in self.faults:
            if id(fault) not in applied and fault.matches(route, params):
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times == 0:
                        self.faults.remove(fault)
                return fault
        return None

    def calls_json(self, route: str | None = None, since: int = 0) -> list[dict[str, Any]]:
        """The call log, optionally filtered by route and by sequence number."""
        return [asdict(c) for c in self.calls if c.seq > since and (route is None or c.route == route)]
