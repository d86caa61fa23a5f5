"""Shorthand for the Serverless API's contract tests: deployment calls over real loopback HTTP, and a webhook
receiver on loopback that records what it is sent and answers as told.

Kept apart from ``conftest.py`` under a unique module name, like ``emulator_harness.py``."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from emulator_harness import Emulator

TEXT_TO_IMAGE = "7e57c0de-0000-4000-8000-000000000001"
ANIMATION = "7e57c0de-0000-4000-8000-000000000002"
WAIT_S = 10.0


@dataclass
class Serverless:
    """The Serverless API of one test's emulator."""

    emulator: Emulator

    @property
    def base(self) -> str:
        return self.emulator.running.serverless_api_base

    @property
    def http(self) -> httpx.Client:
        return self.emulator.http

    def auth(self, token: str | None = None) -> dict[str, str]:
        return self.emulator.auth(token)

    def create(self, token: str | None = None, **fields: Any) -> httpx.Response:
        body = {"name": "test", "workflow_id": TEXT_TO_IMAGE, "workflow_version": "v1", **fields}
        return self.http.post(f"{self.base}/deployments", json=body, headers=self.auth(token))

    def create_ok(self, token: str | None = None, **fields: Any) -> str:
        response = self.create(token, **fields)
        assert response.status_code == 200, response.text
        return str(response.json()["id"])

    def get(self, deployment_id: str, token: str | None = None, **params: Any) -> httpx.Response:
        return self.http.get(
            f"{self.base}/deployments/{deployment_id}", params=params, headers=self.auth(token)
        )

    def patch(self, deployment_id: str, body: Any, token: str | None = None) -> httpx.Response:
        return self.http.patch(
            f"{self.base}/deployments/{deployment_id}", json=body, headers=self.auth(token)
        )

    def delete(self, deployment_id: str, token: str | None = None) -> httpx.Response:
        return self.http.delete(f"{self.base}/deployments/{deployment_id}", headers=self.auth(token))

    def infer(
        self,
        deployment_id: str,
        body: Any = None,
        token: str | None = None,
        prefix: str = "/prod/v2",
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        url = f"{self.emulator.web}{prefix}/deployments/{deployment_id}/inference"
        return self.http.post(url, json={} if body is None else body, params=params, headers=self.auth(token))

    def infer_ok(self, deployment_id: str, body: Any = None, **options: Any) -> str:
        response = self.infer(deployment_id, body, **options)
        assert response.status_code == 200, response.text
        return str(response.json()["request_id"])

    def call(
        self,
        verb: str,
        deployment_id: str,
        request_id: str,
        token: str | None = None,
        prefix: str = "/prod/v2",
    ) -> httpx.Response:
        url = f"{self.emulator.web}{prefix}/deployments/{deployment_id}/requests/{request_id}/{verb}"
        method = "POST" if verb == "cancel" else "GET"
        return self.http.request(method, url, headers=self.auth(token))

    def status(self, deployment_id: str, request_id: str, **options: Any) -> dict[str, Any]:
        response = self.call("status", deployment_id, request_id, **options)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def result(self, deployment_id: str, request_id: str, **options: Any) -> dict[str, Any]:
        response = self.call("result", deployment_id, request_id, **options)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def proxy(
        self, deployment_id: str, instance_id: str, path: str, token: str | None = None
    ) -> httpx.Response:
        url = f"{self.base}/deployments/{deployment_id}/instances/{instance_id}/proxy/{path}"
        return self.http.post(url, json={}, headers=self.auth(token))

    def balance(self, token: str | None = None) -> float:
        response = self.http.get(f"{self.base}/balance", headers=self.auth(token))
        assert response.status_code == 200, response.text
        return float(response.json()["balance_usd"])

    def instances(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.emulator.running.control.call("GET", "instances")["instances"]
        return found

    def live_phases(self, deployment_id: str) -> list[str]:
        return [
            i["phase"]
            for i in self.instances()
            if i["deployment_id"] == deployment_id and i["phase"] != "stopped"
        ]

    def config(self, **settings: Any) -> dict[str, Any]:
        answer: dict[str, Any] = self.emulator.running.control.call("POST", "config", settings)
        return answer

    def advance(self, seconds: float) -> None:
        self.emulator.advance(seconds)


def assert_error(response: httpx.Response, status: int, error_code: int) -> dict[str, Any]:
    """A response in the service's error shape with this status and code."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error_code", "error_message", "detail"}
    assert body["error_code"] == error_code
    return body


def locs(response: httpx.Response) -> list[list[Any]]:
    """The ``loc`` of every problem in a 422."""
    body = assert_error(response, 422, 422001)
    return [problem["loc"] for problem in body["detail"]]


def wait_for(condition: Callable[[], Any], what: str, timeout_s: float = WAIT_S) -> Any:
    """Poll ``condition`` until it is truthy (its value is returned), or fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@dataclass
class Receiver:
    """A webhook receiver on loopback: every POST's JSON body is recorded; answers come from ``statuses``
    (one per request, then 200), after ``delay_s``."""

    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    delay_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bodies(self, status: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [body for body in self.received if status is None or body["status"] == status]

    def wait_for_count(self, count: int) -> list[dict[str, Any]]:
        return list(wait_for(lambda: len(self.bodies()) >= count and self.bodies(), f"{count} callbacks"))


@contextmanager
def webhook_receiver() -> Iterator[Receiver]:
    """A receiver on a free loopback port for the ``with`` block."""
    receiver = Receiver("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = json.loads(self.rfile.read(length))
            with receiver.lock:
                receiver.received.append(body)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
            time.sleep(receiver.delay_s)
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/runcomfy"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
