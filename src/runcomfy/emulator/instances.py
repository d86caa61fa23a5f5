"""The records of the Serverless API's moving parts: a deployment request and its timeline, and an instance.

Kept apart from the scheduler that moves them (:mod:`~runcomfy.emulator.deployment_scheduler`) so the routes,
the control plane and the webhook payloads can read them without knowing how they move. Data only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]

IN_QUEUE, IN_PROGRESS = "in_queue", "in_progress"
SUCCEEDED, FAILED, CANCELLED = "succeeded", "failed", "cancelled"
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELLED})
BOOTING, IDLE, BUSY, STOPPED = "booting", "idle", "busy", "stopped"


@dataclass
class DeploymentRequest:
    """One inference request of a deployment, what it runs, and its timeline."""

    request_id: str
    deployment_id: str
    owner: str
    seq: int
    submitted_at: float
    workflow: JSON  # the graph it runs: the deployment's (or the one sent), overrides merged in
    run_s: float  # how long it runs once an instance takes it
    origin: str  # the emulator's origin as the client reached it (for URLs in webhooks)
    api_prefix: str = "/prod/v2"  # the prefix the inference call used (/prod/v1 or /prod/v2)
    extra_data: JSON = field(default_factory=dict)
    webhook: str | None = None
    webhook_intermediate: bool = False
    invalid: JSON | None = None  # ComfyUI's validation error: the instance refuses it at once
    status: str = IN_QUEUE
    instance_id: str | None = None
    sku: str | None = None
    started_at: float | None = None
    finishes_at: float | None = None
    finished_at: float | None = None
    outputs: JSON | None = None
    error: JSON | None = None
    forced_error: JSON | None = None

    @property
    def finished(self) -> bool:
        """Whether it has reached a terminal status."""
        return self.status in TERMINAL


@dataclass
class Instance:
    """One instance of a deployment: booting (a cold start), idle, busy with one request, or stopped."""

    instance_id: str
    deployment_id: str
    sku: str
    seq: int
    booted_at: float
    ready_at: float
    phase: str = BOOTING
    request_id: str | None = None
    idle_since: float | None = None
    stopped_at: float | None = None

    @property
    def live(self) -> bool:
        """Booting, idle or busy."""
        return self.phase != STOPPED

    @property
    def warm(self) -> bool:
        """Up and answering (idle or busy)."""
        return self.phase in (IDLE, BUSY)
