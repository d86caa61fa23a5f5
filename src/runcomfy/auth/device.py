"""The device-code login protocol (``/api/cli-auth/start`` and ``/api/cli-auth/poll``): protocol only.

Owns the start call, the poll loop and its timing rules (in the spirit of RFC 8628; see docs/security.md): the server's
interval with a floor of 1 s, +5 s on ``slow_down``, a deadline of ``expires_in`` on a monotonic clock, backing
off and polling on through network errors and 5xx until that deadline, and stopping at once on ``denied`` or
``expired``. The poll reply is read as JSON whatever its HTTP status (the service answers 410 with a JSON body
for denied/expired). No ``Authorization`` header is ever sent on these calls.

It must never print, prompt, open a browser or save the token: it returns a :class:`Token` and the CLI decides
what to show and where to store it. :func:`is_safe_verify_url` tells the CLI whether the URL may be opened.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from runcomfy.auth.credentials import Token
from runcomfy.errors import (
    APIConnectionError,
    APIResponseError,
    LoginDenied,
    LoginError,
    LoginExpired,
    RunComfyError,
)
from runcomfy.http import HttpSession, Reply, join_url, origin_key, parse_retry_after, read_json
from runcomfy.json_limits import loads_bounded
from runcomfy.safe_text import strip_controls

START_PATH = "api/cli-auth/start"
POLL_PATH = "api/cli-auth/poll"
SLOW_DOWN_STEP_S = 5
MAX_ERROR_BACKOFF_S = 30.0

PollRetryHook = Callable[[RunComfyError, float], None]


@dataclass(frozen=True)
class DeviceAuthorization:
    """What ``start`` returned; ``device_code`` is secret and hidden from ``repr``.

    ``obtained_at`` is the monotonic ``clock()`` reading when the reply arrived: ``expires_in`` counts from it.
    """

    device_code: str = field(repr=False)
    user_code: str
    verify_url: str
    expires_in: int
    poll_interval: int
    obtained_at: float = 0.0


@dataclass(frozen=True)
class PollReply:
    """One poll's meaning: ``status`` is the server's word, or ``"transient"`` for a failure worth retrying."""

    status: str
    access_token: str | None = field(default=None, repr=False)
    retry_after_s: float | None = None
    error: RunComfyError | None = None


def is_safe_verify_url(url: str, web_base: str) -> bool:
    """Whether the verification URL may be shown or opened: ``https``, or on the configured web origin.

    Why: the URL comes from the server; a ``file:``, ``javascript:`` or plain-``http`` URL on another host must
    not be opened in the user's browser.
    """
    if not isinstance(url, str) or not url or any(ord(ch) < 0x21 or ch in "\\\x7f" for ch in url):
        return False
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError):
        return False
    if parsed.userinfo or not parsed.host:
        return False
    if parsed.scheme == "https":
        return True
    return origin_key(url) != "" and origin_key(url) == origin_key(web_base)


class DeviceFlow:
    """Run the device-code protocol against one web base, with injectable ``sleep`` and ``clock``."""

    def __init__(
        self,
        session: HttpSession,
        web_base: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = session
        self.web_base = web_base
        self._sleep = sleep
        self._clock = clock

    def start(self) -> DeviceAuthorization:
        """``POST /api/cli-auth/start`` (no auth, no body) and validate the five required fields."""
        reply = self._session.send("POST", join_url(self.web_base, START_PATH), authenticated=False)
        document = read_json(reply)
        user_code = strip_controls(_field(document, "user_code", str), max_len=64)
        if not user_code:
            raise APIResponseError("parse cli-auth/start response: `user_code` is empty")
        return DeviceAuthorization(
            device_code=_field(document, "device_code", str),
            user_code=user_code,
            verify_url=_field(document, "verify_url", str),
            expires_in=_field(document, "expires_in", int),
            poll_interval=_field(document, "poll_interval", int),
            obtained_at=self._clock(),
        )

    def poll_once(self, authorization: DeviceAuthorization) -> PollReply:
        """One ``POST /api/cli-auth/poll``; network errors and 5xx/429 without a status are ``transient``."""
        try:
            reply = self._session.send(
                "POST",
                join_url(self.web_base, POLL_PATH),
                authenticated=False,
                json_body={"device_code": authorization.device_code},
            )
        except APIConnectionError as exc:
            return PollReply("transient", error=exc)
        return interpret_poll_reply(reply)

    def wait_for_token(
        self, authorization: DeviceAuthorization, *, on_retry: PollRetryHook | None = None
    ) -> Token:
        """Poll until the user authorizes (a :class:`Token`), denies (:class:`LoginDenied`) or time runs out
        (:class:`LoginExpired`). ``on_retry(error, delay_s)`` hears about transient failures.
        """
        deadline = authorization.obtained_at + authorization.expires_in
        interval = float(max(authorization.poll_interval, 1))
        delay, failures = interval, 0
        while True:
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise LoginExpired(_timed_out(authorization))
            self._sleep(min(delay, remaining))
            if self._clock() >= deadline:
                raise LoginExpired(_timed_out(authorization))
            outcome = self.poll_once(authorization)
            if outcome.status == "authorized":
                return _token_from(outcome)
            if outcome.status == "transient":
                failures += 1
                delay = _error_backoff(interval, failures, outcome.retry_after_s)
                if on_retry is not None and outcome.error is not None:
                    on_retry(outcome.error, delay)
                continue
            failures = 0
            if outcome.status == "slow_down":
                interval += SLOW_DOWN_STEP_S
            delay = interval
            _raise_if_final(outcome, authorization)


def interpret_poll_reply(reply: Reply) -> PollReply:
    """Read a poll reply's JSON ``status`` whatever the HTTP code; decide what a reply without one means."""
    document: Any = None
    try:
        document = loads_bounded(reply.content, max_chars=1024 * 1024)
    except ValueError:
        document = None
    status = document.get("status") if isinstance(document, dict) else None
    if isinstance(status, str) and status.strip():
        token = document.get("access_token")
        return PollReply(status.strip().lower(), access_token=token if isinstance(token, str) else None)
    if reply.status_code >= 500 or reply.status_code in (408, 429):
        error = APIConnectionError(f"{reply.label}: HTTP {reply.status_code}")
        return PollReply(
            "transient", retry_after_s=parse_retry_after(reply.headers.get("retry-after")), error=error
        )
    raise LoginError(f"parse cli-auth/poll response: no status in the reply (HTTP {reply.status_code})")


def _raise_if_final(outcome: PollReply, authorization: DeviceAuthorization) -> None:
    if outcome.status == "denied":
        raise LoginDenied("authorization was denied")
    if outcome.status == "expired":
        raise LoginExpired(_timed_out(authorization))
    if outcome.status not in ("pending", "slow_down", "authorization_pending"):
        raise LoginError(f"unexpected poll status `{strip_controls(outcome.status, max_len=40)}`")


def _token_from(outcome: PollReply) -> Token:
    if not outcome.access_token or not outcome.access_token.strip():
        raise LoginError("server returned authorized status without access_token")
    return Token(outcome.access_token, source="login")


def _error_backoff(interval: float, failures: int, retry_after_s: float | None) -> float:
    """Double the wait per consecutive failure, up to a cap; a server hint (Retry-After) wins if longer."""
    delay = min(interval * float(2 ** min(failures, 10)), MAX_ERROR_BACKOFF_S)
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, MAX_ERROR_BACKOFF_S * 4))
    return max(delay, interval)


def _timed_out(authorization: DeviceAuthorization) -> str:
    return f"device-code flow timed out after {authorization.expires_in}s — run `runcomfy login` again"


def _field(document: dict[str, Any], name: str, kind: type[Any]) -> Any:
    value: Any = document.get(name)
    valid = (
        isinstance(value, kind)
        and not isinstance(value, bool)
        and (value >= 0 if kind is int else bool(value))
    )
    if not valid:
        raise APIResponseError(f"parse cli-auth/start response: `{name}` is missing or not a {kind.__name__}")
    return value
