"""The emulator test harness: a real emulator on loopback per test, with a frozen clock the test moves by hand.

Built on the test kit users get (:mod:`runcomfy.emulator.testkit`): this adds only the shorthand the contract
tests use for the Model API's calls and a second user's token. Kept out of ``conftest.py`` under a unique
module name so test modules can import its types without clashing with other test directories' conftest
modules."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from runcomfy.emulator.server import EmulatorServer
from runcomfy.emulator.testkit import RunningEmulator, running_emulator


@dataclass
class Emulator:
    running: RunningEmulator
    other_token: str

    @property
    def server(self) -> EmulatorServer:
        return self.running.server

    @property
    def token(self) -> str:
        return self.running.token

    @property
    def http(self) -> httpx.Client:
        return self.running.http

    @property
    def base(self) -> str:
        return self.running.model_api_base

    @property
    def web(self) -> str:
        return self.running.origin

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
        """A control-plane call as it answers (these tests check the refusals too)."""
        return self.running.control.request(method, path, body)

    def advance(self, seconds: float) -> None:
        self.running.control.clock.advance(seconds)


@contextlib.contextmanager
def started_emulator(**overrides: Any) -> Iterator[Emulator]:
    """An emulator with two users, each model's own run time and a frozen clock, unless ``overrides`` say
    otherwise (keyword arguments of ``running_emulator``)."""
    token, other = f"canary-{uuid.uuid4().hex}", f"other-{uuid.uuid4().hex}"
    options: dict[str, Any] = {"token": token, "tokens": [other], "frozen_clock": True, "durations": {}}
    with running_emulator(**{**options, **overrides}) as running:
        yield Emulator(running, other)
