"""Fixtures of the MCP tests: an emulator per test, the rig that starts ``runcomfy mcp`` against it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp_harness import SLOW_MODEL, McpRig

from runcomfy.emulator.testkit import running_emulator


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[McpRig]:
    token = f"rc-canary-{uuid.uuid4().hex}"
    home = tmp_path / "home"
    home.mkdir()
    with running_emulator(
        token=token, durations={"*": 0, SLOW_MODEL: 3600}, seed_example_deployment=True
    ) as emulator:
        yield McpRig(emulator, token, home)
