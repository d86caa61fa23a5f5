"""The local request journal: every submitted request is in the SQLite journal under
``RUNCOMFY_STATE_DIR`` before polling starts, then carries its final status and the files saved (path, size and
sha256 matching the file on disk). The database is opened read-only here, as any other tool would.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from pathlib import Path

from background import journal_rows, start
from cli_harness import CLI

ECHO = "runcomfy/emulator/echo"
IMAGE = "openai/gpt-image-2/text-to-image"
REQUEST_ID = re.compile(r"request_id: (\S+)")


def test_run_records_model_final_status_and_saved_files(cli: CLI) -> None:
    result = cli.run(
        "--output", "json", "run", IMAGE, "--input", '{"prompt": "a harbour"}', "--emit", "record"
    )
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)

    row = journal_rows(cli.home / "state")[record["request_id"]]

    assert row["model_id"] == IMAGE
    assert row["status"] == "completed"
    assert row["model_api_base"] == cli.server.model_api_base
    assert row["input_digest"].startswith("sha256:")
    assert "a harbour" not in row["input_digest"]  # a digest, never the input itself
    assert json.loads(row["output_json"]) == record["output"]
    [saved] = json.loads(row["files_json"])
    on_disk = cli.home / saved["path"]
    data = on_disk.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert saved["bytes"] == len(data)
    assert saved["sha256"] == hashlib.sha256(data).hexdigest()
    assert saved["url"] == record["output"]["images"][0]


def test_run_with_an_output_dir_records_it_and_the_files_inside_it(cli: CLI) -> None:
    result = cli.run("run", IMAGE, "--input", '{"prompt": "x"}', "--output-dir", "out")
    assert result.returncode == 0, result.stderr

    [row] = journal_rows(cli.home / "state").values()

    assert row["output_dir"] == str(cli.home / "out")  # absolute: `result` finds it from any directory
    [saved] = json.loads(row["files_json"])
    path = Path(saved["path"])
    assert path.is_absolute() and path.parent == cli.home / "out"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == saved["sha256"]


def test_run_no_wait_records_the_submitted_request(cli: CLI) -> None:
    result = cli.run("--output", "json", "run", ECHO, "--input", '{"later": true}', "--no-wait")
    assert result.returncode == 0, result.stderr
    request_id = json.loads(result.stdout)["request_id"]

    row = journal_rows(cli.home / "state")[request_id]

    assert row["model_id"] == ECHO
    assert row["status"] == "submitted"
    assert json.loads(row["files_json"]) == []


def test_result_of_a_no_wait_request_completes_its_journal_entry(cli: CLI) -> None:
    submitted = cli.run("--output", "json", "run", IMAGE, "--input", '{"prompt": "y"}', "--no-wait")
    request_id = json.loads(submitted.stdout)["request_id"]

    fetched = cli.run("result", request_id)

    assert fetched.returncode == 0, fetched.stderr
    row = journal_rows(cli.home / "state")[request_id]
    assert row["status"] == "completed"
    [saved] = json.loads(row["files_json"])
    assert (cli.home / saved["path"]).stat().st_size == saved["bytes"]


def test_failed_request_is_recorded_with_its_error(cli: CLI) -> None:
    result = cli.run("run", "runcomfy/emulator/fail", "--input", '{"message": "out of GPUs"}')
    assert result.returncode == 1

    [row] = journal_rows(cli.home / "state").values()

    assert row["status"] == "failed"
    assert "out of GPUs" in row["error_json"]


def test_request_is_journaled_before_polling_starts(cli: CLI) -> None:
    # The first status call hangs, so the command is caught between submit and its first poll answer.
    cli.fault(route="status", kind="latency", seconds=30)
    command = start(cli, "run", ECHO, "--input", '{"slow": "poll"}')
    try:
        request_id = command.wait_for(REQUEST_ID).group(1)
        deadline = time.monotonic() + 20
        while not cli.calls("status") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert cli.calls("status"), "the command never polled"
        assert command.proc.poll() is None  # still waiting for its first status answer

        rows = journal_rows(cli.home / "state")
    finally:
        command.kill()
        cli.control("DELETE", "faults")

    assert rows[request_id]["status"] == "submitted"
    assert rows[request_id]["model_id"] == ECHO
    assert cli.calls("status")[0]["request_id"] == request_id


def test_journal_is_private_to_the_user(cli: CLI) -> None:
    assert cli.run("run", ECHO, "--input", "{}").returncode == 0

    database = cli.home / "state" / "requests.sqlite3"

    assert database.stat().st_mode & 0o077 == 0


def test_a_broken_journal_never_costs_the_user_a_result(cli: CLI) -> None:
    state = cli.home / "state"
    state.mkdir()
    (state / "requests.sqlite3").write_text("this is not a database")

    result = cli.run("run", IMAGE, "--input", '{"prompt": "z"}')

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["images"]
    assert [p for p in cli.files_under() if p.suffix == ".png"]
    assert "warning: could not record request" in result.stderr


def test_result_works_even_when_the_journal_is_unreadable(cli: CLI) -> None:
    submitted = cli.run("--output", "json", "run", IMAGE, "--input", '{"prompt": "w"}', "--no-wait")
    request_id = json.loads(submitted.stdout)["request_id"]
    for path in (cli.home / "state").glob("requests.sqlite3*"):
        path.unlink()
    (cli.home / "state" / "requests.sqlite3").write_text("garbage")

    result = cli.run("--output", "json", "result", request_id, "--emit", "record")

    assert result.returncode == 0, result.stderr
    [saved] = json.loads(result.stdout)["files"]
    assert (cli.home / saved["path"]).is_file()
