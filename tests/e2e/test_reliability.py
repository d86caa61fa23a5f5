"""Reliability with the real command: polling rides out the emulator's injected faults,
only a sustained outage ends a wait (exit 69 or 75, with the way to resume), the paid result is never lost,
submit is never blindly retried, a result lagging its status is fetched again, and ``--timeout`` cancels.

The emulator's call log is the witness: it shows which calls were faulted and that each was followed by a retry.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_harness import CLI
from waiting import background, finish, wait_for_call

SIZED = "runcomfy/emulator/sized-file"
SLOW = "runcomfy/emulator/slow"
ECHO = "runcomfy/emulator/echo"
FILE_BYTES = 4096
OUTAGE_ENV = {"RUNCOMFY_RETRY_WINDOW": "3"}


def sized_input(size: int = FILE_BYTES) -> str:
    return json.dumps({"size_bytes": size})


def expected_bytes(size: int) -> bytes:
    """The emulator's sized file: the byte at offset i is i % 256."""
    return bytes(i % 256 for i in range(size))


def submitted_id(cli: CLI) -> str:
    """The request id of the only request the emulator has received."""
    requests = cli.control("GET", "requests").json()["requests"]
    assert len(requests) == 1, requests
    request_id: str = requests[0]["request_id"]
    return request_id


def routes_in_order(cli: CLI, route: str) -> list[str | None]:
    """The ``fault`` column of every call of ``route``, oldest first (``None`` for a normal answer)."""
    return [call["fault"] for call in cli.calls(route)]


# -- transient faults on status and result are ridden out ---------------------------------------------------

TRANSIENT_FAULTS: dict[str, dict[str, Any]] = {
    "http-503": {"kind": "error", "status": 503},
    "http-500": {"kind": "error", "status": 500},
    "http-429-retry-after": {"kind": "error", "status": 429, "retry_after": 1},
    "dropped-connection": {"kind": "drop"},
    "non-json-200": {"kind": "non_json"},
}


@pytest.mark.parametrize("fault", TRANSIENT_FAULTS.values(), ids=TRANSIENT_FAULTS.keys())
def test_run_completes_through_transient_faults_on_status_and_result(
    cli: CLI, tmp_path: Path, fault: dict[str, Any]
) -> None:
    cli.fault(route="status", times=2, **fault)
    cli.fault(route="result", times=2, **fault)
    out_dir = tmp_path / "out"

    result = cli.run("run", SIZED, "--input", sized_input(), "--output-dir", str(out_dir))

    assert result.returncode == 0, result.stderr
    saved = cli.files_under(out_dir)
    assert [p.name for p in saved] == ["sized.bin"]
    assert saved[0].read_bytes() == expected_bytes(FILE_BYTES)
    kind = fault["kind"]
    # Each faulted call was followed by another try, and the last try got the real answer.
    assert routes_in_order(cli, "status") == [kind, kind, None]
    assert routes_in_order(cli, "result") == [kind, kind, None]
    assert [c["status"] for c in cli.calls("result")][-1] == 200
    assert len(cli.calls("submit")) == 1
    assert cli.calls("cancel") == []


def test_retry_after_is_honoured_before_polling_again(cli: CLI, tmp_path: Path) -> None:
    cli.fault(route="status", kind="error", status=429, retry_after=1, times=1)

    result = cli.run("run", SIZED, "--input", sized_input(), "--output-dir", str(tmp_path / "out"))

    assert result.returncode == 0, result.stderr
    throttled, retried = cli.calls("status")[:2]
    assert throttled["status"] == 429 and retried["fault"] is None
    # The emulator stamps calls with its clock; the retry did not come before the server's Retry-After.
    assert retried["time"] - throttled["time"] >= 0.9


# -- a sustained outage ends the wait, and the result can still be fetched ----------------------------------

SUSTAINED_OUTAGES = {
    "status-503": ("status", {"kind": "error", "status": 503}, 69),
    "status-429": ("status", {"kind": "error", "status": 429, "retry_after": 1}, 75),
    "result-dropped": ("result", {"kind": "drop"}, 69),
    "result-non-json": ("result", {"kind": "non_json"}, 69),
}


@pytest.mark.parametrize(
    ("route", "fault", "exit_code"), SUSTAINED_OUTAGES.values(), ids=SUSTAINED_OUTAGES.keys()
)
def test_sustained_outage_exits_with_the_request_id_and_resume_hint(
    cli: CLI, tmp_path: Path, route: str, fault: dict[str, Any], exit_code: int
) -> None:
    cli.fault(route=route, times=None, **fault)
    out_dir = tmp_path / "out"

    result = cli.run("run", SIZED, "--input", sized_input(), "--output-dir", str(out_dir), env=OUTAGE_ENV)

    assert result.returncode == exit_code, result.stderr
    request_id = submitted_id(cli)
    assert request_id in result.stderr
    assert f"runcomfy result {request_id}" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    # Not one failed poll: the command kept trying through the outage window.
    assert len([c for c in cli.calls(route) if c["fault"] == fault["kind"]]) >= 2
    assert not out_dir.exists() or cli.files_under(out_dir) == []
    assert cli.calls("cancel") == []  # the request was left to finish: it is paid for

    cli.control("DELETE", "faults")
    resumed = cli.run("result", request_id, "--output-dir", str(out_dir))

    assert resumed.returncode == 0, resumed.stderr
    assert [p.read_bytes() for p in cli.files_under(out_dir)] == [expected_bytes(FILE_BYTES)]


def test_sustained_outage_in_json_mode_is_one_error_line_with_request_id_and_hint(cli: CLI) -> None:
    cli.fault(route="status", kind="error", status=503, times=None)

    result = cli.run("--output", "json", "run", ECHO, "--input", '{"a": 1}', env=OUTAGE_ENV)

    assert result.returncode == 69
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    error = json.loads(lines[0])
    request_id = submitted_id(cli)
    assert isinstance(error["error"], str)
    assert error["request_id"] == request_id
    assert error["exit_code"] == 69
    assert f"runcomfy result {request_id}" in error["hint"]


# -- submit is never blindly retried ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [{"kind": "error", "status": 500}, {"kind": "error", "status": 503}, {"kind": "drop"}],
    ids=["http-500", "http-503", "dropped-after-reaching-the-server"],
)
def test_submit_that_may_have_reached_the_server_is_not_retried(cli: CLI, fault: dict[str, Any]) -> None:
    cli.fault(route="submit", times=1, **fault)

    result = cli.run("run", ECHO, "--input", '{"a": 1}')

    assert result.returncode == 69, result.stderr
    assert len(cli.calls("submit")) == 1
    assert cli.calls("status") == []
    assert "Traceback" not in result.stderr


def test_submit_throttled_with_429_is_retried_and_succeeds(cli: CLI) -> None:
    cli.fault(route="submit", kind="error", status=429, retry_after=1, times=1)

    result = cli.run("run", ECHO, "--input", '{"a": 1}')

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"a": 1}
    assert [c["status"] for c in cli.calls("submit")] == [429, 200]


# -- a result that lags a terminal status is fetched again ---------------------------------------------------


def test_result_lagging_a_terminal_status_is_fetched_again(cli: CLI, tmp_path: Path) -> None:
    cli.configure(durations={SLOW: 2})
    with background(cli.start("run", SLOW, "--input", '{"seconds": 2}', "--poll-secs", "1")) as process:
        request_id = wait_for_call(cli, "status", process)[0]["request_id"]
        # The status route will say completed while the result still says in progress (once).
        lagging = {"request_id": request_id, "status": "in_progress", "output": None}
        cli.fault(route="result", kind="respond", body=lagging, request_id=request_id, times=1)

        done = finish(process)

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) is not None
    assert routes_in_order(cli, "result") == ["respond", None]
    assert cli.calls("status")[-1]["status"] == 200
    assert cli.calls("cancel") == []


# -- --timeout ends the wait and cancels ---------------------------------------------------------------------


def test_timeout_on_a_queued_request_cancels_it_and_exits_75(cli: CLI) -> None:
    blocker = cli.occupy_the_only_worker()

    result = cli.run("run", SLOW, "--input", '{"seconds": 60}', "--timeout", "2", "--poll-secs", "1")

    assert result.returncode == 75, result.stderr
    cancels = cli.calls("cancel")
    assert len(cancels) == 1
    request_id = cancels[0]["request_id"]
    assert request_id != blocker
    assert request_id in result.stderr
    assert "cancelled" in result.stderr and "not_cancellable" not in result.stderr
    jobs = {job["request_id"]: job["status"] for job in cli.control("GET", "requests").json()["requests"]}
    assert jobs[request_id] == "cancelled"
    assert jobs[blocker] == "in_progress"


def test_timeout_on_a_running_request_reports_it_could_not_be_cancelled(cli: CLI) -> None:
    cli.configure(durations={SLOW: 60})

    result = cli.run("run", SLOW, "--input", '{"seconds": 60}', "--timeout", "2", "--poll-secs", "1")

    assert result.returncode == 75, result.stderr
    cancels = cli.calls("cancel")
    assert len(cancels) == 1
    request_id = cancels[0]["request_id"]
    assert request_id in result.stderr
    assert "not_cancellable" in result.stderr
    assert f"runcomfy result {request_id}" in result.stderr
