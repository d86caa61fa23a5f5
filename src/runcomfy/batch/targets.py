"""What a batch runs each line against: a model of the Model API, or a ComfyUI deployment of the Serverless API.

The batch engine (resume, never paying twice, concurrency, downloads) does not care which API a request lives
on: it needs to submit one line's input and to get a handle on a request submitted earlier. A target provides
those two calls and the name its requests are recorded under in the journal (the model id, or
``deployment/<id>``), which also keys the batch's progress.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from runcomfy.client import Client
    from runcomfy.lifecycle.handle import RequestHandle

__all__ = ["BatchTarget", "DeploymentTarget", "ModelTarget"]


class BatchTarget(Protocol):
    """Where a batch's lines go."""

    @property
    def name(self) -> str:
        """The journal's name for the target's requests (and part of the batch's key)."""
        ...

    def submit(self, client: Client, line_input: Mapping[str, Any]) -> RequestHandle: ...

    def handle(self, client: Client, request_id: str) -> RequestHandle: ...


@dataclass(frozen=True)
class ModelTarget:
    """Each line is a model's input: ``POST /models/{model_id}``."""

    model_id: str

    @property
    def name(self) -> str:
        return self.model_id

    def submit(self, client: Client, line_input: Mapping[str, Any]) -> RequestHandle:
        return client.submit(self.model_id, line_input)

    def handle(self, client: Client, request_id: str) -> RequestHandle:
        return client.handle(request_id)


@dataclass(frozen=True)
class DeploymentTarget:
    """Each line is an ``overrides`` object for a deployment's workflow: ``POST /deployments/{id}/inference``
    (with the same ``extra_data`` and webhook for every line)."""

    deployment_id: str
    extra_data: Mapping[str, Any] | None = None
    webhook_url: str | None = None
    webhook_intermediate: bool = False
    _name: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        from runcomfy.serverless import DEPLOYMENT_PREFIX

        object.__setattr__(self, "_name", DEPLOYMENT_PREFIX + self.deployment_id)

    @property
    def name(self) -> str:
        return self._name

    def submit(self, client: Client, line_input: Mapping[str, Any]) -> RequestHandle:
        return client.deployments.submit(
            self.deployment_id,
            overrides=line_input,
            extra_data=self.extra_data,
            webhook_url=self.webhook_url,
            webhook_intermediate=self.webhook_intermediate,
        )

    def handle(self, client: Client, request_id: str) -> RequestHandle:
        return client.deployments.handle(self.deployment_id, request_id)
