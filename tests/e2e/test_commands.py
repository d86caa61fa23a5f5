"""The commands one by one: ``status``, ``cancel``, ``result`` and their ``requests get|cancel|result`` aliases,
``whoami``, ``completion``, ``--help``, ``--version``, and exit code 64 for every usage error (click says 2).
"""

from __future__ import annotations

import hashlib
import json
import subprocess

import pytest
from cli_harness import CLI

import runcomfy

ECHO = "runcomfy/emulator/echo"
IMAGE = "openai/gpt-image-2/text-to-image"
SLOW = "runcomfy/emulator/slow"
COMMANDS = ["login", "logout", "whoami", "run", "status", "cancel", "result", "requests", "completion"]


@pytest.fixture
def one_worker_busy(cli: CLI) -> tuple[str, str]:
    """One worker, running a long job; a second job waits in the queue behind it. Returns (running, queued)."""
    cli.configure(workers=1, durations={SLOW: 600})
    return cli.submit(SLOW, {"seconds": 600}), cli.submit(SLOW, {"seconds": 600})


# -- status ---------------------------------------------------------------------------------------------------------


def test_status_of_a_queued_request_shows_its_queue_position(
    cli: CLI, one_worker_busy: tuple[str, str]
) -> None:
    _running, queued = one_worker_busy

    result = cli.run("status", queued)

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:3] == [f"request_id: {queued}", "status:     in_queue", "queue:      position 0"]
    assert lines[3] == f"status_url: {cli.server.model_api_base}/requests/{queued}/status"


def test_status_in_json_has_the_official_keys_with_nulls(cli: CLI, one_worker_busy: tuple[str, str]) -> None:
    running, _queued = one_worker_busy

    document = json.loads(cli.run("--output", "json", "status", running).stdout)

    assert document == {
        "queue_position": None,
        "request_id": running,
        "result_url": f"{cli.server.model_api_base}/requests/{running}/result",
        "status": "in_progress",
        "status_url": f"{cli.server.model_api_base}/requests/{running}/status",
    }


def test_status_follows_the_emulator_clock_to_completion(cli: CLI, one_worker_busy: tuple[str, str]) -> None:
    running, queued = one_worker_busy

    cli.advance(601)
    first = json.loads(cli.run("--output", "json", "status", running).stdout)
    second = json.loads(cli.run("--output", "json", "status", queued).stdout)

    assert first["status"] == "completed"
    assert second["status"] == "in_progress"


@pytest.mark.parametrize("command", ["status", "cancel", "result"])
def test_unknown_request_id_is_exit_65_naming_the_id(cli: CLI, command: str) -> None:
    result = cli.run(command, "no-such-request")

    assert result.returncode == 65
    assert "Error: " in result.stderr and "404" in result.stderr
    assert "Request id: no-such-request" in result.stderr
    assert result.stdout == ""


def test_request_id_with_a_slash_is_refused_before_any_call(cli: CLI) -> None:
    result = cli.run("status", "../../models")

    assert result.returncode == 65
    assert "must not contain '/'" in result.stderr
    assert "JSON object" not in result.stderr.split("Hint:")[0]
    assert cli.calls() == []


# -- cancel ---------------------------------------------------------------------------------------------------------


def test_cancel_of_a_queued_request_cancels_it(cli: CLI, one_worker_busy: tuple[str, str]) -> None:
    _running, queued = one_worker_busy

    result = cli.run("cancel", queued)

    assert result.returncode == 0, result.stderr
    assert result.stderr == f"[ok] Cancelled {queued} (final status: cancelled)\n"
    assert json.loads(cli.run("--output", "json", "status", queued).stdout)["status"] == "cancelled"


def test_cancel_in_json_mode_prints_the_outcome(cli: CLI, one_worker_busy: tuple[str, str]) -> None:
    _running, queued = one_worker_busy

    result = cli.run("--output", "json", "cancel", queued)

    assert result.returncode == 0
    assert json.loads(result.stdout) == {"outcome": "cancelled", "request_id": queued, "status": "cancelled"}
    assert result.stderr == ""


def test_cancel_of_a_running_request_is_not_cancellable_and_still_exit_0(
    cli: CLI, one_worker_busy: tuple[str, str]
) -> None:
    running, _queued = one_worker_busy

    pretty = cli.run("cancel", running)
    as_json = cli.run("--output", "json", "cancel", running)

    assert pretty.returncode == 0 and as_json.returncode == 0
    assert pretty.stderr.startswith(f"[info] {running} could not be cancelled (status: in_progress)")
    assert json.loads(as_json.stdout)["outcome"] == "not_cancellable"
    assert json.loads(cli.run("--output", "json", "status", running).stdout)["status"] == "in_progress"


# -- result ---------------------------------------------------------------------------------------------------------


def test_result_prints_the_servers_whole_record_then_downloads(cli: CLI) -> None:
    request_id = cli.submit(IMAGE, {"prompt": "a bridge"})
    server_record = cli.http.get(
        f"{cli.server.model_api_base}/requests/{request_id}/result",
        headers={"Authorization": f"Bearer {cli.token}"},
    ).json()

    result = cli.run("--output", "json", "result", request_id, "--output-dir", "fetched")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == server_record  # every key the service sent, nothing added
    assert "started_at" in server_record and "files" not in server_record
    [path] = (cli.home / "fetched").glob("*.png")
    assert path.stat().st_size > 0


def test_result_emit_record_adds_the_saved_files_and_keeps_every_server_key(cli: CLI) -> None:
    request_id = cli.submit(IMAGE, {"prompt": "a bridge"})

    result = cli.run("--output", "json", "result", request_id, "--output-dir", "fetched", "--emit", "record")

    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["request_id"] == request_id and record["status"] == "completed"
    assert record["started_at"]  # a key of the service's record that ours does not define
    [saved] = record["files"]
    path = cli.home / saved["path"]
    assert path.parent == cli.home / "fetched"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == saved["sha256"]


def test_result_in_pretty_mode_prints_the_record_before_the_download_lines(cli: CLI) -> None:
    request_id = cli.submit(IMAGE, {"prompt": "a bridge"})

    result = cli.run("result", request_id, "--output-dir", "fetched")

    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)  # one JSON document, indented
    assert record["output"]["images"] and "\n  " in result.stdout
    assert "[download] Downloading 1 file(s) to fetched" in result.stderr


def test_result_with_no_download_saves_nothing(cli: CLI) -> None:
    request_id = cli.submit(IMAGE, {"prompt": "a bridge"})

    result = cli.run("--output", "json", "result", request_id, "--no-download", "--emit", "record")

    assert result.returncode == 0
    record = json.loads(result.stdout)
    assert record["files"] == [] and record["output"]["images"]
    assert not [p for p in cli.files_under() if p.suffix == ".png"]


def test_result_saves_into_the_directory_recorded_by_run(cli: CLI) -> None:
    submitted = cli.run(
        "--output", "json", "run", IMAGE, "--input", '{"prompt": "p"}', "--no-wait", "--output-dir", "later"
    )
    request_id = json.loads(submitted.stdout)["request_id"]

    result = cli.run("result", request_id)

    assert result.returncode == 0, result.stderr
    assert len(list((cli.home / "later").glob("*.png"))) == 1


def test_result_of_an_unfinished_request_says_so_and_downloads_nothing(
    cli: CLI, one_worker_busy: tuple[str, str]
) -> None:
    running, _queued = one_worker_busy

    result = cli.run("result", running)

    assert result.returncode == 75  # as `run --timeout` would: not finished yet, try later
    assert f"Error: request {running} is not finished yet (status: in_progress)" in result.stderr
    assert f"runcomfy result {running}" in result.stderr
    assert json.loads(result.stdout)["status"] == "in_progress"  # the service's record is still printed
    assert not [p for p in cli.files_under() if p.suffix == ".png"]


def test_result_of_a_failed_request_is_exit_1_with_its_error(cli: CLI) -> None:
    request_id = cli.submit("runcomfy/emulator/fail", {"message": "the GPU melted"})

    result = cli.run("result", request_id)

    assert result.returncode == 1
    assert "the GPU melted" in result.stderr
    assert f"Request id: {request_id}" in result.stderr


def test_result_of_a_cancelled_request_is_exit_1(cli: CLI, one_worker_busy: tuple[str, str]) -> None:
    _running, queued = one_worker_busy
    assert cli.run("cancel", queued).returncode == 0

    result = cli.run("result", queued)

    assert result.returncode == 1
    assert "cancel" in result.stderr.lower()


# -- the requests aliases ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alias", "command"),
    [
        (["requests", "get"], ["status"]),
        (["requests", "result", "--no-download"], ["result", "--no-download"]),
    ],
    ids=["get=status", "result=result"],
)
def test_requests_aliases_print_exactly_what_the_commands_print(
    cli: CLI, alias: list[str], command: list[str]
) -> None:
    request_id = cli.submit(IMAGE, {"prompt": "same"})

    via_alias = cli.run("--output", "json", *alias[:2], request_id, *alias[2:])
    direct = cli.run("--output", "json", command[0], request_id, *command[1:])

    assert via_alias.returncode == direct.returncode == 0
    assert json.loads(via_alias.stdout) == json.loads(direct.stdout)


def test_requests_cancel_alias_cancels(cli: CLI, one_worker_busy: tuple[str, str]) -> None:
    _running, queued = one_worker_busy

    result = cli.run("--output", "json", "requests", "cancel", queued)

    assert result.returncode == 0
    assert json.loads(result.stdout)["outcome"] == "cancelled"


# -- whoami ---------------------------------------------------------------------------------------------------------


def test_whoami_prints_the_user_on_stdout(cli: CLI) -> None:
    pretty = cli.run("whoami")
    as_json = cli.run("--output", "json", "whoami")

    assert pretty.returncode == 0 and as_json.returncode == 0
    document = json.loads(as_json.stdout)
    assert list(document) == sorted(document)
    assert set(document) == {"display_name", "email", "id", "token_created_at", "token_type", "username"}
    assert document["token_type"] == "api"
    assert pretty.stdout.splitlines()[0] == f"user:          {document['email']}"
    assert f"user id:       {document['id']}" in pretty.stdout
    assert pretty.stderr == ""


def test_whoami_with_a_rejected_token_is_exit_77(cli: CLI) -> None:
    result = cli.run("whoami", env={"RUNCOMFY_TOKEN": "rc-not-a-real-token"})

    assert result.returncode == 77
    assert "401" in result.stderr and "runcomfy login" in result.stderr


# -- completion -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_a_script_for_each_shell(cli: CLI, shell: str) -> None:
    result = cli.run("completion", shell)

    assert result.returncode == 0
    assert "_RUNCOMFY_COMPLETE" in result.stdout
    assert f"{shell}_complete" in result.stdout
    assert result.stderr == ""


def test_bash_completion_script_is_valid_bash(cli: CLI) -> None:
    script = cli.home / "runcomfy.bash"
    script.write_text(cli.run("completion", "bash").stdout)

    checked = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)

    assert checked.returncode == 0, checked.stderr


def test_completion_completes_command_names(cli: CLI) -> None:
    result = cli.run(
        env={"_RUNCOMFY_COMPLETE": "bash_complete", "COMP_WORDS": "runcomfy sta", "COMP_CWORD": "1"},
    )

    assert result.returncode == 0
    assert "plain,status" in result.stdout.splitlines()


# -- help and version -----------------------------------------------------------------------------------------------


def test_root_help_lists_commands_environment_and_exit_codes(cli: CLI) -> None:
    result = cli.run("--help")

    assert result.returncode == 0
    assert result.stderr == ""
    for command in COMMANDS:
        assert f"\n  {command} " in result.stdout, command
    assert "ENVIRONMENT:" in result.stdout and "RUNCOMFY_TOKEN" in result.stdout
    for variable in ("RUNCOMFY_MODEL_API_BASE", "RUNCOMFY_SERVERLESS_API_BASE", "RUNCOMFY_TRAINER_API_BASE"):
        assert variable in result.stdout, variable
    for group in ("balance", "deployments", "datasets", "train"):
        assert f"\n  {group} " in result.stdout, group
    assert "EXIT CODES:" in result.stdout
    for code in ("0", "1", "64", "65", "66", "69", "74", "75", "77", "130"):
        assert f"\n    {code} " in result.stdout, code


@pytest.mark.parametrize(
    "command",
    [["login"], ["logout"], ["whoami"], ["run"], ["status"], ["cancel"], ["result"], ["completion"]],
    ids=lambda c: c[0],
)
def test_every_command_help_has_examples(cli: CLI, command: list[str]) -> None:
    result = cli.run(*command, "--help")

    assert result.returncode == 0
    assert "Examples:" in result.stdout
    assert "runcomfy " in result.stdout.split("Examples:")[1]


def test_help_short_flag_works(cli: CLI) -> None:
    assert cli.run("status", "-h").stdout == cli.run("status", "--help").stdout


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_prints_the_package_version_on_stdout(cli: CLI, flag: str) -> None:
    result = cli.run(flag)

    assert result.returncode == 0
    assert result.stdout == f"runcomfy {runcomfy.__version__}\n"
    assert result.stderr == ""


# -- usage errors: 64 -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ([], "Usage: runcomfy"),
        (["frobnicate"], "No such command 'frobnicate'"),
        (["--frobnicate"], "No such option '--frobnicate'"),
        (["run", ECHO, "--frobnicate"], "No such option '--frobnicate'"),
        (["status"], "Missing argument 'REQUEST_ID'"),
        (["status", "a", "b"], "unexpected extra argument"),
        (["requests"], "Usage: runcomfy requests"),
        (["requests", "list-all"], "No such command 'list-all'"),
        (["completion", "tcsh"], "'tcsh' is not one of"),
        (["--output", "xml", "status", "x"], "--output"),
        (["status", "x", "--output"], "--output"),
    ],
    ids=[
        "no-command",
        "unknown-command",
        "unknown-global-flag",
        "unknown-flag",
        "missing-argument",
        "extra-argument",
        "group-without-subcommand",
        "unknown-subcommand",
        "bad-shell",
        "bad-output-mode",
        "output-without-value",
    ],
)
def test_usage_errors_exit_64_not_clicks_2(cli: CLI, args: list[str], fragment: str) -> None:
    result = cli.run(*args)

    assert result.returncode == 64
    assert result.stdout == ""
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr
    assert cli.calls() == []


def test_usage_error_in_json_mode_is_a_json_line(cli: CLI) -> None:
    result = cli.run("--output", "json", "status")

    assert result.returncode == 64
    error = json.loads(result.stderr)
    assert "REQUEST_ID" in error["error"] and error["exit_code"] == 64
