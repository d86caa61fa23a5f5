"""The README's example of a user testing their own code against the emulator, run as the user would run it.

``save_poster`` stands for the user's code; the tests use nothing but the ``runcomfy_emulator`` fixture that
the installed pytest plugin provides (no conftest of this project is involved).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from runcomfy import Client, Completed, InProgress
from runcomfy.emulator.testing import RunningEmulator

MODEL = "openai/gpt-image-2/text-to-image"


# -- the user's code ------------------------------------------------------------------------------------------


def save_poster(client: Client, prompt: str, out_dir: Path) -> Path:
    """Generate one image for ``prompt`` and save it under ``out_dir``; the saved file's path."""
    result = client.run(MODEL, {"prompt": prompt}, timeout=600)
    (saved,) = client.download(result, out_dir)
    return saved.path


# -- the user's tests -----------------------------------------------------------------------------------------


def test_a_poster_is_saved_even_when_the_service_hiccups(
    runcomfy_emulator: RunningEmulator, tmp_path: Path
) -> None:
    runcomfy_emulator.control.faults.add(route="status", status=503)  # the next status call fails, once

    path = save_poster(runcomfy_emulator.client, "a lighthouse at dusk", tmp_path)

    assert path.parent == tmp_path and path.read_bytes().startswith(b"\x89PNG")
    statuses = [call.status for call in runcomfy_emulator.control.calls.list("status")]
    assert statuses[0] == 503 and statuses[-1] == 200  # the 503 was ridden out
    assert runcomfy_emulator.control.faults.list() == []  # and the fault was used up


def test_a_script_configured_by_the_environment_finds_the_emulator(
    runcomfy_emulator: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in runcomfy_emulator.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("RUNCOMFY_CONFIG_DIR", str(tmp_path / "config"))  # never the real user's token file

    with Client() as client:
        path = save_poster(client, "a red fox", tmp_path / "out")

    assert path.is_file()


@pytest.mark.runcomfy_emulator(durations={MODEL: 60}, frozen_clock=True)
def test_a_slow_model_finishes_when_the_test_moves_the_clock(runcomfy_emulator: RunningEmulator) -> None:
    handle = runcomfy_emulator.client.submit(MODEL, {"prompt": "a slow sunrise"})
    assert isinstance(handle.status(), InProgress)

    runcomfy_emulator.control.clock.advance(60)

    assert isinstance(handle.status(), Completed)
