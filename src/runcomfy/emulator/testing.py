"""The pytest plugin for testing code that calls RunComfy against the emulator, offline and for free.

Installed with ``runcomfy`` and registered under the name ``runcomfy`` (the ``pytest11`` entry point), so
pytest loads it without a ``conftest.py`` line. It gives:

- the ``runcomfy_emulator`` fixture: a :class:`~runcomfy.emulator.testkit.RunningEmulator` on a free loopback
  port for one test (URLs, ``token``, ``env`` for subprocesses, a ready ``client``, the typed ``control``
  plane: faults, calls, clock, config, reset, requests), stopped when the test ends;
- the ``runcomfy_emulator`` marker, whose keyword arguments are those of :func:`running_emulator`:
  ``@pytest.mark.runcomfy_emulator(workers=1, durations={"*": 5}, frozen_clock=True)``.

Outside pytest, :func:`running_emulator` (also importable from :mod:`runcomfy.emulator.testkit`, which needs no
pytest) starts the same emulator for a ``with`` block.

Loaded in every pytest run of an environment that has ``runcomfy``, even one without the ``emulator`` extra or
whose tests never use the fixture: so this module imports nothing heavy (the emulator starts, and its imports
happen, only when a test asks for the fixture), and without the extra the fixture fails with the install
command instead of the plugin failing to load. It registers one fixture and one marker, nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from runcomfy.emulator.testkit import RunningEmulator, missing_extra, running_emulator

__all__ = ["RunningEmulator", "runcomfy_emulator", "running_emulator"]

MARKER = "runcomfy_emulator"


def pytest_configure(config: pytest.Config) -> None:
    """Declare the marker, so ``--strict-markers`` accepts it."""
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**options): options of the runcomfy_emulator fixture "
        "(workers, durations, frozen_clock, start_time, token, tokens, device_expires_s, "
        "device_poll_interval_s, db, cold_start_s, deployment_run_s, balance_usd, allow_webhook_hosts, "
        "webhook_retry_delays_s, seed_example_deployment); see runcomfy.emulator.testing.running_emulator",
    )


@pytest.fixture
def runcomfy_emulator(request: pytest.FixtureRequest) -> Iterator[RunningEmulator]:
    """A RunComfy emulator on loopback for this test, configured by the ``runcomfy_emulator`` marker."""
    problem = missing_extra()
    if problem is not None:
        pytest.fail(problem, pytrace=False)  # a clear line in the report, not a traceback of the import
    marker = request.node.get_closest_marker(MARKER)
    with running_emulator(**(marker.kwargs if marker else {})) as emulator:
        yield emulator
