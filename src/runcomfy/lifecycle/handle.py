"""One submitted request: :class:`RequestHandle` (status, iter_status, wait, result, cancel).

Owns the wait of one request: poll until terminal, fetch the result (again, with backoff, while it lags the
status), and on ``--timeout`` send one cancel. Every URL it calls was checked by the :class:`~runcomfy.client.Client`
to be on the Model API origin, so the token stays there. It never prints, prompts or exits.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from runcomfy.errors import RunComfyError, WaitTimeout
from runcomfy.polling import UpdateHook, deadline_after, fetch_until_settled, poll_statuses, wait_for_terminal
from runcomfy.results import CancelOutcome, Result, raise_for_outcome
from runcomfy.status import RequestStatus

if TYPE_CHECKING:
    from runcomfy.client import Client

CANCEL_ON_INTERRUPT_TIMEOUT_S = 10.0


class RequestHandle:
    """One submitted request. Its URLs were checked to be on the Model API origin, so the token stays there."""

    def __init__(
        self,
        client: Client,
        request_id: str,
        *,
        model_id: str | None = None,
        status_url: str | None = None,
        result_url: str | None = None,
        cancel_url: str | None = None,
        raw: Mapping[str, Any] | None = None,
    ) -> None:
        self._client = client
        self.request_id = request_id
        self.model_id = model_id
        self.status_url = client._trusted_url(status_url, request_id, "status")
        self.result_url = client._trusted_url(result_url, request_id, "result")
        self.cancel_url = client._trusted_url(cancel_url, request_id, "cancel")
        self.raw: Mapping[str, Any] = raw or {}

    def __repr__(self) -> str:
        return f"RequestHandle(request_id={self.request_id!r}, model_id={self.model_id!r})"

    def status(self) -> RequestStatus:
        """One status call (retried through transient errors)."""
        return self._client._fetch_status(self.status_url, self.request_id)

    def result(self) -> Result:
        """One result call (retried through transient errors); the result may still be non-terminal."""
        return self._client._fetch_result(self.result_url, self.request_id)

    # The wait loop retries on its own, bounded by its deadline; it calls these single tries.
    def _status_once(self) -> RequestStatus:
        return self._client._fetch_status(self.status_url, self.request_id, retry=False)

    def _result_once(self) -> Result:
        return self._client._fetch_result(self.result_url, self.request_id, retry=False)

    def cancel(self, *, timeout_s: float | None = None, retry: bool = True) -> CancelOutcome:
        """Ask the service to cancel; ``retry=False`` and a short ``timeout_s`` suit a Ctrl-C handler."""
        return self._client._send_cancel(self.cancel_url, self.request_id, timeout_s=timeout_s, retry=retry)

    def iter_status(
        self, *, poll_interval_s: float = 2.0, timeout: float | None = None
    ) -> Iterator[RequestStatus]:
        """Yield each polled status (the first at once) until a terminal one; :class:`WaitTimeout` after
        ``timeout`` seconds."""
        client = self._client
        yield from poll_statuses(
            self._status_once,
            request_id=self.request_id,
            sleep=client._sleep,
            clock=client._clock,
            policy=client.retry_policy,
            poll_interval_s=poll_interval_s,
            deadline=deadline_after(timeout, client._clock),
            on_retry=client.on_retry,
            on_recovered=client.on_recovered,
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
        client = self._client
        deadline = deadline_after(timeout, client._clock)
        common: dict[str, Any] = {
            "request_id": self.request_id,
            "sleep": client._sleep,
            "clock": client._clock,
            "policy": client.retry_policy,
            "deadline": deadline,
            "on_retry": client.on_retry,
            "on_recovered": client.on_recovered,
        }
        try:
            final = wait_for_terminal(
                self._status_once, poll_interval_s=poll_interval_s, on_update=on_update, **common
            )
            result = fetch_until_settled(self._result_once, _result_settled, **common)
        except WaitTimeout as exc:
            if not cancel_on_timeout:
                raise
            raise WaitTimeout(f"{exc}; {self._cancel_after_timeout()}", request_id=self.request_id) from exc
        if not result.status.raw:
            result = result.with_status(final)
        if raise_on_failure:
            raise_for_outcome(result, secrets=client._http.secrets)
        return result

    def _cancel_after_timeout(self) -> str:
        try:
            outcome = self.cancel(timeout_s=CANCEL_ON_INTERRUPT_TIMEOUT_S, retry=False)
        except RunComfyError as exc:
            return f"the cancel could not be sent ({exc}); run `runcomfy cancel {self.request_id}`"
        return f"cancel: {outcome.describe()}"


def _result_settled(result: Result) -> bool:
    # A result with no status at all but an output is taken as settled: the status call already said terminal.
    return result.status.is_terminal or (not result.status.raw and "output" in result.raw)
