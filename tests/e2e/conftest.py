"""Fixtures of the end-to-end tests (the harness itself is in ``cli_harness.py``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cli_harness import CLI, ManualClock

from runcomfy.emulator.server import EmulatorConfig, EmulatorServer, build_state
from runcomfy.emulator.state import Clock


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[CLI]:
    token = f"rc-canary-{uuid.uuid4().hex}"
    clock = ManualClock()
    config = EmulatorConfig(port=0, tokens=[token], durations={"*": 0}, device_poll_interval_s=1)
    server = EmulatorServer(build_state(config, clock=Clock(base=clock)), port=0).start()
    home = tmp_path / "home"
    home.mkdir()
    http = httpx.Client(timeout=30)
    try:
        yield CLI(server, token, home, clock, http)
    finally:
        http.close()
        server.stop()
