"""Fixtures of the emulator's contract tests (the harness itself is in ``emulator_harness.py``).

The ``runcomfy_emulator`` fixture users get comes from the installed pytest plugin (the ``pytest11`` entry
point), never from here: declaring it here as well would register it twice.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from emulator_harness import Emulator, started_emulator
from serverless_harness import Serverless


@pytest.fixture
def emulator(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    marker = request.node.get_closest_marker("emulator_config")
    with started_emulator(**(marker.kwargs if marker else {})) as emu:
        yield emu


@pytest.fixture
def serverless(emulator: Emulator) -> Serverless:
    return Serverless(emulator)
