"""RunComfy's Serverless API, the requests of a deployment: inference, status, result and cancel, under both
``/prod/v1`` (RunComfy's docs and Python client) and ``/prod/v2`` (the official CLI), and their output files
(``/deployment-files/...``, public like the Model API's).

Routes parse and render only: the queue and instances are :mod:`~runcomfy.emulator.deployment_scheduler`'s
(through :class:`~runcomfy.emulator.serverless.Serverless`), what a request may run
:mod:`~runcomfy.emulator.inference_body`'s, ownership and gating :mod:`~runcomfy.emulator.deployment_access`'.
Answers:

- inference: 200 ``{request_id, status_url, result_url, cancel_url}``, absolute on the origin and under the
  prefix the call used;
- status: 200 ``{request_id, status, queue_position (in_queue), instance_id (in_progress), status_url,
  result_url}``;
- result: 200 ``{request_id, deployment_id, status, outputs, error, created_at, started_at, finished_at}``
  (``outputs`` once ``succeeded``, ``error`` once ``failed``, null otherwise);
- cancel: 202 ``{request_id, status: "cancellation_requested"}`` for a queued or running request (it is
  ``cancelled`` at once), 200 ``{request_id, status}`` with the terminal status of one that had ended.

This module must never let one user read, cancel or fetch another's request.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from runcomfy.emulator import workflow_outputs
from runcomfy.emulator.bodies import SUBMIT_BODY_LIMIT, read_json
from runcomfy.emulator.clock import iso
from runcomfy.emulator.deployment_access import (
    owned_deployment,
    owned_request,
    refuse_unaffordable_or_full,
    refuse_unavailable,
)
from runcomfy.emulator.errors import not_found
from runcomfy.emulator.files import serve_file
from runcomfy.emulator.inference_body import parse_inference
from runcomfy.emulator.instances import FAILED, IN_PROGRESS, SUCCEEDED, DeploymentRequest
from runcomfy.emulator.models import with_origin
from runcomfy.emulator.routing import Endpoint, caller, origin_of
from runcomfy.emulator.state import EmulatorState

ROUTE_NAMES = ("inference", "deployment-status", "deployment-result", "deployment-cancel", "deployment-file")
PREFIXES = ("/prod/v1", "/prod/v2")


class DeploymentRequestsApi:
    """The handlers, bound to one state."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.serverless = state.serverless

    def _own(self, request: Request) -> DeploymentRequest:
        user = caller(self.state, request)
        params = request.path_params
        return owned_request(self.state, user.user_id, params["deployment_id"], params["request_id"])

    async def inference(self, request: Request) -> Response:
        user = caller(self.state, request)
        body = await read_json(request, SUBMIT_BODY_LIMIT)
        with self.serverless.lock:
            self.serverless.advance()
            deployment = owned_deployment(
                self.state, user.user_id, request.path_params["deployment_id"], deleted_ok=True
            )
            refuse_unavailable(deployment)
            any_host = self.serverless.settings.allow_webhook_hosts
            asked = parse_inference(
                body, request.query_params, deployment.workflow.graph, any_webhook_host=any_host
            )
            refuse_unaffordable_or_full(self.state, user.user_id, deployment)
            submitted = self.serverless.submit(
                user.user_id,
                deployment,
                asked.graph,
                origin=origin_of(request),
                api_prefix=_prefix(request),
                extra_data=asked.extra_data,
                webhook=asked.webhook,
                webhook_intermediate=asked.webhook_intermediate,
            )
            return JSONResponse({"request_id": submitted.request_id, **_urls(request, submitted)})

    async def status(self, request: Request) -> Response:
        with self.serverless.lock:
            job = self._own(request)
            body: dict[str, Any] = {"request_id": job.request_id, "status": job.status}
            position = self.serverless.scheduler.queue_position(job)
            if position is not None:
                body["queue_position"] = position
            if job.status == IN_PROGRESS:
                body["instance_id"] = job.instance_id
            urls = _urls(request, job)
            body["status_url"], body["result_url"] = urls["status_url"], urls["result_url"]
            return JSONResponse(body)

    async def result(self, request: Request) -> Response:
        with self.serverless.lock:
            job = self._own(request)
            outputs = with_origin(origin_of(request), job.outputs) if job.status == SUCCEEDED else None
            return JSONResponse(
                {
                    "request_id": job.request_id,
                    "deployment_id": job.deployment_id,
                    "status": job.status,
                    "outputs": outputs,
                    "error": job.error if job.status == FAILED else None,
                    "created_at": iso(job.submitted_at),
                    "started_at": iso(job.started_at),
                    "finished_at": iso(job.finished_at),
                }
            )

    async def cancel(self, request: Request) -> Response:
        with self.serverless.lock:
            job = self._own(request)
            outcome = self.serverless.cancel(job)
            status_code = 202 if outcome == "cancellation_requested" else 200
            return JSONResponse({"request_id": job.request_id, "status": outcome}, status_code=status_code)

    async def file(self, request: Request) -> Response:
        """An output file; public like the service's file URLs, which carry no token."""
        request_id, name = request.path_params["request_id"], request.path_params["filename"]
        with self.serverless.lock:
            job = self.serverless.get(request_id)
            graph = job.workflow if job is not None and job.status == SUCCEEDED else None
        rendered = workflow_outputs.render(graph, name) if graph is not None else None
        if rendered is None:
            raise not_found("File not found", f"No file {name} for request {request_id}.")
        return serve_file(request, rendered)


def _prefix(request: Request) -> str:
    """``/prod/v1`` or ``/prod/v2``: the prefix the call used."""
    return next(prefix for prefix in PREFIXES if request.url.path.startswith(prefix + "/"))


def _urls(request: Request, job: DeploymentRequest) -> dict[str, str]:
    base = f"{origin_of(request)}{_prefix(request)}/deployments/{job.deployment_id}/requests/{job.request_id}"
    return {"status_url": f"{base}/status", "result_url": f"{base}/result", "cancel_url": f"{base}/cancel"}


def endpoints(state: EmulatorState) -> list[Endpoint]:
    """The request routes, under both prefixes, and the output files."""
    api = DeploymentRequestsApi(state)
    found: list[Endpoint] = []
    for prefix in PREFIXES:
        base = f"{prefix}/deployments/{{deployment_id}}"
        found += [
            Endpoint(f"{base}/inference", "inference", api.inference, ("POST",)),
            Endpoint(f"{base}/requests/{{request_id}}/status", "deployment-status", api.status, ("GET",)),
            Endpoint(f"{base}/requests/{{request_id}}/result", "deployment-result", api.result, ("GET",)),
            Endpoint(f"{base}/requests/{{request_id}}/cancel", "deployment-cancel", api.cancel, ("POST",)),
        ]
    found.append(
        Endpoint(
            f"{workflow_outputs.FILES_PATH}/{{request_id}}/{{filename}}",
            "deployment-file",
            api.file,
            ("GET", "HEAD"),
        )
    )
    return found
