"""The retry policy: which failures are worth another try, how long to wait, and when to give up.

Small pure functions (:func:`should_retry`, :func:`should_retry_submit`, :func:`parse_retry_after`,
:func:`backoff_delay`) plus one loop, :func:`call_with_retries`, with injectable ``sleep`` and ``clock``.
Status, result and cancel calls are idempotent and retried on connection errors, timeouts, garbled 2xx bodies,
408, 429 and 5xx; a submit is retried only when nothing reached the server or on 429 (docs/request-lifecycle.md).
A sustained outage is a *window* of time, not a number of failed polls. This module must never sleep for real
on its own (``sleep`` is always the caller's) and never print.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from typing import Literal, TypeVar

import httpx

from runcomfy.errors import (
    APIConnectionError,
    APIResponseError,
    RateLimitError,
    RequestTimeoutError,
    RunComfyError,
    ServerError,
    TokenEchoed,
    UnexpectedRedirect,
)

T = TypeVar("T")


@dataclass(frozen=True)
class RetryNotice:
    """What a retry hook hears before each retry: the failure, which retry this is (``attempt == 1`` starts an
    episode of failures), the wait before it, and how long the episode may still last before it gives up."""

    error: RunComfyError
    attempt: int
    delay_s: float
    gives_up_in_s: float


RetryHook = Callable[[RetryNotice], None]
RecoverHook = Callable[[int, float], None]
"""Called as ``on_recovered(failed_attempts, seconds)`` when a call succeeds after failing: an episode's end."""


@dataclass(frozen=True)
class RetryPolicy:
    """How retries grow and stop.

    ``max_attempts`` counts the first try; ``None`` means "as many as fit in ``outage_window_s``".
    ``jitter`` spreads clients apart after a shared outage: ``full`` draws in ``[0, d]``, ``equal`` in
    ``[d/2, d]``.
    """

    max_attempts: int | None = None
    outage_window_s: float = 300.0
    initial_delay_s: float = 0.5
    max_delay_s: float = 30.0
    multiplier: float = 2.0
    jitter: Literal["full", "equal", "none"] = "equal"
    max_retry_after_s: float = 120.0


NO_RETRY = RetryPolicy(max_attempts=1)


def should_retry(exc: BaseException) -> bool:
    """Whether an idempotent call (status, result, cancel) may be repeated after ``exc``."""
    if isinstance(exc, UnexpectedRedirect | TokenEchoed):
        return False
    return isinstance(
        exc, APIConnectionError | APIResponseError | RequestTimeoutError | RateLimitError | ServerError
    )


def should_retry_submit(exc: BaseException) -> bool:
    """Whether a submit may be repeated: only on 429, or when the connection was never made.

    Anything else (a timeout, a reset, a 5xx) may mean the server created the request; sending it again could
    run and bill it twice.
    """
    if isinstance(exc, RateLimitError):
        return True
    return isinstance(exc, APIConnectionError) and isinstance(
        exc.__cause__, httpx.ConnectError | httpx.ConnectTimeout
    )


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date); ``None`` if unusable.

    ``now`` is the current wall-clock time (epoch seconds) for HTTP-dates; a date in the past gives ``0``.
    """
    if value is None:
        return None
    text = value.strip()
    if not text or len(text) > 64:
        return None
    try:
        seconds = float(text)
    except ValueError:
        return _seconds_until_http_date(text, time.time() if now is None else now)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _seconds_until_http_date(text: str, now: float) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    try:
        return max(0.0, when.timestamp() - now)
    except (OverflowError, OSError, ValueError):
        return None


def backoff_delay(
    attempt: int,
    policy: RetryPolicy,
    *,
    retry_after_s: float | None = None,
    rand: Callable[[], float] = random.random,
) -> float:
    """Delay before retry number ``attempt`` (1 for the first retry).

    A server hint (``Retry-After``) wins when positive, capped at ``max_retry_after_s``; otherwise exponential
    growth from ``initial_delay_s`` by ``multiplier``, capped at ``max_delay_s``, then jittered.
    """
    if retry_after_s is not None and retry_after_s > 0:
        return min(retry_after_s, policy.max_retry_after_s)
    exponent = min(max(attempt - 1, 0), 60)
    base = min(policy.max_delay_s, policy.initial_delay_s * policy.multiplier**exponent)
    if policy.jitter == "full":
        return base * rand()
    if policy.jitter == "equal":
        return base / 2 + (base / 2) * rand()
    return base


def call_with_retries(
    fn: Callable[[], T],
    *,
    policy: RetryPolicy,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
    retry_if: Callable[[BaseException], bool] = should_retry,
    deadline: float | None = None,
    on_retry: RetryHook | None = None,
    on_recovered: RecoverHook | None = None,
    rand: Callable[[], float] = random.random,
) -> T:
    """Call ``fn`` until it succeeds, the error is not retryable, or time runs out; then raise the last error.

    Time runs out at ``policy.outage_window_s`` after the first try, or at ``deadline`` (a ``clock()`` value),
    whichever comes first; the last wait is shortened so one final try happens at that limit.
    ``on_retry`` hears of each retry and ``on_recovered`` of a success after failures, so a caller can say when
    an outage starts and when it ends.
    """
    started = clock()
    attempt = 0
    while True:
        try:
            value = fn()
        except RunComfyError as exc:
            attempt += 1
            delay = _next_delay(exc, attempt, policy, retry_if, started, deadline, clock, rand)
            if delay is None:
                raise
            if on_retry is not None:
                on_retry(RetryNotice(exc, attempt, delay, _limit(policy, started, deadline) - clock()))
            sleep(delay)
            continue
        if attempt and on_recovered is not None:
            on_recovered(attempt, clock() - started)
        return value


def _next_delay(
    exc: RunComfyError,
    attempt: int,
    policy: RetryPolicy,
    retry_if: Callable[[BaseException], bool],
    started: float,
    deadline: float | None,
    clock: Callable[[], float],
    rand: Callable[[], float],
) -> float | None:
    """The wait before the next try, or ``None`` to give up."""
    if not retry_if(exc):
        return None
    if policy.max_attempts is not None and attempt >= policy.max_attempts:
        return None
    remaining = _limit(policy, started, deadline) - clock()
    if remaining <= 0:
        return None
    hint = getattr(exc, "retry_after_s", None)
    delay = backoff_delay(attempt, policy, retry_after_s=hint, rand=rand)
    return max(0.0, min(delay, remaining))


def _limit(policy: RetryPolicy, started: float, deadline: float | None) -> float:
    """The ``clock()`` value at which an episode that started at ``started`` gives up."""
    limit = started + policy.outage_window_s
    return limit if deadline is None else min(limit, deadline)
