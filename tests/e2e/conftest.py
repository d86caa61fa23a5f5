"""Fixtures of the end-to-end tests (the harness itself is in ``cli_harness.py``).

The emulator comes from the test kit users get, with the clock the command-line tests need: it runs with the
wall clock (a command's polls see requests progress) and jumps when a test advances it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_harness import CLI

from runcomfy.emulator.testkit import running_emulator


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[CLI]:
    token = f"rc-canary-{uuid.uuid4().hex}"
    home = tmp_path / "home"
    home.mkdir()
    with running_emulator(token=token, durations={"*": 0}, device_poll_interval_s=1) as emulator:
        yield CLI(emulator, token, home)
