"""The journal is scoped to the API base and the identity that used it; ``requests list`` refreshes unfinished
rows and says why it is empty."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from cli_harness import CLI

SIZED = "runcomfy/emulator/sized-file"
SLOW = "runcomfy/emulator/slow"


def listed(cli: CLI, *args: str, env: dict[str, str | None] | None = None) -> list[dict[str, object]]:
    result = cli.run("--output", "json", "requests", "list", *args, env=env)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert isinstance(rows, list)
    return rows


def other_token(cli: CLI) -> str:
    token = "rc-other-user-token"
    cli.control("POST", "tokens", {"token": token})
    return token


def test_a_batch_line_done_by_one_token_is_not_already_done_for_another(cli: CLI) -> None:
    batch = cli.home / "b.jsonl"
    batch.write_text('{"size_bytes": 10}\n{"size_bytes": 20}\n')
    command = ["run", SIZED, "--batch", str(batch), "--output-dir", "out", "--no-validate"]
    assert cli.run(*command).returncode == 0

    bogus = cli.run(*command, env={"RUNCOMFY_TOKEN": "bogus"})

    assert bogus.returncode == 77, bogus.stderr  # refused by the service, not "succeeded (already done)"
    assert "already done" not in bogus.stderr
    assert len(cli.calls("submit")) == 4


def test_requests_list_shows_the_current_identity_only_unless_all(cli: CLI) -> None:
    mine = cli.run("--output", "json", "run", SIZED, "--input", '{"size_bytes": 5}', "--no-download")
    assert mine.returncode == 0, mine.stderr
    theirs_env: dict[str, str | None] = {"RUNCOMFY_TOKEN": other_token(cli)}
    theirs = cli.run("--output", "json", "run", SIZED, "--input", '{"size_bytes": 6}', env=theirs_env)
    assert theirs.returncode == 0, theirs.stderr

    assert len(listed(cli)) == 1
    assert len(listed(cli, env=theirs_env)) == 1
    assert len(listed(cli, "--all")) == 2
    elsewhere = listed(
        cli, env={"RUNCOMFY_MODEL_API_BASE": cli.server.origin + "/v1/"}
    )  # same base, normalised
    assert len(elsewhere) == 1


def test_the_journal_stores_a_fingerprint_never_the_token(cli: CLI) -> None:
    assert cli.run("run", SIZED, "--input", '{"size_bytes": 5}', "--no-download").returncode == 0

    db = sqlite3.connect(cli.home / "state" / "requests.sqlite3")
    try:
        (identity,) = db.execute("SELECT identity FROM requests").fetchone()
    finally:
        db.close()
    assert isinstance(identity, str) and len(identity) == 32 and cli.token not in identity
    cli.assert_no_leak()


def test_requests_list_refreshes_a_no_wait_request_that_finished_since(cli: CLI) -> None:
    cli.configure(durations={SLOW: 30})
    submitted = cli.run("--output", "json", "run", SLOW, "--input", '{"seconds": 30}', "--no-wait")
    request_id = json.loads(submitted.stdout)["request_id"]
    assert [r["status"] for r in listed(cli, "--no-refresh")] == ["submitted"]
    assert cli.calls("status") == []  # --no-refresh asks nothing
    cli.advance(31)

    rows = listed(cli)

    assert [(r["request_id"], r["status"]) for r in rows] == [(request_id, "completed")]
    assert len(cli.calls("status")) == 1
    assert [r["status"] for r in listed(cli, "--no-refresh")] == ["completed"]  # what it learnt was recorded


def test_requests_list_refresh_survives_an_unreachable_service(cli: CLI) -> None:
    submitted = cli.run("--output", "json", "run", SLOW, "--input", '{"seconds": 30}', "--no-wait")
    assert submitted.returncode == 0
    cli.fault(route="status", kind="error", status=503, times=None)

    rows = listed(cli)

    assert [r["status"] for r in rows] == ["submitted"]  # shown as last recorded


def test_an_unknown_status_filter_is_a_usage_error_listing_the_valid_ones(cli: CLI) -> None:
    result = cli.run("requests", "list", "--status", "bogus")

    assert result.returncode == 64
    assert "'bogus' is not one of" in result.stderr
    for valid in ("completed", "failed", "cancelled", "in_progress", "timed_out"):
        assert valid in result.stderr


def test_an_empty_list_says_why(cli: CLI, tmp_path: Path) -> None:
    nothing = cli.run("requests", "list")
    assert nothing.returncode == 0 and "No requests recorded yet." in nothing.stderr
    assert cli.run("run", SIZED, "--input", '{"size_bytes": 5}', "--no-download").returncode == 0

    filtered = cli.run("requests", "list", "--status", "failed")
    other = cli.run("requests", "list", env={"RUNCOMFY_TOKEN": other_token(cli)})

    assert "No requests match --status failed." in filtered.stderr
    assert "No requests recorded yet" not in filtered.stderr
    assert "--all shows every identity" in other.stderr


def test_status_filters_match_every_spelling_of_a_status(cli: CLI) -> None:
    assert cli.run("run", SIZED, "--input", '{"size_bytes": 5}', "--no-download").returncode == 0
    assert cli.run("run", "runcomfy/emulator/fail", "--input", "{}").returncode == 1

    assert [r["status"] for r in listed(cli, "--status", "COMPLETED")] == ["completed"]
    assert [r["model_id"] for r in listed(cli, "--status", "failed")] == ["runcomfy/emulator/fail"]
