"""The emulator's HTTP routes: parse the request, ask the state, render the service's JSON shapes.

Shapes, status values, HTTP codes and error bodies (``error_code``, ``error_message``, ``detail``) follow the
real service (official-reference A.1-A.9). Every route is wrapped by :func:`_route`, which logs the call and
lets the control plane inject faults before the handler runs. Handlers are ``async`` and never await
anything but the request body, so state changes happen one at a time on the event loop without locks.

A request reaches a route only once :class:`~runcomfy.emulator.hosts.HostCheck` has accepted its ``Host``
header; bodies are read through :mod:`~runcomfy.emulator.bodies` under each route's limit, and a handler
reports bad input by raising :class:`~runcomfy.emulator.errors.ServiceError`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from runcomfy.emulator import control_routes, errors, web
from runcomfy.emulator.bodies import LOGIN_BODY_LIMIT, SUBMIT_BODY_LIMIT, read_json
from runcomfy.emulator.control import Control
from runcomfy.emulator.errors import ServiceError, api_error
from runcomfy.emulator.hosts import HostCheck, ServedHosts
from runcomfy.emulator.models import CATALOG, FILE_MARKER, Model, categories, validate_input
from runcomfy.emulator.state import EmulatorState, Job, TokenRecord

Handler = Callable[[Request], Awaitable[Response]]


def unauthorized() -> JSONResponse:
    """401 for a missing, unknown or revoked token."""
    return api_error(
        401,
        401001,
        "Unauthorized: the API token is missing, invalid, expired or revoked",
        "Send `Authorization: Bearer <token>`; sign in with `runcomfy login`.",
        headers={"www-authenticate": "Bearer"},
    )


def iso(timestamp: float | None) -> str | None:
    """Unix seconds as an ISO 8601 UTC string."""
    if timestamp is None:
        return None
    return (
        dt.datetime.fromtimestamp(timestamp, tz=dt.UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def origin_of(request: Request) -> str:
    """The emulator's own origin as the client reached it (used for every absolute URL it hands out).

    The ``Host`` header has been checked against the names the emulator serves (:mod:`hosts`) by then.
    """
    return f"{request.url.scheme}://{request.headers.get('host') or request.url.netloc}"


def bearer(request: Request) -> str | None:
    """The bearer token of a request, if any."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


class Routes:
    """The handlers, bound to one state and one control plane."""

    def __init__(self, state: EmulatorState, control: Control, served: ServedHosts) -> None:
        self.state = state
        self.control = control
        self.served = served

    # -- helpers -----------------------------------------------------------------------------------------

    def user(self, request: Request) -> TokenRecord | None:
        """The authenticated user of the request."""
        return self.state.authenticate(bearer(request))

    def own_job(self, request: Request) -> Job | Response:
        """The request named in the path if the caller owns it; else the service's 401, 404 or 403."""
        user = self.user(request)
        if user is None:
            return unauthorized()
        request_id = request.path_params["request_id"]
        job = self.state.get(request_id)
        if job is None:
            return api_error(
                404,
                404001,
                f"Request {request_id} not found",
                "The request id does not exist, was deleted or has expired.",
            )
        if job.owner != user.user_id:
            return api_error(
                403,
                403001,
                "Permission denied: the request belongs to another user",
                f"Request {request_id} is not owned by this token's user.",
            )
        return job

    def urls(self, request: Request, request_id: str) -> dict[str, str]:
        """The status, result and cancel URLs of a request, absolute on this origin."""
        base = f"{origin_of(request)}/v1/requests/{request_id}"
        return {
            "status_url": f"{base}/status",
            "result_url": f"{base}/result",
            "cancel_url": f"{base}/cancel",
        }

    def render_output(self, request: Request, value: Any) -> Any:
        """Stored output with file references made absolute URLs on this origin."""
        prefix = origin_of(request)
        if isinstance(value, str):
            return prefix + value[len(FILE_MARKER) :] if value.startswith(FILE_MARKER) else value
        if isinstance(value, list):
            return [self.render_output(request, item) for item in value]
        if isinstance(value, dict):
            return {key: self.render_output(request, item) for key, item in value.items()}
        return value

    # -- Model API ---------------------------------------------------------------------------------------

    async def submit(self, request: Request) -> Response:
        user = self.user(request)
        if user is None:
            return unauthorized()
        model_id = request.path_params["model_id"].strip("/")
        model = CATALOG.get(model_id)
        if model is None:
            return api_error(
                400,
                400001,
                f"Invalid model_id: {model_id}",
                "No such model. List models with GET /v1/models.",
            )
        parsed = await read_json(request, SUBMIT_BODY_LIMIT)
        problems = validate_input(model, parsed)
        if problems:
            return api_error(
                422, 422001, "Validation Error: the input does not match the model's schema", problems
            )
        job = self.state.submit(user, model, parsed)
        return JSONResponse({"request_id": job.request_id, **self.urls(request, job.request_id)})

    async def status(self, request: Request) -> Response:
        job = self.own_job(request)
        if isinstance(job, Response):
            return job
        body: dict[str, Any] = {"request_id": job.request_id, "status": job.status}
        position = self.state.queue_position(job)
        if position is not None:
            body["queue_position"] = position
        urls = self.urls(request, job.request_id)
        body["status_url"], body["result_url"] = urls["status_url"], urls["result_url"]
        return JSONResponse(body)

    async def result(self, request: Request) -> Response:
        job = self.own_job(request)
        if isinstance(job, Response):
            return job
        return JSONResponse(
            {
                "request_id": job.request_id,
                "model_id": job.model_id,
                "status": job.status,
                "output": self.render_output(request, job.output) if job.status == "completed" else None,
                "error": job.error,
                "created_at": iso(job.submitted_at),
                "started_at": iso(job.started_at),
                "finished_at": iso(job.finished_at),
            }
        )

    async def cancel(self, request: Request) -> Response:
        job = self.own_job(request)
        if isinstance(job, Response):
            return job
        outcome = self.state.cancel(job)
        return JSONResponse(
            {"request_id": job.request_id, "status": job.status, "outcome": outcome}, status_code=202
        )

    async def list_models(self, request: Request) -> Response:
        if self.user(request) is None:
            return unauthorized()
        query = request.query_params
        limit, offset = (
            parse_int(query.get("limit"), 100, 1, 500),
            parse_int(query.get("offset"), 0, 0, 10**9),
        )
        if limit is None or offset is None:
            bad = "limit" if limit is None else "offset"
            return api_error(
                422,
                422001,
                "Validation Error",
                [
                    {
                        "loc": ["query", bad],
                        "msg": "limit must be 1-500 and offset >= 0",
                        "type": "value_error",
                    }
                ],
            )
        models = [m for m in CATALOG.values() if matches_query(m, query)]
        include = query.get("include_schema", "").lower() in ("1", "true", "yes")
        page = [m.record(include_schema=include) for m in models[offset : offset + limit]]
        return JSONResponse({"models": page, "total": len(models), "limit": limit, "offset": offset})

    async def categories(self, request: Request) -> Response:
        if self.user(request) is None:
            return unauthorized()
        return JSONResponse({"categories": categories()})

    async def get_model(self, request: Request) -> Response:
        if self.user(request) is None:
            return unauthorized()
        model_id = request.path_params["model_id"].strip().strip("/")
        model = CATALOG.get(model_id)
        if model is None:
            return api_error(404, 404001, f"Model {model_id} not found", "List models with GET /v1/models.")
        return JSONResponse(model.record(include_schema=True))

    # -- files -------------------------------------------------------------------------------------------

    async def file(self, request: Request) -> Response:
        request_id, name = request.path_params["request_id"], request.path_params["name"]
        job = self.state.get(request_id)
        rendered = None
        if job is not None and job.status == "completed":
            rendered = CATALOG[job.model_id].render_file(job.input, name)
        if rendered is None:
            return api_error(404, 404001, "File not found", f"No file {name} for request {request_id}.")
        return serve_file(request, rendered)

    # -- web ---------------------------------------------------------------------------------------------

    async def me(self, request: Request) -> Response:
        user = self.user(request)
        if user is None:
            return unauthorized()
        return JSONResponse(
            {
                "id": user.user_id,
                "email": user.email,
                "display_name": user.email.split("@")[0],
                "username": user.email.split("@")[0],
                "token_type": user.token_type,
                "token_created_at": iso(user.created_at),
            }
        )

    async def cli_auth_start(self, request: Request) -> Response:
        device_code, record = self.state.start_device()
        return JSONResponse(
            {
                "device_code": device_code,
                "user_code": record.user_code,
                "verify_url": f"{origin_of(request)}/cli-auth",
                "expires_in": int(record.expires_at - record.created_at),
                "poll_interval": record.poll_interval,
            }
        )

    async def cli_auth_poll(self, request: Request) -> Response:
        parsed = await read_json(request, LOGIN_BODY_LIMIT)
        device_code = parsed.get("device_code") if isinstance(parsed, dict) else None
        if not isinstance(device_code, str) or not device_code:
            return api_error(
                400,
                400001,
                "device_code is required",
                [{"loc": ["body", "device_code"], "msg": "Field required", "type": "missing"}],
            )
        status, token = self.state.poll_device(device_code)
        if status == "authorized":
            return JSONResponse({"status": "authorized", "access_token": token})
        return JSONResponse({"status": status}, status_code=200 if status == "pending" else 410)

    async def cli_auth_page(self, request: Request) -> Response:
        return await web.approval_page(request, self.state, self.served)


def parse_int(value: str | None, default: int, low: int, high: int) -> int | None:
    """A bounded integer query parameter, or None when it is invalid."""
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        return None
    return number if low <= number <= high else None


def matches_query(model: Model, query: Any) -> bool:
    """Whether a model passes the ``search``, ``category`` and ``kind`` filters of ``GET /v1/models``."""
    search = (query.get("search") or "").strip().lower()
    haystack = f"{model.model_id} {model.display_name} {model.description}".lower()
    if search and search not in haystack:
        return False
    category = query.get("category")
    if category and category not in model.categories:
        return False
    kind = query.get("kind")
    return not kind or kind == model.kind


def serve_file(request: Request, rendered: Any) -> Response:
    """A file with ``Content-Length``, ``Content-Type``, ``Accept-Ranges`` and single-range support."""
    size = rendered.size
    headers = {"accept-ranges": "bytes", "content-type": rendered.content_type}
    start, end, status = 0, size, 200
    range_header = request.headers.get("range")
    if range_header:
        parsed = parse_range(range_header, size)
        if parsed == "unsatisfiable":
            return Response(status_code=416, headers={"content-range": f"bytes */{size}"})
        if isinstance(parsed, tuple):
            start, end = parsed
            status = 206
            headers["content-range"] = f"bytes {start}-{end - 1}/{size}"
    if rendered.declare_length or status == 206:
        headers["content-length"] = str(end - start)
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers)

    async def body() -> AsyncIterator[bytes]:
        for chunk in rendered.read(start, end):
            yield chunk

    return StreamingResponse(body(), status_code=status, headers=headers)


def parse_range(header: str, size: int) -> tuple[int, int] | str | None:
    """``(start, end_exclusive)`` of a single ``bytes=`` range; ``"unsatisfiable"``; or None to ignore it.

    Malformed and multi-range headers are ignored (the whole file is served), as RFC 9110 allows.
    """
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, _, last = spec.strip().partition("-")
    try:
        if not first:
            length = int(last)
            return (max(size - length, 0), size) if length > 0 and size > 0 else "unsatisfiable"
        start = int(first)
        end = int(last) + 1 if last else size
    except ValueError:
        return None
    if start < 0 or end <= start:
        return None if start < size else "unsatisfiable"
    if start >= size:
        return "unsatisfiable"
    return start, min(end, size)


def _route(routes: Routes, name: str, handler: Handler) -> Handler:
    """Wrap a handler with the call log and fault injection; a :class:`ServiceError` it raises is its answer."""
    control, state = routes.control, routes.state

    async def endpoint(request: Request) -> Response:
        call = control.begin(name, request, state.clock.now())
        call.authorized = routes.user(request) is not None
        try:
            response = await control.intercept(name, request, call) or await handler(request)
        except ServiceError as exc:
            response = exc.response()
        call.status = response.status_code
        return response

    return endpoint


def create_app(state: EmulatorState, control: Control | None = None, *, served: ServedHosts) -> Starlette:
    """The emulator as an ASGI application, answering only to the names and port in ``served``."""
    control = control or Control()
    routes = Routes(state, control, served)
    table: list[tuple[str, str, Handler, list[str]]] = [
        ("/api/cli-auth/start", "cli-auth-start", routes.cli_auth_start, ["POST"]),
        ("/api/cli-auth/poll", "cli-auth-poll", routes.cli_auth_poll, ["POST"]),
        ("/cli-auth", "cli-auth-page", routes.cli_auth_page, ["GET", "POST"]),
        ("/api/auth/me", "me", routes.me, ["GET"]),
        ("/v1/models", "models", routes.list_models, ["GET"]),
        ("/v1/models/categories", "categories", routes.categories, ["GET"]),
        ("/v1/models/{model_id:path}", "model", routes.get_model, ["GET"]),
        ("/v1/models/{model_id:path}", "submit", routes.submit, ["POST"]),
        ("/v1/requests/{request_id}/status", "status", routes.status, ["GET"]),
        ("/v1/requests/{request_id}/result", "result", routes.result, ["GET"]),
        ("/v1/requests/{request_id}/cancel", "cancel", routes.cancel, ["POST"]),
        ("/files/{request_id}/{name}", "file", routes.file, ["GET", "HEAD"]),
    ]
    app_routes: list[BaseRoute] = [
        Route(path, _route(routes, name, handler), methods=methods) for path, name, handler, methods in table
    ]
    app_routes += control_routes.routes(state, control)
    app = Starlette(
        routes=app_routes,
        middleware=[Middleware(HostCheck, served=served)],
        exception_handlers={
            ServiceError: errors.render_service_error,
            HTTPException: errors.render_http_exception,
            Exception: errors.render_internal_error,
        },
    )
    app.state.emulator = state
    app.state.control = control
    return app
