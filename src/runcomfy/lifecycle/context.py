"""What every call of one client shares: :class:`CallContext`.

The Client builds one and gives it to each handle and to the wait loop, so neither reaches into the Client's
privates and a handle can be read on its own. It holds the HTTP session (which scopes the token to the
configured origins), the API base, the retry policy, the injectable clock and sleep, the retry hooks and an
optional rate gate (a batch's: one 429 holds every worker). A changed copy (:meth:`CallContext.replace`) shares
the session, hence the connection pool. It never prints and never sleeps but through ``sleep``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from runcomfy.api_urls import same_origin, url_for_messages
from runcomfy.errors import APITimeoutError, RunComfyError
from runcomfy.http import HttpSession, json_of_reply
from runcomfy.retry import RecoverHook, RetryHook, RetryPolicy, call_with_retries, should_retry

T = TypeVar("T")
MIN_CALL_S = 0.05  # a call given less time than this cannot succeed: better not to send it


class RateGate(Protocol):
    """A throttle shared by concurrent callers: ``wait()`` before each call, ``observe()`` each reply."""

    def wait(self) -> None: ...

    def observe(self, status_code: int, headers: Mapping[str, str]) -> None: ...


@dataclass(frozen=True)
class CallContext:
    """The shared settings of every call a client makes (see the module docstring)."""

    http: HttpSession
    base: str
    policy: RetryPolicy
    sleep: Callable[[float], None]
    clock: Callable[[], float]
    on_retry: RetryHook | None = None
    on_recovered: RecoverHook | None = None
    gate: RateGate | None = None

    @property
    def secrets(self) -> tuple[str, ...]:
        """What must never be shown or written (the token, in the forms a server may echo it)."""
        return self.http.secrets

    def replace(self, **changes: Any) -> CallContext:
        """A copy with other settings, sharing the same session."""
        return dataclasses.replace(self, **changes)

    def trusted_url(self, candidate: object, built: str) -> str:
        """``candidate`` (a URL a server sent) if it is on this API's origin, else the ``built`` one: the token
        goes only where the user pointed the client."""
        return candidate if isinstance(candidate, str) and same_origin(candidate, self.base) else built

    def request_json(
        self,
        method: str,
        url: str,
        *,
        json_body: Any = None,
        request_id: str | None = None,
        timeout_s: float | None = None,
        allow_empty: bool = False,
    ) -> dict[str, Any]:
        """One call through the rate gate and the error funnel (no retry)."""
        if self.gate is not None:
            self.gate.wait()
        reply = self.http.send(method, url, json_body=json_body, timeout_s=timeout_s)
        if self.gate is not None:
            self.gate.observe(reply.status_code, reply.headers)
        return json_of_reply(reply, self.secrets, request_id=request_id, allow_empty=allow_empty)

    def retrying(
        self,
        fn: Callable[[], T],
        *,
        request_id: str | None = None,
        retry_if: Callable[[BaseException], bool] = should_retry,
        policy: RetryPolicy | None = None,
        deadline: float | None = None,
    ) -> T:
        """``fn`` retried through transient failures under this context's policy and hooks; a failure leaves
        tagged with ``request_id``, so the caller can always say how to resume."""
        try:
            return call_with_retries(
                fn,
                policy=policy or self.policy,
                sleep=self.sleep,
                clock=self.clock,
                retry_if=retry_if,
                deadline=deadline,
                on_retry=self.on_retry,
                on_recovered=self.on_recovered,
            )
        except RunComfyError as exc:
            if exc.request_id is None:
                exc.request_id = request_id
            raise

    def get_json(
        self, url: str, *, request_id: str | None = None, retry: bool = True, timeout_s: float | None = None
    ) -> dict[str, Any]:
        """A GET, retried through transient failures unless ``retry`` is false."""

        def once() -> dict[str, Any]:
            return self.request_json("GET", url, request_id=request_id, timeout_s=timeout_s)

        return self.retrying(once, request_id=request_id) if retry else once()

    def get_json_within(
        self, url: str, *, budget_s: float | None, timeout_s: float | None = None
    ) -> dict[str, Any]:
        """A GET that fits ``budget_s`` in all: retries stop when it is spent and each call's timeout is no
        longer than what is left of it (a help such as the pre-flight check must give up in seconds, not ride
        out an outage, even when a server stalls). ``timeout_s`` also caps each call; no budget: :meth:`get_json`.
        """
        if budget_s is None:
            return self.get_json(url, timeout_s=timeout_s)
        policy = dataclasses.replace(self.policy, outage_window_s=budget_s, max_retry_after_s=budget_s)
        deadline = self.clock() + budget_s
        failures: list[RunComfyError] = []

        def once() -> dict[str, Any]:
            left = deadline - self.clock()
            if left < MIN_CALL_S:  # the budget is spent: the last real failure says why
                raise (
                    failures[-1]
                    if failures
                    else APITimeoutError(f"GET {url_for_messages(url)}: no time left")
                )
            try:
                return self.request_json(
                    "GET", url, timeout_s=left if timeout_s is None else min(timeout_s, left)
                )
            except RunComfyError as exc:
                failures.append(exc)
                raise

        return self.retrying(once, policy=policy, deadline=deadline)
