"""Fixtures of the emulator's contract tests (the harness itself is in ``emulator_harness.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from emulator_harness import Emulator, start_emulator


@pytest.fixture
def emulator(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    marker = request.node.get_closest_marker("emulator_config")
    emu = start_emulator(**(marker.kwargs if marker else {}))
    try:
        yield emu
    finally:
        emu.http.close()
        emu.server.stop()
