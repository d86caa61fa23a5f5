"""The device-code protocol: start, the poll loop's timing rules, and the verification URL check."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fake_time import FakeClock

from runcomfy.auth.credentials import Token
from runcomfy.auth.device import DeviceAuthorization, DeviceFlow, is_safe_verify_url
from runcomfy.errors import APIResponseError, LoginDenied, LoginError, LoginExpired
from runcomfy.http import HttpSession

CANARY = f"rc-canary-{uuid.uuid4()}"
WEB = "https://www.runcomfy.com"
START = {
    "device_code": "dev-123",
    "user_code": "ABCD-1234",
    "verify_url": "https://www.runcomfy.com/cli-auth",
    "expires_in": 60,
    "poll_interval": 2,
}


Step = httpx.Response | Exception


class FakeWeb:
    """Answers start with ``start`` and each poll with the next scripted step (the last one repeats)."""

    def __init__(self, polls: list[Step], start: dict[str, Any] | None = None) -> None:
        self.polls = polls
        self.start = START if start is None else start
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/api/cli-auth/start":
            return httpx.Response(200, json=self.start)
        assert request.url.path == "/api/cli-auth/poll"
        assert json.loads(request.content) == {"device_code": "dev-123"}
        step = self.polls.pop(0) if len(self.polls) > 1 else self.polls[0]
        if isinstance(step, Exception):
            raise step
        return step

    @property
    def poll_count(self) -> int:
        return sum(1 for r in self.requests if r.url.path.endswith("/poll"))


def make_flow(web: Callable[[httpx.Request], httpx.Response], clock: FakeClock) -> DeviceFlow:
    session = HttpSession(token=Token(CANARY), trusted_origins=[WEB], transport=httpx.MockTransport(web))
    return DeviceFlow(session, WEB, sleep=clock.sleep, clock=clock)


def status(value: str, code: int = 200, **extra: Any) -> httpx.Response:
    return httpx.Response(code, json={"status": value, **extra})


def test_start_returns_the_five_fields_and_sends_no_authorization() -> None:
    clock = FakeClock(100.0)
    web = FakeWeb([status("pending")])
    auth = make_flow(web, clock).start()
    assert (auth.user_code, auth.verify_url, auth.expires_in, auth.poll_interval) == (
        "ABCD-1234",
        START["verify_url"],
        60,
        2,
    )
    assert auth.obtained_at == 100.0
    assert "authorization" not in web.requests[0].headers
    assert "dev-123" not in repr(auth)


def test_start_strips_control_characters_from_the_user_code() -> None:
    web = FakeWeb([status("pending")], start={**START, "user_code": "AB\x1b[2JCD\u202e-12\n34"})
    assert make_flow(web, FakeClock(100.0)).start().user_code == "AB[2JCD-1234"


@pytest.mark.parametrize("missing", ["device_code", "user_code", "verify_url", "expires_in", "poll_interval"])
def test_start_reply_missing_a_field_is_an_api_response_error(missing: str) -> None:
    start = {k: v for k, v in START.items() if k != missing}
    with pytest.raises(APIResponseError, match=missing):
        make_flow(FakeWeb([status("pending")], start=start), FakeClock(100.0)).start()


def test_polls_until_authorized_at_the_server_interval_without_authorization_header() -> None:
    clock = FakeClock(100.0)
    web = FakeWeb([status("pending"), status("pending"), status("authorized", access_token=CANARY)])
    flow = make_flow(web, clock)
    token = flow.wait_for_token(flow.start())
    assert token.reveal() == CANARY
    assert token.source == "login"
    assert clock.sleeps == [2, 2, 2]
    assert all("authorization" not in r.headers for r in web.requests)


def test_interval_has_a_floor_of_one_second() -> None:
    clock = FakeClock(100.0)
    web = FakeWeb(
        [status("pending"), status("authorized", access_token="t")], start={**START, "poll_interval": 0}
    )
    flow = make_flow(web, clock)
    flow.wait_for_token(flow.start())
    assert clock.sleeps == [1, 1]


def test_slow_down_adds_five_seconds_to_the_interval() -> None:
    clock = FakeClock(100.0)
    web = FakeWeb(
        [status("slow_down"), status("pending"), status("slow_down"), status("authorized", access_token="t")]
    )
    flow = make_flow(web, clock)
    flow.wait_for_token(flow.start())
    assert clock.sleeps == [2, 7, 7, 12]


@pytest.mark.parametrize(("word", "error"), [("denied", LoginDenied), ("expired", LoginExpired)])
def test_denied_or_expired_with_http_410_stops_at_once(word: str, error: type[Exception]) -> None:
    clock = FakeClock(100.0)
    web = FakeWeb([status(word, 410)])
    flow = make_flow(web, clock)
    with pytest.raises(error):
        flow.wait_for_token(flow.start())
    assert web.poll_count == 1


def test_network_errors_and_5xx_are_retried_with_backoff_until_authorized() -> None:
    clock = FakeClock(100.0)
    steps: list[Step] = [
        httpx.ConnectError("refused"),
        httpx.Response(502, text="<html>bad gateway</html>"),
        httpx.ReadTimeout("slow"),
        status("pending"),
        status("authorized", access_token="t"),
    ]
    web = FakeWeb(steps, start={**START, "expires_in": 600})
    flow = make_flow(web, clock)
    seen: list[float] = []
    token = flow.wait_for_token(flow.start(), on_retry=lambda exc, delay: seen.append(delay))
    assert token.reveal() == "t"
    assert clock.sleeps[:4] == [2, 4, 8, 16]
    assert clock.sleeps[4] == 2  # back to the normal interval after a good reply
    assert seen == [4, 8, 16]


def test_a_server_that_stays_pending_ends_in_login_expired_at_the_deadline() -> None:
    clock = FakeClock(100.0)
    web = FakeWeb([status("pending")], start={**START, "expires_in": 11, "poll_interval": 3})
    flow = make_flow(web, clock)
    with pytest.raises(LoginExpired, match="11s"):
        flow.wait_for_token(flow.start())
    assert sum(clock.sleeps) <= 11
    assert web.poll_count == 3  # at t+3, t+6, t+9; the sleep to t+11 ends the flow


def test_an_outage_until_expiry_ends_in_login_expired() -> None:
    clock = FakeClock(100.0)
    web = FakeWeb([httpx.ConnectError("down")], start={**START, "expires_in": 120})
    flow = make_flow(web, clock)
    with pytest.raises(LoginExpired):
        flow.wait_for_token(flow.start())
    assert max(clock.sleeps) <= 30
    assert clock.now == pytest.approx(100 + 120)


def test_authorized_without_access_token_is_a_login_error() -> None:
    clock = FakeClock(100.0)
    flow = make_flow(FakeWeb([status("authorized")]), clock)
    with pytest.raises(LoginError, match="without access_token"):
        flow.wait_for_token(flow.start())


@pytest.mark.parametrize("reply", [httpx.Response(400, text="nope"), httpx.Response(200, text="<html>")])
def test_a_non_json_non_5xx_poll_reply_is_a_login_error(reply: httpx.Response) -> None:
    clock = FakeClock(100.0)
    flow = make_flow(FakeWeb([reply]), clock)
    with pytest.raises(LoginError, match="cli-auth/poll"):
        flow.wait_for_token(flow.start())


def test_an_unknown_poll_status_is_a_login_error_with_a_clean_message() -> None:
    clock = FakeClock(100.0)
    flow = make_flow(FakeWeb([status("weird\x1b[31m")]), clock)
    with pytest.raises(LoginError) as caught:
        flow.wait_for_token(flow.start())
    assert "\x1b" not in str(caught.value)
    assert "weird" in str(caught.value)


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://www.runcomfy.com/cli-auth", True),
        ("https://other.example/cli-auth", True),
        ("http://www.runcomfy.com/cli-auth", False),
        ("http://127.0.0.1:8188/cli-auth", True),  # the configured web origin below
        ("http://127.0.0.1:9999/cli-auth", False),
        ("javascript:alert(1)", False),
        ("file:///etc/passwd", False),
        ("https://user:pw@www.runcomfy.com/cli-auth", False),
        ("https://www.runcomfy.com/cli-auth\n", False),
        ("https://www.runcomfy.com/cli auth", False),
        ("", False),
    ],
)
def test_verify_url_is_safe_only_if_https_or_on_the_web_origin(url: str, safe: bool) -> None:
    assert is_safe_verify_url(url, "http://127.0.0.1:8188") is safe


def test_device_authorization_repr_hides_the_device_code() -> None:
    auth = DeviceAuthorization("secret-device", "CODE", "https://x", 5, 1)
    assert "secret-device" not in repr(auth)
