"""Deployment requests over loopback with a frozen clock: queueing, instances scaling between min and max, cold
starts, keep warm, gating, cancel in each state, and both API prefixes."""

from __future__ import annotations

from typing import Any

import pytest
from serverless_harness import Serverless, assert_error

COLD = pytest.mark.emulator_config(cold_start_s=5, deployment_run_s=4)


@COLD
def test_a_cold_start_queues_the_first_request_until_an_instance_is_ready(serverless: Serverless) -> None:
    deployment_id = serverless.create_ok()
    assert serverless.live_phases(deployment_id) == []  # min_instances 0: nothing runs before a request
    request_id = serverless.infer_ok(deployment_id)
    assert serverless.status(deployment_id, request_id)["queue_position"] == 0
    assert serverless.live_phases(deployment_id) == ["booting"]
    serverless.advance(5)
    running = serverless.status(deployment_id, request_id)
    assert running["status"] == "in_progress" and "queue_position" not in running
    instance_id = running["instance_id"]
    assert [i["instance_id"] for i in serverless.instances()] == [instance_id]
    serverless.advance(4)
    result = serverless.result(deployment_id, request_id)
    assert result["status"] == "succeeded"
    assert (result["created_at"], result["started_at"], result["finished_at"]) == (
        "2027-01-15T08:00:00.000Z",
        "2027-01-15T08:00:05.000Z",
        "2027-01-15T08:00:09.000Z",
    )
    assert "instance_id" not in serverless.status(deployment_id, request_id)


@pytest.mark.emulator_config(cold_start_s=0, deployment_run_s=10)
def test_instances_scale_up_to_max_then_requests_queue_up_to_queue_size_per_instance(
    serverless: Serverless,
) -> None:
    deployment_id = serverless.create_ok(max_instances=2, queue_size=2)
    ids = [serverless.infer_ok(deployment_id) for _ in range(6)]
    states = [serverless.status(deployment_id, rid) for rid in ids]
    assert [s["status"] for s in states] == ["in_progress"] * 2 + ["in_queue"] * 4
    first_instances = {states[0]["instance_id"], states[1]["instance_id"]}
    assert len(first_instances) == 2
    assert [s["queue_position"] for s in states[2:]] == [0, 1, 2, 3]
    full = serverless.infer(deployment_id)
    body = assert_error(full, 429, 429001)
    assert full.headers["retry-after"] == "10" and "queue_size" in body["detail"]
    serverless.advance(10)
    states = [serverless.status(deployment_id, rid) for rid in ids]
    assert [s["status"] for s in states] == ["succeeded"] * 2 + ["in_progress"] * 2 + ["in_queue"] * 2
    assert {s["instance_id"] for s in states[2:4]} == first_instances
    assert serverless.infer(deployment_id).status_code == 200  # room again
    serverless.advance(30)
    assert all(serverless.status(deployment_id, rid)["status"] == "succeeded" for rid in ids)


@COLD
def test_min_instances_boot_at_creation_and_take_requests_without_a_cold_start(
    serverless: Serverless,
) -> None:
    deployment_id = serverless.create_ok(min_instances=1, keep_warm_duration_in_seconds=0)
    assert serverless.live_phases(deployment_id) == ["booting"]
    serverless.advance(5)
    request_id = serverless.infer_ok(deployment_id)
    assert serverless.status(deployment_id, request_id)["status"] == "in_progress"
    serverless.advance(3600)
    assert serverless.live_phases(deployment_id) == ["idle"]  # min_instances stay warm, keep warm or not


@COLD
def test_keep_warm_holds_an_idle_instance_that_long_after_its_last_request(serverless: Serverless) -> None:
    deployment_id = serverless.create_ok(keep_warm_duration_in_seconds=30)
    first = serverless.infer_ok(deployment_id)
    serverless.advance(9)  # 5 s cold start, 4 s run
    assert serverless.status(deployment_id, first)["status"] == "succeeded"
    serverless.advance(29)
    assert serverless.live_phases(deployment_id) == ["idle"]
    warm = serverless.infer_ok(deployment_id)
    running = serverless.status(deployment_id, warm)
    assert running["status"] == "in_progress"  # no cold start
    instance_id = running["instance_id"]
    serverless.advance(4 + 30)
    assert serverless.live_phases(deployment_id) == []
    stopped = next(i for i in serverless.instances() if i["instance_id"] == instance_id)
    assert stopped["stopped_at"] - stopped["idle_since"] == 30
    cold_again = serverless.infer_ok(deployment_id)
    assert serverless.status(deployment_id, cold_again)["status"] == "in_queue"


@pytest.mark.emulator_config(cold_start_s=2, deployment_run_s=3)
def test_progress_is_a_function_of_time_however_often_it_is_read(serverless: Serverless) -> None:
    def timeline(step: float) -> list[tuple[Any, ...]]:
        serverless.emulator.control("POST", "reset")
        deployment_id = serverless.create_ok(max_instances=2, queue_size=3, keep_warm_duration_in_seconds=4)
        ids = [serverless.infer_ok(deployment_id) for _ in range(5)]
        elapsed = 0.0
        while elapsed < 40:
            serverless.advance(step)
            elapsed += step
        views = serverless.emulator.control("GET", "requests").json()["deployment_requests"]
        by_id = {view["request_id"]: view for view in views}
        instances = [(i["booted_at"], i["ready_at"], i["stopped_at"]) for i in serverless.instances()]
        return [(by_id[r]["started_at"], by_id[r]["finished_at"]) for r in ids] + instances

    assert timeline(40) == timeline(0.5)


@pytest.mark.emulator_config(cold_start_s=0, deployment_run_s=10)
def test_a_disabled_deployment_refuses_inference_and_drains_what_it_holds(serverless: Serverless) -> None:
    deployment_id = serverless.create_ok(min_instances=1, keep_warm_duration_in_seconds=5, queue_size=3)
    running, queued = serverless.infer_ok(deployment_id), serverless.infer_ok(deployment_id)
    serverless.patch(deployment_id, {"name": "test", "is_enabled": False})
    body = assert_error(serverless.infer(deployment_id), 409, 10002)
    assert "disabled" in body["error_message"].lower()
    serverless.advance(20)
    assert [serverless.status(deployment_id, rid)["status"] for rid in (running, queued)] == ["succeeded"] * 2
    serverless.advance(5)
    assert serverless.live_phases(deployment_id) == []  # a disabled deployment keeps no instance warm
    serverless.patch(deployment_id, {"name": "test", "is_enabled": True})
    assert serverless.live_phases(deployment_id) == ["idle"]  # cold start 0: min_instances are back at once


@pytest.mark.emulator_config(cold_start_s=0, deployment_run_s=10)
def test_cancel_in_each_state(serverless: Serverless) -> None:
    deployment_id = serverless.create_ok(queue_size=5)
    running, queued, later = (serverless.infer_ok(deployment_id) for _ in range(3))
    answer = serverless.call("cancel", deployment_id, queued)
    assert answer.status_code == 202
    assert answer.json() == {"request_id": queued, "status": "cancellation_requested"}
    assert serverless.status(deployment_id, queued)["status"] == "cancelled"
    assert serverless.status(deployment_id, later)["queue_position"] == 0

    serverless.advance(3)
    assert serverless.call("cancel", deployment_id, running).json()["status"] == "cancellation_requested"
    ended = serverless.result(deployment_id, running)
    assert ended["status"] == "cancelled" and ended["finished_at"] == "2027-01-15T08:00:03.000Z"
    assert serverless.status(deployment_id, later)["status"] == "in_progress"  # the freed instance took it

    serverless.advance(10)
    finished = serverless.call("cancel", deployment_id, later)
    assert finished.status_code == 200
    assert finished.json() == {"request_id": later, "status": "succeeded"}
    assert serverless.call("cancel", deployment_id, queued).json()["status"] == "cancelled"


@pytest.mark.emulator_config(cold_start_s=0, deployment_run_s=10)
def test_the_control_plane_fails_a_request_with_an_error_object(serverless: Serverless) -> None:
    deployment_id = serverless.create_ok()
    request_id = serverless.infer_ok(deployment_id)
    failed = serverless.emulator.control("POST", f"requests/{request_id}/fail", {"message": "GPU fell off"})
    assert failed.status_code == 200 and failed.json()["status"] == "failed"
    result = serverless.result(deployment_id, request_id)
    assert result["status"] == "failed" and result["outputs"] is None
    assert result["error"] == {"type": "model_error", "message": "GPU fell off"}
    assert serverless.emulator.control("POST", f"requests/{request_id}/fail", {}).status_code == 409


def test_deleting_cancels_what_was_queued_or_running_and_requests_stay_readable(
    serverless: Serverless,
) -> None:
    serverless.config(deployment_run_s=10)
    deployment_id = serverless.create_ok(queue_size=2)
    running, queued = serverless.infer_ok(deployment_id), serverless.infer_ok(deployment_id)
    serverless.delete(deployment_id)
    assert [serverless.status(deployment_id, rid)["status"] for rid in (running, queued)] == ["cancelled"] * 2
    assert serverless.live_phases(deployment_id) == []


@pytest.mark.parametrize("prefix", ["/prod/v1", "/prod/v2"])
def test_inference_status_result_and_cancel_answer_under_both_prefixes(
    serverless: Serverless, prefix: str
) -> None:
    deployment_id = serverless.create_ok()
    submitted = serverless.infer(deployment_id, prefix=prefix)
    assert submitted.status_code == 200
    body = submitted.json()
    assert set(body) == {"request_id", "status_url", "result_url", "cancel_url"}
    request_id = body["request_id"]
    base = f"{serverless.emulator.web}{prefix}/deployments/{deployment_id}/requests/{request_id}"
    assert (body["status_url"], body["result_url"], body["cancel_url"]) == (
        f"{base}/status",
        f"{base}/result",
        f"{base}/cancel",
    )
    status = serverless.status(deployment_id, request_id, prefix=prefix)
    assert status == {
        "request_id": request_id,
        "status": "succeeded",
        "status_url": f"{base}/status",
        "result_url": f"{base}/result",
    }
    result = serverless.result(deployment_id, request_id, prefix=prefix)
    assert set(result) == {
        "request_id",
        "deployment_id",
        "status",
        "outputs",
        "error",
        "created_at",
        "started_at",
        "finished_at",
    }
    assert serverless.call("cancel", deployment_id, request_id, prefix=prefix).json()["status"] == "succeeded"


def test_another_users_request_is_a_403_and_one_under_another_deployment_a_404(
    serverless: Serverless,
) -> None:
    mine, also_mine = serverless.create_ok(), serverless.create_ok()
    request_id = serverless.infer_ok(mine)
    other = serverless.emulator.other_token
    for verb in ("status", "result", "cancel"):
        assert_error(serverless.call(verb, mine, request_id, token=other), 403, 403003)
        assert_error(serverless.call(verb, also_mine, request_id), 404, 404001)
        assert_error(serverless.call(verb, mine, "no-such-request"), 404, 404001)


def test_the_control_plane_lists_deployment_requests_with_their_timelines(serverless: Serverless) -> None:
    deployment_id = serverless.create_ok()
    request_id = serverless.infer_ok(deployment_id, {"extra_data": {"trace": "t-1"}})
    listing = serverless.emulator.control("GET", "requests").json()
    assert listing["requests"] == []
    (view,) = listing["deployment_requests"]
    assert view["request_id"] == request_id and view["deployment_id"] == deployment_id
    assert view["status"] == "succeeded" and view["extra_data"] == {"trace": "t-1"}
    assert view["submitted_at"] == view["started_at"] == view["finished_at"]
    assert view["outputs"]["9"]["images"][0]["url"].startswith(serverless.emulator.web)
