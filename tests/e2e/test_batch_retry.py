"""Failed batch lines can be retried (``--retry-failed``) and the end-of-batch hint names what actually helps."""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path

from background import start
from cli_harness import CLI
from waiting import background, finish, wait_for_call, wait_until

FAIL = "runcomfy/emulator/fail"
SIZED = "runcomfy/emulator/sized-file"


def write_lines(path: Path, *inputs: dict[str, object]) -> Path:
    path.write_text("".join(json.dumps(item) + "\n" for item in inputs))
    return path


def test_failed_lines_are_not_replayed_by_a_rerun_and_the_hint_names_retry_failed(cli: CLI) -> None:
    batch = write_lines(cli.home / "f.jsonl", {"message": "one"}, {"message": "two"}, {"message": "three"})
    command = ["run", FAIL, "--batch", str(batch), "--output-dir", "out"]

    first = cli.run(*command)

    assert first.returncode == 1
    assert "3 of 3 item(s) did not succeed (lines 1, 2, 3)" in first.stderr
    assert "Hint: add --retry-failed to the same command to submit 3 lines" in first.stderr
    assert "run the same command again to resume" not in first.stderr
    calls_before = len(cli.calls())

    again = cli.run(*command)

    assert again.returncode == 1
    assert "failed, recorded earlier" in again.stderr
    assert '"message":"two"' in again.stderr  # the recorded error, as compact JSON, not a Python repr
    assert "{'" not in again.stderr
    assert len(cli.calls()) == calls_before  # nothing was asked of the service: the failure is on record


def test_retry_failed_submits_only_the_lines_that_failed_and_keeps_the_others(cli: CLI) -> None:
    cli.configure(durations={SIZED: 30}, workers=4)  # all four run at once: one clock step finishes them
    batch = write_lines(cli.home / "mixed.jsonl", *({"size_bytes": 100 + n} for n in range(4)))
    command = ["run", SIZED, "--batch", str(batch), "--output-dir", "out", "--concurrency", "4"]
    with background(cli.start(*command)) as process:
        wait_for_call(cli, "status", process, count=4)
        jobs = cli.control("GET", "requests").json()["requests"]
        doomed = next(job for job in jobs if job["input"]["size_bytes"] == 102)
        cli.control("POST", f"requests/{doomed['request_id']}/fail", {"message": "out of memory"})
        cli.advance(31)
        first = finish(process, deadline_s=60)
    assert first.returncode == 1, first.stderr
    assert "1 of 4 item(s) did not succeed (line 3)" in first.stderr
    assert "--retry-failed" in first.stderr
    kept = {p.name: p.stat().st_mtime_ns for p in (cli.home / "out").iterdir()}
    assert sorted(kept) == ["001-sized.bin", "002-sized.bin", "004-sized.bin"]
    cli.configure(durations={SIZED: 0})

    retried = cli.run(*command, "--retry-failed")

    assert retried.returncode == 0, retried.stderr
    assert len(cli.calls("submit")) == 5  # four the first time, one for the failed line
    assert "already done" in retried.stderr
    assert (cli.home / "out" / "003-sized.bin").read_bytes() == bytes(i % 256 for i in range(102))
    for name, mtime in kept.items():
        assert (cli.home / "out" / name).stat().st_mtime_ns == mtime  # never fetched again


def test_timed_out_lines_are_cancelled_and_retry_failed_submits_them_again(cli: CLI) -> None:
    cli.occupy_the_only_worker()  # the batch's requests wait in the queue until their --timeout
    batch = write_lines(cli.home / "slow.jsonl", {"size_bytes": 5}, {"size_bytes": 6})
    command = ["run", SIZED, "--batch", str(batch), "--timeout", "1", "--poll-secs", "1", "--output-dir", "o"]

    first = cli.run(*command)

    assert first.returncode == 75, first.stderr  # every line timed out: the timeout's own class
    assert first.stderr.count(": timed_out (") == 2
    assert "--retry-failed" in first.stderr
    cancels = cli.calls("cancel")
    assert len(cancels) == 2  # each timed-out request was cancelled, as a single run does
    assert {job["status"] for job in cli.control("GET", "requests").json()["requests"][1:]} == {"cancelled"}
    cli.advance(61)  # the worker is free again
    cli.configure(durations={SIZED: 0})

    retried = cli.run(*command, "--retry-failed")

    assert retried.returncode == 0, retried.stderr
    assert len(cli.calls("submit")) == 1 + 2 + 2  # the blocker, the two timed out, the two retried


def test_unfinished_lines_get_the_resume_hint_not_retry_failed(cli: CLI) -> None:
    cli.fault(route="status", kind="error", status=503, times=None)
    batch = write_lines(cli.home / "b.jsonl", {"size_bytes": 10}, {"size_bytes": 20})

    result = cli.run(
        "run", SIZED, "--batch", str(batch), "--output-dir", "out", env={"RUNCOMFY_RETRY_WINDOW": "1"}
    )

    assert result.returncode == 69, result.stderr  # both lines met the same outage
    assert "run the same command again to resume 2 unfinished lines" in result.stderr
    assert "--retry-failed" not in result.stderr


def test_retry_failed_needs_batch_and_excludes_restart(cli: CLI) -> None:
    alone = cli.run("run", SIZED, "--input", "{}", "--retry-failed")
    both = cli.run("run", SIZED, "--batch", "-", "--retry-failed", "--restart", input="{}\n")

    assert alone.returncode == 64 and "only apply to --batch" in alone.stderr
    assert both.returncode == 64 and "cannot be used together" in both.stderr
    assert cli.calls("submit") == []


def test_ctrl_c_during_a_long_retry_after_cancels_at_once_instead_of_waiting_it_out(cli: CLI) -> None:
    cli.configure(durations={SIZED: 60})
    batch = write_lines(cli.home / "b.jsonl", {"size_bytes": 5}, {"size_bytes": 6})
    command = start(cli, "-v", "run", SIZED, "--batch", str(batch), "--output-dir", "o", "--poll-secs", "1")
    try:
        # Both lines are in flight (each has polled its status) before the service starts answering 429 with
        # Retry-After: 110; the retry notice (-v) says the batch's shared gate is now closed for 110 s.
        wait_until(
            lambda: len({call["path"] for call in cli.calls("status")}) == 2,
            what="a status poll of each line",
            process=command.proc,
        )
        cli.fault(route="status", kind="error", status=429, retry_after=110, times=None)
        command.wait_for(re.compile(r"retrying in 110"), timeout=60)
        command.proc.send_signal(signal.SIGINT)
    except BaseException:
        command.kill()  # the phase never came: end the command before failing
        raise
    ended = command.finish(timeout=60)  # a bound on a hang, well inside the 110 s the gate would hold

    assert ended.returncode == 130, ended.stderr
    assert len(cli.calls("submit")) == 2
    assert len(cli.calls("cancel")) == 2  # one per request in flight, none queued behind the gate
