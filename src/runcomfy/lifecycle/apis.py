"""The queue APIs, described by data: where a request's status, result and cancel live, what its status words
mean, and where its files are.

Adding an API (deployment requests, training jobs) is adding a :class:`QueueAPI` here; the wait loop, the
retries, cancel-on-interrupt and the downloads are shared. This module is the only place that knows the Model
API's status vocabulary and URL layout. It never does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runcomfy.api_urls import join_url, quote_request_id
from runcomfy.status import RequestStatus, StatusVocabulary, parse_status

__all__ = [
    "DEPLOYMENT_API",
    "DEPLOYMENT_STATUSES",
    "MODEL_API",
    "MODEL_API_STATUSES",
    "TRAINING_API",
    "TRAINING_STATUSES",
    "QueueAPI",
    "parse_model_api_status",
]

ACTIONS = ("status", "result", "cancel")


@dataclass(frozen=True)
class QueueAPI:
    """One API's request lifecycle.

    ``request_path`` is the path of one request below the API base, with ``{request_id}`` (and, for APIs whose
    requests live under another resource, more ``{names}`` filled from a handle's ``scope``); the status, result
    and cancel calls are that path plus ``/status``, ``/result``, ``/cancel``. ``output_keys`` are the keys of a
    result record that hold its files, tried in order (the first present counts).
    """

    name: str
    request_path: str
    vocabulary: StatusVocabulary
    output_keys: tuple[str, ...] = ("output",)

    def url(self, base: str, action: str, request_id: str, scope: Mapping[str, str] | None = None) -> str:
        """The URL of ``action`` (status, result or cancel) for one request, every id escaped as one segment."""
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}")
        names = {key: quote_request_id(value) for key, value in (scope or {}).items()}
        names["request_id"] = quote_request_id(request_id)
        return join_url(base, self.request_path.format(**names), action)

    def parse_status(self, payload: Mapping[str, Any] | str | None) -> RequestStatus:
        """A status (or result) reply as a typed value, in this API's words."""
        return parse_status(payload, self.vocabulary)

    def outputs(self, record: Mapping[str, Any]) -> Any:
        """The part of a result record that holds its files (``None`` when it has none)."""
        for key in self.output_keys:
            if record.get(key) is not None:
                return record[key]
        return None


MODEL_API_STATUSES = StatusVocabulary(
    queued=frozenset({"in_queue", "queued", "pending", "waiting"}),
    running=frozenset({"in_progress", "running", "processing", "starting"}),
    succeeded=frozenset({"completed", "succeeded"}),
    failed=frozenset({"failed"}),
    cancelled=frozenset({"cancelled", "canceled"}),
)
"""The Model API's words: the documented ``in_queue``/``in_progress``/``completed``/``cancelled``, the
``succeeded``/``failed``/``canceled`` the official client also treats as terminal, and the non-terminal words
RunComfy's own clients know (``pending``, ``starting``, ...)."""

MODEL_API = QueueAPI(name="Model API", request_path="requests/{request_id}", vocabulary=MODEL_API_STATUSES)


def parse_model_api_status(payload: Mapping[str, Any] | str | None) -> RequestStatus:
    """A Model API status reply (or a bare status word) as a typed value."""
    return MODEL_API.parse_status(payload)


DEPLOYMENT_STATUSES = StatusVocabulary(
    queued=frozenset({"in_queue", "queued", "pending"}),
    running=frozenset({"in_progress", "running"}),
    succeeded=frozenset({"succeeded", "completed"}),
    failed=frozenset({"failed"}),
    cancelled=frozenset({"cancelled", "canceled"}),
)
"""A deployment request's words (the Serverless API and its webhooks use ``succeeded``; ``completed`` is kept
as the Model API's word for the same thing)."""

DEPLOYMENT_API = QueueAPI(
    name="Serverless API",
    request_path="deployments/{deployment_id}/requests/{request_id}",
    vocabulary=DEPLOYMENT_STATUSES,
    output_keys=("outputs", "output"),
)
"""Requests of a ComfyUI deployment: ``outputs`` (node id -> channel -> files) for a workflow, ``output`` for
LoRA inference."""


TRAINING_STATUSES = StatusVocabulary(
    queued=frozenset({"in_queue", "queued", "pending"}),
    running=frozenset({"running", "resuming", "in_progress"}),
    succeeded=frozenset({"stopped", "completed", "succeeded"}),
    failed=frozenset({"failed"}),
    cancelled=frozenset({"canceled", "cancelled"}),
    progress_field="progress",
)
"""A training job's words (the Trainer API sends them upper case: ``IN_QUEUE``, ``RUNNING``, ``RESUMING``,
``STOPPED``, ``FAILED``, ``CANCELED``). ``STOPPED`` is terminal and counts as done here; whether the job reached
its last step is :func:`runcomfy.training.stopped_short`'s question (the API says ``STOPPED`` for both)."""

TRAINING_API = QueueAPI(
    name="Trainer API",
    request_path="trainers/ai-toolkit/jobs/{request_id}",
    vocabulary=TRAINING_STATUSES,
    output_keys=("artifacts",),
)
"""AI Toolkit training jobs: ``artifacts`` (``checkpoints``, ``samples``) holds the files."""
