"""``requests list`` brings unfinished rows up to date before showing them.

A request submitted with ``--no-wait`` (or left by an interrupted run) stays ``submitted`` in the journal until
someone asks the service again; a list that kept saying ``submitted`` for a request that finished an hour ago
would mislead. So each such row of the current identity gets one status call, and what is learnt is recorded.
Rows of deployment requests (recorded as ``deployment/<id>``) are asked on the Serverless API.

Bounded so that a list is never slow: at most :data:`MAX_REFRESHED` rows, :data:`CONCURRENCY` calls at a time,
each with a short timeout and no retries, and no new call after :data:`BUDGET_S` seconds. A row that could not be
refreshed is shown as it was recorded.
"""

from __future__ import annotations

import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from runcomfy.errors import JournalError, RunComfyError
from runcomfy.journal_statuses import FINAL_STATUSES

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


def refresh_unfinished(
    app: AppContext, entries: list[JournalEntry], scope: JournalScope | None
) -> list[JournalEntry]:
    """``entries`` with the unfinished ones of the current identity refreshed (and recorded) where possible."""
    client = app.client()
    if not client.has_token:
        return entries
    current = scope or app.journal_scope()
    stale = [e for e in entries if e.status.lower() not in FINAL_STATUSES and e.in_scope(current)]
    stale = stale[:MAX_REFRESHED]
    if not stale:
        return entries
    give_up = time.monotonic() + BUDGET_S

    def look(entry: JournalEntry) -> RequestStatus | None:
        if time.monotonic() > give_up:
            return None
        try:
            return handle_for(client, entry.request_id, entry.model_id).status(
                retry=False, timeout_s=CALL_TIMEOUT_S
            )
        except RunComfyError:
            return None

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
    ``deployment/<id>`` is a deployment's request (Serverless API), any other a model's."""
    from runcomfy.serverless import deployment_of

    deployment_id = deployment_of(recorded_as)
    if deployment_id is not None:
        return client.deployments.handle(deployment_id, request_id)
    return client.handle(request_id)
