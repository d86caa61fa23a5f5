"""Bounded waits for end-to-end tests that drive a background ``runcomfy`` process.

A signal test must deliver its signal while the command is in a given phase (polling, fetching the result,
downloading), which it learns from the emulator's call log or from files appearing on disk. These helpers poll
such a condition at short intervals up to a deadline and fail the test (never hang) when it does not come true.
They assert nothing about how long anything took.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cli_harness import CLI

POLL_INTERVAL_S = 0.02
DEFAULT_DEADLINE_S = 30.0


@dataclass
class Finished:
    """How a background command ended."""

    returncode: int
    stdout: str
    stderr: str


def wait_until(
    condition: Callable[[], Any],
    *,
    what: str,
    process: subprocess.Popen[str] | None = None,
    deadline_s: float = DEFAULT_DEADLINE_S,
) -> Any:
    """Poll ``condition`` until it returns something truthy (returned); fail after ``deadline_s``.

    With ``process``, fail at once if it exits first (showing its output), since the phase was missed.
    """
    give_up = time.monotonic() + deadline_s
    while True:
        value = condition()
        if value:
            return value
        if process is not None and process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"the command exited ({process.returncode}) before {what}:\n{out}\n{err}")
        if time.monotonic() > give_up:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(POLL_INTERVAL_S)


def wait_for_call(
    cli: CLI, route: str, process: subprocess.Popen[str], *, count: int = 1
) -> list[dict[str, Any]]:
    """The call log of ``route`` once it holds at least ``count`` calls."""

    def logged() -> list[dict[str, Any]] | None:
        calls = cli.calls(route)
        return calls if len(calls) >= count else None

    found: list[dict[str, Any]] = wait_until(
        logged, what=f"{count} {route} call(s) in the emulator's log", process=process
    )
    return found


def wait_for_partial_file(directory: Path, process: subprocess.Popen[str]) -> Path:
    """The download's temporary ``.part`` file, once it exists in ``directory``."""

    def started() -> Path | None:
        for path in directory.glob(".*.part-*") if directory.is_dir() else ():
            try:
                if path.stat().st_size > 0:
                    return path
            except FileNotFoundError:  # renamed or deleted between listing and stat
                continue
        return None

    partial: Path = wait_until(started, what=f"a partial download in {directory}", process=process)
    return partial


@contextlib.contextmanager
def background(process: subprocess.Popen[str]) -> Iterator[subprocess.Popen[str]]:
    """Hand ``process`` to the block; whatever happens in it, the process is gone when it ends."""
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


def finish(process: subprocess.Popen[str], *, deadline_s: float = 60.0) -> Finished:
    """Wait (bounded) for a background command to exit and collect its output; kill it if it hangs."""
    try:
        out, err = process.communicate(timeout=deadline_s)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        raise AssertionError(f"the command did not exit within {deadline_s}s:\n{out}\n{err}") from None
    return Finished(process.returncode, out, err)
