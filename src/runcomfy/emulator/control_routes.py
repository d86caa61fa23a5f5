"""HTTP endpoints of the control plane (``/_emulator/...``); the model behind them is in ``control.py``.

| Method and path                      | Body / query                                   | Effect |
|--------------------------------------|------------------------------------------------|--------|
| ``GET /_emulator``                   |                                                | version, clock, workers, routes, fault kinds |
| ``POST /_emulator/reset``            |                                                | forget requests, logins, faults, calls and config changes; keep static tokens |
| ``GET/POST/DELETE /_emulator/faults``| a fault object (see control.py)                | list / add / clear faults |
| ``GET/DELETE /_emulator/calls``      | ``?route=submit&since=SEQ``                     | the call log / clear it |
| ``GET /_emulator/requests``          |                                                | every request with its timeline |
| ``POST /_emulator/requests/{id}/fail``| ``{"message": ..., "type": ...}``             | make a request end ``failed`` now |
| ``GET/POST /_emulator/clock``        | ``{"advance": seconds}``                       | read / move the clock forward |
| ``GET/POST /_emulator/config``       | ``{"workers", "durations", "device_expires_s", "device_poll_interval_s"}`` | read / change |
| ``POST /_emulator/tokens``           | ``{"token": "..."}``                           | add a static token |

The control plane has no authentication: the emulator binds to loopback unless told otherwise, and answers
only requests whose ``Host`` names it (see ``hosts.py``). Bodies are limited to
:data:`~runcomfy.emulator.bodies.CONTROL_BODY_LIMIT` and parsed as checked JSON; a malformed one is a 422, a
well-formed one that asks for something impossible a 400 with the reason.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from runcomfy._version import __version__
from runcomfy.emulator.bodies import CONTROL_BODY_LIMIT, read_json
from runcomfy.emulator.control import (
    KINDS,
    MAX_FAULTS,
    ROUTES,
    ConfigChange,
    Control,
    parse_advance,
    parse_config,
    parse_fault,
)
from runcomfy.emulator.errors import api_error
from runcomfy.emulator.models import CATALOG
from runcomfy.emulator.state import EmulatorState

MAX_SEQ_DIGITS = 18


def _bad(message: str) -> JSONResponse:
    return api_error(400, 400001, message)


async def _json(request: Request) -> Any:
    return await read_json(request, CONTROL_BODY_LIMIT)


def routes(state: EmulatorState, control: Control) -> list[BaseRoute]:
    """The control-plane routes bound to one emulator."""

    async def info(request: Request) -> Response:
        return JSONResponse(
            {
                "emulator": "runcomfy",
                "version": __version__,
                "now": state.clock.now(),
                "workers": state.workers,
                "routes": list(ROUTES),
                "fault_kinds": list(KINDS),
                "models": list(CATALOG),
            }
        )

    async def reset(request: Request) -> Response:
        state.reset()
        control.reset()
        return JSONResponse({"reset": True})

    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            control.faults.clear()
        elif request.method == "POST":
            data = await _json(request)
            items = data if isinstance(data, list) else [data]
            try:
                parsed = [parse_fault(item) for item in items]  # all or nothing
            except ValueError as exc:
                return _bad(str(exc))
            if len(control.faults) + len(parsed) > MAX_FAULTS:
                return _bad(f"at most {MAX_FAULTS} faults can be queued; clear some first")
            control.faults.extend(parsed)
        return JSONResponse({"faults": [asdict(f) for f in control.faults]})

    async def calls(request: Request) -> Response:
        if request.method == "DELETE":
            control.calls.clear()
            return JSONResponse({"calls": []})
        since = request.query_params.get("since", "0")
        if not (since.isascii() and since.isdigit() and len(since) <= MAX_SEQ_DIGITS):
            return _bad("since must be a sequence number")
        return JSONResponse({"calls": control.calls_json(request.query_params.get("route"), int(since))})

    async def requests(request: Request) -> Response:
        state.advance()
        jobs = sorted(state.jobs.values(), key=lambda job: job.seq)
        return JSONResponse({"requests": [_job_view(state, job) for job in jobs]})

    async def fail(request: Request) -> Response:
        job = state.get(request.path_params["request_id"])
        if job is None:
            return api_error(404, 404001, "no such request")
        data = await _json(request)
        if not isinstance(data, dict):
            return _bad("body must be a JSON object")
        error = {
            "type": str(data.get("type", "model_error")),
            "message": str(data.get("message", "forced failure (emulator control plane)")),
        }
        if not state.force_fail(job, error):
            return api_error(409, 409001, f"request is already {job.status}")
        return JSONResponse(_job_view(state, job))

    async def clock(request: Request) -> Response:
        if request.method == "POST":
            try:
                advance = parse_advance(await _json(request), state.clock.offset)
            except ValueError as exc:
                return _bad(str(exc))
            state.clock.advance(advance)
            state.save_clock()
            state.advance()
        return JSONResponse({"now": state.clock.now(), "offset": state.clock.offset})

    async def config(request: Request) -> Response:
        if request.method == "POST":
            try:
                change = parse_config(await _json(request))
            except ValueError as exc:
                return _bad(str(exc))
            _apply_config(state, change)
        return JSONResponse(
            {
                "workers": state.workers,
                "durations": state.durations,
                "device_expires_s": state.device_expires_s,
                "device_poll_interval_s": state.device_poll_interval_s,
            }
        )

    async def tokens(request: Request) -> Response:
        data = await _json(request)
        token = data.get("token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token.strip():
            return _bad("token must be a non-empty string")
        record = state.add_static_token(token.strip())
        return JSONResponse(
            {"user_id": record.user_id, "email": record.email, "token_type": record.token_type}
        )

    return [
        Route("/_emulator", info, methods=["GET"]),
        Route("/_emulator/reset", reset, methods=["POST"]),
        Route("/_emulator/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route("/_emulator/calls", calls, methods=["GET", "DELETE"]),
        Route("/_emulator/requests", requests, methods=["GET"]),
        Route("/_emulator/requests/{request_id}/fail", fail, methods=["POST"]),
        Route("/_emulator/clock", clock, methods=["GET", "POST"]),
        Route("/_emulator/config", config, methods=["GET", "POST"]),
        Route("/_emulator/tokens", tokens, methods=["POST"]),
    ]


def _job_view(state: EmulatorState, job: Any) -> dict[str, Any]:
    view = asdict(job)
    view["queue_position"] = state.queue_position(job)
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
