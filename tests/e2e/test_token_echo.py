"""A server that echoes the token gets nothing out of it: refused ids and statuses, masked in every case, and
never part of a file name, whatever the output mode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from background import journal_rows
from cli_harness import CLI

SIZED = "runcomfy/emulator/sized-file"
ECHO = "runcomfy/emulator/echo"


@pytest.mark.parametrize("mode", ["pretty", "json"])
def test_a_request_id_that_contains_the_token_is_refused_and_never_stored(cli: CLI, mode: str) -> None:
    cli.fault(route="submit", kind="respond", status=200, body={"request_id": f"x-{cli.token}"}, times=1)

    result = cli.run("--output", mode, "run", ECHO, "--input", "{}")

    assert result.returncode == 69, result.stderr
    assert "contains the API token" in result.stderr
    cli.assert_no_leak(result.stdout, result.stderr)
    assert not (cli.home / "state" / "requests.sqlite3").exists() or journal_rows(cli.home / "state") == {}


@pytest.mark.parametrize("spelling", ["as-is", "upper", "lower"])
def test_a_status_that_contains_the_token_in_any_case_is_refused(cli: CLI, spelling: str) -> None:
    request_id = cli.submit(ECHO, {})
    token = {"as-is": cli.token, "upper": cli.token.upper(), "lower": cli.token.lower()}[spelling]
    cli.fault(route="status", kind="respond", status=200, body={"request_id": request_id, "status": token})

    result = cli.run("status", request_id)

    assert result.returncode == 69, result.stderr
    for shown in (result.stdout, result.stderr):
        assert cli.token.lower() not in shown.lower()


def test_the_token_is_masked_whatever_its_case_in_an_echoed_output(cli: CLI) -> None:
    result = cli.run("run", ECHO, "--input", json.dumps({"echo": cli.token.upper(), "too": cli.token}))

    assert result.returncode == 0, result.stderr
    assert cli.token.lower() not in result.stdout.lower()
    assert result.stdout.count("****") == 2
    cli.assert_no_leak(result.stdout, result.stderr)


def test_a_file_name_never_holds_the_token_and_the_recorded_path_is_the_real_one(cli: CLI) -> None:
    body = json.dumps({"size_bytes": 19, "filename": f"{cli.token}-19.bin"})

    result = cli.run(
        "--output", "json", "run", SIZED, "--input", body, "--output-dir", "out", "--emit", "record"
    )

    assert result.returncode == 0, result.stderr
    [saved] = json.loads(result.stdout)["files"]
    assert (cli.home / "out").is_dir()
    [on_disk] = list((cli.home / "out").iterdir())
    assert on_disk.name == "redacted-19.bin"
    assert cli.home / saved["path"] == on_disk  # what is printed and recorded is the file that exists
    (row,) = journal_rows(cli.home / "state").values()
    assert json.loads(row["files_json"])[0]["path"] == str(on_disk)
    cli.assert_no_leak(result.stdout, result.stderr)


def test_requests_list_masks_the_token_even_when_it_builds_no_client(cli: CLI, tmp_path: Path) -> None:
    batch = tmp_path / "b.jsonl"
    batch.write_text(json.dumps({"echo": cli.token}) + "\n")
    assert cli.run("run", ECHO, "--batch", str(batch), "--output-dir", "out").returncode == 0

    for mode in ("pretty", "json"):
        listed = cli.run("--output", mode, "requests", "list", "--all", "--no-refresh")
        assert listed.returncode == 0, listed.stderr
        cli.assert_no_leak(listed.stdout, listed.stderr)
    cli.assert_no_leak()  # the batch's journal rows hold no token either
