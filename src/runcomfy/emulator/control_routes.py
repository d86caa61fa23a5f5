"""HTTP endpoints of the control plane (``/_emulator/...``); the model behind them is in ``control.py``.

| Method and path                      | Body / query                                   | Effect |
|--------------------------------------|------------------------------------------------|--------|
| ``GET /_emulator``                   |                                                | version, clock, workers, routes, fault kinds |
| ``POST /_emulator/reset``            |                                                | forget requests, logins, faults, calls; keep static tokens |
| ``GET/POST/DELETE /_emulator/faults``| a fault object (see control.py)                | list / add / clear faults |
| ``GET/DELETE /_emulator/calls``      | ``?route=submit&since=SEQ``                     | the call log / clear it |
| ``GET /_emulator/requests``          |                                                | every request with its timeline |
| ``POST /_emulator/requests/{id}/fail``| ``{"message": ..., "type": ...}``             | make a request end ``failed`` now |
| ``GET/POST /_emulator/clock``        | ``{"advance": seconds}``                       | read / move the clock forward |
| ``GET/POST /_emulator/config``       | ``{"workers", "durations", "device_expires_s", "device_poll_interval_s"}`` | read / change |
| ``POST /_emulator/tokens``           | ``{"token": "..."}``                           | add a static token |

The control plane has no authentication: the emulator binds to loopback unless told otherwise.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from runcomfy._version import __version__
from runcomfy.emulator.control import KINDS, ROUTES, Control, parse_fault
from runcomfy.emulator.models import CATALOG
from runcomfy.emulator.state import EmulatorState


def _bad(message: str) -> JSONResponse:
    return JSONResponse({"error_code": 400001, "error_message": message, "detail": None}, status_code=400)


async def _json(request: Request) -> Any:
    body = await request.body()
    if not body.strip():
        return {}
    try:
        return json.loads(body)
    except ValueError:
        return None


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
            except (ValueError, TypeError) as exc:
                return _bad(str(exc))
            control.faults.extend(parsed)
        return JSONResponse({"faults": [asdict(f) for f in control.faults]})

    async def calls(request: Request) -> Response:
        if request.method == "DELETE":
            control.calls.clear()
            return JSONResponse({"calls": []})
        since = request.query_params.get("since", "0")
        if not since.isdigit():
            return _bad("since must be a sequence number")
        return JSONResponse({"calls": control.calls_json(request.query_params.get("route"), int(since))})

    async def requests(request: Request) -> Response:
        state.advance()
        jobs = sorted(state.jobs.values(), key=lambda job: job.seq)
        return JSONResponse({"requests": [_job_view(state, job) for job in jobs]})

    async def fail(request: Request) -> Response:
        job = state.get(request.path_params["request_id"])
        if job is None:
            return JSONResponse(
                {"error_code": 404001, "error_message": "no such request", "detail": None}, status_code=404
            )
        data = await _json(request)
        if not isinstance(data, dict):
            return _bad("body must be a JSON object")
        error = {
            "type": str(data.get("type", "model_error")),
            "message": str(data.get("message", "forced failure (emulator control plane)")),
        }
        if not state.force_fail(job, error):
            return JSONResponse(
                {"error_code": 409001, "error_message": f"request is already {job.status}", "detail": None},
                status_code=409,
            )
        return JSONResponse(_job_view(state, job))

    async def clock(request: Request) -> Response:
        if request.method == "POST":
            data = await _json(request)
            advance = data.get("advance") if isinstance(data, dict) else None
            if not isinstance(advance, int | float) or advance < 0:
                return _bad("advance must be a non-negative number of seconds")
            state.clock.advance(float(advance))
            state.save_clock()
            state.advance()
        return JSONResponse({"now": state.clock.now(), "offset": state.clock.offset})

    async def config(request: Request) -> Response:
        if request.method == "POST":
            problem = _apply_config(state, await _json(request))
            if problem:
                return _bad(problem)
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


def _apply_config(state: EmulatorState, data: Any) -> str | None:
    if not isinstance(data, dict):
        return "body must be a JSON object"
    workers = data.get("workers")
    if workers is not None:
        if not isinstance(workers, int) or workers < 1:
            return "workers must be a positive integer"
        state.advance()
        state.workers = workers
    durations = data.get("durations")
    if durations is not None:
        if not isinstance(durations, dict) or not all(
            isinstance(v, int | float) and v >= 0 for v in durations.values()
        ):
            return "durations must map model ids (or *) to non-negative seconds"
        state.durations.update({str(k): float(v) for k, v in durations.items()})
    for key in ("device_expires_s", "device_poll_interval_s"):
        value = data.get(key)
        if value is not None:
            if not isinstance(value, int) or value < 0:
                return f"{key} must be a non-negative integer"
            setattr(state, key, value)
    return None
