"""The HTTP layer: URL escaping, token scope, trace masking, the error funnel and the retry policy."""

from __future__ import annotations

import email.utils
import urllib.parse
import uuid
from collections.abc import Callable

import httpx
import pytest
from fake_time import FakeClock
from hypothesis import given
from hypothesis import strategies as st

from runcomfy import errors
from runcomfy.auth.credentials import Token
from runcomfy.http import (
    MAX_REPLY_BYTES,
    USER_AGENT,
    HttpSession,
    Reply,
    RetryPolicy,
    backoff_delay,
    call_with_retries,
    join_url,
    origin_key,
    parse_retry_after,
    quote_model_id,
    quote_request_id,
    read_json,
    same_origin,
    should_retry,
    should_retry_submit,
)

CANARY = f"rc-canary-{uuid.uuid4()}"
API = "https://model-api.runcomfy.net/v1"
WEB = "https://www.runcomfy.com"


def session_with(handler: Callable[[httpx.Request], httpx.Response], **kwargs: object) -> HttpSession:
    return HttpSession(
        token=Token(CANARY), trusted_origins=[API, WEB], transport=httpx.MockTransport(handler), **kwargs
    )  # type: ignore[arg-type]


def reply(status: int, body: bytes | str = b"", headers: dict[str, str] | None = None) -> Reply:
    content = body.encode() if isinstance(body, str) else body
    return Reply("GET", f"{API}/requests/r1/status", status, "Reason", httpx.Headers(headers or {}), content)


# --- URLs -------------------------------------------------------------------------------------------------------


def test_model_id_keeps_its_slashes_and_escapes_each_segment() -> None:
    assert quote_model_id("openai/gpt-image-2/text-to-image") == "openai/gpt-image-2/text-to-image"
    assert quote_model_id("a:b/c%2Fd/e+f") == "a%3Ab/c%252Fd/e%2Bf"


@pytest.mark.parametrize(
    "model_id",
    ["noslash", "a/../b", "a//b", "/a/b", "a/b/", "a/b?x=1", "a/b#frag", "a/./b", "a/b\\c", "a/\x00"],
)
def test_model_ids_that_could_change_the_path_are_refused(model_id: str) -> None:
    with pytest.raises(errors.InvalidInput):
        quote_model_id(model_id)


@pytest.mark.parametrize("request_id", ["", ".", "..", "a/b", "a?b", "a#b", "a b", "a\nb"])
def test_request_ids_that_could_change_the_path_are_refused(request_id: str) -> None:
    with pytest.raises(errors.InvalidInput):
        quote_request_id(request_id)


segment = st.text(min_size=1, max_size=12).filter(
    lambda s: (
        s not in (".", "..")
        and not any(c in "/?#\\" or c.isspace() or ord(c) < 32 or ord(c) == 127 for c in s)
    )
)


@given(st.lists(segment, min_size=2, max_size=4))
def test_escaped_model_id_round_trips_through_a_real_url_and_stays_on_the_origin(segments: list[str]) -> None:
    model_id = "/".join(segments)
    url = httpx.URL(join_url(API, "models", quote_model_id(model_id)))
    assert origin_key(url) == origin_key(API)
    raw_segments = url.raw_path.decode("ascii").split("?")[0].split("/")[3:]
    assert [urllib.parse.unquote(s) for s in raw_segments] == segments


@given(segment)
def test_escaped_request_id_is_one_segment_that_decodes_back(request_id: str) -> None:
    url = httpx.URL(join_url(API, "requests", quote_request_id(request_id), "status"))
    parts = url.raw_path.decode("ascii").split("/")
    assert parts[-1] == "status" and urllib.parse.unquote(parts[-2]) == request_id
    assert not url.query


def test_origins_normalise_case_and_default_ports() -> None:
    assert origin_key("HTTPS://Model-API.runcomfy.net/v1") == "https://model-api.runcomfy.net:443"
    assert same_origin("https://model-api.runcomfy.net:443/v1/requests/x/result", API)
    assert not same_origin("https://model-api.runcomfy.net.evil.com/v1", API)
    assert not same_origin("http://model-api.runcomfy.net/v1", API)
    assert not same_origin("https://user@model-api.runcomfy.net/v1", API)
    assert not same_origin(None, API)
    assert origin_key("not a url") == ""


# --- the session: token scope, redirects, trace ------------------------------------------------------------------


def test_bearer_goes_only_to_the_configured_origins() -> None:
    seen: dict[str, str | None] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen[str(request.url)] = request.headers.get("authorization")
        return httpx.Response(200, json={})

    session = session_with(handler)
    urls = {
        f"{API}/requests/x/status": True,
        f"{WEB}/api/auth/me": True,
        "https://evil.example/steal": False,
        "http://model-api.runcomfy.net/v1/plain-http": False,  # same host, other scheme: another origin
        "https://model-api.runcomfy.net:8443/v1/x": False,  # other port
        "https://files.runcomfy.net/out.png": False,
    }
    for url in urls:
        session.send("GET", url)
    for url, gets_token in urls.items():
        assert (seen[url] == f"Bearer {CANARY}") is gets_token, url
    assert all(value is None for url, value in seen.items() if not urls[url])


def test_bearer_is_sent_to_the_model_api_over_https() -> None:
    headers: list[str | None] = []
    session = session_with(
        lambda r: headers.append(r.headers.get("authorization")) or httpx.Response(200, json={})
    )
    session.request_json("GET", f"{API}/requests/x/status")
    assert headers == [f"Bearer {CANARY}"]


def test_unauthenticated_calls_carry_no_authorization_and_no_token_means_not_authenticated() -> None:
    headers: list[httpx.Headers] = []
    session = session_with(lambda r: headers.append(r.headers) or httpx.Response(200, json={}))
    session.send("POST", f"{WEB}/api/cli-auth/start", authenticated=False)
    assert "authorization" not in headers[0]
    assert headers[0]["user-agent"] == USER_AGENT and USER_AGENT.startswith("runcomfy-cli/")
    anonymous = HttpSession(
        token=None, trusted_origins=[API], transport=httpx.MockTransport(lambda r: httpx.Response(200))
    )
    with pytest.raises(errors.NotAuthenticated):
        anonymous.send("GET", f"{API}/x")


def test_redirects_are_not_followed_on_api_calls() -> None:
    hosts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        return httpx.Response(302, headers={"location": "https://evil.example/x"})

    with pytest.raises(errors.UnexpectedRedirect) as caught:
        session_with(handler).request_json("GET", f"{API}/requests/x/status")
    assert "redirect to https://evil.example/x; API calls do not follow redirects" in str(caught.value)
    assert caught.value.hint is not None and "RUNCOMFY_MODEL_API_BASE" in caught.value.hint
    assert hosts == ["model-api.runcomfy.net"]


@pytest.mark.parametrize("location", ["mailto:x@y.z", "http:foo", "data:,x", "https:\\\\evil.com/x"])
def test_a_redirect_to_an_unparsable_place_is_still_our_error_not_httpx(location: str) -> None:
    session = session_with(lambda r: httpx.Response(302, headers={"location": location}))
    with pytest.raises(errors.UnexpectedRedirect):
        session.request_json("GET", f"{API}/requests/x/status")


def test_an_echoed_token_in_an_id_or_status_is_refused_in_any_case() -> None:
    for field in ("request_id", "status"):
        for form in (CANARY, CANARY.upper()):
            session = session_with(lambda r, f=field, v=form: httpx.Response(200, json={f: f"x{v}y"}))
            with pytest.raises(errors.TokenEchoed) as caught:
                session.request_json("GET", f"{API}/requests/x/status")
            assert CANARY.lower() not in str(caught.value).lower()


def test_trace_shows_method_url_status_and_masks_the_token() -> None:
    lines: list[str] = []
    session = session_with(
        lambda r: httpx.Response(201, json={}, headers={"set-cookie": "sid=abc"}), trace=lines.append
    )
    session.request_json("POST", f"{API}/models/a/b", json_body={"prompt": "x"})
    text = "\n".join(lines)
    assert f"> POST {API}/models/a/b" in text
    assert "Authorization: Bearer ****" in text
    assert "< 201 Created" in text
    assert "Set-Cookie: ****" in text
    assert CANARY not in text and "sid=abc" not in text


def test_transport_failures_become_library_errors_with_the_cause_kept() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    def stall(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("read timed out")

    with pytest.raises(errors.APIConnectionError) as refused:
        session_with(refuse).send("GET", f"{API}/x")
    assert isinstance(refused.value.__cause__, httpx.ConnectError)
    assert not isinstance(refused.value, errors.APITimeoutError)
    with pytest.raises(errors.APITimeoutError):
        session_with(stall).send("GET", f"{API}/x")


def test_a_reply_larger_than_the_cap_is_refused() -> None:
    chunk = b" " * (1024 * 1024)

    def huge(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=iter([chunk] * (MAX_REPLY_BYTES // len(chunk) + 2)))

    with pytest.raises(errors.APIResponseError, match="larger than"):
        session_with(huge).request_json("GET", f"{API}/x")


# --- the error funnel -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, errors.BadRequestError),
        (401, errors.AuthenticationError),
        (403, errors.PermissionDeniedError),
        (404, errors.NotFoundError),
        (408, errors.RequestTimeoutError),
        (409, errors.APIStatusError),
        (422, errors.UnprocessableEntityError),
        (429, errors.RateLimitError),
        (500, errors.ServerError),
        (503, errors.ServerError),
    ],
)
def test_each_status_maps_to_its_error_class(status: int, cls: type[errors.APIStatusError]) -> None:
    with pytest.raises(cls) as caught:
        read_json(reply(status, '{"error_code": 404001, "error_message": "Request not found"}'))
    assert type(caught.value) is cls
    assert caught.value.status_code == status
    assert caught.value.error_code == 404001
    assert caught.value.server_message == "Request not found"
    assert f"HTTP {status}" in str(caught.value) and "Request not found" in str(caught.value)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"error_message": "a", "message": "b", "error": "c", "detail": "d"}', "a"),
        ('{"message": "b", "error": "c", "detail": "d"}', "b"),
        ('{"error": "c", "detail": "d"}', "c"),
        ('{"error": {"message": "nested"}}', "nested"),
        ('{"detail": "d"}', "d"),
        ('{"detail": [{"loc": ["body", "prompt"], "msg": "field required"}]}', None),
        ("plain text body", "plain text body"),
        ("<html><body>Bad gateway</body></html>", None),
    ],
)
def test_server_message_is_taken_in_the_documented_order(body: str, expected: str | None) -> None:
    error = read_json_error(reply(422, body))
    assert error.server_message == expected


def read_json_error(r: Reply) -> errors.APIStatusError:
    with pytest.raises(errors.APIStatusError) as caught:
        read_json(r)
    return caught.value


def test_validation_detail_and_retry_after_are_kept() -> None:
    detail = [{"loc": ["body", "prompt"], "msg": "field required"}]
    error = read_json_error(
        reply(429, '{"detail": [{"loc": ["body", "prompt"], "msg": "field required"}]}', {"retry-after": "7"})
    )
    assert error.detail == detail
    assert error.retry_after_s == 7


def test_a_token_echoed_by_the_server_never_reaches_the_exception() -> None:
    body = f'{{"error_message": "bad token {CANARY}", "detail": ["{CANARY}"]}}'
    with pytest.raises(errors.AuthenticationError) as caught:
        read_json(reply(401, body), secrets=[CANARY])
    assert CANARY not in str(caught.value)
    assert CANARY not in (caught.value.server_message or "")
    assert CANARY not in repr(caught.value.detail)


def test_server_text_loses_control_characters() -> None:
    error = read_json_error(reply(500, '{"message": "boom\\u001b[2J\\r\\nfake line"}'))
    assert "\x1b" not in str(error) and "\n" not in str(error)


@pytest.mark.parametrize("body", [b"<html>ok</html>", b"", b"[1, 2]", b'"text"', b"{bad json"])
def test_a_2xx_that_is_not_a_json_object_is_an_api_response_error(body: bytes) -> None:
    with pytest.raises(errors.APIResponseError):
        read_json(reply(200, body))


def test_deeply_nested_json_is_refused_without_recursion_error() -> None:
    for depth in (65, 100_000):
        with pytest.raises(errors.APIResponseError, match="nested too deeply"):
            read_json(reply(200, b'{"a":' * depth + b"1" + b"}" * depth))
    assert read_json(reply(200, b'{"a":' * 63 + b"1" + b"}" * 63))


def test_an_empty_2xx_body_is_accepted_only_when_allowed() -> None:
    assert read_json(reply(202, b""), allow_empty=True) == {}
    with pytest.raises(errors.APIResponseError):
        read_json(reply(202, b""))


# --- retry policy -----------------------------------------------------------------------------------------------


def test_retry_after_in_seconds_and_as_an_http_date() -> None:
    assert parse_retry_after("3") == 3
    assert parse_retry_after(" 1.5 ") == 1.5
    date = email.utils.formatdate(1_000_030, usegmt=True)
    assert parse_retry_after(date, now=1_000_000) == 30
    assert parse_retry_after(date, now=2_000_000) == 0
    for junk in (None, "", "soon", "-1", "nan", "inf", "1e999"):
        assert parse_retry_after(junk) is None


@given(st.text(max_size=40))
def test_retry_after_parsing_never_raises_and_is_never_negative(value: str) -> None:
    parsed = parse_retry_after(value, now=0.0)
    assert parsed is None or parsed >= 0


def test_backoff_grows_exponentially_up_to_the_cap() -> None:
    policy = RetryPolicy(initial_delay_s=1, multiplier=2, max_delay_s=10, jitter="none")
    assert [backoff_delay(n, policy) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]
    assert backoff_delay(10_000, policy) == 10


@given(st.integers(min_value=1, max_value=10_000), st.floats(min_value=0, max_value=1, exclude_max=True))
def test_jitter_stays_within_its_bounds(attempt: int, draw: float) -> None:
    base = backoff_delay(attempt, RetryPolicy(jitter="none"))
    assert 0 <= backoff_delay(attempt, RetryPolicy(jitter="full"), rand=lambda: draw) <= base
    assert base / 2 <= backoff_delay(attempt, RetryPolicy(jitter="equal"), rand=lambda: draw) <= base


def test_retry_after_is_honoured_up_to_its_cap() -> None:
    policy = RetryPolicy(max_retry_after_s=60, jitter="none")
    assert backoff_delay(1, policy, retry_after_s=12) == 12
    assert backoff_delay(1, policy, retry_after_s=3600) == 60
    assert backoff_delay(1, policy, retry_after_s=0) == policy.initial_delay_s


def test_which_errors_are_retried() -> None:
    def api(cls: type[errors.APIStatusError], code: int) -> errors.APIStatusError:
        return cls("x", status_code=code)

    for retried in (
        errors.APIConnectionError("x"),
        errors.APITimeoutError("x"),
        errors.APIResponseError("x"),
        api(errors.ServerError, 503),
        api(errors.RateLimitError, 429),
        api(errors.RequestTimeoutError, 408),
    ):
        assert should_retry(retried)
    for final in (
        api(errors.BadRequestError, 400),
        api(errors.AuthenticationError, 401),
        api(errors.NotFoundError, 404),
        api(errors.UnprocessableEntityError, 422),
        errors.InvalidInput("x"),
    ):
        assert not should_retry(final)


def test_submit_is_retried_only_on_429_or_when_no_connection_was_made() -> None:
    def caused(exc: errors.RunComfyError, cause: BaseException) -> errors.RunComfyError:
        exc.__cause__ = cause
        return exc

    assert should_retry_submit(errors.RateLimitError("x", status_code=429))
    assert should_retry_submit(caused(errors.APIConnectionError("x"), httpx.ConnectError("refused")))
    assert should_retry_submit(caused(errors.APITimeoutError("x"), httpx.ConnectTimeout("t")))
    assert not should_retry_submit(caused(errors.APITimeoutError("x"), httpx.ReadTimeout("t")))
    assert not should_retry_submit(caused(errors.APIConnectionError("x"), httpx.RemoteProtocolError("reset")))
    assert not should_retry_submit(errors.ServerError("x", status_code=500))


def failing(times: int, exc: errors.RunComfyError, value: str = "ok") -> Callable[[], str]:
    calls = {"n": 0}

    def fn() -> str:
        calls["n"] += 1
        if calls["n"] <= times:
            raise exc
        return value

    return fn


def test_call_with_retries_rides_out_transient_errors() -> None:
    clock = FakeClock()
    fn = failing(3, errors.ServerError("down", status_code=503))
    assert call_with_retries(fn, policy=RetryPolicy(jitter="none"), sleep=clock.sleep, clock=clock) == "ok"
    assert clock.sleeps == [0.5, 1.0, 2.0]


def test_call_with_retries_does_not_retry_a_final_error() -> None:
    clock = FakeClock()
    with pytest.raises(errors.BadRequestError):
        call_with_retries(
            failing(1, errors.BadRequestError("no", status_code=400)),
            policy=RetryPolicy(),
            sleep=clock.sleep,
            clock=clock,
        )
    assert clock.sleeps == []


def test_a_sustained_outage_ends_after_the_window_with_the_last_error() -> None:
    clock = FakeClock()
    policy = RetryPolicy(outage_window_s=120, jitter="none")
    with pytest.raises(errors.ServerError):
        call_with_retries(
            failing(10**6, errors.ServerError("down", status_code=503)),
            policy=policy,
            sleep=clock.sleep,
            clock=clock,
        )
    assert clock.now == pytest.approx(120)
    assert max(clock.sleeps) <= policy.max_delay_s


def test_max_attempts_and_deadline_bound_the_retries() -> None:
    clock = FakeClock()
    with pytest.raises(errors.ServerError):
        call_with_retries(
            failing(10, errors.ServerError("d", status_code=500)),
            policy=RetryPolicy(max_attempts=3),
            sleep=clock.sleep,
            clock=clock,
        )
    assert len(clock.sleeps) == 2
    clock = FakeClock()
    with pytest.raises(errors.APIConnectionError):
        call_with_retries(
            failing(10**6, errors.APIConnectionError("d")),
            policy=RetryPolicy(jitter="none"),
            sleep=clock.sleep,
            clock=clock,
            deadline=5.0,
        )
    assert clock.now == pytest.approx(5.0)


def test_a_rate_limit_waits_for_the_servers_retry_after() -> None:
    clock = FakeClock()
    fn = failing(1, errors.RateLimitError("slow down", status_code=429, retry_after_s=9))
    call_with_retries(fn, policy=RetryPolicy(), sleep=clock.sleep, clock=clock)
    assert clock.sleeps == [9]
