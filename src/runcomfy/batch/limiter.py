"""One rate gate shared by every worker of a batch: a 429 on any request slows all of them.

Each worker's own call is retried by the client's retry policy; the gate adds what a per-call retry cannot: when
the service says "slow down" to one worker, the others hold their next request until the same moment instead
of hammering it. The batch's client calls :meth:`RateGate.wait` before every request and
:meth:`RateGate.observe` after every reply, so every call of every worker, submit, status and result alike,
passes through it. Once the batch is told to stop, the gate opens for good: a Ctrl-C must not wait out a
``Retry-After``, and the cancels it sends must not queue behind one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

from runcomfy.retry import parse_retry_after

DEFAULT_PAUSE_S = 1.0
MAX_PAUSE_S = 120.0


class RateGate:
    """A shared "not before" time, moved forward by 429 answers."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        """``stop``: once set, the gate is open for good and a wait ends at once (the batch is being stopped:
        its cancels must not queue behind a ``Retry-After``). ``sleep`` replaces waiting on ``stop`` (tests)."""
        self._clock = clock
        self._stop = stop or threading.Event()
        self._sleep = sleep or self._stop.wait
        self._lock = threading.Lock()
        self._not_before = 0.0
        self.pauses = 0

    def pause_for(self, seconds: float) -> None:
        """Hold every worker's next request for ``seconds`` (bounded) from now."""
        until = self._clock() + min(max(seconds, 0.0), MAX_PAUSE_S)
        with self._lock:
            if until > self._not_before:
                self._not_before = until
                self.pauses += 1

    def wait(self) -> None:
        """Block until the gate is open, or the batch is being stopped."""
        while not self._stop.is_set():
            with self._lock:
                remaining = self._not_before - self._clock()
            if remaining <= 0:
                return
            self._sleep(remaining)

    def observe(self, status_code: int, headers: Mapping[str, str]) -> None:
        """Hear one reply: a 429 closes the gate for its ``Retry-After`` (or a second)."""
        if status_code == 429:
            delay = parse_retry_after(headers.get("retry-after"))
            self.pause_for(DEFAULT_PAUSE_S if delay is None else delay)
