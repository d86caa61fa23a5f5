"""The one wait loop: poll a request's status until it is terminal, within an overall deadline.

Owns the interval (``max(poll_interval_s, 1)``), the deadline on the context's monotonic clock, the
``on_update`` callback (called when the rendered status changes), retries of transient errors (the context's
policy and hooks), the re-fetch with backoff of a result that lags a terminal status, and the bound on a status
this library does not know: it is polled on (a new server status must not kill a paid run) but if it stays the
same for the retry window, the wait ends with :class:`StatusStuck` instead of polling forever. Every error
leaving this module carries the request id, so the caller can always say how to resume. It must never cancel
(the caller decides, see ``RequestHandle.wait``), never print and never sleep except through the context.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

from runcomfy.errors import RunComfyError, StatusStuck, WaitTimeout
from runcomfy.lifecycle.context import CallContext
from runcomfy.retry import backoff_delay, should_retry
from runcomfy.status import RequestStatus, Unknown

T = TypeVar("T")
UpdateHook = Callable[[RequestStatus], None]
MIN_POLL_INTERVAL_S = 1.0


def deadline_after(timeout_s: float | None, clock: Callable[[], float]) -> float | None:
    """The ``clock()`` value at which a wait of ``timeout_s`` ends; ``None`` for no limit."""
    return None if timeout_s is None else clock() + max(timeout_s, 0.0)


def poll_statuses(
    fetch_status: Callable[[], RequestStatus],
    ctx: CallContext,
    *,
    request_id: str,
    poll_interval_s: float = 2.0,
    deadline: float | None = None,
) -> Iterator[RequestStatus]:
    """Yield every status observed (the first at once), stopping after a terminal one.

    Raises :class:`WaitTimeout` once ``deadline`` has passed without a terminal status; one last poll is made
    at the deadline itself so a request finishing just in time is not reported as timed out. Raises
    :class:`StatusStuck` when an unknown status stays the same for the policy's outage window.
    """
    interval = max(poll_interval_s, MIN_POLL_INTERVAL_S)
    unknown: tuple[str, float] | None = None  # the unknown status being seen, and since when
    while True:
        status = fetch_once(fetch_status, ctx, request_id=request_id, deadline=deadline)
        yield status
        if status.is_terminal:
            return
        now = ctx.clock()
        if deadline is not None and now >= deadline:
            raise WaitTimeout(
                f"timed out waiting for request {request_id} (last status: {status.describe()})",
                request_id=request_id,
            )
        unknown = _track_unknown(status, unknown, now)
        if unknown is not None and now - unknown[1] >= ctx.policy.outage_window_s:
            raise StatusStuck(
                f"request {request_id} has reported the status {status.describe()!r}, which this client does "
                f"not know, for {now - unknown[1]:.0f} s; stopped waiting",
                request_id=request_id,
            )
        ctx.sleep(interval if deadline is None else min(interval, deadline - now))


def _track_unknown(
    status: RequestStatus, seen: tuple[str, float] | None, now: float
) -> tuple[str, float] | None:
    """Since when the current unknown status has been reported unchanged (``None`` for a known status)."""
    if not isinstance(status, Unknown):
        return None
    if seen is not None and seen[0] == status.describe():
        return seen
    return (status.describe(), now)


def wait_for_terminal(
    fetch_status: Callable[[], RequestStatus],
    ctx: CallContext,
    *,
    request_id: str,
    poll_interval_s: float = 2.0,
    deadline: float | None = None,
    on_update: UpdateHook | None = None,
) -> RequestStatus:
    """Poll until terminal and return that status; ``on_update`` sees each change of ``describe()``."""
    last_shown: str | None = None
    status: RequestStatus | None = None
    for status in poll_statuses(
        fetch_status, ctx, request_id=request_id, poll_interval_s=poll_interval_s, deadline=deadline
    ):
        shown = status.describe()
        if on_update is not None and shown != last_shown:
            on_update(status)
        last_shown = shown
    assert status is not None  # poll_statuses yields at least once or raises
    return status


def fetch_once(
    fetch: Callable[[], T], ctx: CallContext, *, request_id: str, deadline: float | None = None
) -> T:
    """One logical fetch, retried through transient failures; tagged with ``request_id`` if it fails.

    A transient failure still present when ``deadline`` passes becomes :class:`WaitTimeout` (the caller's
    timeout won); after a sustained outage without a deadline the last error itself is raised.
    """
    try:
        return ctx.retrying(fetch, request_id=request_id, deadline=deadline)
    except RunComfyError as exc:
        if deadline is not None and ctx.clock() >= deadline and should_retry(exc):
            raise WaitTimeout(
                f"timed out waiting for request {request_id} ({exc})", request_id=request_id
            ) from exc
        raise


def fetch_until_settled(
    fetch: Callable[[], T],
    settled: Callable[[T], bool],
    ctx: CallContext,
    *,
    request_id: str,
    deadline: float | None = None,
) -> T:
    """Fetch until ``settled(value)``, backing off between tries: for a result that lags its status.

    Gives up with :class:`WaitTimeout` at ``deadline`` or after the policy's outage window, whichever is first.
    """
    limit = ctx.clock() + ctx.policy.outage_window_s
    if deadline is not None:
        limit = min(limit, deadline)
    attempt = 0
    while True:
        value = fetch_once(fetch, ctx, request_id=request_id, deadline=deadline)
        if settled(value):
            return value
        attempt += 1
        remaining = limit - ctx.clock()
        if remaining <= 0:
            raise WaitTimeout(
                f"request {request_id} finished but its result is not ready yet; "
                f"fetch it later with `runcomfy result {request_id}`",
                request_id=request_id,
            )
        ctx.sleep(min(backoff_delay(attempt, ctx.policy), remaining))
