"""The balance over loopback: its shape, what is charged (GPU seconds per SKU, a model's price per request),
refunds, new work refused once it cannot be paid for, and the control plane's ``/_emulator/balance``."""

from __future__ import annotations

import pytest
from serverless_harness import Serverless, assert_error

from runcomfy.emulator.billing import PRICES_USD_PER_S
from runcomfy.emulator.hardware import SKUS

GPT = "openai/gpt-image-2/text-to-image"  # $0.05 a request
VIDEO = "wan-ai/wan-2-2/text-to-video"  # $0.40 a request


def test_balance_answers_usd_for_the_callers_account(serverless: Serverless) -> None:
    response = serverless.http.get(f"{serverless.base}/balance", headers=serverless.auth())
    assert response.status_code == 200
    assert response.json() == {"balance_usd": 100.0, "currency": "USD"}


def test_every_sku_has_a_price_and_a_faster_gpu_costs_more() -> None:
    assert set(PRICES_USD_PER_S) == set(SKUS)
    prices = [PRICES_USD_PER_S[sku] for sku in SKUS]
    assert prices == sorted(prices) and all(price > 0 for price in prices)


@pytest.mark.emulator_config(cold_start_s=5, deployment_run_s=100)
@pytest.mark.parametrize("sku", ["TURING_16", "HOPPER_141"])
def test_a_deployment_request_is_charged_its_gpu_seconds_at_its_skus_price(
    serverless: Serverless, sku: str
) -> None:
    deployment_id = serverless.create_ok(hardware=[sku])
    request_id = serverless.infer_ok(deployment_id)
    serverless.advance(5 + 50)
    assert serverless.balance() == 100.0  # charged when it ends; the cold start is free
    serverless.advance(50)
    assert serverless.status(deployment_id, request_id)["status"] == "succeeded"
    assert serverless.balance() == pytest.approx(100 - 100 * PRICES_USD_PER_S[sku])
    (charge,) = serverless.emulator.control("GET", "balance").json()["charges"]
    assert charge | {"ref": request_id, "kind": "deployment", "refunded": False} == charge


@pytest.mark.emulator_config(cold_start_s=0, deployment_run_s=100)
def test_a_cancelled_request_pays_for_the_seconds_it_ran_and_a_queued_one_for_none(
    serverless: Serverless,
) -> None:
    deployment_id = serverless.create_ok(queue_size=2)
    running, queued = serverless.infer_ok(deployment_id), serverless.infer_ok(deployment_id)
    serverless.advance(40)
    serverless.call("cancel", deployment_id, queued)
    serverless.call("cancel", deployment_id, running)
    assert serverless.balance() == pytest.approx(100 - 40 * PRICES_USD_PER_S["AMPERE_48"])


def test_a_model_api_request_is_charged_its_price_when_submitted_and_refunded_if_cancelled_unrun(
    serverless: Serverless,
) -> None:
    emulator = serverless.emulator
    emulator.control("POST", "config", {"workers": 1, "durations": {GPT: 10}})
    emulator.submit_ok(GPT, {"prompt": "a fox"})
    queued = emulator.submit_ok(GPT, {"prompt": "an owl"})
    assert serverless.balance() == pytest.approx(100 - 2 * 0.05)
    assert emulator.cancel(queued).json()["outcome"] == "cancelled"
    assert serverless.balance() == pytest.approx(100 - 0.05)
    assert serverless.balance(emulator.other_token) == 100.0  # one wallet per user


@pytest.mark.emulator_config(balance_usd=0.5)
def test_new_work_is_refused_with_402_once_the_balance_cannot_pay(serverless: Serverless) -> None:
    emulator = serverless.emulator
    assert serverless.balance() == 0.5
    emulator.submit_ok(VIDEO, {"prompt": "waves"})
    body = assert_error(emulator.submit(VIDEO, {"prompt": "more waves"}), 402, 10001)
    assert "$0.10" in body["detail"] and "$0.40" in body["detail"]
    emulator.submit_ok(GPT, {"prompt": "still affordable"})
    deployment_id = serverless.create_ok()
    serverless.emulator.running.control.call("POST", "balance", {"balance_usd": 0, "token": emulator.token})
    assert_error(serverless.infer(deployment_id), 402, 10001)
    assert_error(serverless.infer(deployment_id, prefix="/prod/v1"), 402, 10001)
    assert_error(emulator.submit(GPT, {"prompt": "x"}), 402, 10001)
    assert serverless.get(deployment_id).status_code == 200  # reading and managing stay free
    assert serverless.infer(deployment_id, token=emulator.other_token).status_code == 403


def test_the_control_plane_sets_one_accounts_balance_or_every_accounts(serverless: Serverless) -> None:
    control = serverless.emulator.running.control
    emulator = serverless.emulator
    mine = control.call("POST", "balance", {"balance_usd": 5, "token": emulator.token})
    assert {b["balance_usd"] for b in mine["balances"]} == {5}
    assert (serverless.balance(), serverless.balance(emulator.other_token)) == (5, 100)
    everyone = control.call("POST", "balance", {"balance_usd": 2.5})
    assert everyone["starting_balance_usd"] == 2.5
    assert (serverless.balance(), serverless.balance(emulator.other_token)) == (2.5, 2.5)
    newcomer = "newcomer-token"
    control.add_token(newcomer)
    assert serverless.balance(newcomer) == 2.5
    for bad in ({"balance_usd": -1}, {"balance_usd": "5"}, {"balance_usd": 5, "token": "unknown"}, []):
        assert control.request("POST", "balance", bad).status_code == 400
    control.reset()
    assert serverless.balance() == 100.0


def test_the_starting_balance_can_be_set_in_the_config(serverless: Serverless) -> None:
    assert serverless.config(balance_usd=7)["balance_usd"] == 7
    assert serverless.balance() == 7
