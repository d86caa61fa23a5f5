"""``requests list`` brings unfinished rows up to date before showing them.

A request submitted with ``--no-wait`` (or left by an interrupted run) stays ``submitted`` in the journal until
someone asks the service again; a list that kept saying ``submitted`` for a request that finished an hour ago
would mislead. So each such row of the current identity gets one status call, and what is learnt is recorded.
Rows of deployment requests (recorded as ``deployment/<id>``) are asked on the Serverless API, training jobs
(``training/<name>``) and datasets (``dataset/<name>``) on the Trainer API; a training job ``STOPPED`` and a
dataset ``READY`` count as settled (the commands that change them again record it).

Bounded so that a list is never slow: at most :data:`MAX_REFRESHED` rows, :data:`CONCURRENCY` calls at a time,
each with a short timeout and no retries, and no new call after :data:`BUDGET_S` seconds. A row that could not be
refreshed is shown as it was recorded.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from runcomfy.errors import JournalError, RunComfyError
from runcomfy.journal_statuses import FINAL_STATUSES
from runcomfy.lifecycle.apis import TRAINING_STATUSES
from runcomfy.safe_text import strip_controls

if TYPE_CHECKING:
    from runcomfy.cli.context import AppContext
    from runcomfy.client import Client
    from runcomfy.journal import JournalEntry, JournalScope
    from runcomfy.lifecycle.handle import RequestHandle
    from runcomfy.status import RequestStatus

MAX_REFRESHED = 50
CONCURRENCY = 8
CALL_TIMEOUT_S = 5.0
BUDGET_S = 10.0
TRAINING_PREFIX = "training/"  # as runcomfy.training names jobs in the journal (a test keeps them equal)
DATASET_PREFIX = "dataset/"  # as runcomfy.datasets names datasets in the journal
DATASET_SETTLED = frozenset({"ready", "failed"})


def refresh_unfinished(
    app: AppContext, entries: list[JournalEntry], scope: JournalScope | None
) -> list[JournalEntry]:
    """``entries`` with the unfinished ones of the current identity refreshed (and recorded) where possible."""
    client = app.client()
    if not client.has_token:
        return entries
    current = scope or app.journal_scope()
    stale = [e for e in entries if not _settled(e) and e.in_scope(current)]
    stale = stale[:MAX_REFRESHED]
    if not stale:
        return entries
    give_up = time.monotonic() + BUDGET_S

    def look(entry: JournalEntry) -> RequestStatus | None:
        if time.monotonic() > give_up:
            return None
        try:
            if entry.model_id.startswith(DATASET_PREFIX):
                return _dataset_status(client, entry.request_id)
            return handle_for(client, entry.request_id, entry.model_id).status(
                retry=False, timeout_s=CALL_TIMEOUT_S
            )
        except (RunComfyError, ImportError, AttributeError):  # the datasets module may not be there
            return None

    # Imported here, not at the top: `status --help` and a journal with nothing stale need no threads.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(CONCURRENCY, len(stale))) as pool:
        seen = list(pool.map(look, stale))
    refreshed: dict[str, JournalEntry] = {}
    for entry, status in zip(stale, seen, strict=True):
        if status is None or not status.raw or status.name == entry.status:
            continue
        refreshed[entry.request_id] = dataclasses.replace(entry, status=status.name)
        try:
            app.journal().update(entry.request_id, status=status.name)
        except (OSError, JournalError) as exc:  # showing the fresh status matters more than recording it
            app.output.verbose(f"could not record the new status of {entry.request_id}: {exc}")
    missed = sum(1 for status in seen if status is None)
    if missed:
        app.output.verbose(f"could not refresh {missed} unfinished request(s); shown as last recorded")
    return [refreshed.get(entry.request_id, entry) for entry in entries]


def handle_for(client: Client, request_id: str, recorded_as: str | None) -> RequestHandle:
    """A handle on a journaled request, on the API it was submitted to: a row recorded as
    ``deployment/<id>`` is a deployment's request (Serverless API), ``training/<name>`` a training job (Trainer
    API), any other a model's. A dataset is no request: :class:`InvalidInput` says where to look instead."""
    from runcomfy.errors import InvalidInput
    from runcomfy.serverless import deployment_of

    deployment_id = deployment_of(recorded_as)
    if deployment_id is not None:
        return client.deployments.handle(deployment_id, request_id)
    if recorded_as and recorded_as.startswith(TRAINING_PREFIX):
        return client.training.handle(request_id)
    if recorded_as and recorded_as.startswith(DATASET_PREFIX):
        raise InvalidInput(
            f"{request_id} is a dataset, not a request",
            hint=f"see it with `runcomfy datasets status {request_id}`",
        )
    return client.handle(request_id)


def _settled(entry: JournalEntry) -> bool:
    """Whether the service has nothing new to say about a row (so it is not asked again)."""
    status = entry.status.lower()
    if entry.model_id.startswith(TRAINING_PREFIX):
        return status in TRAINING_STATUSES.terminal
    if entry.model_id.startswith(DATASET_PREFIX):
        return status in DATASET_SETTLED
    return status in FINAL_STATUSES


def _dataset_status(client: Client, dataset_id: str) -> RequestStatus | None:
    """A dataset's status word, asked once (no retries: a list must stay quick), as a status value."""
    from runcomfy.status import Unknown

    payload = client.datasets.status(dataset_id, retry=False, timeout_s=CALL_TIMEOUT_S)
    status = payload.get("status") if isinstance(payload, Mapping) else None
    if not isinstance(status, str) or not status.strip():
        return None
    return Unknown(raw=strip_controls(status.strip(), max_len=64), payload=payload)
