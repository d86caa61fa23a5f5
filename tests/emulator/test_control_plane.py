"""The control plane: every fault kind, the call log, forced failures, clock, config, reset, tokens."""

from __future__ import annotations

import httpx
import pytest
from emulator_harness import Emulator

ECHO = "runcomfy/emulator/echo"
SLOW = "runcomfy/emulator/slow"


def add_fault(emulator: Emulator, **fault) -> None:
    response = emulator.control("POST", "faults", fault)
    assert response.status_code == 200, response.text


def test_error_fault_fails_the_next_n_calls_with_status_retry_after_and_service_body(
    emulator: Emulator,
) -> None:
    rid = emulator.submit_ok(ECHO, {})
    add_fault(emulator, route="status", kind="error", status=503, times=2, retry_after=3)
    for _ in range(2):
        response = emulator.status(rid)
        assert response.status_code == 503 and response.headers["retry-after"] == "3"
        assert response.json()["error_code"] == 503001
    assert emulator.status(rid).status_code == 200
    assert emulator.result(rid).status_code == 200


def test_error_fault_can_target_one_request_id(emulator: Emulator) -> None:
    first, second = emulator.submit_ok(ECHO, {}), emulator.submit_ok(ECHO, {})
    add_fault(emulator, route="status", kind="error", status=429, request_id=second, times=None)
    assert emulator.status(first).status_code == 200
    assert emulator.status(second).status_code == 429
    assert emulator.status(second).status_code == 429  # times: null means until cleared
    emulator.control("DELETE", "faults")
    assert emulator.status(second).status_code == 200


def test_drop_fault_closes_the_connection_before_the_body(emulator: Emulator) -> None:
    rid = emulator.submit_ok(ECHO, {})
    add_fault(emulator, route="result", kind="drop")
    with pytest.raises(httpx.RemoteProtocolError):
        emulator.result(rid)
    assert emulator.result(rid).status_code == 200


def test_latency_fault_delays_the_answer(emulator: Emulator) -> None:
    rid = emulator.submit_ok(ECHO, {})
    add_fault(emulator, route="status", kind="latency", seconds=5)
    with pytest.raises(httpx.ReadTimeout):
        emulator.http.get(f"{emulator.base}/requests/{rid}/status", headers=emulator.auth(), timeout=0.2)
    calls = emulator.control("GET", "calls?route=status").json()["calls"]
    assert calls[-1]["fault"] == "latency"


def test_non_json_fault_answers_an_html_200(emulator: Emulator) -> None:
    rid = emulator.submit_ok(ECHO, {})
    add_fault(emulator, route="status", kind="non_json")
    response = emulator.status(rid)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    with pytest.raises(ValueError):
        response.json()


def test_redirect_fault_sends_a_file_anywhere(emulator: Emulator) -> None:
    emulator.control("POST", "config", {"durations": {"*": 0}})
    rid = emulator.submit_ok("runcomfy/emulator/sized-file", {"size_bytes": 5})
    url = emulator.result(rid).json()["output"]
    add_fault(emulator, route="file", kind="redirect", location="http://169.254.169.254/latest", status=307)
    response = emulator.http.get(url)
    assert response.status_code == 307 and response.headers["location"] == "http://169.254.169.254/latest"
    assert emulator.http.get(url).status_code == 200


def test_respond_fault_answers_any_json_body(emulator: Emulator) -> None:
    add_fault(emulator, route="cli-auth-poll", kind="respond", status=400, body={"status": "slow_down"})
    response = emulator.http.post(f"{emulator.web}/api/cli-auth/poll", json={"device_code": "x"})
    assert response.status_code == 400 and response.json() == {"status": "slow_down"}


def test_invalid_faults_are_refused_with_a_reason(emulator: Emulator) -> None:
    for bad in (
        {"route": "nope"},
        {"kind": "explode"},
        {"kind": "redirect"},
        {"times": 0},
        {"status": 42},
        "text",
        [{"kind": "drop"}, {"kind": "nope"}],
    ):
        response = emulator.control("POST", "faults", bad)
        assert response.status_code == 400, bad
        assert response.json()["error_message"]
    assert emulator.control("GET", "faults").json()["faults"] == []  # a bad list adds none of its faults


def test_call_log_lists_calls_without_tokens(emulator: Emulator) -> None:
    rid = emulator.submit_ok(ECHO, {"x": 1})
    emulator.status(rid)
    emulator.status(rid, "wrong")
    log = emulator.control("GET", "calls").json()["calls"]
    assert [c["route"] for c in log] == ["submit", "status", "status"]
    assert log[0]["model_id"] == ECHO and log[1]["request_id"] == rid
    assert [c["authorized"] for c in log] == [True, True, False]
    assert [c["status"] for c in log] == [200, 200, 401]
    assert emulator.token not in emulator.control("GET", "calls").text
    since = emulator.control("GET", f"calls?since={log[1]['seq']}").json()["calls"]
    assert len(since) == 1
    emulator.control("DELETE", "calls")
    assert emulator.control("GET", "calls").json()["calls"] == []


def test_force_fail_ends_a_queued_or_running_request_failed(emulator: Emulator) -> None:
    emulator.control("POST", "config", {"workers": 1, "durations": {SLOW: 60}})
    running, queued = emulator.submit_ok(SLOW, {}), emulator.submit_ok(SLOW, {})
    response = emulator.control("POST", f"requests/{running}/fail", {"message": "GPU on fire"})
    assert response.status_code == 200
    result = emulator.result(running).json()
    assert result["status"] == "failed" and result["error"]["message"] == "GPU on fire"
    assert emulator.status(queued).json()["status"] == "in_progress"  # the freed worker picked it up
    emulator.control("POST", f"requests/{queued}/fail", {})
    assert emulator.result(queued).json()["status"] == "failed"
    again = emulator.control("POST", f"requests/{queued}/fail", {})
    assert again.status_code == 409
    assert emulator.control("POST", "requests/unknown/fail", {}).status_code == 404


def test_clock_advance_moves_requests_forward(emulator: Emulator) -> None:
    emulator.control("POST", "config", {"durations": {SLOW: 100}})
    rid = emulator.submit_ok(SLOW, {})
    assert emulator.status(rid).json()["status"] == "in_progress"
    assert emulator.control("POST", "clock", {"advance": 100}).status_code == 200
    assert emulator.status(rid).json()["status"] == "completed"
    assert emulator.control("POST", "clock", {"advance": -1}).status_code == 400


def test_reset_forgets_requests_and_faults_but_keeps_static_tokens(emulator: Emulator) -> None:
    rid = emulator.submit_ok(ECHO, {})
    add_fault(emulator, route="status", kind="error", times=None)
    assert emulator.control("POST", "reset").json() == {"reset": True}
    assert emulator.status(rid).status_code == 404
    assert emulator.control("GET", "faults").json()["faults"] == []
    assert emulator.submit(ECHO, {}).status_code == 200


def test_tokens_can_be_added_at_run_time(emulator: Emulator) -> None:
    assert emulator.submit(ECHO, {}, token="late-token").status_code == 401
    assert emulator.control("POST", "tokens", {"token": "late-token"}).status_code == 200
    assert emulator.submit(ECHO, {}, token="late-token").status_code == 200


def test_requests_listing_and_info(emulator: Emulator) -> None:
    rid = emulator.submit_ok(ECHO, {"a": 1})
    listed = emulator.control("GET", "requests").json()["requests"]
    assert [r["request_id"] for r in listed] == [rid] and listed[0]["status"] == "completed"
    info = emulator.control("GET", "").json()
    assert info["emulator"] == "runcomfy" and "drop" in info["fault_kinds"] and ECHO in info["models"]


def test_a_lasting_latency_fault_delays_each_call_once_then_lets_it_through(emulator: Emulator) -> None:
    add_fault(emulator, route="status", kind="latency", seconds=0.01, times=None)
    request_id = emulator.submit_ok("runcomfy/emulator/echo", {})
    first = emulator.status(request_id)
    second = emulator.status(request_id)
    assert first.status_code == second.status_code == 200
    calls = emulator.control("GET", "calls?route=status").json()["calls"]
    assert [c["fault"] for c in calls] == ["latency", "latency"]
