"""Ctrl-C and SIGTERM with real signals: at any point after submit the command sends exactly one
cancel, reports its outcome, leaves no partial file and exits 130; a second Ctrl-C during that cancel exits at
once; an interrupt during submit says a request may have been created.

Each test starts the installed command in the background, waits (bounded) until the emulator's call log or the
output directory shows the phase it wants to interrupt, then sends the signal.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from cli_harness import CLI
from waiting import background, finish, wait_for_call, wait_for_partial_file

SLOW = "runcomfy/emulator/slow"
SIZED = "runcomfy/emulator/sized-file"
ECHO = "runcomfy/emulator/echo"
INTERRUPTED = 130
SIGNALS = pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
# Big enough that the download is still streaming when the test sees its partial file, under the 2 GiB cap.
BIG_FILE_BYTES = 1900 * 1024**2


def jobs(cli: CLI) -> dict[str, str]:
    """Every request the emulator knows, id -> status."""
    return {job["request_id"]: job["status"] for job in cli.control("GET", "requests").json()["requests"]}


@SIGNALS
def test_interrupt_while_polling_a_queued_request_cancels_it_once(
    cli: CLI, tmp_path: Path, sig: signal.Signals
) -> None:
    blocker = cli.occupy_the_only_worker()
    out_dir = tmp_path / "out"
    command = ("run", SLOW, "--input", '{"seconds": 60}', "--poll-secs", "1", "--output-dir", str(out_dir))
    with background(cli.start(*command)) as process:
        request_id = wait_for_call(cli, "status", process)[-1]["request_id"]
        process.send_signal(sig)
        done = finish(process)

    assert done.returncode == INTERRUPTED, done.stderr
    cancels = cli.calls("cancel")
    assert [c["request_id"] for c in cancels] == [request_id]
    assert jobs(cli) == {blocker: "in_progress", request_id: "cancelled"}
    assert request_id in done.stderr
    assert "cancel accepted (cancelled)" in done.stderr
    assert done.stdout == ""
    assert not out_dir.exists()


@SIGNALS
def test_interrupt_while_polling_a_running_request_reports_it_could_not_be_cancelled(
    cli: CLI, sig: signal.Signals
) -> None:
    cli.configure(durations={SLOW: 60})
    with background(cli.start("run", SLOW, "--input", '{"seconds": 60}', "--poll-secs", "1")) as process:
        request_id = wait_for_call(cli, "status", process)[-1]["request_id"]
        process.send_signal(sig)
        done = finish(process)

    assert done.returncode == INTERRUPTED, done.stderr
    assert [c["request_id"] for c in cli.calls("cancel")] == [request_id]
    assert jobs(cli)[request_id] == "in_progress"
    assert "not_cancellable" in done.stderr
    assert f"runcomfy result {request_id}" in done.stderr


@SIGNALS
def test_interrupt_during_the_result_fetch_sends_one_cancel_and_exits_130(
    cli: CLI, tmp_path: Path, sig: signal.Signals
) -> None:
    cli.fault(route="result", kind="latency", seconds=5, times=1)
    out_dir = tmp_path / "out"
    with background(cli.start("run", ECHO, "--input", '{"a": 1}', "--output-dir", str(out_dir))) as process:
        request_id = wait_for_call(cli, "result", process)[0]["request_id"]
        process.send_signal(sig)
        done = finish(process)

    assert done.returncode == INTERRUPTED, done.stderr
    assert [c["request_id"] for c in cli.calls("cancel")] == [request_id]
    assert len(cli.calls("result")) == 1  # the interrupt was not retried away
    assert "not_cancellable" in done.stderr  # the request had already completed
    assert request_id in done.stderr
    assert done.stdout == ""
    assert not out_dir.exists()


@SIGNALS
def test_interrupt_during_a_download_removes_the_partial_file_and_cancels_once(
    cli: CLI, tmp_path: Path, sig: signal.Signals
) -> None:
    out_dir = tmp_path / "out"
    size = json.dumps({"size_bytes": BIG_FILE_BYTES})
    with background(cli.start("run", SIZED, "--input", size, "--output-dir", str(out_dir))) as process:
        wait_for_call(cli, "file", process)
        wait_for_partial_file(out_dir, process)
        process.send_signal(sig)
        done = finish(process)

    assert done.returncode == INTERRUPTED, done.stderr
    assert list(out_dir.iterdir()) == []  # neither the partial file nor a final one
    cancels = cli.calls("cancel")
    assert len(cancels) == 1
    assert cancels[0]["request_id"] in done.stderr
    assert "not_cancellable" in done.stderr


def test_second_ctrl_c_during_the_cancel_exits_at_once(cli: CLI, tmp_path: Path) -> None:
    cli.configure(durations={SLOW: 60})
    # The cancel hangs far longer than the bounded wait below (and than the command's own cancel timeout).
    cli.fault(route="cancel", kind="latency", seconds=30, times=1)
    out_dir = tmp_path / "out"
    command = ("run", SLOW, "--input", '{"seconds": 60}', "--poll-secs", "1", "--output-dir", str(out_dir))
    with background(cli.start(*command)) as process:
        wait_for_call(cli, "status", process)
        process.send_signal(signal.SIGINT)
        wait_for_call(cli, "cancel", process)
        process.send_signal(signal.SIGINT)
        done = finish(process, deadline_s=5)

    assert done.returncode == INTERRUPTED
    assert len(cli.calls("cancel")) == 1
    assert "could not be sent" not in done.stderr  # it did not sit out the cancel's timeout
    assert not out_dir.exists()


def test_ctrl_c_during_submit_says_a_request_may_have_been_created(cli: CLI) -> None:
    cli.fault(route="submit", kind="latency", seconds=5, times=1)
    with background(cli.start("run", ECHO, "--input", '{"a": 1}')) as process:
        wait_for_call(cli, "submit", process)
        process.send_signal(signal.SIGINT)
        done = finish(process)

    assert done.returncode == INTERRUPTED, done.stderr
    assert "a request may have been created" in done.stderr
    assert cli.calls("cancel") == []  # there is no id to cancel
    assert cli.calls("status") == []
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
