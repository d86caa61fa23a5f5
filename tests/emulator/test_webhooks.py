"""Webhook callbacks of deployment requests, delivered for real to a receiver on loopback: final and
intermediate statuses, retries with compressed backoff, duplicates and reordering for testing receivers, the
loopback-only rule, and the call log. Waits poll a condition with a deadline; nothing sleeps a fixed time."""

from __future__ import annotations

from typing import Any

import pytest
from serverless_harness import Serverless, locs, wait_for, webhook_receiver

FAST_RETRIES = pytest.mark.emulator_config(webhook_retry_delays_s=(0.05, 0.05, 0.05))


def deliveries(serverless: Serverless) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = serverless.emulator.control("GET", "calls?route=webhook").json()["calls"]
    return calls


@pytest.mark.emulator_config(cold_start_s=0, deployment_run_s=10)
def test_a_request_calls_back_once_when_it_ends_with_its_outputs(serverless: Serverless) -> None:
    deployment_id = serverless.create_ok()
    with webhook_receiver() as receiver:
        request_id = serverless.infer_ok(deployment_id, params={"webhook": receiver.url})
        serverless.advance(10)
        (callback,) = receiver.wait_for_count(1)
        assert (
            callback
            | {
                "request_id": request_id,
                "deployment_id": deployment_id,
                "status": "succeeded",
                "created_at": "2027-01-15T08:00:00.000Z",
                "finished_at": "2027-01-15T08:00:10.000Z",
            }
            == callback
        )
        assert callback["outputs"] == serverless.result(deployment_id, request_id)["outputs"]
        (call,) = wait_for(lambda: deliveries(serverless), "the delivery in the call log")
        assert (
            call | {"route": "webhook", "method": "POST", "target": receiver.url, "status": 200, "attempt": 1}
            == call
        )
        assert call["request_id"] == request_id and call["path"] == "/hooks/runcomfy"


@pytest.mark.emulator_config(cold_start_s=3, deployment_run_s=4)
def test_intermediate_statuses_are_sent_only_when_asked(serverless: Serverless) -> None:
    deployment_id = serverless.create_ok()
    with webhook_receiver() as receiver:
        params = {"webhook": receiver.url, "webhook_intermediate_status": "true"}
        request_id = serverless.infer_ok(deployment_id, prefix="/prod/v1", params=params)
        receiver.wait_for_count(1)
        serverless.advance(3)
        receiver.wait_for_count(2)
        serverless.advance(4)
        in_queue, in_progress, done = receiver.wait_for_count(3)
        assert [c["status"] for c in (in_queue, in_progress, done)] == [
            "in_queue",
            "in_progress",
            "succeeded",
        ]
        assert in_queue["queue_position"] == 0 and in_queue["finished_at"] is None
        assert (
            in_progress["instance_id"]
            == serverless.emulator.control("GET", "instances").json()["instances"][0]["instance_id"]
        )
        assert done["request_id"] == request_id


@pytest.mark.emulator_config(deployment_run_s=0)
def test_the_legacy_body_fields_ask_for_webhooks_too(serverless: Serverless) -> None:
    deployment_id = serverless.create_ok()
    with webhook_receiver() as receiver:
        serverless.infer_ok(deployment_id, {"webhook": receiver.url, "webhook_intermediate_status": True})
        statuses = [c["status"] for c in receiver.wait_for_count(3)]
        assert statuses == ["in_queue", "in_progress", "succeeded"]


@FAST_RETRIES
def test_a_failed_delivery_is_retried_until_the_receiver_answers_2xx(serverless: Serverless) -> None:
    deployment_id = serverless.create_ok()
    with webhook_receiver() as receiver:
        receiver.statuses = [500, 503]
        request_id = serverless.infer_ok(deployment_id, params={"webhook": receiver.url})
        callbacks = receiver.wait_for_count(3)
        assert [c["request_id"] for c in callbacks] == [request_id] * 3
        calls = wait_for(
            lambda: len(deliveries(serverless)) == 3 and deliveries(serverless), "three attempts"
        )
        assert [(c["attempt"], c["status"]) for c in calls] == [(1, 500), (2, 503), (3, 200)]
        assert "retrying" in calls[0]["detail"] and "delivered" in calls[2]["detail"]


@FAST_RETRIES
def test_a_delivery_is_abandoned_after_the_last_retry(serverless: Serverless) -> None:
    deployment_id = serverless.create_ok()
    with webhook_receiver() as receiver:
        receiver.statuses = [500] * 10
        serverless.infer_ok(deployment_id, params={"webhook": receiver.url})
        calls = wait_for(lambda: len(deliveries(serverless)) == 4 and deliveries(serverless), "four attempts")
        assert [c["attempt"] for c in calls] == [1, 2, 3, 4]
        assert "abandoned" in calls[-1]["detail"]
        assert serverless.emulator.control("GET", "webhooks").json() == {
            "in_flight": 0,
            "pending": [],
            "held": [],
        }


@FAST_RETRIES
def test_a_receiver_too_slow_or_unreachable_counts_as_a_failure(serverless: Serverless) -> None:
    serverless.config(webhook_timeout_s=0.2)
    deployment_id = serverless.create_ok()
    with webhook_receiver() as receiver:
        receiver.delay_s = 1.0
        serverless.infer_ok(deployment_id, params={"webhook": receiver.url})
        first = wait_for(lambda: deliveries(serverless), "a timed-out attempt")[0]
        assert first["status"] is None and "timeout" in first["detail"]
        receiver.delay_s = 0.0
        wait_for(lambda: any(c["status"] == 200 for c in deliveries(serverless)), "a later delivery")
    serverless.config(webhook_retry_delays_s=[])
    serverless.infer_ok(deployment_id, params={"webhook": receiver.url})  # the receiver has stopped
    refused = wait_for(
        lambda: [c for c in deliveries(serverless) if "abandoned" in (c["detail"] or "")], "a refusal"
    )
    assert refused[-1]["status"] is None and "delivery failed" in refused[-1]["detail"]


@pytest.mark.emulator_config(deployment_run_s=0)
def test_duplicates_deliver_every_callback_twice(serverless: Serverless) -> None:
    serverless.config(webhook_duplicate=True)
    deployment_id = serverless.create_ok()
    with webhook_receiver() as receiver:
        serverless.infer_ok(deployment_id, params={"webhook": receiver.url})
        first, second = receiver.wait_for_count(2)
        assert first == second
        wait_for(lambda: len(deliveries(serverless)) == 2, "two deliveries")
        assert len(receiver.bodies()) == 2


@pytest.mark.emulator_config(cold_start_s=1, deployment_run_s=1)
def test_reordering_holds_a_requests_callbacks_and_delivers_the_final_one_first(
    serverless: Serverless,
) -> None:
    serverless.config(webhook_reorder=True)
    deployment_id = serverless.create_ok()
    with webhook_receiver() as receiver:
        params = {"webhook": receiver.url, "webhook_intermediate_status": "1"}
        serverless.infer_ok(deployment_id, params=params)
        serverless.advance(1)
        held = serverless.emulator.control("GET", "webhooks").json()["held"]
        assert [d["status"] for d in held] == ["in_queue", "in_progress"]
        assert receiver.bodies() == []
        serverless.advance(1)
        statuses = [c["status"] for c in receiver.wait_for_count(3)]
        assert statuses == ["succeeded", "in_progress", "in_queue"]


def test_a_webhook_beyond_loopback_is_refused_at_inference(serverless: Serverless) -> None:
    deployment_id = serverless.create_ok()
    for url in ("https://example.com/hook", "http://10.0.0.8:9000/hook", "ftp://127.0.0.1/hook", "not a url"):
        response = serverless.infer(deployment_id, params={"webhook": url})
        assert locs(response) == [["query", "webhook"]], url
    assert locs(serverless.infer(deployment_id, {"webhook": "https://example.com/x"})) == [
        ["body", "webhook"]
    ]
    for url in ("http://localhost:1/hook", "http://[::1]:1/hook", "http://127.0.0.2:1/hook"):
        assert serverless.infer(deployment_id, params={"webhook": url}).status_code == 200, url
    assert serverless.config(allow_webhook_hosts=True)["allow_webhook_hosts"] is True
    assert serverless.infer(deployment_id, params={"webhook": "https://example.com/hook"}).status_code == 200


def test_webhook_settings_are_checked_and_a_reset_restores_them(serverless: Serverless) -> None:
    control = serverless.emulator.control
    for bad in (
        {"webhook_retry_delays_s": [1] * 11},
        {"webhook_retry_delays_s": [-1]},
        {"webhook_duplicate": "yes"},
        {"webhook_timeout_s": 0},
        {"cold_start_s": True},
        {"deployment_run_s": "5"},
        {"balance_usd": -1},
    ):
        assert control("POST", "config", bad).status_code == 400, bad
    changed = serverless.config(webhook_retry_delays_s=[0.5], webhook_reorder=True, deployment_run_s=None)
    assert changed["webhook_retry_delays_s"] == [0.5] and changed["webhook_reorder"] is True
    assert changed["deployment_run_s"] is None
    control("POST", "reset")
    restored = control("GET", "config").json()
    assert restored["webhook_retry_delays_s"] == [0.1, 0.2, 0.4] and restored["webhook_reorder"] is False
    assert restored["deployment_run_s"] == 0.0
