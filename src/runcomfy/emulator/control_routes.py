"""The control plane over HTTP: its endpoints (``/_emulator/...``), and the answers its faults give on the
emulated APIs' routes. The model behind both (faults, the call log, what is accepted) is in ``control.py``.

| Method and path                      | Body / query                                   | Effect |
|--------------------------------------|------------------------------------------------|--------|
| ``GET /_emulator``                   |                                                | version, clock, workers, routes, fault kinds |
| ``POST /_emulator/reset``            |                                                | forget requests, logins, faults, calls and config changes; keep static tokens |
| ``GET/POST/DELETE /_emulator/faults``| a fault object (see control.py)                | list / add / clear faults |
| ``GET/DELETE /_emulator/calls``      | ``?route=submit&since=SEQ``                     | the call log / clear it |
| ``GET /_emulator/requests``          |                                                | every request (Model API and deployments) with its timeline |
| ``POST /_emulator/requests/{id}/fail``| ``{"message": ..., "type": ...}``             | make a request (of either API) end ``failed`` now |
| ``GET/POST /_emulator/clock``        | ``{"advance": seconds}``                       | read / move the clock forward |
| ``GET/POST /_emulator/config``       | ``{"workers", "durations", "device_expires_s", "device_poll_interval_s"}`` and the Serverless API's (``serverless_settings.py``) | read / change |
| ``POST /_emulator/tokens``           | ``{"token": "..."}``                           | add a static token |

The Serverless API's own control routes (workflows, instances, balance, webhooks) are in
``serverless_control.py``; the Trainer API's (training jobs: view, stop, fail) in ``trainer_control.py``, and
its settings (``trainer_settings.py``) are changed through ``/_emulator/config`` too.

The control plane has no authentication: the emulator binds to loopback unless told otherwise, and answers
only requests whose ``Host`` names it (see ``hosts.py``). Bodies are limited to
:data:`~runcomfy.emulator.bodies.CONTROL_BODY_LIMIT` and parsed as checked JSON; a malformed one is a 422, a
well-formed one that asks for something impossible a 400 with the reason (both raised as
:class:`~runcomfy.emulator.errors.ServiceError`). The control plane must never log its own calls, fault them,
or change what an emulated API does except through the faults, the clock and the settings it is told.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping
from dataclasses import asdict
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from runcomfy._version import __version__
from runcomfy.emulator.bodies import CONTROL_BODY_LIMIT, read_json
from runcomfy.emulator.catalog import CATALOG
from runcomfy.emulator.control import (
    KINDS,
    MAX_FAULTS,
    Call,
    ConfigChange,
    Control,
    Fault,
    parse_advance,
    parse_config,
    parse_fault,
)
from runcomfy.emulator.errors import ServiceError, bad_request, not_found
from runcomfy.emulator.serverless_control import ServerlessControl
from runcomfy.emulator.serverless_settings import changed
from runcomfy.emulator.state import EmulatorState
from runcomfy.emulator.trainer_control import TrainerControl
from runcomfy.emulator.trainer_settings import changed as trainer_changed
from runcomfy.emulator.worker_queue import Job
from runcomfy.emulator.workflows import WORKFLOWS

MAX_SEQ_DIGITS = 18
_BODILESS_STATUSES = (204, 304)  # HTTP/1.1 forbids a body with these
Parsed = TypeVar("Parsed")


async def _json(request: Request) -> Any:
    return await read_json(request, CONTROL_BODY_LIMIT)


def _checked(parse: Callable[[], Parsed]) -> Parsed:
    """What ``parse`` makes of a control request, or the 400 naming what is wrong with it."""
    try:
        return parse()
    except ValueError as exc:
        raise bad_request(str(exc)) from None


class ControlPlane:
    """The control-plane handlers, bound to one emulator whose emulated APIs have the named ``service_routes``."""

    def __init__(self, state: EmulatorState, control: Control, service_routes: Collection[str]) -> None:
        self.state, self.control, self.service_routes = state, control, tuple(service_routes)

    def routes(self) -> list[BaseRoute]:
        """The ``/_emulator`` routes."""
        return [
            Route("/_emulator", self.info, methods=["GET"]),
            Route("/_emulator/reset", self.reset, methods=["POST"]),
            Route("/_emulator/faults", self.faults, methods=["GET", "POST", "DELETE"]),
            Route("/_emulator/calls", self.calls, methods=["GET", "DELETE"]),
            Route("/_emulator/requests", self.requests, methods=["GET"]),
            Route("/_emulator/requests/{request_id}/fail", self.fail, methods=["POST"]),
            Route("/_emulator/clock", self.clock, methods=["GET", "POST"]),
            Route("/_emulator/config", self.config, methods=["GET", "POST"]),
            Route("/_emulator/tokens", self.tokens, methods=["POST"]),
            *ServerlessControl(self.state).routes(),
            *TrainerControl(self.state).routes(),
        ]

    async def info(self, request: Request) -> Response:
        return JSONResponse(
            {
                "emulator": "runcomfy",
                "version": __version__,
                "now": self.state.clock.now(),
                "workers": self.state.workers,
                "routes": list(self.service_routes),
                "fault_kinds": list(KINDS),
                "models": list(CATALOG),
                "workflows": sorted({f"{wid}/{version}" for wid, version in WORKFLOWS}),
            }
        )

    async def reset(self, request: Request) -> Response:
        self.state.reset()
        self.control.reset()
        return JSONResponse({"reset": True})

    async def faults(self, request: Request) -> Response:
        faults = self.control.faults
        if request.method == "DELETE":
            faults.clear()
        elif request.method == "POST":
            data = await _json(request)
            items = data if isinstance(data, list) else [data]
            parsed = _checked(
                lambda: [parse_fault(item, self.service_routes) for item in items]
            )  # all or none
            if len(faults) + len(parsed) > MAX_FAULTS:
                raise bad_request(f"at most {MAX_FAULTS} faults can be queued; clear some first")
            faults.extend(parsed)
        return JSONResponse({"faults": [asdict(f) for f in faults]})

    async def calls(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.control.calls.clear()
            return JSONResponse({"calls": []})
        since = request.query_params.get("since", "0")
        if not (since.isascii() and since.isdigit() and len(since) <= MAX_SEQ_DIGITS):
            raise bad_request("since must be a sequence number")
        route = request.query_params.get("route")
        return JSONResponse({"calls": self.control.calls_json(route, int(since))})

    async def requests(self, request: Request) -> Response:
        jobs = self.state.requests.in_order()
        serverless = self.state.serverless
        with serverless.lock:
            deployment_requests = [serverless.request_view(job) for job in serverless.in_order()]
        return JSONResponse(
            {
                "requests": [_job_view(self.state, job) for job in jobs],
                "deployment_requests": deployment_requests,
            }
        )

    async def fail(self, request: Request) -> Response:
        request_id = request.path_params["request_id"]
        data = await _json(request)
        if not isinstance(data, dict):
            raise bad_request("body must be a JSON object")
        error = {
            "type": str(data.get("type", "model_error")),
            "message": str(data.get("message", "forced failure (emulator control plane)")),
        }
        serverless = self.state.serverless
        with serverless.lock:
            deployment_request = serverless.get(request_id)
            if deployment_request is not None:
                if not serverless.fail(deployment_request, error):
                    raise ServiceError(409, f"request is already {deployment_request.status}")
                return JSONResponse(serverless.request_view(deployment_request))
        job = self.state.requests.get(request_id)
        if job is None:
            raise not_found("no such request")
        if not self.state.requests.force_fail(job, error):
            raise ServiceError(409, f"request is already {job.status}")
        return JSONResponse(_job_view(self.state, job))

    async def clock(self, request: Request) -> Response:
        clock = self.state.clock
        if request.method == "POST":
            data = await _json(request)
            clock.advance(_checked(lambda: parse_advance(data, clock.offset)))
            self.state.save_clock()
            self.state.advance()
        return JSONResponse({"now": clock.now(), "offset": clock.offset})

    async def config(self, request: Request) -> Response:
        state = self.state
        if request.method == "POST":
            data = await _json(request)
            change = _checked(lambda: parse_config(data))
            serverless = _checked(
                lambda: changed(state.serverless.settings, data)
            )  # all checked, then applied
            trainer = _checked(lambda: trainer_changed(state.trainer.settings, data))
            _apply_config(state, change)
            state.serverless.apply(serverless)
            state.trainer.apply(trainer)
            if "balance_usd" in data:
                state.billing.starting_usd = serverless.balance_usd
        return JSONResponse(
            {
                "workers": state.workers,
                "durations": state.durations,
                "device_expires_s": state.device_expires_s,
                "device_poll_interval_s": state.device_poll_interval_s,
                **state.serverless.settings.reading(),
                **state.trainer.settings.reading(),
            }
        )

    async def tokens(self, request: Request) -> Response:
        data = await _json(request)
        token = data.get("token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token.strip():
            raise bad_request("token must be a non-empty string")
        record = self.state.add_static_token(token.strip())
        return JSONResponse(
            {"user_id": record.user_id, "email": record.email, "token_type": record.token_type}
        )


def _job_view(state: EmulatorState, job: Job) -> dict[str, Any]:
    view = asdict(job)
    view["queue_position"] = state.requests.queue_position(job)
    view.pop("forced_error", None)
    return view


def _apply_config(state: EmulatorState, change: ConfigChange) -> None:
    if change.workers is not None:
        state.advance()  # what ran with the old number of workers stays as it was
        state.workers = change.workers
    state.durations.update(change.durations)
    if change.device_expires_s is not None:
        state.device_expires_s = change.device_expires_s
    if change.device_poll_interval_s is not None:
        state.device_poll_interval_s = change.device_poll_interval_s


# -- faults on the emulated APIs' routes ------------------------------------------------------------------


async def injected_answer(
    control: Control, route: str, params: Mapping[str, str], call: Call
) -> Response | None:
    """Apply the faults queued for this call: sleep for latency ones, answer for the first other one; None lets
    the route's own handler answer. Each fault applies at most once to one call (see :meth:`Control.take`)."""
    applied: set[int] = set()
    while (fault := control.take(route, params, applied)) is not None:
        applied.add(id(fault))
        call.fault = fault.kind if call.fault is None else f"{call.fault},{fault.kind}"
        if fault.kind == "latency":
            await asyncio.sleep(fault.seconds)
            continue
        return render_fault(fault)
    return None


class DropConnection(Response):
    """Sends the headers, then ends without the promised body, so the server closes the connection."""

    def __init__(self) -> None:
        super().__init__(
            status_code=200, headers={"content-length": "1024", "content-type": "application/json"}
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})


def render_fault(fault: Fault) -> Response:
    """The response a non-latency fault answers with."""
    if fault.kind == "drop":
        return DropConnection()
    if fault.kind == "redirect":
        return Response(status_code=fault.status or 302, headers={"location": fault.location or "/"})
    headers = {"retry-after": fault.retry_after} if fault.retry_after is not None else None
    if fault.status in _BODILESS_STATUSES:
        return Response(status_code=fault.status, headers=headers)
    if fault.kind == "non_json":
        page = "<html><body><h1>502 Bad Gateway</h1><p>upstream hiccup (emulated)</p></body></html>"
        return HTMLResponse(page, status_code=fault.status or 200)
    if fault.kind == "respond":
        return JSONResponse(fault.body, status_code=fault.status or 200, headers=headers)
    return _injected_error(fault.status or 503, fault.body, headers)


def _injected_error(status: int, body: Any, headers: dict[str, str] | None) -> Response:
    """An ``error`` fault: its own body if it has one, else the service's error shape saying it was injected.

    Not a :class:`ServiceError`: a fault's body is whatever the test asked for, not necessarily that shape.
    """
    if body is None:
        body = {
            "error_code": status * 1000 + 1,
            "error_message": f"injected fault: HTTP {status}",
            "detail": "This error was injected through the emulator's control plane.",
        }
    return JSONResponse(body, status_code=status, headers=headers)
