"""What first users hit: hints that fit the cause, visible retries, JSON on stdout, bounded unknown statuses,
errors with structured detail, and flags that mean what they say."""

from __future__ import annotations

import json
import re

from background import start
from cli_harness import CLI
from test_output_modes import run_with_terminal_stderr

ECHO = "runcomfy/emulator/echo"
SIZED = "runcomfy/emulator/sized-file"
SLOW = "runcomfy/emulator/slow"
IMAGE = "openai/gpt-image-2/text-to-image"
KONTEXT = "blackforestlabs/flux-1-kontext/pro/edit"


# -- hints fit the cause -----------------------------------------------------------------------------------------


def test_a_missing_at_file_names_the_argument_not_input_file(cli: CLI) -> None:
    result = cli.run("run", KONTEXT, "prompt=hat", "image_url=@nope.png")

    assert result.returncode == 66
    assert "image_url=@nope.png" in result.stderr and "nope.png" in result.stderr
    assert "--input-file" not in result.stderr
    assert cli.calls("submit") == []


def test_a_missing_batch_file_names_batch_not_input_file(cli: CLI) -> None:
    result = cli.run("run", SIZED, "--batch", "nope.jsonl")

    assert result.returncode == 66
    assert "--batch: nope.jsonl: no such file" in result.stderr
    assert "--input-file" not in result.stderr


def test_an_input_error_that_names_its_problem_gets_no_generic_hint(cli: CLI) -> None:
    result = cli.run("run", ECHO, "--input", "{not json")

    assert result.returncode == 65
    assert "--input: invalid JSON" in result.stderr
    assert "Hint:" not in result.stderr


def test_a_schema_problem_lists_each_field_on_its_own_line_and_points_at_models_get(cli: CLI) -> None:
    result = cli.run("run", IMAGE, "promt=a fox", "num_images=9")

    assert result.returncode == 65
    lines = result.stderr.splitlines()
    assert lines[0] == f"Error: the input does not match the schema of {IMAGE}; nothing was submitted"
    assert '  promt: unknown field; did you mean "prompt"?' in lines
    assert "  num_images: must be <= 4; got 9" in lines
    assert "  prompt: required field is missing" in lines
    assert f"Hint: see its inputs with `runcomfy models get {IMAGE}`" in result.stderr
    assert " | " not in result.stderr


def test_a_server_refusal_with_no_validate_points_at_the_models_inputs(cli: CLI) -> None:
    result = cli.run("run", IMAGE, "--input", '{"prompt": ""}', "--no-validate")

    assert result.returncode == 65
    assert "prompt" in result.stderr
    assert f"Hint: see the model's inputs with `runcomfy models get {IMAGE}`" in result.stderr


# -- errors carry structured detail in json mode ------------------------------------------------------------------


def test_json_mode_error_of_a_failed_request_keeps_error_a_string_and_adds_the_servers_object(
    cli: CLI,
) -> None:
    result = cli.run(
        "--output", "json", "run", "runcomfy/emulator/fail", "--input", '{"message": "GPU melted"}'
    )

    assert result.returncode == 1
    line = json.loads(result.stderr)
    assert isinstance(line["error"], str) and "GPU melted" in line["error"]
    assert line["detail"] == {"type": "model_error", "message": "GPU melted"}
    assert '\\"' not in json.dumps(line["detail"])  # real JSON, not JSON inside a string


def test_json_mode_error_of_a_schema_problem_carries_the_problems_as_a_list(cli: CLI) -> None:
    result = cli.run("--output", "json", "run", IMAGE, "promt=a fox")

    assert result.returncode == 65
    line = json.loads(result.stderr)
    assert {(p["field"], p["kind"]) for p in line["detail"]} == {
        ("promt", "unknown_field"),
        ("prompt", "missing"),
    }
    assert " | " not in line["error"]


def test_a_pretty_failure_prints_the_servers_error_as_compact_json(cli: CLI) -> None:
    result = cli.run("run", "runcomfy/emulator/fail", "--input", '{"message": "boom"}')

    assert result.returncode == 1
    assert 'request failed: {"type":"model_error","message":"boom"}' in result.stderr
    assert "{'type'" not in result.stderr


# -- stdout of run and result is always one JSON document -------------------------------------------------------


def test_a_bare_string_output_is_printed_as_a_json_string_in_both_modes(cli: CLI) -> None:
    pretty = cli.run("run", SIZED, "--input", '{"size_bytes": 10}', "--no-download")
    as_json = cli.run("--output", "json", "run", SIZED, "--input", '{"size_bytes": 10}', "--no-download")

    assert pretty.returncode == 0 and as_json.returncode == 0
    for result in (pretty, as_json):
        url = json.loads(result.stdout)
        assert isinstance(url, str) and url.startswith(cli.server.origin)
        assert result.stdout.startswith('"')


# -- retries are visible; a wait on a terminal shows its elapsed time ------------------------------------------


def test_an_outage_while_polling_is_announced_once_and_its_recovery_too(cli: CLI) -> None:
    cli.fault(route="status", kind="error", status=503, times=3)

    result = cli.run("run", ECHO, "--input", "{}", "--poll-secs", "1")

    assert result.returncode == 0, result.stderr
    announced = [line for line in result.stderr.splitlines() if line.startswith("[retry]")]
    assert len(announced) == 2, result.stderr
    assert re.match(r"\[retry\] GET .*/status: HTTP 503 .*; retrying for up to [45]m", announced[0])
    assert re.match(r"\[retry\] recovered after 3 failed attempt\(s\) \(\d+s\)", announced[1])


def test_a_sustained_outage_says_how_long_it_will_try_before_the_final_error(cli: CLI) -> None:
    cli.fault(route="status", kind="error", status=503, times=None)

    result = cli.run("run", ECHO, "--input", "{}", env={"RUNCOMFY_RETRY_WINDOW": "2"})

    assert result.returncode == 69
    assert re.search(r"\[retry\] GET .*/status: HTTP 503.*; retrying for up to [12]s", result.stderr)
    assert result.stderr.count("[retry]") == 1
    assert "runcomfy result" in result.stderr


def test_retries_are_not_announced_in_json_mode_or_quiet(cli: CLI) -> None:
    cli.fault(route="status", kind="error", status=503, times=2)

    quiet = cli.run("-q", "run", ECHO, "--input", "{}")
    cli.fault(route="status", kind="error", status=503, times=2)
    as_json = cli.run("--output", "json", "run", ECHO, "--input", "{}")

    assert quiet.returncode == 0 and as_json.returncode == 0
    assert quiet.stderr == "" and as_json.stderr == ""


def test_on_a_terminal_a_spinner_shows_the_status_and_the_seconds_elapsed(cli: CLI) -> None:
    cli.configure(durations={SLOW: 2})
    result = run_with_terminal_stderr(
        cli,
        "run",
        SLOW,
        "--input",
        '{"seconds": 2}',
        "--poll-secs",
        "1",
        env={"NO_COLOR": None, "TERM": "xterm-256color"},
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"slept_seconds": 2}
    assert re.search(r"in_progress\S*\s+\S*[12]s", result.stderr), result.stderr  # the spinner's line
    assert "\x1b[?25l" in result.stderr  # drawn live (cursor hidden while it spins)


def test_no_spinner_off_a_terminal(cli: CLI) -> None:
    result = cli.run("run", ECHO, "--input", "{}")

    assert result.returncode == 0
    assert "\x1b" not in result.stderr


# -- unknown statuses are polled on, but not forever ----------------------------------------------------------


def test_an_unknown_status_unchanged_for_the_retry_window_ends_with_69_and_the_resume_command(
    cli: CLI,
) -> None:
    request_id = cli.submit(SLOW, {"seconds": 600})
    body = {"request_id": request_id, "status": "warming_up_gpus"}
    cli.fault(route="status", kind="respond", status=200, body=body, times=None)

    result = cli.run("status", request_id)  # shown as it is
    assert result.returncode == 0 and "warming_up_gpus" in result.stdout

    waited = cli.run(
        "run", SLOW, "--input", '{"seconds": 600}', "--poll-secs", "1", env={"RUNCOMFY_RETRY_WINDOW": "2"}
    )

    assert waited.returncode == 69, waited.stderr
    assert "warming_up_gpus" in waited.stderr
    assert "which this client does not know" in waited.stderr
    assert re.search(r"runcomfy result [0-9a-f-]{36}", waited.stderr)


# -- flags that mean what they say ---------------------------------------------------------------------------------


def test_poll_secs_below_one_is_a_usage_error(cli: CLI) -> None:
    result = cli.run("run", ECHO, "--input", "{}", "--poll-secs", "0")

    assert result.returncode == 64
    assert "--poll-secs" in result.stderr
    assert cli.calls("submit") == []


def test_ctrl_c_says_the_cancel_outcome_once(cli: CLI) -> None:
    blocker = cli.occupy_the_only_worker()
    assert blocker
    command = start(cli, "run", ECHO, "--input", "{}", "--poll-secs", "1")
    command.wait_for(re.compile(r"in_queue"))
    command.proc.send_signal(2)
    result = command.finish()

    assert result.returncode == 130
    assert result.stderr.count("cancel accepted (cancelled)") == 1


def test_a_mistyped_model_id_refused_by_the_service_gets_did_you_mean_even_without_validation(
    cli: CLI,
) -> None:
    result = cli.run(
        "run", "openai/gpt-image-2/text-too-image", "--input", '{"prompt": "x"}', "--no-validate"
    )

    assert result.returncode == 65
    assert len(cli.calls("submit")) == 1  # --no-validate: the service decided
    assert 'Hint: did you mean "openai/gpt-image-2/text-to-image"?' in result.stderr


def test_result_checks_the_output_dir_before_downloading(cli: CLI) -> None:
    request_id = cli.submit(IMAGE, {"prompt": "x"})
    (cli.home / "a-file").write_text("x")

    result = cli.run("result", request_id, "--output-dir", "a-file")

    assert result.returncode == 73, result.stderr
    assert cli.calls("file") == []
