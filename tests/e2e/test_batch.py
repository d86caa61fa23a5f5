"""``run --batch``: concurrent, resilient, resumable without ever submitting a line twice (issue 4)."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from pathlib import Path

from cli_harness import CLI
from waiting import background, finish, wait_for_call, wait_until

SIZED = "runcomfy/emulator/sized-file"
SLOW = "runcomfy/emulator/slow"


def write_batch(path: Path, count: int, *, size: int = 300) -> Path:
    lines = ["# one sized file per line", ""]
    lines += [json.dumps({"size_bytes": size + n, "filename": f"f{n}.bin"}) for n in range(1, count + 1)]
    path.write_text("\n".join(lines) + "\n")
    return path


def saved_files(out: Path) -> list[Path]:
    return sorted(p for p in out.iterdir() if p.is_file()) if out.is_dir() else []


def assert_each_line_saved_once(out: Path, count: int) -> None:
    names = sorted(p.name for p in saved_files(out))
    width = max(3, len(str(count + 2)))  # at least three digits: 003-f1.bin
    expected = sorted(
        f"{n + 2:0{width}d}-f{n}.bin" for n in range(1, count + 1)
    )  # +2: comment and blank line
    assert names == expected
    for n in range(1, count + 1):
        data = (out / f"{n + 2:0{width}d}-f{n}.bin").read_bytes()
        assert data == bytes(i % 256 for i in range(300 + n))


def test_a_malformed_line_is_reported_with_its_number_and_nothing_is_submitted(cli: CLI) -> None:
    batch = cli.home / "in.jsonl"
    batch.write_text('{"size_bytes": 1}\n\n# ok\n{"size_bytes": }\n')
    result = cli.run("run", SIZED, "--batch", str(batch))
    assert result.returncode == 65
    assert "line 4: invalid JSON" in result.stderr and "Traceback" not in result.stderr
    assert cli.calls("submit") == []


def test_a_200_line_batch_rides_out_429s_and_5xx_and_saves_every_file_once(cli: CLI) -> None:
    batch = write_batch(cli.home / "in.jsonl", 200)
    cli.fault(route="submit", kind="error", status=429, retry_after=1, times=3)
    cli.fault(route="status", kind="error", status=503, times=5)
    cli.fault(route="result", kind="error", status=502, times=5)
    cli.fault(route="status", kind="drop", times=2)
    result = cli.run(
        "run", SIZED, "--batch", str(batch), "--concurrency", "16", "--output-dir", "out", timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert_each_line_saved_once(cli.home / "out", 200)
    submits = cli.calls("submit")
    assert Counter(c["status"] for c in submits) == {200: 200, 429: 3}  # one accepted submit per line
    assert "batch finished: 200 succeeded" in result.stderr
    assert result.stderr.count("[batch] line ") == 200
    cli.assert_no_leak(result.stdout, result.stderr)


def test_json_mode_writes_one_record_per_line_as_items_finish(cli: CLI) -> None:
    batch = write_batch(cli.home / "in.jsonl", 5)
    result = cli.run("--output", "json", "run", SIZED, "--batch", str(batch), "--output-dir", "out")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(r["line"] for r in records) == [3, 4, 5, 6, 7]
    for record in records:
        assert record["status"] == "completed" and record["request_id"] and record["error"] is None
        (file,) = record["files"]
        assert Path(file["path"]).name.endswith(f"f{record['line'] - 2}.bin") and file["bytes"] > 300
        assert len(file["sha256"]) == 64
    assert result.stderr == ""


def test_killed_half_way_then_rerun_finishes_without_a_single_duplicate_submit(cli: CLI) -> None:
    batch = write_batch(cli.home / "in.jsonl", 200)
    command = ["run", SIZED, "--batch", str(batch), "--concurrency", "8", "--output-dir", "out"]
    with background(cli.start(*command)) as process:
        wait_for_call(cli, "submit", process, count=100)
        # Park every worker in a status call, so none is between a submit and its journal entry...
        cli.fault(route="status", kind="latency", seconds=60, times=None)
        wait_until(lambda: _submits_settled(cli), what="submits to stop", process=process)
        process.send_signal(signal.SIGKILL)  # ...then kill it the hard way: no cleanup runs
        process.wait(10)
    submitted_before = len(cli.calls("submit"))
    assert 100 <= submitted_before < 200
    cli.control("DELETE", "faults")
    rerun = cli.run(*command, timeout=120)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    submits = cli.calls("submit")
    assert len(submits) == 200  # the rerun submitted only the lines never submitted
    assert_each_line_saved_once(cli.home / "out", 200)
    assert not list((cli.home / "out").glob(".*.part-*"))


def _submits_settled(cli: CLI) -> bool:
    before = len(cli.calls("submit"))
    time.sleep(0.5)
    return len(cli.calls("submit")) == before


def test_a_rerun_of_a_finished_batch_submits_nothing_and_restart_submits_everything(cli: CLI) -> None:
    batch = write_batch(cli.home / "in.jsonl", 6)
    command = ["run", SIZED, "--batch", str(batch), "--output-dir", "out"]
    assert cli.run(*command).returncode == 0
    again = cli.run(*command)
    assert again.returncode == 0 and "already done" in again.stderr
    assert len(cli.calls("submit")) == 6 and len(cli.calls("file")) == 6
    (
        cli.home / "out" / "003-f1.bin"
    ).unlink()  # a file the user deleted is fetched again, without a new submit
    third = cli.run(*command)
    assert third.returncode == 0 and (cli.home / "out" / "003-f1.bin").exists()
    assert len(cli.calls("submit")) == 6
    restarted = cli.run(*command, "--restart")
    assert restarted.returncode == 0
    assert len(cli.calls("submit")) == 12


def test_ctrl_c_stops_submitting_cancels_in_flight_requests_and_a_rerun_resumes(cli: CLI) -> None:
    cli.configure(workers=1, durations={SLOW: 3})
    batch = cli.home / "slow.jsonl"
    batch.write_text("".join(json.dumps({"seconds": 3}) + "\n" for _ in range(6)))
    command = ["run", SLOW, "--batch", str(batch), "--concurrency", "3", "--output-dir", "out"]
    with background(cli.start(*command)) as process:
        wait_for_call(cli, "submit", process, count=3)
        wait_for_call(cli, "status", process, count=3)
        process.send_signal(signal.SIGINT)
        ended = finish(process, deadline_s=30)
    assert ended.returncode == 130
    assert "no more submits" in ended.stderr and "run the same command again to resume" in ended.stderr
    assert len(cli.calls("submit")) == 3  # nothing submitted after the Ctrl-C
    cancels = cli.calls("cancel")
    assert len(cancels) == 3 and {c["status"] for c in cancels} == {202}
    assert "cancelled" in ended.stderr and "not_cancellable" in ended.stderr  # 1 running, 2 queued
    # Each line is counted where it ended: not six "failed" ones.
    assert (
        "batch interrupted: 0 succeeded, 0 failed, 2 cancelled, 1 left running, 3 never sent" in ended.stderr
    )
    assert ended.stderr.count("batch interrupted;") == 1  # the outcome is said once
    cli.configure(durations={SLOW: 0})
    rerun = cli.run(*command, timeout=60)
    assert rerun.returncode == 0, rerun.stderr
    # The running one is waited on again (not resubmitted); the 2 cancelled and 3 never-sent lines are submitted.
    assert len(cli.calls("submit")) == 3 + 5


def test_when_every_item_fails_for_one_reason_the_exit_code_is_that_class(cli: CLI) -> None:
    batch = write_batch(cli.home / "in.jsonl", 3)
    denied = cli.run(
        "run", SIZED, "--batch", str(batch), "--no-validate", env={"RUNCOMFY_TOKEN": "not-a-valid-token"}
    )
    assert denied.returncode == 77
    assert "3 of 3 item(s) did not succeed" in denied.stderr
    assert "Hint: the token was rejected; run `runcomfy login`" in denied.stderr
    assert "--retry-failed" not in denied.stderr


def test_partial_failure_exits_1_and_names_the_lines(cli: CLI) -> None:
    batch = cli.home / "mixed.jsonl"
    batch.write_text('{"size_bytes": 10}\n{"size_bytes": -1}\n{"size_bytes": 20}\n')
    result = cli.run(
        "run", SIZED, "--batch", str(batch), "--output-dir", "out", "--no-validate"
    )  # server decides
    assert result.returncode == 1
    assert "1 of 3 item(s) did not succeed (line 2)" in result.stderr
    assert "Hint: fix the input of line 2: the service refused it" in result.stderr
    assert len(saved_files(cli.home / "out")) == 2


def test_requests_list_shows_the_batch_newest_first_with_filters(cli: CLI) -> None:
    batch = cli.home / "mixed.jsonl"
    batch.write_text('{"size_bytes": 10}\n{"size_bytes": 20}\n')
    cli.run("run", SIZED, "--batch", str(batch), "--output-dir", "out")
    cli.run("run", "runcomfy/emulator/fail", "--input", "{}")
    listed = cli.run("--output", "json", "requests", "list")
    rows = json.loads(listed.stdout)
    assert [r["status"] for r in rows] == ["failed", "completed", "completed"]
    assert rows[1]["files"] and rows[1]["files"][0]["path"].startswith(str(cli.home / "out"))
    only_failed = json.loads(cli.run("--output", "json", "requests", "list", "--status", "failed").stdout)
    assert [r["model_id"] for r in only_failed] == ["runcomfy/emulator/fail"]
    by_model = json.loads(
        cli.run("--output", "json", "requests", "list", "--model", SIZED, "--limit", "1").stdout
    )
    assert len(by_model) == 1 and by_model[0]["model_id"] == SIZED
    table = cli.run("requests", "list")
    assert table.stdout.splitlines()[0].split() == ["TIME", "REQUEST_ID", "MODEL", "STATUS", "FILES"]
    assert len(table.stdout.splitlines()) == 4


def test_result_downloads_into_the_recorded_directory_and_skips_files_already_saved(cli: CLI) -> None:
    first = cli.run(
        "--output",
        "json",
        "run",
        SIZED,
        "--input",
        '{"size_bytes": 50}',
        "--output-dir",
        "kept",
        "--emit",
        "record",
    )
    request_id = json.loads(first.stdout)["request_id"]
    elsewhere = cli.home / "elsewhere"
    elsewhere.mkdir()
    again = cli.run("result", request_id, cwd=elsewhere)
    assert again.returncode == 0 and "already saved, sha256 matches" in again.stderr
    assert len(cli.calls("file")) == 1 and saved_files(elsewhere) == []
    (cli.home / "kept" / "sized.bin").write_bytes(b"tampered")
    fixed = cli.run("result", request_id, cwd=elsewhere)
    assert fixed.returncode == 0 and len(cli.calls("file")) == 2
    assert sorted(p.name for p in saved_files(cli.home / "kept")) == ["sized-1.bin", "sized.bin"]


def test_on_a_terminal_a_live_progress_bar_replaces_the_per_item_lines(cli: CLI) -> None:
    from test_output_modes import run_with_terminal_stderr

    batch = write_batch(cli.home / "in.jsonl", 5)
    result = run_with_terminal_stderr(
        cli,
        "run",
        SIZED,
        "--batch",
        str(batch),
        "--output-dir",
        "out",
        env={"NO_COLOR": None, "TERM": "xterm"},
    )
    assert result.returncode == 0, result.stderr
    assert "5/5: 5 succeeded, 0 failed; 0 in flight, 0 queued" in result.stderr  # the bar's final state
    assert "[batch] line" not in result.stderr and "━" in result.stderr
    assert "batch finished: 5 succeeded" in result.stderr
    assert result.stdout == ""


def test_a_batch_line_and_run_emit_record_have_the_same_keys_and_stdin_batches_work(cli: CLI) -> None:
    single = cli.run("--output", "json", "run", SIZED, "--input", '{"size_bytes": 5}', "--emit", "record")
    batch = cli.run(
        "--output", "json", "run", SIZED, "--batch", "-", "--output-dir", "b", input='{"size_bytes": 6}\n'
    )
    assert single.returncode == 0 and batch.returncode == 0, batch.stderr
    record, (line,) = json.loads(single.stdout), [json.loads(x) for x in batch.stdout.splitlines()]
    assert set(record) == set(line)  # one record type: the same keys everywhere
    assert record["line"] is None and line["line"] == 1 and line["model_id"] == record["model_id"] == SIZED
