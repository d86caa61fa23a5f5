"""A typed client of the emulator's control plane (``/_emulator/...``), for tests that drive an emulator.

It speaks HTTP only, so it drives an emulator in the same process (:mod:`runcomfy.emulator.testing`) or one
started elsewhere (``runcomfy emulator`` in CI) alike, and needs nothing of the ``emulator`` extra:

    control = ControlClient("http://127.0.0.1:8188")
    control.faults.add(route="status", status=503, retry_after=0)   # the next status call fails once
    control.clock.advance(60)                                        # a minute passes for every request
    assert [call.status for call in control.calls.list("status")] == [503, 200]

Faults and calls come back as the control plane's own record types (:class:`~runcomfy.emulator.control.Fault`,
:class:`~runcomfy.emulator.control.Call`). A refusal raises :class:`ControlPlaneError` with the emulator's
reason; :meth:`ControlClient.request` is the raw escape hatch that raises nothing. This client never sends a
bearer token: the control plane takes none, and a test's token must not travel where it is not needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

import httpx

from runcomfy.emulator.control import Call, Fault


class ControlPlaneError(Exception):
    """The control plane refused a request; ``status`` and ``body`` are its answer."""

    def __init__(self, method: str, path: str, response: httpx.Response) -> None:
        self.status = response.status_code
        try:
            self.body: Any = response.json()
        except ValueError:
            self.body = response.text
        reason = self.body.get("error_message") if isinstance(self.body, dict) else self.body
        super().__init__(f"{method} /_emulator/{path} answered {self.status}: {reason}")


class ClockReading(TypedDict):
    """The emulator's time: ``now`` in Unix seconds, and how far ``offset`` it was moved ahead."""

    now: float
    offset: float


class ConfigReading(TypedDict):
    """The settings the control plane can change (a reset restores those the emulator started with)."""

    workers: int
    durations: dict[str, float]
    device_expires_s: int
    device_poll_interval_s: int


class RequestRecord(TypedDict):
    """One Model API request as the control plane lists it, with its whole timeline."""

    request_id: str
    owner: str
    model_id: str
    input: Any
    seq: int
    submitted_at: float
    duration_s: float
    status: str
    started_at: float | None
    finishes_at: float | None
    finished_at: float | None
    output: Any
    error: dict[str, Any] | None
    queue_position: int | None


class ControlClient:
    """The control plane of the emulator at ``origin`` (``http://host:port``)."""

    def __init__(self, origin: str, http: httpx.Client | None = None) -> None:
        """``http``: a client to share (its owner closes it); without one, this client makes and owns one."""
        self.origin = origin.rstrip("/")
        self._owns_http = http is None
        self._http = http or httpx.Client(timeout=30)
        self.faults = Faults(self)
        self.calls = Calls(self)
        self.clock = ClockControl(self)
        self.config = ConfigControl(self)

    def close(self) -> None:
        """Close the HTTP client if this client made it."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def request(self, method: str, path: str = "", json: Any = None) -> httpx.Response:
        """``method /_emulator/<path>`` (``path`` may carry a query string) as it answers; raises nothing.

        For tests of the control plane itself, and for anything the typed methods do not cover.
        """
        return self._http.request(method, self._url(path), json=json)

    def call(
        self, method: str, path: str = "", json: Any = None, params: Mapping[str, Any] | None = None
    ) -> Any:
        """The JSON answer of a control request; :class:`ControlPlaneError` when it is refused."""
        response = self._http.request(method, self._url(path), json=json, params=params)
        if response.status_code >= 400:
            raise ControlPlaneError(method, path, response)
        return response.json()

    def _url(self, path: str) -> str:
        return f"{self.origin}/_emulator/{path}" if path else f"{self.origin}/_emulator"

    def info(self) -> dict[str, Any]:
        """Version, time, workers, the route names faults take, the fault kinds and the models."""
        info: dict[str, Any] = self.call("GET")
        return info

    def reset(self) -> None:
        """Forget requests, logins, faults, calls and setting changes; static tokens stay."""
        self.call("POST", "reset")

    def requests(self) -> list[RequestRecord]:
        """Every Model API request with its timeline, in the order submitted."""
        records: list[RequestRecord] = self.call("GET", "requests")["requests"]
        return records

    def fail(
        self, request_id: str, message: str | None = None, error_type: str | None = None
    ) -> RequestRecord:
        """Make a queued or running request end ``failed`` now (a 409 :class:`ControlPlaneError` if it ended)."""
        body = {
            key: value for key, value in (("message", message), ("type", error_type)) if value is not None
        }
        record: RequestRecord = self.call("POST", f"requests/{request_id}/fail", body)
        return record

    def add_token(self, token: str) -> dict[str, str]:
        """Accept one more static token (its own user); the user's id, email and token type."""
        user: dict[str, str] = self.call("POST", "tokens", {"token": token})
        return user


class Faults:
    """Injected misbehaviour of the emulated routes (see :mod:`runcomfy.emulator.control` for the kinds)."""

    def __init__(self, control: ControlClient) -> None:
        self._control = control

    def add(
        self,
        route: str = "*",
        kind: str = "error",
        *,
        times: int | None = 1,
        status: int | None = None,
        retry_after: float | str | None = None,
        seconds: float | None = None,
        location: str | None = None,
        body: Any = None,
        request_id: str | None = None,
        model_id: str | None = None,
    ) -> list[Fault]:
        """Queue one fault for the next ``times`` calls of ``route`` (``None``: until cleared); every fault
        now queued. ``status``, ``retry_after``, ``body``: the answer of an ``error``, ``respond`` or
        ``redirect``; ``seconds``: a ``latency``; ``location``: a ``redirect``'s target; ``request_id`` and
        ``model_id`` narrow it to calls naming them."""
        fault: dict[str, Any] = {"route": route, "kind": kind, "times": times}
        optional = {
            "status": status,
            "retry_after": retry_after,
            "seconds": seconds,
            "location": location,
            "body": body,
            "request_id": request_id,
            "model_id": model_id,
        }
        fault.update({key: value for key, value in optional.items() if value is not None})
        return _faults(self._control.call("POST", "faults", fault))

    def list(self) -> list[Fault]:
        """The faults still queued, in the order they apply."""
        return _faults(self._control.call("GET", "faults"))

    def clear(self) -> None:
        """Drop every queued fault."""
        self._control.call("DELETE", "faults")


def _faults(answer: dict[str, Any]) -> list[Fault]:
    return [Fault(**fault) for fault in answer["faults"]]


class Calls:
    """The log of calls the emulated routes received (control-plane calls are not logged)."""

    def __init__(self, control: ControlClient) -> None:
        self._control = control

    def list(self, route: str | None = None, *, since: int = 0) -> list[Call]:
        """Calls in the order received; only those of ``route``, only those after sequence number ``since``."""
        params: dict[str, Any] = {"since": since}
        if route is not None:
            params["route"] = route
        answer = self._control.call("GET", "calls", params=params)
        return [Call(**call) for call in answer["calls"]]

    def clear(self) -> None:
        """Forget every logged call."""
        self._control.call("DELETE", "calls")


class ClockControl:
    """The emulator's clock: requests progress, and device codes expire, by it."""

    def __init__(self, control: ControlClient) -> None:
        self._control = control

    def now(self) -> float:
        """The emulator's time in Unix seconds."""
        return float(self.read()["now"])

    def read(self) -> ClockReading:
        """The time and how far ahead it was moved."""
        reading: ClockReading = self._control.call("GET", "clock")
        return reading

    def advance(self, seconds: float) -> ClockReading:
        """Move time forward by ``seconds`` (every request and device code sees it at once)."""
        reading: ClockReading = self._control.call("POST", "clock", {"advance": seconds})
        return reading


class ConfigControl:
    """Settings that can change while the emulator runs."""

    def __init__(self, control: ControlClient) -> None:
        self._control = control

    def get(self) -> ConfigReading:
        """The current settings."""
        settings: ConfigReading = self._control.call("GET", "config")
        return settings

    def set(
        self,
        *,
        workers: int | None = None,
        durations: Mapping[str, float] | None = None,
        device_expires_s: int | None = None,
        device_poll_interval_s: int | None = None,
    ) -> ConfigReading:
        """Change the given settings, leaving the rest: ``workers`` running at once, ``durations`` (run time in
        seconds by model id, ``*`` for every other model; merged into those set before), and the device-code
        login's lifetime and poll interval. The settings after the change."""
        change: dict[str, Any] = {
            "workers": workers,
            "durations": dict(durations) if durations is not None else None,
            "device_expires_s": device_expires_s,
            "device_poll_interval_s": device_poll_interval_s,
        }
        body = {key: value for key, value in change.items() if value is not None}
        settings: ConfigReading = self._control.call("POST", "config", body)
        return settings
