"""Client and RequestHandle against a scripted Model API on httpx.MockTransport."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from fake_time import FakeClock

from runcomfy import Client, Completed, Queued, errors
from runcomfy.auth.credentials import save_token

CANARY = f"rc-canary-{uuid.uuid4()}"
API = "https://model-api.runcomfy.net/v1"
WEB = "https://www.runcomfy.com"
MODEL = "openai/gpt-image-2/text-to-image"
Step = httpx.Response | Exception


class FakeModelAPI:
    """Statuses are served in order (the last repeats); ``faults[route]`` steps are served first."""

    def __init__(
        self,
        statuses: list[dict[str, Any]] | None = None,
        results: list[dict[str, Any]] | None = None,
        submit: dict[str, Any] | None = None,
    ) -> None:
        self.statuses = statuses or [{"status": "completed"}]
        self.results = results or [
            {"status": "completed", "output": {"images": ["https://f.runcomfy.net/a.png"]}}
        ]
        self.submit_reply = submit or {"request_id": "req-1"}
        self.faults: dict[str, list[Step]] = {
            "submit": [],
            "status": [],
            "result": [],
            "cancel": [],
            "me": [],
        }
        self.cancel_reply: Step = httpx.Response(
            202, json={"request_id": "req-1", "status": "cancelled", "outcome": "cancelled"}
        )
        self.requests: list[httpx.Request] = []

    def calls(self, route: str) -> list[httpx.Request]:
        return [r for r in self.requests if self.route(r) == route]

    @staticmethod
    def route(request: httpx.Request) -> str:
        path = request.url.path
        if path.startswith("/v1/models/"):
            return "submit"
        if path == "/api/auth/me":
            return "me"
        return path.rsplit("/", 1)[-1] if path.startswith("/v1/requests/") else "other"

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        route = self.route(request)
        if self.faults.get(route):
            step = self.faults[route].pop(0)
            if isinstance(step, Exception):
                raise step
            return step
        if route == "submit":
            return httpx.Response(200, json=self.submit_reply)
        if route == "status":
            return httpx.Response(200, json=self._next(self.statuses))
        if route == "result":
            return httpx.Response(200, json={"request_id": "req-1", **self._next(self.results)})
        if route == "cancel":
            if isinstance(self.cancel_reply, Exception):
                raise self.cancel_reply
            return self.cancel_reply
        if route == "me":
            return httpx.Response(200, json={"id": "u-1", "email": "a@b.c"})
        return httpx.Response(404, json={"error_message": "no route"})

    @staticmethod
    def _next(items: list[dict[str, Any]]) -> dict[str, Any]:
        return items.pop(0) if len(items) > 1 else items[0]


def make_client(api: FakeModelAPI, clock: FakeClock | None = None, **kwargs: Any) -> Client:
    clock = clock or FakeClock()
    kwargs.setdefault("env", {})
    kwargs.setdefault("token", CANARY)
    return Client(transport=httpx.MockTransport(api), sleep=clock.sleep, clock=clock, **kwargs)


def test_submit_posts_the_input_to_the_model_url_with_the_bearer() -> None:
    api = FakeModelAPI()
    handle = make_client(api).submit(MODEL, {"prompt": "a cat"})
    sent = api.calls("submit")[0]
    assert str(sent.url) == f"{API}/models/{MODEL}"
    assert json.loads(sent.content) == {"prompt": "a cat"}
    assert sent.headers["authorization"] == f"Bearer {CANARY}"
    assert sent.headers["content-type"] == "application/json"
    assert handle.request_id == "req-1"
    assert handle.status_url == f"{API}/requests/req-1/status"
    assert handle.cancel_url == f"{API}/requests/req-1/cancel"


def test_server_urls_on_another_origin_are_replaced_by_urls_built_from_the_base() -> None:
    api = FakeModelAPI(
        submit={
            "request_id": "req-1",
            "result_url": "https://evil.example/steal",
            "status_url": f"{API}/requests/req-1/status?from=server",
        }
    )
    handle = make_client(api).submit(MODEL, {})
    assert handle.result_url == f"{API}/requests/req-1/result"
    assert handle.status_url.endswith("?from=server")  # same origin: the server's URL is used
    handle.wait()
    assert all(r.url.host == "model-api.runcomfy.net" for r in api.requests)


def test_submit_is_not_retried_after_a_5xx_or_a_read_timeout() -> None:
    for fault in (httpx.Response(500, json={"error_message": "boom"}), httpx.ReadTimeout("slow")):
        api = FakeModelAPI()
        api.faults["submit"] = [fault]
        with pytest.raises((errors.ServerError, errors.APITimeoutError)):
            make_client(api).submit(MODEL, {})
        assert len(api.calls("submit")) == 1


def test_submit_is_retried_when_the_connection_was_never_made_or_on_429() -> None:
    api = FakeModelAPI()
    api.faults["submit"] = [httpx.ConnectError("refused"), httpx.Response(429, headers={"retry-after": "3"})]
    clock = FakeClock()
    assert make_client(api, clock).submit(MODEL, {}).request_id == "req-1"
    assert len(api.calls("submit")) == 3
    assert clock.sleeps[1] == 3


def test_run_waits_reports_changes_and_returns_the_result() -> None:
    api = FakeModelAPI(
        statuses=[
            {"status": "in_queue", "queue_position": 1},
            {"status": "in_progress"},
            {"status": "completed"},
        ]
    )
    events: list[str] = []
    result = make_client(api).run(
        MODEL,
        {"prompt": "x"},
        on_update=lambda s: events.append(s.describe()),
        on_submitted=lambda h: events.append(f"submitted {h.request_id}"),
    )
    assert events == ["submitted req-1", "in_queue (position 1)", "in_progress", "completed"]
    assert result.ok and isinstance(result.status, Completed)
    assert result.output == {"images": ["https://f.runcomfy.net/a.png"]}
    assert result.request_id == "req-1"


def test_on_submitted_runs_before_the_first_status_call() -> None:
    api = FakeModelAPI()
    seen: list[int] = []
    make_client(api).run(MODEL, {}, on_submitted=lambda h: seen.append(len(api.calls("status"))))
    assert seen == [0]


def test_a_failed_request_raises_request_failed_with_the_servers_error() -> None:
    api = FakeModelAPI(
        statuses=[{"status": "failed"}],
        results=[{"status": "failed", "error": {"type": "oom", "message": "out of memory"}}],
    )
    with pytest.raises(errors.RequestFailed) as caught:
        make_client(api).run(MODEL, {})
    assert caught.value.request_id == "req-1"
    assert caught.value.error == {"type": "oom", "message": "out of memory"}
    assert str(caught.value) == 'request failed: {"type":"oom","message":"out of memory"}'


def test_a_cancelled_request_raises_request_cancelled_and_wait_can_return_it_instead() -> None:
    api = FakeModelAPI(statuses=[{"status": "canceled"}], results=[{"status": "Canceled"}])
    client = make_client(api)
    with pytest.raises(errors.RequestCancelled):
        client.run(MODEL, {})
    result = client.handle("req-1").wait(raise_on_failure=False)
    assert result.status.is_terminal and not result.ok


def test_timeout_cancels_the_request_once_and_raises_wait_timeout() -> None:
    api = FakeModelAPI(statuses=[{"status": "in_queue"}])
    clock = FakeClock()
    with pytest.raises(errors.WaitTimeout) as caught:
        make_client(api, clock).run(MODEL, {}, timeout=10, poll_interval_s=2)
    assert caught.value.request_id == "req-1"
    assert len(api.calls("cancel")) == 1
    assert "cancelled" in str(caught.value)
    assert clock.now == pytest.approx(10)


def test_timeout_when_the_cancel_cannot_be_sent_says_how_to_retry_it() -> None:
    api = FakeModelAPI(statuses=[{"status": "in_progress"}])
    api.cancel_reply = httpx.ConnectError("down")
    with pytest.raises(errors.WaitTimeout, match="runcomfy cancel req-1"):
        make_client(api).run(MODEL, {}, timeout=4)
    assert len(api.calls("cancel")) == 1


def test_polling_survives_5xx_429_dropped_connections_and_non_json_200() -> None:
    api = FakeModelAPI(statuses=[{"status": "in_progress"}, {"status": "completed"}])
    api.faults["status"] = [
        httpx.Response(503, text="down"),
        httpx.Response(429, headers={"retry-after": "1"}),
        httpx.RemoteProtocolError("dropped"),
        httpx.Response(200, text="<html>oops</html>"),
    ]
    api.faults["result"] = [httpx.Response(502), httpx.Response(200, text="not json")]
    assert make_client(api).run(MODEL, {}).ok
    assert len(api.calls("result")) == 3


def test_a_result_lagging_a_terminal_status_is_fetched_again() -> None:
    api = FakeModelAPI(
        results=[
            {"status": "in_progress"},
            {"status": "in_progress"},
            {"status": "completed", "output": "https://f.runcomfy.net/x.png"},
        ]
    )
    clock = FakeClock()
    result = make_client(api, clock).run(MODEL, {})
    assert result.output == "https://f.runcomfy.net/x.png"
    assert len(api.calls("result")) == 3


def test_a_result_without_status_takes_the_terminal_status_of_the_status_call() -> None:
    api = FakeModelAPI(results=[{"output": {"text": "hi"}}])
    result = make_client(api).run(MODEL, {})
    assert result.ok and result.output == {"text": "hi"}


def test_status_returns_a_typed_value_with_the_payload() -> None:
    api = FakeModelAPI(statuses=[{"status": "in_queue", "queue_position": 4, "request_id": "req-1"}])
    status = make_client(api).status("req-1")
    assert status == Queued(4, raw="in_queue")
    assert status.payload["request_id"] == "req-1"


def test_cancel_reads_the_outcome_and_accepts_an_empty_202() -> None:
    api = FakeModelAPI()
    api.cancel_reply = httpx.Response(
        202, json={"request_id": "req-1", "status": "in_progress", "outcome": "not_cancellable"}
    )
    outcome = make_client(api).cancel("req-1")
    assert outcome.not_cancellable and not outcome.cancelled
    assert api.calls("cancel")[0].content == b""
    api.cancel_reply = httpx.Response(202)
    empty = make_client(api).cancel("req-1")
    assert (empty.request_id, empty.outcome) == ("req-1", None)


def test_request_ids_are_escaped_and_hostile_ones_refused_before_any_call() -> None:
    api = FakeModelAPI()
    client = make_client(api)
    with pytest.raises(errors.InvalidInput):
        client.status("../models/x")
    with pytest.raises(errors.InvalidInput):
        client.submit("no-slash", {})
    assert api.requests == []
    client.status("a:b")
    assert api.requests[0].url.raw_path == b"/v1/requests/a%3Ab/status"


@pytest.mark.parametrize("bad", [[1, 2], "text", {"x": float("nan")}, {"x": {1, 2}}])
def test_input_that_is_not_a_json_object_is_invalid_input(bad: Any) -> None:
    api = FakeModelAPI()
    with pytest.raises(errors.InvalidInput):
        make_client(api).submit(MODEL, bad)
    assert api.requests == []


def test_deeply_nested_input_is_invalid_input() -> None:
    nested: dict[str, Any] = {}
    for _ in range(200):
        nested = {"a": nested}
    with pytest.raises(errors.InvalidInput, match="nested"):
        make_client(FakeModelAPI()).submit(MODEL, nested)


def test_whoami_calls_the_web_base_with_the_bearer() -> None:
    api = FakeModelAPI()
    assert make_client(api).whoami() == {"id": "u-1", "email": "a@b.c"}
    request = api.calls("me")[0]
    assert str(request.url) == f"{WEB}/api/auth/me"
    assert request.headers["authorization"] == f"Bearer {CANARY}"


def test_token_precedence_argument_then_env_then_file(tmp_path: Path) -> None:
    env = {"RUNCOMFY_CONFIG_DIR": str(tmp_path)}
    save_token("file-token", env)
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization", ""))
        return httpx.Response(200, json={"id": "u"})

    for token, extra in (
        (None, {}),
        (None, {"RUNCOMFY_TOKEN": "env-token"}),
        ("arg-token", {"RUNCOMFY_TOKEN": "x"}),
    ):
        with Client(token, env={**env, **extra}, transport=httpx.MockTransport(handler)) as client:
            client.whoami()
    assert seen == ["Bearer file-token", "Bearer env-token", "Bearer arg-token"]


def test_bases_come_from_arguments_then_environment_and_are_validated() -> None:
    env = {
        "RUNCOMFY_MODEL_API_BASE": "http://127.0.0.1:8188/v1/",
        "RUNCOMFY_WEB_BASE": "http://127.0.0.1:8188",
    }
    client = Client("t", env=env)
    assert (client.model_api_base, client.web_base) == ("http://127.0.0.1:8188/v1", "http://127.0.0.1:8188")
    assert (
        Client("t", env=env, model_api_base="https://other.example/v1").model_api_base
        == "https://other.example/v1"
    )
    with pytest.raises(errors.ConfigError):
        Client("t", env={}, web_base="ftp://x")


def test_no_token_anywhere_raises_not_authenticated_on_first_call(tmp_path: Path) -> None:
    api = FakeModelAPI()
    client = Client(env={"RUNCOMFY_CONFIG_DIR": str(tmp_path)}, transport=httpx.MockTransport(api))
    assert not client.has_token
    with pytest.raises(errors.NotAuthenticated, match="runcomfy login"):
        client.submit(MODEL, {})
    assert api.requests == []


def test_the_canary_token_never_appears_in_reprs_messages_or_traces() -> None:
    api = FakeModelAPI()
    api.faults["submit"] = [
        httpx.Response(401, json={"error_message": f"token {CANARY} revoked", "detail": f"{CANARY}"})
    ]
    lines: list[str] = []
    client = make_client(api, trace=lines.append)
    with pytest.raises(errors.AuthenticationError) as caught:
        client.submit(MODEL, {})
    handle = client.handle("req-1")
    shown = [
        repr(client),
        str(client),
        repr(handle),
        str(caught.value),
        repr(caught.value),
        repr(caught.value.detail),
        caught.value.server_message or "",
        *lines,
    ]
    assert lines and not [text for text in shown if CANARY in text]


def test_client_is_a_context_manager_that_closes_its_http_client() -> None:
    with make_client(FakeModelAPI()) as client:
        pass
    with pytest.raises(RuntimeError):
        client._http.client.get(f"{API}/x")


def test_iter_status_yields_until_terminal() -> None:
    api = FakeModelAPI(statuses=[{"status": "in_queue"}, {"status": "in_progress"}, {"status": "completed"}])
    handle = make_client(api).handle("req-1")
    assert [s.raw for s in handle.iter_status()] == ["in_queue", "in_progress", "completed"]


def test_max_retries_zero_surfaces_the_first_transient_error() -> None:
    api = FakeModelAPI()
    api.faults["status"] = [httpx.Response(503)]
    with pytest.raises(errors.ServerError) as caught:
        make_client(api, max_retries=0).status("req-1")
    assert caught.value.request_id == "req-1"
    assert len(api.calls("status")) == 1


def test_a_cancel_for_ctrl_c_uses_its_own_short_timeout_and_no_retries() -> None:
    api = FakeModelAPI()
    api.cancel_reply = httpx.Response(503)
    with pytest.raises(errors.ServerError):
        make_client(api).cancel("req-1", timeout_s=3, retry=False)
    calls = api.calls("cancel")
    assert len(calls) == 1
    assert calls[0].extensions["timeout"] == {"connect": 3, "read": 3, "write": 3, "pool": 3}


def test_result_record_and_cancel_outcome_render_for_scripts() -> None:
    api = FakeModelAPI(
        results=[{"status": "completed", "output": {"x": 1}, "created_at": "t0", "finished_at": 9}]
    )
    result = make_client(api).result("req-1")
    assert result.to_dict() == {
        "request_id": "req-1",
        "status": "completed",
        "output": {"x": 1},
        "error": None,
        "created_at": "t0",
        "finished_at": None,
    }
    api.cancel_reply = httpx.Response(
        200, json={"request_id": "req-1", "status": "in_progress", "outcome": "not_cancellable"}
    )
    assert make_client(api).cancel("req-1").describe() == "not_cancellable (status: in_progress)"


def test_an_outage_during_the_wait_is_bounded_by_the_timeout_not_the_outage_window() -> None:
    api = FakeModelAPI(statuses=[{"status": "in_progress"}])
    api.faults["status"] = [httpx.Response(200, json={"status": "in_progress"})] + [
        httpx.Response(503) for _ in range(1000)
    ]
    clock = FakeClock()
    with pytest.raises(errors.WaitTimeout) as caught:
        make_client(api, clock, retry_window_s=300).run(MODEL, {}, timeout=20)
    assert clock.now == pytest.approx(20)
    assert isinstance(caught.value.__cause__, errors.WaitTimeout)
    assert len(api.calls("cancel")) == 1


def test_a_sustained_outage_without_timeout_raises_the_last_error_with_the_request_id() -> None:
    api = FakeModelAPI()
    api.faults["status"] = [httpx.Response(503) for _ in range(1000)]
    clock = FakeClock()
    with pytest.raises(errors.ServerError) as caught:
        make_client(api, clock, retry_window_s=120).run(MODEL, {})
    assert caught.value.request_id == "req-1"
    assert clock.now == pytest.approx(120)


def test_the_old_timeout_keyword_still_works_with_a_deprecation_warning() -> None:
    with pytest.warns(DeprecationWarning, match="http_timeout_s"):
        client = Client("t", env={}, timeout=5.0)
    client.close()


def test_with_options_shares_the_connection_pool_and_changes_only_the_copy() -> None:
    calls: list[str] = []

    class Gate:
        def wait(self) -> None:
            calls.append("wait")

        def observe(self, status_code: int, headers: object) -> None:
            calls.append(f"observe {status_code}")

    def api(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"request_id": "req-1", "status": "completed"})

    original = make_client(api)
    copy = original.with_options(rate_gate=Gate(), retry_window_s=5)
    copy.status("req-1")
    original.status("req-1")
    assert calls == ["wait", "observe 200"]  # only the copy's calls pass its gate
    assert copy.retry_policy.outage_window_s == 5 and original.retry_policy.outage_window_s == 300
    assert copy.context.http is original.context.http  # one session, one pool
    copy.close()  # leaves the shared session open...
    assert original.status("req-1").raw == "completed"
    original.close()  # ...which its owner closes


def test_the_old_name_of_the_422_error_still_works_with_a_deprecation_warning() -> None:
    from runcomfy import errors

    with pytest.warns(DeprecationWarning, match="UnprocessableEntityError"):
        old = errors.ValidationError
    assert old is errors.UnprocessableEntityError
