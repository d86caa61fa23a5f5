"""The Serverless API's state: deployments, their requests and instances, webhook callbacks, and the lock.

:class:`Serverless` puts the parts together (:mod:`~runcomfy.emulator.deployments` for the records,
:mod:`~runcomfy.emulator.deployment_scheduler` for instances and queues, :mod:`~runcomfy.emulator.webhooks`
for callbacks) and owns what spans them: what a request produces, what happens when its status changes
(a webhook callback is queued, the GPU seconds it ran are charged through
:mod:`~runcomfy.emulator.billing`), the settings, the example deployment, and a reset.

The webhook worker's thread reads this state too, so every change and every multi-step read holds
:attr:`Serverless.lock` (reentrant; the routes take it around each answer they build). Nothing here knows
HTTP; the routes check ownership and gating before they call in.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import asdict
from typing import Any

from runcomfy.emulator import workflow_outputs, workflows
from runcomfy.emulator.billing import Billing, gpu_cost_usd
from runcomfy.emulator.clock import Clock, iso
from runcomfy.emulator.comfy_graph import validation_error
from runcomfy.emulator.deployment_fields import DEFAULTS
from runcomfy.emulator.deployment_scheduler import Scheduler
from runcomfy.emulator.deployments import Deployment, Deployments
from runcomfy.emulator.instances import CANCELLED, FAILED, IN_PROGRESS, IN_QUEUE, SUCCEEDED, DeploymentRequest
from runcomfy.emulator.models import Production, with_origin
from runcomfy.emulator.serverless_settings import ServerlessSettings
from runcomfy.emulator.store import Store
from runcomfy.emulator.webhooks import Outbox

JSON = dict[str, Any]
EXAMPLE_DEPLOYMENT_ID = "7e57c0de-d000-4000-8000-000000000001"
EXAMPLE_DEPLOYMENT_NAME = "example-text-to-image"
EXAMPLE_DEPLOYMENT: JSON = {
    **DEFAULTS,
    "name": EXAMPLE_DEPLOYMENT_NAME,
    "workflow_id": workflows.TEXT_TO_IMAGE_ID,
    "workflow_version": "v1",
    "queue_size": 5,
}


class Serverless:
    """Deployments and everything that moves in them, written through to the store."""

    def __init__(self, store: Store, clock: Clock, billing: Billing, settings: ServerlessSettings) -> None:
        self.lock = threading.RLock()
        self.clock, self.billing = clock, billing
        self.started_with = settings
        self.settings = settings
        self.outbox = Outbox(settings.delivery())
        self.deployments = Deployments(store, clock)
        self.scheduler = Scheduler(
            store,
            clock,
            lookup=lambda deployment_id: self.deployments.all[deployment_id],
            cold_start_s=lambda: self.settings.cold_start_s,
            produce=_produce,
            on_change=self._changed,
        )
        self.example_owner: str | None = None
        self._watched = {
            r.request_id for r in self.scheduler.requests.values() if r.webhook and not r.finished
        }

    # -- settings, reset, the example ------------------------------------------------------------------

    def apply(self, settings: ServerlessSettings) -> None:
        """Change the settings (cold starts and run times from now on; webhook delivery at once)."""
        with self.lock:
            self.advance()  # what happened under the old settings stays as it was
            self.settings = settings
            self.outbox.settings = settings.delivery()

    def reset(self) -> None:
        """Forget every deployment, request, instance and callback; back to the settings started with (call
        after the store is cleared). The example deployment is made again if the emulator seeds one."""
        with self.lock:
            self.deployments.reset()
            self.scheduler.reset()
            self.outbox.clear()
            self._watched = set()
            self.apply(self.started_with)
            self._seed_example()

    def seed_example(self, owner: str) -> None:
        """Make the example deployment for ``owner`` now and after every reset, unless deployments exist."""
        with self.lock:
            self.example_owner = owner
            self._seed_example()

    def _seed_example(self) -> None:
        if self.example_owner is not None and not self.deployments.all:
            self.create(self.example_owner, EXAMPLE_DEPLOYMENT, deployment_id=EXAMPLE_DEPLOYMENT_ID)

    # -- deployments -----------------------------------------------------------------------------------

    def advance(self) -> None:
        """Bring every deployment up to the clock's time."""
        with self.lock:
            self.scheduler.advance()

    def advance_watched(self) -> None:
        """:meth:`advance`, if some request with a webhook has yet to end (the webhook worker's tick)."""
        with self.lock:
            if self._watched:
                self.scheduler.advance()

    def create(self, owner: str, fields: JSON, deployment_id: str | None = None) -> Deployment:
        """A new deployment of checked ``fields``; its ``min_instances`` start booting now."""
        with self.lock:
            self.advance()
            deployment = self.deployments.create(owner, fields, deployment_id)
            self.scheduler.settle(deployment)
            return deployment

    def update(self, deployment: Deployment, changes: JSON) -> None:
        """Apply checked ``changes``; instances follow the new settings from now on."""
        with self.lock:
            self.advance()
            self.deployments.update(deployment, changes)
            self.scheduler.settle(deployment)

    def delete(self, deployment: Deployment) -> None:
        """Delete a deployment: its requests end ``cancelled`` and its instances stop now."""
        with self.lock:
            self.advance()
            self.deployments.delete(deployment)
            self.scheduler.shut_down(deployment)

    # -- requests --------------------------------------------------------------------------------------

    def run_s(self, deployment: Deployment) -> float:
        """How long a request of ``deployment`` runs on a warm instance."""
        configured = self.settings.deployment_run_s
        return deployment.workflow.run_s if configured is None else configured

    def submit(self, owner: str, deployment: Deployment, graph: JSON, **details: Any) -> DeploymentRequest:
        """Queue a checked request (``details``: origin, api_prefix, extra_data, webhook, webhook_intermediate)."""
        with self.lock:
            request = DeploymentRequest(
                request_id=str(uuid.uuid4()),
                deployment_id=deployment.id,
                owner=owner,
                seq=0,
                submitted_at=self.clock.now(),
                workflow=graph,
                run_s=self.run_s(deployment),
                invalid=validation_error(graph),
                **details,
            )
            if request.webhook:
                self._watched.add(request.request_id)
            return self.scheduler.submit(request)

    def get(self, request_id: str) -> DeploymentRequest | None:
        """A request, brought up to date."""
        with self.lock:
            self.advance()
            return self.scheduler.requests.get(request_id)

    def cancel(self, request: DeploymentRequest) -> str:
        """Cancel a queued or running request now: ``cancellation_requested``; else its terminal status."""
        with self.lock:
            self.advance()
            if self.scheduler.end_early(request, CANCELLED):
                return "cancellation_requested"
            return request.status

    def fail(self, request: DeploymentRequest, error: JSON) -> bool:
        """Make a queued or running request end ``failed`` now; False if it had ended."""
        with self.lock:
            self.advance()
            return self.scheduler.end_early(request, FAILED, error)

    def in_order(self) -> list[DeploymentRequest]:
        """Every request, brought up to date, in the order submitted."""
        with self.lock:
            self.advance()
            return sorted(self.scheduler.requests.values(), key=lambda r: r.seq)

    # -- what a status change sets off ---------------------------------------------------------------------

    def _changed(self, request: DeploymentRequest) -> None:
        if request.finished:
            self._watched.discard(request.request_id)
            self._charge(request)
        if request.webhook and (request.finished or request.webhook_intermediate):
            self.outbox.add(
                request.request_id, request.webhook, self.callback(request), final=request.finished
            )

    def _charge(self, request: DeploymentRequest) -> None:
        if request.started_at is None or request.sku is None or request.finished_at is None:
            return  # it never ran: nothing to pay
        seconds = request.finished_at - request.started_at
        self.billing.charge(
            request.owner,
            request.request_id,
            gpu_cost_usd(request.sku, seconds),
            kind="deployment",
            description=f"{seconds:g} s on {request.sku} ({request.deployment_id})",
            now=request.finished_at,
        )

    def callback(self, request: DeploymentRequest) -> JSON:
        """The JSON body of a webhook callback for the request's current status."""
        body: JSON = {
            "request_id": request.request_id,
            "deployment_id": request.deployment_id,
            "status": request.status,
            "created_at": iso(request.submitted_at),
            "finished_at": iso(request.finished_at),
        }
        if request.status == IN_QUEUE:
            body["queue_position"] = self.scheduler.queue_position(request)
        elif request.status == IN_PROGRESS:
            body["instance_id"] = request.instance_id
        elif request.status == SUCCEEDED:
            body["outputs"] = with_origin(request.origin, request.outputs)
        elif request.status == FAILED:
            body["error"] = request.error
        return body

    def request_view(self, request: DeploymentRequest) -> JSON:
        """A request with its whole timeline, for the control plane."""
        view = asdict(request)
        view["queue_position"] = self.scheduler.queue_position(request)
        view["outputs"] = with_origin(request.origin, request.outputs)
        for key in ("forced_error", "origin", "api_prefix"):
            view.pop(key)
        return view


def _produce(request: DeploymentRequest) -> Production:
    return workflow_outputs.produce(request.request_id, request.workflow)
