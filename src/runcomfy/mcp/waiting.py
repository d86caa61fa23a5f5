"""Waiting on a request inside a tool call: the library's one wait loop, with MCP progress and cancellation.

The wait runs :meth:`RequestHandle.wait` in a worker thread on a copy of the client whose sleep ends as soon as
the tool call is cancelled. Each status it sees is sent to the client as a progress notification (when the
client asked for progress). When the client cancels the call (``notifications/cancelled``), the wait stops at
once and one cancel is sent for the RunComfy request, so nothing keeps running and billing unseen; the
cancellation then goes on as the SDK expects (no answer is sent for a cancelled call).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import anyio
import anyio.from_thread
import anyio.to_thread

from runcomfy.errors import RunComfyError

if TYPE_CHECKING:
    from runcomfy.lifecycle.handle import RequestHandle
    from runcomfy.results import Result
    from runcomfy.status import RequestStatus

__all__ = ["ProgressSink", "wait_for_result"]

logger = logging.getLogger("runcomfy.mcp")
ProgressSink = Callable[[float, float | None, str | None], Awaitable[None]]
CANCEL_TIMEOUT_S = 10.0


class _Stopped(Exception):
    """Raised in the worker's sleep once the tool call is cancelled (never leaves this module)."""


async def wait_for_result(
    handle: RequestHandle,
    *,
    progress: ProgressSink,
    poll_interval_s: float,
    timeout_s: float | None,
    on_cancelled: Callable[[str], None] | None = None,
) -> Result:
    """Wait for ``handle`` and return its result (failed or cancelled results are returned, not raised).

    ``timeout_s`` passing cancels the request and raises :class:`~runcomfy.errors.WaitTimeout`. A cancelled tool
    call cancels the request; ``on_cancelled`` hears of the outcome (to record it) before the cancellation
    propagates.
    """
    stop = threading.Event()
    steps = 0

    def sleep(seconds: float) -> None:
        if stop.wait(seconds):
            raise _Stopped

    def on_update(status: RequestStatus) -> None:
        nonlocal steps
        steps += 1
        with contextlib.suppress(Exception):  # the call may be gone already; the wait goes on regardless
            anyio.from_thread.run(_report, progress, float(steps), status.describe())

    waiting = handle.with_sleep(sleep)

    def work() -> Result:
        return waiting.wait(
            timeout=timeout_s,
            on_update=on_update,
            poll_interval_s=poll_interval_s,
            cancel_on_timeout=True,
            raise_on_failure=False,
        )

    try:
        return await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
    except anyio.get_cancelled_exc_class():
        stop.set()
        with anyio.CancelScope(shield=True):
            outcome = await anyio.to_thread.run_sync(_cancel_quietly, handle)
            if on_cancelled is not None:
                with contextlib.suppress(Exception):
                    on_cancelled(outcome)
        raise


async def _report(progress: ProgressSink, step: float, message: str) -> None:
    await progress(step, None, message)


def _cancel_quietly(handle: RequestHandle) -> str:
    """Send one cancel; the journal status that describes what happened."""
    try:
        outcome = handle.cancel(timeout_s=CANCEL_TIMEOUT_S, retry=False)
    except RunComfyError as exc:
        logger.warning(
            "could not cancel request %s after the tool call was cancelled: %s", handle.request_id, exc
        )
        return "interrupted"
    logger.info("request %s: %s (the tool call was cancelled)", handle.request_id, outcome.describe())
    return "interrupted" if outcome.requested else (outcome.status or "interrupted")
