"""One submitted request: :class:`RequestHandle` (status, iter_status, wait, result, cancel).

Owns the wait of one request of one queue API: poll until terminal, fetch the result (again, with backoff,
while it lags the status), and on a timeout send one cancel. It works from its :class:`QueueAPI` description and
a :class:`CallContext`, never from the Client, so it reads on its own. Every URL it calls is on the API's
configured origin (a server-supplied URL is used only when it is), so the token stays there. It never prints,
prompts or exits.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from runcomfy.errors import RunComfyError, WaitTimeout
from runcomfy.lifecycle.apis import MODEL_API, QueueAPI
from runcomfy.lifecycle.context import CallContext
from runcomfy.lifecycle.waiting import (
    UpdateHook,
    deadline_after,
    fetch_until_settled,
    poll_statuses,
    wait_for_terminal,
)
from runcomfy.results import CancelOutcome, Result, raise_for_outcome
from runcomfy.status import RequestStatus

CANCEL_ON_INTERRUPT_TIMEOUT_S = 10.0
"""How long one cancel may take after Ctrl-C or a timeout: long enough to be heard, short enough to leave."""


class RequestHandle:
    """One submitted request of ``api`` (default: the Model API).

    ``urls`` are the status/result/cancel URLs the service sent with the submit, used only when they are on the
    API's own origin; ``scope`` holds the ids of the resource the request lives under (a deployment's id).
    """

    def __init__(
        self,
        ctx: CallContext,
        request_id: str,
        *,
        api: QueueAPI = MODEL_API,
        model_id: str | None = None,
        urls: Mapping[str, Any] | None = None,
        scope: Mapping[str, str] | None = None,
        raw: Mapping[str, Any] | None = None,
    ) -> None:
        self.ctx = ctx
        self.api = api
        self.request_id = request_id
        self.model_id = model_id
        self.scope = dict(scope or {})
        sent = urls or {}
        self.status_url, self.result_url, self.cancel_url = (
            ctx.trusted_url(sent.get(f"{action}_url"), api.url(ctx.base, action, request_id, self.scope))
            for action in ("status", "result", "cancel")
        )
        self.raw: Mapping[str, Any] = raw or {}

    def with_sleep(self, sleep: Callable[[float], None]) -> RequestHandle:
        """The same request, waited on with another ``sleep`` (one that ends when the caller stops waiting, as
        a cancelled MCP tool call does); the session and connection pool are shared."""
        twin = copy.copy(self)
        twin.ctx = self.ctx.replace(sleep=sleep)
        return twin

    def __repr__(self) -> str:
        return f"RequestHandle(request_id={self.request_id!r}, model_id={self.model_id!r}, api={self.api.name!r})"

    def status(self, *, retry: bool = True, timeout_s: float | None = None) -> RequestStatus:
        """One status call (retried through transient errors unless ``retry`` is false)."""
        payload = self.ctx.get_json(
            self.status_url, request_id=self.request_id, retry=retry, timeout_s=timeout_s
        )
        return self.api.parse_status(payload)

    def result(self, *, retry: bool = True) -> Result:
        """One result call (retried through transient errors); the result may still be non-terminal."""
        payload = self.ctx.get_json(self.result_url, request_id=self.request_id, retry=retry)
        return Result.from_payload(
            payload,
            request_id=self.request_id,
            status=self.api.parse_status(payload),
            output=self.api.outputs(payload),
        )

    def cancel(self, *, timeout_s: float | None = None, retry: bool = True) -> CancelOutcome:
        """Ask the service to cancel; ``retry=False`` and a short ``timeout_s`` suit a Ctrl-C handler."""

        def once() -> dict[str, Any]:
            return self.ctx.request_json(
                "POST", self.cancel_url, request_id=self.request_id, timeout_s=timeout_s, allow_empty=True
            )

        payload = self.ctx.retrying(once, request_id=self.request_id) if retry else once()
        return CancelOutcome.from_payload(payload, request_id=self.request_id)

    def iter_status(
        self, *, poll_interval_s: float = 2.0, timeout: float | None = None
    ) -> Iterator[RequestStatus]:
        """Yield each polled status (the first at once) until a terminal one; :class:`WaitTimeout` after
        ``timeout`` seconds."""
        yield from poll_statuses(
            lambda: self.status(retry=False),
            self.ctx,
            request_id=self.request_id,
            poll_interval_s=poll_interval_s,
            deadline=deadline_after(timeout, self.ctx.clock),
        )

    def wait(
        self,
        *,
        timeout: float | None = None,
        on_update: UpdateHook | None = None,
        poll_interval_s: float = 2.0,
        cancel_on_timeout: bool = False,
        raise_on_failure: bool = True,
    ) -> Result:
        """Poll until terminal, then fetch the result (again, with backoff, while it lags the status).

        Raises :class:`RequestFailed`/:class:`RequestCancelled` unless ``raise_on_failure`` is false, and
        :class:`WaitTimeout` after ``timeout`` seconds (first sending one cancel if ``cancel_on_timeout``).
        """
        deadline = deadline_after(timeout, self.ctx.clock)
        try:
            final = wait_for_terminal(
                lambda: self.status(retry=False),
                self.ctx,
                request_id=self.request_id,
                poll_interval_s=poll_interval_s,
                deadline=deadline,
                on_update=on_update,
            )
            result = fetch_until_settled(
                lambda: self.result(retry=False),
                self._result_settled,
                self.ctx,
                request_id=self.request_id,
                deadline=deadline,
            )
        except WaitTimeout as exc:
            if not cancel_on_timeout:
                raise
            raise WaitTimeout(f"{exc}; {self._cancel_after_timeout()}", request_id=self.request_id) from exc
        if not result.status.raw:
            result = result.with_status(final)
        if raise_on_failure:
            raise_for_outcome(result, secrets=self.ctx.secrets)
        return result

    def _result_settled(self, result: Result) -> bool:
        # A result with no status at all but files is taken as settled: the status call already said terminal.
        has_files = any(key in result.raw for key in self.api.output_keys)
        return result.status.is_terminal or (not result.status.raw and has_files)

    def _cancel_after_timeout(self) -> str:
        try:
            outcome = self.cancel(timeout_s=CANCEL_ON_INTERRUPT_TIMEOUT_S, retry=False)
        except RunComfyError as exc:
            return f"the cancel could not be sent ({exc}); run `runcomfy cancel {self.request_id}`"
        return f"cancel: {outcome.describe()}"
