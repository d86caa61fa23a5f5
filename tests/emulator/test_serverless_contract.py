"""The Serverless API's contract as a whole, over loopback: every call of the spec's table at its paths (with
the auth and ownership answers under both request prefixes), the queue-full rule on a cold deployment, a
balance exhausted by GPU seconds refusing new work in every API, output files as public as the Model API's,
and the final webhook of a cancelled request. The other serverless test modules go deeper into each part."""

from __future__ import annotations

import pytest
from serverless_harness import Serverless, assert_error, webhook_receiver

from runcomfy.emulator.billing import PRICES_USD_PER_S

GPT = "openai/gpt-image-2/text-to-image"  # $0.05 a request

# The spec's table: (method, path under the origin). CRUD, balance and the proxy under /prod/v2 only;
# inference, status, result and cancel under both /prod/v1 and /prod/v2.
REQUEST_CALLS = [
    ("POST", "{prefix}/deployments/{d}/inference"),
    ("GET", "{prefix}/deployments/{d}/requests/{r}/status"),
    ("GET", "{prefix}/deployments/{d}/requests/{r}/result"),
    ("POST", "{prefix}/deployments/{d}/requests/{r}/cancel"),
]
V2_CALLS = [
    ("GET", "/prod/v2/deployments"),
    ("POST", "/prod/v2/deployments"),
    ("GET", "/prod/v2/deployments/{d}"),
    ("PATCH", "/prod/v2/deployments/{d}"),
    ("DELETE", "/prod/v2/deployments/{d}"),
    ("GET", "/prod/v2/balance"),
    ("POST", "/prod/v2/deployments/{d}/instances/{i}/proxy/api/free"),
]
EVERY_CALL = V2_CALLS + [
    (method, path.replace("{prefix}", prefix))
    for prefix in ("/prod/v1", "/prod/v2")
    for method, path in REQUEST_CALLS
]


@pytest.mark.emulator_config(cold_start_s=0, deployment_run_s=30)
@pytest.mark.parametrize(("method", "path"), EVERY_CALL)
def test_every_call_of_the_table_is_routed_and_needs_a_known_token(
    serverless: Serverless, method: str, path: str
) -> None:
    deployment_id = serverless.create_ok()
    request_id = serverless.infer_ok(deployment_id)
    instance_id = serverless.status(deployment_id, request_id)["instance_id"]
    url = serverless.emulator.web + path.format(d=deployment_id, r=request_id, i=instance_id)
    body = {"name": "renamed"} if method == "PATCH" else {}
    for headers in ({}, serverless.auth("not-a-known-token")):
        assert_error(serverless.http.request(method, url, json=body, headers=headers), 401, 401001)
    answered = serverless.http.request(method, url, json=body, headers=serverless.auth())
    assert answered.status_code in (200, 202, 422), answered.text  # routed: never a 404 or a 405


@pytest.mark.parametrize("prefix", ["/prod/v1", "/prod/v2"])
def test_another_users_request_is_403003_and_an_unknown_one_404001_under_both_prefixes(
    serverless: Serverless, prefix: str
) -> None:
    mine = serverless.create_ok()
    request_id = serverless.infer_ok(mine, prefix=prefix)
    other = serverless.emulator.other_token
    theirs = serverless.create_ok(token=other)
    for verb in ("status", "result", "cancel"):
        assert_error(serverless.call(verb, mine, request_id, token=other, prefix=prefix), 403, 403003)
        assert_error(serverless.call(verb, theirs, request_id, prefix=prefix), 403, 403003)
        assert_error(serverless.call(verb, mine, "no-such-request", prefix=prefix), 404, 404001)
    assert_error(serverless.infer(theirs, prefix=prefix), 403, 403003)
    assert serverless.status(mine, request_id, prefix=prefix)["status"] == "succeeded"  # not cancelled


@pytest.mark.emulator_config(cold_start_s=5, deployment_run_s=10)
@pytest.mark.parametrize("prefix", ["/prod/v1", "/prod/v2"])
def test_a_full_queue_is_a_429_with_retry_after_and_waiting_for_a_cold_start_counts_as_waiting(
    serverless: Serverless, prefix: str
) -> None:
    deployment_id = serverless.create_ok(max_instances=1, queue_size=1)
    first = serverless.infer_ok(deployment_id, prefix=prefix)  # waits for the instance to boot
    assert serverless.status(deployment_id, first)["queue_position"] == 0
    full = serverless.infer(deployment_id, prefix=prefix)
    body = assert_error(full, 429, 429001)
    assert full.headers["retry-after"] == "10" and "queue_size" in body["detail"]
    serverless.advance(5)  # warm: the first runs, so one more may wait
    assert serverless.status(deployment_id, first)["status"] == "in_progress"
    second = serverless.infer_ok(deployment_id, prefix=prefix)
    assert serverless.status(deployment_id, second)["queue_position"] == 0
    assert_error(serverless.infer(deployment_id, prefix=prefix), 429, 429001)
    serverless.advance(20)
    assert serverless.status(deployment_id, second)["status"] == "succeeded"


@pytest.mark.emulator_config(cold_start_s=0, deployment_run_s=100, balance_usd=0.05)
def test_gpu_seconds_that_exhaust_the_balance_refuse_new_work_in_every_api(serverless: Serverless) -> None:
    emulator = serverless.emulator
    deployment_id = serverless.create_ok(hardware=["HOPPER_141"], queue_size=2)
    running, queued = serverless.infer_ok(deployment_id), serverless.infer_ok(deployment_id)
    serverless.advance(100)  # 100 s on a HOPPER_141 costs more than the $0.05 there was
    assert serverless.status(deployment_id, running)["status"] == "succeeded"
    assert serverless.balance() == pytest.approx(0.05 - 100 * PRICES_USD_PER_S["HOPPER_141"])
    assert serverless.balance() < 0
    for prefix in ("/prod/v1", "/prod/v2"):
        body = assert_error(serverless.infer(deployment_id, prefix=prefix), 402, 10001)
        assert "balance" in body["error_message"].lower() or "funds" in body["error_message"].lower()
    assert_error(emulator.submit(GPT, {"prompt": "a fox"}), 402, 10001)
    assert serverless.status(deployment_id, queued)["status"] == "in_progress"  # admitted work still runs
    assert serverless.http.get(f"{serverless.base}/balance", headers=serverless.auth()).json() == {
        "balance_usd": serverless.balance(),
        "currency": "USD",
    }
    assert serverless.infer(deployment_id, token=emulator.other_token).status_code == 403  # not their wallet
    other_deployment = serverless.create_ok(token=emulator.other_token)
    assert serverless.infer(other_deployment, token=emulator.other_token).status_code == 200
    emulator.running.control.call("POST", "balance", {"balance_usd": 1, "token": emulator.token})
    assert serverless.infer(deployment_id).status_code == 200  # topped up through the control plane


@pytest.mark.emulator_config(balance_usd=0.05)
def test_a_model_api_submit_is_charged_the_models_base_price_and_refused_below_it(
    serverless: Serverless,
) -> None:
    emulator = serverless.emulator
    price = emulator.http.get(f"{emulator.base}/models/{GPT}", headers=emulator.auth()).json()
    assert price["base_price_usd"] == 0.05
    emulator.submit_ok(GPT, {"prompt": "exactly affordable"})
    assert serverless.balance() == 0
    assert_error(emulator.submit(GPT, {"prompt": "one too many"}), 402, 10001)
    deployment_id = serverless.create_ok()
    assert_error(serverless.infer(deployment_id), 402, 10001)  # one wallet for every API


def test_output_files_are_public_like_the_model_apis_and_only_once_the_request_succeeded(
    serverless: Serverless,
) -> None:
    emulator = serverless.emulator
    deployment_id = serverless.create_ok()
    request_id = serverless.infer_ok(deployment_id)
    url = serverless.result(deployment_id, request_id)["outputs"]["9"]["images"][0]["url"]
    model_request = emulator.submit_ok(GPT, {"prompt": "a fox"})
    serverless.advance(3600)  # the model's own run time
    model_url = emulator.result(model_request).json()["output"]["images"][0]
    for file_url in (url, model_url):
        anonymous = serverless.http.get(file_url)
        assert anonymous.status_code == 200 and anonymous.content[:8] == b"\x89PNG\r\n\x1a\n"
        theirs = serverless.http.get(file_url, headers=serverless.auth(emulator.other_token))
        assert theirs.content == anonymous.content
    serverless.config(deployment_run_s=30)
    unfinished = serverless.infer_ok(deployment_id)
    assert_error(serverless.http.get(url.replace(request_id, unfinished)), 404, 404001)


@pytest.mark.emulator_config(cold_start_s=0, deployment_run_s=30)
def test_a_cancelled_request_sends_its_final_callback_and_ends_cancelled(serverless: Serverless) -> None:
    deployment_id = serverless.create_ok()
    with webhook_receiver() as receiver:
        request_id = serverless.infer_ok(deployment_id, prefix="/prod/v1", params={"webhook": receiver.url})
        serverless.advance(3)
        answer = serverless.call("cancel", deployment_id, request_id, prefix="/prod/v1")
        assert answer.json()["status"] == "cancellation_requested"
        (callback,) = receiver.wait_for_count(1)
        assert (callback["request_id"], callback["status"]) == (request_id, "cancelled")
        assert callback["finished_at"] == "2027-01-15T08:00:03.000Z" and "outputs" not in callback
    result = serverless.result(deployment_id, request_id)
    assert (result["status"], result["outputs"]) == ("cancelled", None)


@pytest.mark.emulator_config(cold_start_s=0, deployment_run_s=2)
def test_the_cold_start_is_changed_through_the_control_plane_for_instances_booted_from_then_on(
    serverless: Serverless,
) -> None:
    deployment_id = serverless.create_ok(keep_warm_duration_in_seconds=0)
    assert serverless.status(deployment_id, serverless.infer_ok(deployment_id))["status"] == "in_progress"
    serverless.advance(2)
    assert serverless.live_phases(deployment_id) == []  # keep warm 0: stopped when its request ended
    assert serverless.config(cold_start_s=7)["cold_start_s"] == 7
    request_id = serverless.infer_ok(deployment_id)
    serverless.advance(6.5)
    assert serverless.status(deployment_id, request_id)["status"] == "in_queue"
    serverless.advance(0.5)
    running = serverless.status(deployment_id, request_id)
    assert running["status"] == "in_progress"
    booted = next(i for i in serverless.instances() if i["instance_id"] == running["instance_id"])
    assert booted["ready_at"] - booted["booted_at"] == 7
