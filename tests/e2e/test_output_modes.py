"""Output modes of the real command: stdout carries data only; stderr gets plain ``[tag]``
lines when it is not a TTY, emoji when it is one; ``--output json`` prints one compact document and keeps stderr
clean; ``-q`` silences progress but never data or errors; ``-vv`` traces HTTP with the bearer token masked.
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time
from typing import Any

import pytest
from cli_harness import CLI, RUNCOMFY, Result

ECHO = "runcomfy/emulator/echo"
IMAGE = "openai/gpt-image-2/text-to-image"
EMOJI = ("⏳", "✅", "⏹", "📥", "⚠", "🔑", "📛", "ℹ")


def compact(document: Any) -> str:
    """How the command writes a JSON document in json mode: compact, sorted keys, one line."""
    return json.dumps(document, separators=(",", ":"), sort_keys=True, ensure_ascii=False) + "\n"


# -- pretty mode without a TTY: plain [tag] lines -------------------------------------------------------------


def test_run_prints_the_output_on_stdout_and_plain_tagged_progress_on_stderr(cli: CLI) -> None:
    result = cli.run("run", ECHO, "--input", '{"colour": "blue"}')

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"colour": "blue"}
    lines = result.stderr.splitlines()
    assert lines[0] == f"[submit] Submitting request to {ECHO}"
    assert lines[1].startswith("   request_id: ")
    assert "[poll] Polling status (every 2s)..." in lines
    assert lines[-1] == "[ok] completed"
    assert all(line.startswith(("[", "   ")) for line in lines), lines
    assert not any(symbol in result.stderr for symbol in EMOJI)


def test_pretty_status_prints_key_value_lines_on_stdout_and_nothing_on_stderr(cli: CLI) -> None:
    request_id = cli.submit(ECHO)

    result = cli.run("status", request_id)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:2] == [f"request_id: {request_id}", "status:     completed"]
    assert result.stderr == ""


def test_pretty_no_wait_prints_the_request_id_as_indented_json(cli: CLI) -> None:
    result = cli.run("run", ECHO, "--input", "{}", "--no-wait")

    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["wait"] is False
    assert f"request_id: {document['request_id']}" in result.stderr
    assert "\n  " in result.stdout  # pretty JSON, as the official CLI prints it


# -- --output json ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "keys"),
    [
        (["run", ECHO, "--input", '{"n": 1}'], None),
        (["run", ECHO, "--input", "{}", "--no-wait"], {"request_id", "wait"}),
        (["status", "{id}"], {"request_id", "status", "queue_position", "status_url", "result_url"}),
        (["cancel", "{id}"], {"request_id", "status", "outcome"}),
        (
            ["result", "{id}", "--no-download"],
            {"request_id", "status", "output", "created_at", "finished_at"},
        ),
        (
            ["result", "{id}", "--no-download", "--emit", "record"],
            {"request_id", "status", "output", "files", "skipped_urls"},
        ),
        (["whoami"], {"id", "email", "token_type"}),
        (["requests", "get", "{id}"], {"request_id", "status"}),
    ],
    ids=["run", "run-no-wait", "status", "cancel", "result", "result-record", "whoami", "requests-get"],
)
def test_json_mode_prints_exactly_one_compact_document_and_nothing_on_stderr(
    cli: CLI, command: list[str], keys: set[str] | None
) -> None:
    request_id = cli.submit(ECHO)
    args = [arg.replace("{id}", request_id) for arg in command]

    result = cli.run("--output", "json", *args)

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    document = json.loads(result.stdout)
    assert result.stdout == compact(document)
    if keys is None:
        assert document == {"n": 1}
    else:
        assert keys <= set(document), document


def test_json_record_of_a_run_lists_every_saved_file_with_its_size_and_sha256(cli: CLI) -> None:
    import hashlib

    result = cli.run("--output", "json", "run", IMAGE, "--input", '{"prompt": "a fox"}', "--emit", "record")

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    record = json.loads(result.stdout)
    assert record["status"] == "completed" and record["model_id"] == IMAGE
    assert record["skipped_urls"] == []
    [saved] = record["files"]
    on_disk = cli.home / saved["path"]
    assert on_disk.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert saved["bytes"] == on_disk.stat().st_size
    assert saved["sha256"] == hashlib.sha256(on_disk.read_bytes()).hexdigest()
    assert saved["url"] == record["output"]["images"][0]


@pytest.mark.parametrize(
    ("args", "exit_code"),
    [
        (["status", "no-such-request"], 65),
        (["run", ECHO, "--input", "[1, 2]"], 65),
        (["run", ECHO, "--input-file", "missing.json"], 66),
        (["run", ECHO, "--poll-secs", "soon"], 64),
        (["no-such-command"], 64),
    ],
    ids=["not-found", "bad-input", "missing-file", "bad-flag-value", "unknown-command"],
)
def test_json_mode_failure_is_one_json_line_on_stderr_with_the_exit_code(
    cli: CLI, args: list[str], exit_code: int
) -> None:
    result = cli.run("--output", "json", *args)

    assert result.returncode == exit_code
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    error = json.loads(line)
    assert isinstance(error["error"], str) and error["error"]
    assert error["exit_code"] == exit_code


def test_json_mode_failure_of_a_submitted_request_carries_its_request_id(cli: CLI) -> None:
    result = cli.run("--output", "json", "run", "runcomfy/emulator/fail", "--input", '{"message": "no luck"}')

    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    error = json.loads(line)
    assert isinstance(error["error"], str) and "no luck" in error["error"]
    assert error["exit_code"] == 1
    assert error["request_id"] == cli.calls("status")[0]["request_id"]


def test_json_mode_without_a_token_reports_exit_77_as_json(cli: CLI) -> None:
    result = cli.run("--output", "json", "whoami", env={"RUNCOMFY_TOKEN": None})

    assert result.returncode == 77
    assert result.stdout == ""
    error = json.loads(result.stderr)
    assert "runcomfy login" in error["error"] and error["exit_code"] == 77


# -- -q, -v, -vv ----------------------------------------------------------------------------------------------


def test_quiet_silences_progress_but_keeps_the_data(cli: CLI) -> None:
    result = cli.run("-q", "run", ECHO, "--input", '{"quiet": true}')

    assert result.returncode == 0
    assert json.loads(result.stdout) == {"quiet": True}
    assert result.stderr == ""


def test_quiet_still_prints_status_data_on_stdout(cli: CLI) -> None:
    request_id = cli.submit(ECHO)

    result = cli.run("-q", "status", request_id)

    assert result.returncode == 0
    assert f"request_id: {request_id}" in result.stdout
    assert result.stderr == ""


def test_quiet_never_silences_errors(cli: CLI) -> None:
    result = cli.run("-q", "status", "no-such-request")

    assert result.returncode == 65
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ")
    assert "404" in result.stderr


def test_quiet_and_verbose_together_are_a_usage_error(cli: CLI) -> None:
    result = cli.run("-q", "-v", "whoami")

    assert result.returncode == 64
    assert "--quiet cannot be combined with --verbose" in result.stderr


def test_verbose_adds_v_lines_without_an_http_trace(cli: CLI) -> None:
    result = cli.run("-v", "run", ECHO, "--input", "{}")

    assert result.returncode == 0
    assert f"[v] Model API base: {cli.server.model_api_base}" in result.stderr.splitlines()
    assert "[trace]" not in result.stderr
    assert json.loads(result.stdout) == {}


def test_double_verbose_traces_http_with_the_bearer_token_masked(cli: CLI) -> None:
    result = cli.run("-vv", "run", ECHO, "--input", '{"traced": 1}')

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"traced": 1}  # the trace never reaches stdout
    trace = [line for line in result.stderr.splitlines() if line.startswith("[trace] ")]
    assert f"[trace] > POST {cli.server.model_api_base}/models/{ECHO}" in trace
    assert any(line.startswith("[trace] > GET ") and line.endswith("/status") for line in trace)
    assert any(line.startswith("[trace] < 200 OK") for line in trace)
    authorization = [line for line in trace if "authorization" in line.lower()]
    assert authorization and all(line == "[trace] > Authorization: Bearer ****" for line in authorization)
    assert cli.token not in result.stderr


def test_json_mode_keeps_stderr_clean_even_with_double_verbose(cli: CLI) -> None:
    result = cli.run("--output", "json", "-vv", "run", ECHO, "--input", "{}")

    assert result.returncode == 0
    assert result.stdout == "{}\n"
    assert result.stderr == ""


# -- global options after the command name ----------------------------------------------------------------------


def test_global_options_are_accepted_after_the_command_name(cli: CLI) -> None:
    request_id = cli.submit(ECHO)

    status = cli.run("status", request_id, "--output", "json")
    quiet_run = cli.run("run", ECHO, "--input", '{"k": 2}', "-q")
    whoami = cli.run("whoami", "--output=json")

    assert status.returncode == 0 and json.loads(status.stdout)["request_id"] == request_id
    assert status.stderr == ""
    assert quiet_run.returncode == 0 and json.loads(quiet_run.stdout) == {"k": 2}
    assert quiet_run.stderr == ""
    assert whoami.returncode == 0 and "email" in json.loads(whoami.stdout)


def test_a_global_option_after_an_alias_subcommand_is_honoured(cli: CLI) -> None:
    request_id = cli.submit(ECHO)

    result = cli.run("requests", "get", request_id, "--output", "json")

    assert result.returncode == 0
    assert json.loads(result.stdout)["status"] == "completed"


# -- a real terminal --------------------------------------------------------------------------------------------


def run_with_terminal_stderr(cli: CLI, *args: str, env: dict[str, str | None]) -> Result:
    """Run the command with stderr on a pseudo-terminal (stdout stays a pipe); ``None`` in ``env`` unsets."""
    merged = cli.env
    for key, value in env.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [RUNCOMFY, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=slave,
            env=merged,
            cwd=cli.home,
        )
    finally:
        os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed its end
                break
            if not data:
                break
            chunks.append(data)
        assert proc.stdout is not None
        stdout = proc.stdout.read().decode()
        proc.stdout.close()
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        os.close(master)
    stderr = b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")
    return Result(proc.returncode, stdout, stderr)


def test_a_terminal_gets_emoji_progress_and_stdout_still_gets_plain_data(cli: CLI) -> None:
    result = run_with_terminal_stderr(
        cli, "run", ECHO, "--input", '{"tty": true}', env={"NO_COLOR": None, "TERM": "xterm-256color"}
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"tty": True}
    assert f"⏳ Submitting request to {ECHO}" in result.stderr
    assert "✅ completed" in result.stderr
    assert "[ok]" not in result.stderr and "[submit]" not in result.stderr


@pytest.mark.parametrize(
    "env",
    [{"NO_COLOR": "1", "TERM": "xterm-256color"}, {"NO_COLOR": None, "TERM": "dumb"}],
    ids=["NO_COLOR", "TERM=dumb"],
)
def test_a_terminal_gets_plain_tags_when_colour_is_disabled(cli: CLI, env: dict[str, str | None]) -> None:
    result = run_with_terminal_stderr(cli, "run", ECHO, "--input", "{}", env=env)

    assert result.returncode == 0, result.stderr
    assert "[ok] completed" in result.stderr
    assert not any(symbol in result.stderr for symbol in EMOJI)


def test_json_mode_on_a_terminal_prints_no_emoji_and_no_progress(cli: CLI) -> None:
    result = run_with_terminal_stderr(
        cli, "--output", "json", "run", ECHO, "--input", "{}", env={"NO_COLOR": None, "TERM": "xterm"}
    )

    assert result.returncode == 0
    assert result.stdout == "{}\n"
    assert result.stderr == ""
