"""The emulator test harness: a real emulator on loopback per test, with a clock the test moves by hand.

Kept out of ``conftest.py`` under a unique module name so test modules can import its types without clashing
with other test directories' conftest modules."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from runcomfy.emulator.server import EmulatorConfig, EmulatorServer, build_state
from runcomfy.emulator.state import Clock


class ManualClock:
    """Time that only moves when the test says so."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@dataclass
class Emulator:
    server: EmulatorServer
    token: str
    other_token: str
    time: ManualClock
    http: httpx.Client

    @property
    def base(self) -> str:
        return self.server.model_api_base

    @property
    def web(self) -> str:
        return self.server.origin

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}

    def submit(self, model_id: str, body: Any, token: str | None = None) -> httpx.Response:
        return self.http.post(f"{self.base}/models/{model_id}", json=body, headers=self.auth(token))

    def submit_ok(self, model_id: str, body: Any, token: str | None = None) -> str:
        response = self.submit(model_id, body, token)
        assert response.status_code == 200, response.text
        return str(response.json()["request_id"])

    def status(self, request_id: str, token: str | None = None) -> httpx.Response:
        return self.http.get(f"{self.base}/requests/{request_id}/status", headers=self.auth(token))

    def result(self, request_id: str, token: str | None = None) -> httpx.Response:
        return self.http.get(f"{self.base}/requests/{request_id}/result", headers=self.auth(token))

    def cancel(self, request_id: str, token: str | None = None) -> httpx.Response:
        return self.http.post(f"{self.base}/requests/{request_id}/cancel", headers=self.auth(token))

    def control(self, method: str, path: str, body: Any = None) -> httpx.Response:
        url = f"{self.web}/_emulator/{path}" if path else f"{self.web}/_emulator"
        return self.http.request(method, url, json=body)

    def advance(self, seconds: float) -> None:
        self.time.now += seconds


def start_emulator(**overrides: Any) -> Emulator:
    token, other = f"canary-{uuid.uuid4().hex}", f"other-{uuid.uuid4().hex}"
    time = ManualClock()
    config = EmulatorConfig(port=0, tokens=[token, other], **overrides)
    server = EmulatorServer(build_state(config, clock=Clock(base=time)), port=0).start()
    return Emulator(server, token, other, time, httpx.Client(timeout=30))
