"""Who may touch which deployment and deployment request, and which deployments take new work: the Serverless
API's ownership checks and gating codes, shared by its route modules.

Ownership answers as the service does: an id that does not exist is a 404 (``404001``), another user's
deployment or request a 403 (``403003``, "not owned by the caller"); a deleted deployment is gone (404) for
everything but its inference, which answers the deleted gating code, and its requests, which stay readable.
Gating codes answer an inference a deployment cannot take: ``10002`` disabled (HTTP 409), ``10003`` deleted
(HTTP 410), ``10001`` insufficient funds (HTTP 402: the balance is not above zero, as a request's cost is
known only at its end). A full queue is a 429 (``429001``) with ``Retry-After`` (the deployment's run time,
rounded up): full means the requests waiting for an instance (queued, including those waiting out a cold
start) would pass ``queue_size`` x ``max_instances``; an idle warm instance takes a request at once, so once
every instance is up and busy a deployment holds ``max_instances`` running plus ``queue_size`` x
``max_instances`` waiting. The service's code for a full queue is not documented; a 429 with
``Retry-After`` is what HTTP clients already treat as "retry later".

Called with :attr:`~runcomfy.emulator.serverless.Serverless.lock` held. This module must never let one user
learn more of another's deployment than that it exists.
"""

from __future__ import annotations

import math

from runcomfy.emulator.deployments import Deployment
from runcomfy.emulator.errors import ServiceError, insufficient_funds, not_found
from runcomfy.emulator.instances import DeploymentRequest
from runcomfy.emulator.state import EmulatorState

NOT_OWNED = 403003
DISABLED, DELETED = 10002, 10003


def owned_deployment(
    state: EmulatorState, user_id: str, deployment_id: str, *, deleted_ok: bool = False
) -> Deployment:
    """The deployment named in a path if ``user_id`` owns it (a deleted one only with ``deleted_ok``)."""
    deployment = state.serverless.deployments.all.get(deployment_id)
    if deployment is None or (
        deployment.deleted_at is not None and not deleted_ok and deployment.owner == user_id
    ):
        raise not_found(
            f"Deployment {deployment_id} not found", "List your deployments with GET /prod/v2/deployments."
        )
    if deployment.owner != user_id:
        raise ServiceError(
            403,
            "Permission denied: the deployment belongs to another user",
            f"Deployment {deployment_id} is not owned by this token's user.",
            error_code=NOT_OWNED,
        )
    return deployment


def owned_request(
    state: EmulatorState, user_id: str, deployment_id: str, request_id: str
) -> DeploymentRequest:
    """The request named in a path, if it belongs to that deployment and ``user_id`` owns both."""
    owned_deployment(state, user_id, deployment_id, deleted_ok=True)
    request = state.serverless.get(request_id)
    if request is None or request.deployment_id != deployment_id:
        raise not_found(
            f"Request {request_id} not found",
            "The request id does not exist for this deployment, or has expired.",
        )
    if request.owner != user_id:
        raise ServiceError(
            403,
            "Permission denied: the request belongs to another user",
            f"Request {request_id} is not owned by this token's user.",
            error_code=NOT_OWNED,
        )
    return request


def refuse_unavailable(deployment: Deployment) -> None:
    """Refuse an inference of a deleted or disabled deployment (checked before its body is)."""
    if deployment.deleted_at is not None:
        raise ServiceError(
            410,
            "Deployment deleted",
            f"Deployment {deployment.id} was deleted; create a new one.",
            error_code=DELETED,
        )
    if not deployment.is_enabled:
        raise ServiceError(
            409,
            "Deployment disabled",
            f"Deployment {deployment.id} is disabled; enable it with PATCH is_enabled=true.",
            error_code=DISABLED,
        )


def refuse_unaffordable_or_full(state: EmulatorState, user_id: str, deployment: Deployment) -> None:
    """Refuse a valid inference the caller cannot pay for, or the deployment has no room to queue."""
    if not state.billing.can_pay(user_id, 0.0):
        raise insufficient_funds(state.billing.balance(user_id))
    if not state.serverless.scheduler.has_room(deployment):
        retry_after = max(1, math.ceil(state.serverless.run_s(deployment)))
        raise ServiceError(
            429,
            "Too many requests: the deployment's queue is full",
            f"At most queue_size ({deployment.queue_size}) requests wait per instance, and "
            f"max_instances is {deployment.max_instances}. Retry later, or raise them with PATCH.",
            headers={"retry-after": str(retry_after)},
        )
