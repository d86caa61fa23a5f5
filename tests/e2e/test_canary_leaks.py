"""The token never leaks: for every command, in every mode and verbosity, on success and on
401, 5xx, unusable answers, failed requests and unexpected exceptions, the fixture's unique canary token appears
in neither stdout, stderr nor any file the command wrote (``cli.assert_no_leak``), even when the server echoes it
back in an error body. Login's freshly minted token is held to the same rule, outside its own token file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from background import USER_CODE, decide_device, start, token_file
from cli_harness import CLI, RUNCOMFY, Result

ECHO = "runcomfy/emulator/echo"
IMAGE = "openai/gpt-image-2/text-to-image"
MODES: dict[str, list[str]] = {
    "pretty": [],
    "json": ["--output", "json"],
    "quiet": ["-q"],
    "verbose": ["-v"],
    "trace": ["-vv"],
}


@dataclass
class Scenario:
    """One command line, the exit code that proves it went the intended way, and extra environment."""

    args: list[str]
    exit_code: int
    env: dict[str, str | None] = field(default_factory=dict)


def echoing_error(cli: CLI, route: str, status: int) -> None:
    """The server answers ``status`` with an error body that repeats the caller's token everywhere it can."""
    body = {
        "error_code": status * 1000 + 1,
        "error_message": f"token {cli.token} was refused",
        "detail": [{"loc": ["header", "authorization"], "msg": f"Bearer {cli.token}"}],
    }
    cli.fault(route=route, kind="error", status=status, body=body, times=None)


def _run_image(cli: CLI, tmp: Path) -> Scenario:
    return Scenario(["run", IMAGE, "--input", '{"prompt": "canary"}'], 0)


def _run_no_wait(cli: CLI, tmp: Path) -> Scenario:
    return Scenario(["run", ECHO, "--input", "{}", "--no-wait"], 0)


def _status(cli: CLI, tmp: Path) -> Scenario:
    return Scenario(["status", cli.submit(ECHO)], 0)


def _requests_get(cli: CLI, tmp: Path) -> Scenario:
    return Scenario(["requests", "get", cli.submit(ECHO)], 0)


def _cancel(cli: CLI, tmp: Path) -> Scenario:
    return Scenario(["cancel", cli.submit(ECHO)], 0)


def _result(cli: CLI, tmp: Path) -> Scenario:
    return Scenario(["result", cli.submit(IMAGE, {"prompt": "canary"})], 0)


def _whoami(cli: CLI, tmp: Path) -> Scenario:
    return Scenario(["whoami"], 0)


def _logout(cli: CLI, tmp: Path) -> Scenario:
    return Scenario(["logout"], 0)


def _status_401(cli: CLI, tmp: Path) -> Scenario:
    echoing_error(cli, "status", 401)
    return Scenario(["status", cli.submit(ECHO)], 77)


def _run_status_401(cli: CLI, tmp: Path) -> Scenario:
    echoing_error(cli, "status", 401)
    return Scenario(["run", ECHO, "--input", "{}"], 77)


def _submit_500(cli: CLI, tmp: Path) -> Scenario:
    echoing_error(cli, "submit", 500)
    return Scenario(["run", ECHO, "--input", "{}"], 69)


def _submit_non_json(cli: CLI, tmp: Path) -> Scenario:
    cli.fault(route="submit", kind="non_json", times=None)
    return Scenario(["run", ECHO, "--input", "{}"], 69)


def _whoami_403(cli: CLI, tmp: Path) -> Scenario:
    echoing_error(cli, "me", 403)
    return Scenario(["whoami"], 77)


def _failed_request(cli: CLI, tmp: Path) -> Scenario:
    message = json.dumps({"message": f"the model saw {cli.token}"})
    return Scenario(["run", "runcomfy/emulator/fail", "--input", message], 1)


def _output_echoes_token(cli: CLI, tmp: Path) -> Scenario:
    """A model whose output repeats the token (the echo model returns its input): shown and journaled masked."""
    return Scenario(["run", ECHO, "--input", json.dumps({"note": cli.token})], 0)


def _loose_token_file(cli: CLI, tmp: Path) -> Scenario:
    """The canary read from a token file others can read (kept outside the checked home on purpose)."""
    config = tmp / "outside-config"
    config.mkdir(mode=0o700)
    path = config / "token.json"
    path.write_text(json.dumps({"access_token": cli.token}))
    path.chmod(0o644)
    return Scenario(["whoami"], 0, {"RUNCOMFY_TOKEN": None, "RUNCOMFY_CONFIG_DIR": str(config)})


def _bad_base_with_token(cli: CLI, tmp: Path) -> Scenario:
    """A configuration error whose text would contain the token if it were quoted raw."""
    return Scenario(["status", "abc"], 1, {"RUNCOMFY_MODEL_API_BASE": f"ftp://{cli.token}/v1"})


COMMANDS: dict[str, Callable[[CLI, Path], Scenario]] = {
    "run": _run_image,
    "run-no-wait": _run_no_wait,
    "status": _status,
    "requests-get": _requests_get,
    "cancel": _cancel,
    "result": _result,
    "whoami": _whoami,
    "logout": _logout,
}
ADVERSE: dict[str, Callable[[CLI, Path], Scenario]] = {
    "status-401": _status_401,
    "run-401-while-polling": _run_status_401,
    "submit-500": _submit_500,
    "submit-non-json": _submit_non_json,
    "whoami-403": _whoami_403,
    "failed-request": _failed_request,
    "output-echoes-token": _output_echoes_token,
    "loose-token-file": _loose_token_file,
    "bad-base-url": _bad_base_with_token,
}
# Adverse cases run in the modes that print the most: -q prints a subset of pretty mode and -v a subset of -vv
# (Output filters lines by level, never rewrites them), so those two add run time, not coverage.
ADVERSE_MODES = ["pretty", "json", "trace"]


def run_and_check(cli: CLI, case: Scenario, mode: str) -> Result:
    result = cli.run(*MODES[mode], *case.args, env=case.env)

    context = f"mode {mode}: {result.stderr}"
    assert result.returncode == case.exit_code, context
    assert "Traceback" not in result.stderr, context
    cli.assert_no_leak(result.stdout, result.stderr)
    return result


# Each test runs its command once per mode against one emulator: the modes share the set-up, not the checks.


@pytest.mark.parametrize("command", list(COMMANDS))
def test_canary_token_never_appears_in_output_or_files_in_any_mode(
    cli: CLI, tmp_path: Path, command: str
) -> None:
    case = COMMANDS[command](cli, tmp_path)

    for mode in MODES:
        run_and_check(cli, case, mode)


@pytest.mark.parametrize("failure", list(ADVERSE))
def test_canary_token_never_appears_on_failures_warnings_and_echoes(
    cli: CLI, tmp_path: Path, failure: str
) -> None:
    case = ADVERSE[failure](cli, tmp_path)

    for mode in ADVERSE_MODES:
        run_and_check(cli, case, mode)


def test_canary_echoed_by_the_server_is_masked_not_dropped(cli: CLI) -> None:
    """The error is still shown: only the secret inside it is replaced."""
    echoing_error(cli, "status", 401)

    result = cli.run("status", cli.submit(ECHO))

    assert result.returncode == 77
    assert "token **** was refused" in result.stderr


def test_files_written_by_a_run_hold_no_canary(cli: CLI) -> None:
    result = cli.run("-vv", "run", IMAGE, "--input", '{"prompt": "files"}')

    assert result.returncode == 0
    written = cli.files_under()
    assert any(p.suffix == ".png" for p in written)
    assert any(p.name.startswith("requests.sqlite3") for p in written)  # the journal was checked too
    cli.assert_no_leak(result.stdout, result.stderr)


# -- an unexpected exception (a bug) whose message carries the token ------------------------------------------------

INJECT_BUG = """
import os, sys
import runcomfy.lifecycle.handle
def broken_status(self, **kwargs):
    raise RuntimeError("internal state: token=" + os.environ["RUNCOMFY_TOKEN"] + " header=Bearer "
                       + os.environ["RUNCOMFY_TOKEN"])
runcomfy.lifecycle.handle.RequestHandle.status = broken_status
from runcomfy.cli.main import main
sys.argv[0] = "runcomfy"
main()
"""


def test_unexpected_exception_is_one_line_without_the_token(cli: CLI) -> None:
    python = os.path.join(os.path.dirname(RUNCOMFY), "python")
    for mode in ADVERSE_MODES:
        done = subprocess.run(
            [
                python if os.path.exists(python) else sys.executable,
                "-c",
                INJECT_BUG,
                *MODES[mode],
                "status",
                "x",
            ],
            capture_output=True,
            text=True,
            env=cli.env,
            cwd=cli.home,
            timeout=60,
        )

        assert done.returncode == 1, mode
        assert "Traceback" not in done.stderr, mode
        assert "unexpected error (RuntimeError)" in done.stderr, mode
        cli.assert_no_leak(done.stdout, done.stderr)


# -- login's minted token --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ADVERSE_MODES)
def test_login_never_prints_the_minted_token(cli: CLI, mode: str) -> None:
    command = start(cli, *MODES[mode], "login", "--no-browser")
    decide_device(cli, command.wait_for(USER_CODE).group(1))
    result: Result = command.finish()

    assert result.returncode == 0, result.stderr
    minted = json.loads(token_file(cli).read_text())["access_token"]
    assert minted not in result.stdout + result.stderr
    for path in cli.files_under():
        if path != token_file(cli):
            assert minted.encode() not in path.read_bytes(), path
    cli.assert_no_leak(result.stdout, result.stderr)


# -- a token with characters JSON escapes ---------------------------------------------------------------------------


def json_hostile_canary(cli: CLI) -> tuple[CLI, str]:
    """The fixture's emulator accepting a second token that JSON, repr and HTML would all write differently:
    a double quote, backslashes, ``</``. (Token() takes any text without control characters; an HTTP header
    needs ASCII, so nothing outside it.) Its unique part is returned too, to catch a partial leak."""
    unique = uuid.uuid4().hex
    token = f'rc-canary-{unique}-"quoted"\\back\\slash</end'
    cli.control("POST", "tokens", {"token": token})
    return dataclasses.replace(cli, token=token), unique


def written_forms(token: str) -> set[str]:
    """Every way the token could be written out: as is, JSON-escaped (ASCII or not), as a Python repr."""
    return {
        token,
        json.dumps(token)[1:-1],
        json.dumps(token, ensure_ascii=False)[1:-1],
        repr(token)[1:-1],
    }


def assert_no_form_leaks(cli: CLI, unique: str, *texts: str) -> None:
    forms = written_forms(cli.token)
    assert len(forms) > 1  # the token really has characters JSON escapes
    for text in texts:
        for form in forms:
            assert form not in text, form
        assert unique not in text  # not even a part of it
    for path in cli.files_under():
        content = path.read_bytes()
        for form in forms:
            assert form.encode() not in content, (path, form)
        assert unique.encode() not in content, path


def test_a_token_with_json_escaped_characters_never_leaks_in_any_form(cli: CLI) -> None:
    hostile, unique = json_hostile_canary(cli)
    echoed = json.dumps({"note": hostile.token, "nested": [{"again": hostile.token}]})

    def check(case: Scenario) -> None:
        for mode in ADVERSE_MODES:
            result = hostile.run(*MODES[mode], *case.args, env=case.env)

            assert result.returncode == case.exit_code, f"{case.args} in {mode}: {result.stderr}"
            assert "Traceback" not in result.stderr
            assert_no_form_leaks(hostile, unique, result.stdout, result.stderr)

    check(Scenario(["run", ECHO, "--input", echoed], 0))  # the output repeats the token: shown and journaled
    check(Scenario(["whoami"], 0))
    request_id = hostile.submit(ECHO)
    echoing_error(hostile, "status", 401)
    check(Scenario(["status", request_id], 77))  # the error body repeats it everywhere it can
