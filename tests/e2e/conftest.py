"""Fixtures of the end-to-end tests (the harness itself is in ``cli_harness.py``).

The emulator comes from the test kit users get, with the clock the command-line tests need: it runs with the
wall clock (a command's polls see requests progress) and jumps when a test advances it.

Each test worker keeps one emulator and resets it (``POST /_emulator/reset``: requests, deployments, datasets,
logins, faults, calls, config changes and the clock offset are forgotten) before every test, instead of starting
and stopping one per test (a third of a second each, over hundreds of tests). Each test still has its own
canary token (a user of its own) and its own home. An emulator still answering a call when its test ends (a
latency fault outliving the command it stalled) could act on the next test's state, so it is stopped and the
next test gets a new one.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cli_harness import CLI

from runcomfy.emulator.control_client import ControlClient
from runcomfy.emulator.testkit import RunningEmulator, running_emulator


class EmulatorPool:
    """The worker's emulator: made on first use, reused while it is idle at the end of each test.

    Tests reach it through a client that opens a connection per call: a kept-alive connection left idle for
    the server's keep-alive timeout (a long command, or the gap between two tests) can be closed by the server
    just as it is reused, failing the call with "connection reset".
    """

    def __init__(self) -> None:
        self._running: contextlib.ExitStack | None = None
        self._view: RunningEmulator | None = None
        self._http = httpx.Client(timeout=30, limits=httpx.Limits(max_keepalive_connections=0))

    def take(self) -> RunningEmulator:
        if self._view is None:
            self._running = contextlib.ExitStack()
            emulator = self._running.enter_context(
                running_emulator(durations={"*": 0}, device_poll_interval_s=1)
            )
            control = ControlClient(emulator.server.origin, self._http)
            self._view = RunningEmulator(emulator.server, emulator.token, self._http, control)
        self._view.control.reset()
        return self._view

    def give_back(self, emulator: RunningEmulator) -> None:
        if any(call.status is None for call in emulator.control.calls.list()):
            self.stop()  # a call is still being answered: it must not land in the next test

    def stop(self) -> None:
        running, self._running, self._view = self._running, None, None
        if running is not None:
            running.close()

    def close(self) -> None:
        self.stop()
        self._http.close()


@pytest.fixture(scope="session")
def emulator_pool() -> Iterator[EmulatorPool]:
    pool = EmulatorPool()
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture
def cli(tmp_path: Path, emulator_pool: EmulatorPool) -> Iterator[CLI]:
    token = f"rc-canary-{uuid.uuid4().hex}"
    home = tmp_path / "home"
    home.mkdir()
    emulator = emulator_pool.take()
    emulator.control.add_token(token)
    try:
        yield CLI(emulator, token, home)
    finally:
        emulator_pool.give_back(emulator)
