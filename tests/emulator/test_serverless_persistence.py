"""The Serverless API's state across restarts with ``--db``, across a reset, and the example deployment a
``--local`` state starts with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from runcomfy.emulator.clock import Clock, FrozenTime
from runcomfy.emulator.server import EmulatorConfig, EmulatorServer, build_state
from runcomfy.emulator.serverless import EXAMPLE_DEPLOYMENT_ID, EXAMPLE_DEPLOYMENT_NAME
from runcomfy.emulator.testkit import running_emulator
from runcomfy.emulator.workflows import TEXT_TO_IMAGE_ID

TOKEN = "static-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def serve(db: Path, time: FrozenTime, **config: Any) -> EmulatorServer:
    settings = EmulatorConfig(port=0, tokens=[TOKEN], db=db, cold_start_s=5, deployment_run_s=30, **config)
    return EmulatorServer(build_state(settings, Clock(base=time)))


def test_a_restart_with_db_keeps_deployments_requests_instances_and_balances(tmp_path: Path) -> None:
    db, time = tmp_path / "emu.db", FrozenTime()
    with serve(db, time) as server, httpx.Client() as http:
        base = server.serverless_api_base
        body = {"name": "kept", "workflow_id": TEXT_TO_IMAGE_ID, "workflow_version": "v1", "queue_size": 2}
        deployment_id = http.post(f"{base}/deployments", json=body, headers=AUTH).json()["id"]
        first = http.post(f"{base}/deployments/{deployment_id}/inference", json={}, headers=AUTH).json()
        second = http.post(f"{base}/deployments/{deployment_id}/inference", json={}, headers=AUTH).json()
        http.post(f"{server.origin}/_emulator/balance", json={"balance_usd": 50, "token": TOKEN})
    time.advance(5 + 30 + 10)  # while nothing runs: the first ends, the second is 10 s into its run
    with serve(db, time) as server, httpx.Client() as http:
        base = server.serverless_api_base
        assert http.get(f"{base}/deployments/{deployment_id}", headers=AUTH).json()["name"] == "kept"
        requests = f"{base}/deployments/{deployment_id}/requests"
        done = http.get(f"{requests}/{first['request_id']}/result", headers=AUTH).json()
        assert done["status"] == "succeeded"
        assert done["outputs"]["9"]["images"][0]["url"].startswith(server.origin)  # URLs follow the new port
        running = http.get(f"{requests}/{second['request_id']}/status", headers=AUTH).json()
        assert running["status"] == "in_progress"
        assert http.get(f"{base}/balance", headers=AUTH).json()["balance_usd"] == 50 - 30 * 0.00055
        instances = http.get(f"{server.origin}/_emulator/instances").json()["instances"]
        assert [i["phase"] for i in instances] == ["busy"]


def test_the_example_deployment_exists_in_a_fresh_state_for_the_first_token(tmp_path: Path) -> None:
    db, time = tmp_path / "local.db", FrozenTime()
    with serve(db, time, seed_example_deployment=True) as server, httpx.Client() as http:
        base = server.serverless_api_base
        (example,) = http.get(f"{base}/deployments", headers=AUTH).json()
        assert (
            example
            | {
                "id": EXAMPLE_DEPLOYMENT_ID,
                "name": EXAMPLE_DEPLOYMENT_NAME,
                "workflow_id": TEXT_TO_IMAGE_ID,
                "workflow_version": "v1",
                "is_enabled": True,
            }
            == example
        )
        request_id = http.post(
            f"{base}/deployments/{EXAMPLE_DEPLOYMENT_ID}/inference",
            json={"overrides": {"6": {"inputs": {"text": "a lighthouse"}}}},
            headers=AUTH,
        ).json()["request_id"]
        http.delete(f"{base}/deployments/{EXAMPLE_DEPLOYMENT_ID}", headers=AUTH)
    with serve(db, time, seed_example_deployment=True) as server, httpx.Client() as http:
        base = server.serverless_api_base
        assert http.get(f"{base}/deployments", headers=AUTH).json() == []  # deleted stays deleted
        status = http.get(
            f"{base}/deployments/{EXAMPLE_DEPLOYMENT_ID}/requests/{request_id}/status", headers=AUTH
        )
        assert status.json()["status"] == "cancelled"  # deleting cancelled it while it was queued


def test_a_reset_clears_deployments_and_makes_the_example_again() -> None:
    with running_emulator(seed_example_deployment=True, tokens=["someone-else"]) as emulator:
        auth = {"Authorization": f"Bearer {emulator.token}"}
        base = emulator.serverless_api_base
        body = {"name": "mine", "workflow_id": TEXT_TO_IMAGE_ID, "workflow_version": "v2"}
        emulator.http.post(f"{base}/deployments", json=body, headers=auth)
        assert len(emulator.http.get(f"{base}/deployments", headers=auth).json()) == 2
        others = emulator.http.get(f"{base}/deployments", headers={"Authorization": "Bearer someone-else"})
        assert others.json() == []
        emulator.control.reset()
        listed = emulator.http.get(f"{base}/deployments", headers=auth).json()
        assert [d["id"] for d in listed] == [EXAMPLE_DEPLOYMENT_ID]
        assert emulator.control.call("GET", "requests")["deployment_requests"] == []
