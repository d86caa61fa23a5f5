"""Deployments: a workflow version served on chosen hardware, with its scaling settings, and their records.

A deleted deployment is kept (``deleted_at``) so that its inference can answer the service's "deleted"
gating code, but it is gone from every listing and lookup by its owner. The API shape of a deployment is
built here (:meth:`Deployment.record`), and with it the optional ``payload`` and ``readme`` the
``includes`` query asks for. This module knows nothing of HTTP, instances or requests; fields are checked
before they reach it (:mod:`~runcomfy.emulator.deployment_fields`).
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, fields
from typing import Any

from runcomfy.emulator import workflows
from runcomfy.emulator.clock import Clock
from runcomfy.emulator.store import Store

JSON = dict[str, Any]
READY, DISABLED = "ready", "disabled"


@dataclass
class Deployment:
    """One deployment and its owner."""

    id: str
    owner: str
    seq: int
    name: str
    workflow_id: str
    workflow_version: str
    hardware: list[str]
    min_instances: int
    max_instances: int
    queue_size: int
    keep_warm_duration_in_seconds: int
    is_enabled: bool
    created_at: float
    updated_at: float
    deleted_at: float | None = None

    @property
    def sku(self) -> str:
        """The hardware every instance of this deployment runs on."""
        return self.hardware[0]

    @property
    def workflow(self) -> workflows.Workflow:
        """The workflow version this deployment serves."""
        found = workflows.find(self.workflow_id, self.workflow_version)
        assert found is not None, "fields are checked before they are kept"
        return found

    @property
    def status(self) -> str:
        """``ready`` while enabled, else ``disabled``."""
        return READY if self.is_enabled else DISABLED

    def record(self, iso: Any, *, payload_origin: str | None = None, readme: bool = False) -> JSON:
        """The deployment as the API shows it; ``iso`` renders dates. ``payload_origin``: include the payload,
        with its ``object_info_url`` on that origin; ``readme``: include the README."""
        record: JSON = {
            "id": self.id,
            "name": self.name,
            "workflow_id": self.workflow_id,
            "workflow_version": self.workflow_version,
            "hardware": list(self.hardware),
            "min_instances": self.min_instances,
            "max_instances": self.max_instances,
            "queue_size": self.queue_size,
            "keep_warm_duration_in_seconds": self.keep_warm_duration_in_seconds,
            "status": self.status,
            "is_enabled": self.is_enabled,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }
        if payload_origin is not None:
            record["payload"] = {
                "workflow_api_json": self.workflow.graph,
                "overrides": self.workflow.overrides,
                "object_info_url": object_info_url(payload_origin, self.workflow_id, self.workflow_version),
            }
        if readme:
            record["readme"] = self.workflow.readme()
        return record


def object_info_url(origin: str, workflow_id: str, version: str) -> str:
    """Where the node classes of a workflow version are described (public, like output files)."""
    return f"{origin}/object-info/{workflow_id}/{version}"


_SETTABLE = {field.name for field in fields(Deployment)} - {"id", "owner", "seq", "created_at", "deleted_at"}


class Deployments:
    """Every deployment, written through to the store (table ``deployments``)."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store, self._clock = store, clock
        self.all = {key: Deployment(**value) for key, value in store.load("deployments").items()}
        self._seq = max((d.seq for d in self.all.values()), default=0)

    def reset(self) -> None:
        """Forget every deployment (call after the store is cleared)."""
        self.all, self._seq = {}, 0

    def save(self, deployment: Deployment) -> None:
        """Write one deployment through."""
        self._store.put("deployments", deployment.id, asdict(deployment))

    def create(self, owner: str, fields_: JSON, deployment_id: str | None = None) -> Deployment:
        """A new deployment of checked ``fields_`` for ``owner`` (a given id is for the seeded example)."""
        self._seq += 1
        now = self._clock.now()
        values = {key: value for key, value in fields_.items() if key in _SETTABLE}
        values["hardware"] = list(values["hardware"])
        values["name"] = values["name"].strip()
        deployment = Deployment(
            id=deployment_id or str(uuid.uuid4()),
            owner=owner,
            seq=self._seq,
            created_at=now,
            updated_at=now,
            **values,
        )
        self.all[deployment.id] = deployment
        self.save(deployment)
        return deployment

    def update(self, deployment: Deployment, changes: JSON) -> None:
        """Apply checked ``changes``."""
        for key, value in changes.items():
            if key in _SETTABLE:
                setattr(deployment, key, value.strip() if key == "name" else value)
        deployment.updated_at = self._clock.now()
        self.save(deployment)

    def delete(self, deployment: Deployment) -> None:
        """Mark a deployment deleted (it stays known, so its inference can say so)."""
        deployment.deleted_at = deployment.updated_at = self._clock.now()
        deployment.is_enabled = False
        self.save(deployment)

    def listed(self, owner: str) -> list[Deployment]:
        """The deployments ``owner`` can see, oldest first."""
        return sorted(
            (d for d in self.all.values() if d.owner == owner and d.deleted_at is None), key=lambda d: d.seq
        )
