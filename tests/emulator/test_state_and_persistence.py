"""The queue model without HTTP, and SQLite persistence across restarts."""

from __future__ import annotations

import httpx

from runcomfy.emulator.catalog import CATALOG
from runcomfy.emulator.clock import Clock, FrozenTime
from runcomfy.emulator.server import EmulatorConfig, EmulatorServer, build_state
from runcomfy.emulator.state import EmulatorState
from runcomfy.emulator.store import SqliteStore

SLOW = CATALOG["runcomfy/emulator/slow"]
ECHO = CATALOG["runcomfy/emulator/echo"]


def make_state(workers: int = 2, **kwargs) -> tuple[EmulatorState, FrozenTime]:
    time = FrozenTime()
    state = EmulatorState(clock=Clock(base=time), workers=workers, **kwargs)
    return state, time


def test_workers_start_queued_requests_in_fifo_order_as_they_free_up() -> None:
    state, time = make_state(workers=2)
    owner = state.add_static_token("t")
    jobs = [state.submit(owner, SLOW, {"seconds": s}) for s in (10, 20, 5, 5)]
    assert [j.status for j in jobs] == ["in_progress", "in_progress", "in_queue", "in_queue"]
    time.now += 10
    state.advance()
    assert [j.status for j in jobs] == ["completed", "in_progress", "in_progress", "in_queue"]
    assert jobs[2].started_at == jobs[0].finished_at
    time.now += 100  # one read long after: the whole timeline is replayed correctly
    state.advance()
    assert [j.status for j in jobs] == ["completed"] * 4
    assert jobs[3].started_at == jobs[2].finished_at == jobs[0].finished_at + 5


def test_zero_duration_completes_at_once_and_the_slow_model_reads_seconds() -> None:
    state, _ = make_state(durations={"runcomfy/emulator/echo": 0})
    owner = state.add_static_token("t")
    assert state.submit(owner, ECHO, {"a": 1}).status == "completed"
    assert state.submit(owner, SLOW, {"seconds": 3}).duration_s == 3


def test_star_duration_applies_to_every_model_without_its_own() -> None:
    state, _ = make_state(durations={"*": 0, "runcomfy/emulator/slow": 9})
    owner = state.add_static_token("t")
    assert (
        state.submit(owner, CATALOG["openai/gpt-image-2/text-to-image"], {"prompt": "x"}).status
        == "completed"
    )
    assert state.submit(owner, SLOW, {}).duration_s == 9


def test_tokens_are_stored_only_as_digests(tmp_path) -> None:
    db = tmp_path / "emu.db"
    state = EmulatorState(store=SqliteStore(db))
    state.add_static_token("super-secret-token-value")
    state.store.close()
    assert b"super-secret-token-value" not in db.read_bytes()


def test_a_restart_with_db_keeps_requests_tokens_and_progress(tmp_path) -> None:
    db = tmp_path / "state" / "emu.db"
    time = FrozenTime()
    config = EmulatorConfig(port=0, tokens=["static-token"], db=db, durations={"runcomfy/emulator/slow": 30})
    with EmulatorServer(build_state(config, Clock(base=time))) as server, httpx.Client() as http:
        start = http.post(f"{server.origin}/api/cli-auth/start").json()
        http.post(f"{server.origin}/cli-auth", data={"user_code": start["user_code"], "action": "authorize"})
        minted = http.post(f"{server.origin}/api/cli-auth/poll", json={"device_code": start["device_code"]})
        token = minted.json()["access_token"]
        rid = http.post(
            f"{server.model_api_base}/models/runcomfy/emulator/slow",
            json={},
            headers={"Authorization": f"Bearer {token}"},
        ).json()["request_id"]
    time.now += 31
    restarted = EmulatorConfig(port=0, db=db)  # no --token this time: both tokens come from the db
    with EmulatorServer(build_state(restarted, Clock(base=time))) as server, httpx.Client() as http:
        status = http.get(
            f"{server.model_api_base}/requests/{rid}/status", headers={"Authorization": f"Bearer {token}"}
        )
        assert status.json()["status"] == "completed"
        assert status.json()["status_url"].startswith(server.origin)  # URLs follow the new port
        me = http.get(f"{server.origin}/api/auth/me", headers={"Authorization": "Bearer static-token"})
        assert me.status_code == 200
