"""RunComfy's Serverless API, its deployments and the balance: ``/prod/v2/deployments`` (list, get, create,
update, delete), ``/prod/v2/balance``, and the node classes of a workflow version (``/object-info/...``, the
``object_info_url`` of a deployment's payload; public, like output files).

Routes parse and render only: the records are :mod:`~runcomfy.emulator.deployments`', the checks of a body
:mod:`~runcomfy.emulator.deployment_fields`', ownership :mod:`~runcomfy.emulator.deployment_access`'.
Answers (all 200): list is a bare JSON array; get, create and update the deployment object (with ``payload``
and ``readme`` when ``includes`` asks); delete ``{"id", "deleted": true}``. A deployment's requests are
:mod:`~runcomfy.emulator.deployment_requests_api`'s. This module must never show one user's deployment to
another.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from runcomfy.emulator import comfy_nodes, deployment_fields, workflows
from runcomfy.emulator.bodies import CONTROL_BODY_LIMIT, read_json
from runcomfy.emulator.clock import iso
from runcomfy.emulator.deployment_access import owned_deployment
from runcomfy.emulator.deployments import Deployment
from runcomfy.emulator.errors import ServiceError, not_found, validation_error
from runcomfy.emulator.routing import Endpoint, caller, origin_of
from runcomfy.emulator.state import EmulatorState

ROUTE_NAMES = (
    "deployments",
    "deployment",
    "deployment-create",
    "deployment-update",
    "deployment-delete",
    "balance",
    "object-info",
)
PREFIX = "/prod/v2"
INCLUDES = ("payload", "readme")


class DeploymentsApi:
    """The handlers, bound to one state."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.serverless = state.serverless

    def _render(self, request: Request, deployment: Deployment) -> dict[str, Any]:
        includes = _includes(request)
        origin = origin_of(request) if "payload" in includes else None
        return deployment.record(iso, payload_origin=origin, readme="readme" in includes)

    async def list(self, request: Request) -> Response:
        user = caller(self.state, request)
        wanted = _repeated(request, "ids")
        with self.serverless.lock:
            listed = self.serverless.deployments.listed(user.user_id)
            chosen = [d for d in listed if not wanted or d.id in wanted]
            return JSONResponse([self._render(request, deployment) for deployment in chosen])

    async def get(self, request: Request) -> Response:
        user = caller(self.state, request)
        with self.serverless.lock:
            deployment = owned_deployment(self.state, user.user_id, request.path_params["deployment_id"])
            return JSONResponse(self._render(request, deployment))

    async def create(self, request: Request) -> Response:
        user = caller(self.state, request)
        body = await read_json(request, CONTROL_BODY_LIMIT)
        fields, problems = deployment_fields.create_fields(body)
        if problems:
            raise validation_error("the deployment's fields are not valid", problems)
        with self.serverless.lock:
            deployment = self.serverless.create(user.user_id, fields)
            return JSONResponse(self._render(request, deployment))

    async def update(self, request: Request) -> Response:
        user = caller(self.state, request)
        body = await read_json(request, CONTROL_BODY_LIMIT)
        with self.serverless.lock:
            deployment = owned_deployment(self.state, user.user_id, request.path_params["deployment_id"])
            changes, problems = deployment_fields.update_fields(body, deployment.record(iso))
            if problems:
                raise validation_error("the deployment's fields are not valid", problems)
            self.serverless.update(deployment, changes)
            return JSONResponse(self._render(request, deployment))

    async def delete(self, request: Request) -> Response:
        user = caller(self.state, request)
        with self.serverless.lock:
            deployment = owned_deployment(self.state, user.user_id, request.path_params["deployment_id"])
            self.serverless.delete(deployment)
            return JSONResponse({"id": deployment.id, "deleted": True})

    async def balance(self, request: Request) -> Response:
        user = caller(self.state, request)
        self.serverless.advance()  # charges of requests that ended since the last read
        return JSONResponse({"balance_usd": self.state.billing.balance(user.user_id), "currency": "USD"})

    async def object_info(self, request: Request) -> Response:
        """The node classes a workflow version uses, as ComfyUI's ``/object_info`` describes them."""
        workflow_id, version = request.path_params["workflow_id"], request.path_params["workflow_version"]
        workflow = workflows.find(workflow_id, version)
        if workflow is None:
            raise not_found("Workflow not found", f"No workflow {workflow_id} version {version}.")
        classes = [node["class_type"] for node in workflow.graph.values()]
        return JSONResponse(comfy_nodes.object_info(classes))


def _repeated(request: Request, name: str) -> list[str]:
    """A repeatable query parameter, also comma-separated (``?ids=a&ids=b`` or ``?ids=a,b``), blanks dropped."""
    values = [part.strip() for value in request.query_params.getlist(name) for part in value.split(",")]
    return [value for value in values if value]


def _includes(request: Request) -> list[str]:
    includes = _repeated(request, "includes")
    unknown = [value for value in includes if value not in INCLUDES]
    if unknown:
        problem = {
            "loc": ["query", "includes"],
            "msg": f"includes takes {' and '.join(INCLUDES)}",
            "type": "enum",
        }
        raise ServiceError(422, "Validation Error: unknown includes", [problem])
    return includes


def endpoints(state: EmulatorState) -> list[Endpoint]:
    """The deployment and balance routes (each path's methods in one place, so a wrong one is a 405)."""
    api = DeploymentsApi(state)
    return [
        Endpoint(f"{PREFIX}/deployments", "deployments", api.list, ("GET",)),
        Endpoint(f"{PREFIX}/deployments", "deployment-create", api.create, ("POST",)),
        Endpoint(f"{PREFIX}/deployments/{{deployment_id}}", "deployment", api.get, ("GET",)),
        Endpoint(f"{PREFIX}/deployments/{{deployment_id}}", "deployment-update", api.update, ("PATCH",)),
        Endpoint(f"{PREFIX}/deployments/{{deployment_id}}", "deployment-delete", api.delete, ("DELETE",)),
        Endpoint(f"{PREFIX}/balance", "balance", api.balance, ("GET",)),
        Endpoint("/object-info/{workflow_id}/{workflow_version}", "object-info", api.object_info, ("GET",)),
    ]
