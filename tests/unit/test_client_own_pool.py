"""Client.with_own_pool(): the same client on a connection pool of its own, as each batch worker gets."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from runcomfy import Client
from runcomfy.emulator.probes import ECHO_ID
from runcomfy.emulator.testkit import running_emulator
from runcomfy.journal import Journal


def test_a_copy_with_its_own_pool_keeps_the_settings_and_is_closed_apart() -> None:
    with running_emulator() as emulator:
        original = Client(
            emulator.token, model_api_base=emulator.model_api_base, web_base=emulator.web_base, env={}
        )
        gated = original.with_options(retry_window_s=5)
        twin = gated.with_own_pool()

        assert twin.context.http is not original.context.http  # a session, hence a pool, of its own
        assert twin.secrets == original.secrets and twin.retry_policy.outage_window_s == 5
        request_id = twin.submit(ECHO_ID, {"prompt": "hi"}).request_id
        assert twin.handle(request_id).wait().ok
        twin.close()  # closes its own pool only...
        assert original.handle(request_id).wait().ok
        original.close()


def test_a_client_given_a_transport_shares_it_instead() -> None:
    def api(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"request_id": "req-1", "status": "completed"})

    original = Client("rc-test-token", transport=httpx.MockTransport(api), env={})
    twin = original.with_own_pool()
    assert twin.context.http is original.context.http
    twin.close()  # a copy that shares the session leaves it open
    assert original.status("req-1").raw == "completed"
    original.close()


def test_a_batch_closes_the_pools_of_its_workers_when_it_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed: list[Client] = []
    real_close = Client.close

    def close(self: Client) -> None:
        closed.append(self)
        real_close(self)

    monkeypatch.setattr(Client, "close", close)
    with running_emulator() as emulator:
        client = Client(
            emulator.token, model_api_base=emulator.model_api_base, web_base=emulator.web_base, env={}
        )
        records = client.run_many(
            ECHO_ID,
            [{"prompt": f"p{n}"} for n in range(6)],
            concurrency=3,
            output_dir=tmp_path / "out",
            journal=Journal(tmp_path / "journal.sqlite3"),
            poll_interval_s=0.1,
        )
        assert [record.status for record in records] == ["completed"] * 6
        assert len(closed) == 3  # one pool per worker, each closed once every line had its record
        assert client.status(records[0].request_id or "").raw == "completed"  # the caller's own pool is open
        client.close()
