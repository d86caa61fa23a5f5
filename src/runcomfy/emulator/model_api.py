"""RunComfy's Model API under ``/v1``: submit, status, result and cancel of requests, the model catalog with
each model's input schema, and the output files (``/files/...``).

Routes parse and render only: the queue is :mod:`~runcomfy.emulator.worker_queue`'s (through
:class:`~runcomfy.emulator.state.EmulatorState`), the models are :mod:`~runcomfy.emulator.catalog`'s, and file
serving is :mod:`~runcomfy.emulator.files`'. Shapes, status values, HTTP codes and error bodies follow the real
service. A ``lora`` named by a bare file name must be a checkpoint the caller trained with the Trainer API
(:mod:`~runcomfy.emulator.trainer`); an https URL is taken as it is. A submit is charged the model's price (:mod:`~runcomfy.emulator.billing`; a 402 when the balance
cannot pay it). A request is visible only to the user who submitted it: another user's token gets the
service's 403, never the request. This module must never let one user read, cancel or fetch another's request.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from runcomfy.emulator.bodies import SUBMIT_BODY_LIMIT, read_json
from runcomfy.emulator.catalog import CATALOG, categories
from runcomfy.emulator.errors import ServiceError, insufficient_funds, not_found, validation_error
from runcomfy.emulator.files import serve_file
from runcomfy.emulator.models import Model, validate_input, with_origin
from runcomfy.emulator.routing import Endpoint, caller, iso, origin_of
from runcomfy.emulator.state import EmulatorState
from runcomfy.emulator.worker_queue import Job

ROUTE_NAMES = ("submit", "status", "result", "cancel", "models", "model", "categories", "file")
MAX_PAGE = 500


class ModelApi:
    """The handlers, bound to one state."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def own_job(self, request: Request) -> Job:
        """The request named in the path if the caller owns it; else the service's 401, 404 or 403."""
        user = caller(self.state, request)
        request_id = request.path_params["request_id"]
        job = self.state.requests.get(request_id)
        if job is None:
            raise not_found(
                f"Request {request_id} not found",
                "The request id does not exist, was deleted or has expired.",
            )
        if job.owner != user.user_id:
            raise ServiceError(
                403,
                "Permission denied: the request belongs to another user",
                f"Request {request_id} is not owned by this token's user.",
            )
        return job

    def trained_lora_problems(self, user_id: str, input_data: dict[str, Any]) -> list[dict[str, Any]]:
        """A LoRA named by a bare file name must be a checkpoint the caller trained (an https URL is taken)."""
        lora = input_data.get("lora")
        path = lora.get("path") if isinstance(lora, dict) else None
        if not isinstance(path, str) or path.startswith("https://"):
            return []
        if self.state.trainer.has_checkpoint(user_id, path):
            return []
        message = (
            f"lora.path {path[:200]!r} is not a LoRA you trained: name a checkpoint file of one of your "
            "training jobs (runcomfy train result <id>) or give an https URL"
        )
        return [{"loc": ["body", "lora", "path"], "msg": message, "type": "value_error"}]

    # -- requests ----------------------------------------------------------------------------------------

    async def submit(self, request: Request) -> Response:
        user = caller(self.state, request)
        model_id = request.path_params["model_id"].strip("/")
        model = CATALOG.get(model_id)
        if model is None:
            raise ServiceError(
                400, f"Invalid model_id: {model_id}", "No such model. List models with GET /v1/models."
            )
        parsed = await read_json(request, SUBMIT_BODY_LIMIT)
        problems = validate_input(model, parsed) or self.trained_lora_problems(user.user_id, parsed)
        if problems:
            raise validation_error("the input does not match the model's schema", problems)
        billing = self.state.billing
        if not billing.can_pay(user.user_id, model.base_price_usd):
            raise insufficient_funds(billing.balance(user.user_id), model.base_price_usd)
        job = self.state.submit(user, model, parsed)
        return JSONResponse({"request_id": job.request_id, **request_urls(request, job.request_id)})

    async def status(self, request: Request) -> Response:
        job = self.own_job(request)
        body: dict[str, Any] = {"request_id": job.request_id, "status": job.status}
        position = self.state.requests.queue_position(job)
        if position is not None:
            body["queue_position"] = position
        urls = request_urls(request, job.request_id)
        body["status_url"], body["result_url"] = urls["status_url"], urls["result_url"]
        return JSONResponse(body)

    async def result(self, request: Request) -> Response:
        job = self.own_job(request)
        return JSONResponse(
            {
                "request_id": job.request_id,
                "model_id": job.model_id,
                "status": job.status,
                "output": render_output(request, job.output) if job.status == "completed" else None,
                "error": job.error,
                "created_at": iso(job.submitted_at),
                "started_at": iso(job.started_at),
                "finished_at": iso(job.finished_at),
            }
        )

    async def cancel(self, request: Request) -> Response:
        job = self.own_job(request)
        outcome = self.state.cancel(job)
        return JSONResponse(
            {"request_id": job.request_id, "status": job.status, "outcome": outcome}, status_code=202
        )

    # -- the catalog -------------------------------------------------------------------------------------

    async def list_models(self, request: Request) -> Response:
        caller(self.state, request)
        query = request.query_params
        limit = paging_value(query.get("limit"), "limit", 100, 1, MAX_PAGE)
        offset = paging_value(query.get("offset"), "offset", 0, 0, 10**9)
        models = [m for m in CATALOG.values() if matches_query(m, query)]
        include = query.get("include_schema", "").lower() in ("1", "true", "yes")
        page = [m.record(include_schema=include) for m in models[offset : offset + limit]]
        return JSONResponse({"models": page, "total": len(models), "limit": limit, "offset": offset})

    async def categories(self, request: Request) -> Response:
        caller(self.state, request)
        return JSONResponse({"categories": categories()})

    async def get_model(self, request: Request) -> Response:
        caller(self.state, request)
        model_id = request.path_params["model_id"].strip().strip("/")
        model = CATALOG.get(model_id)
        if model is None:
            raise not_found(f"Model {model_id} not found", "List models with GET /v1/models.")
        return JSONResponse(model.record(include_schema=True))

    # -- files -------------------------------------------------------------------------------------------

    async def file(self, request: Request) -> Response:
        """An output file; public like the service's file URLs, which carry no token."""
        request_id, name = request.path_params["request_id"], request.path_params["name"]
        job = self.state.requests.get(request_id)
        rendered = None
        if job is not None and job.status == "completed":
            rendered = CATALOG[job.model_id].render_file(job.input, name)
        if rendered is None:
            raise not_found("File not found", f"No file {name} for request {request_id}.")
        return serve_file(request, rendered)


def request_urls(request: Request, request_id: str) -> dict[str, str]:
    """The status, result and cancel URLs of a request, absolute on the origin the client reached."""
    base = f"{origin_of(request)}/v1/requests/{request_id}"
    return {"status_url": f"{base}/status", "result_url": f"{base}/result", "cancel_url": f"{base}/cancel"}


def render_output(request: Request, value: Any) -> Any:
    """Stored output with file references made absolute URLs on the origin the client reached."""
    return with_origin(origin_of(request), value)


def paging_value(value: str | None, name: str, default: int, low: int, high: int) -> int:
    """A bounded integer query parameter of ``GET /v1/models``; the service's 422 naming it when invalid."""
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        number = low - 1
    if low <= number <= high:
        return number
    problem = {"loc": ["query", name], "msg": "limit must be 1-500 and offset >= 0", "type": "value_error"}
    raise ServiceError(422, "Validation Error", [problem])


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


def endpoints(state: EmulatorState) -> list[Endpoint]:
    """The Model API's routes, in the order they are matched: the status and result polls first (the calls
    clients make most; no other route matches their paths), then ``categories`` before the
    ``{model_id:path}`` that would swallow it, and the catalog's GET before the submit's POST on the same
    path, whose first match answers a wrong method with its ``Allow``."""
    api = ModelApi(state)
    return [
        Endpoint("/v1/requests/{request_id}/status", "status", api.status, ("GET",)),
        Endpoint("/v1/requests/{request_id}/result", "result", api.result, ("GET",)),
        Endpoint("/v1/requests/{request_id}/cancel", "cancel", api.cancel, ("POST",)),
        Endpoint("/v1/models", "models", api.list_models, ("GET",)),
        Endpoint("/v1/models/categories", "categories", api.categories, ("GET",)),
        Endpoint("/v1/models/{model_id:path}", "model", api.get_model, ("GET",)),
        Endpoint("/v1/models/{model_id:path}", "submit", api.submit, ("POST",)),
        Endpoint("/files/{request_id}/{name}", "file", api.file, ("GET", "HEAD")),
    ]
