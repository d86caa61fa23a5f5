"""``runcomfy login``: the device-code flow against the emulator, approved (or denied) on its real page.

The verification URL and the user code are shown on stderr in every mode, including ``-q`` and
``--output json`` (the official CLI hid them there); approval saves a working token; denial exits 77; an expired
code exits 75; the minted token is never printed.
"""

from __future__ import annotations

import json
import re

import pytest
from background import USER_CODE, decide_device, start, token_file
from cli_harness import CLI

NO_ENV_TOKEN: dict[str, str | None] = {"RUNCOMFY_TOKEN": None}
MODES = {"pretty": [], "quiet": ["-q"], "json": ["--output", "json"]}


@pytest.mark.parametrize("mode", list(MODES))
def test_login_shows_the_code_in_every_mode_and_saves_a_token_that_works(cli: CLI, mode: str) -> None:
    command = start(cli, *MODES[mode], "login", "--no-browser")
    code = command.wait_for(USER_CODE).group(1)
    assert f"Open:       {cli.server.origin}/cli-auth" in command.stderr

    decide_device(cli, code)
    result = command.finish()

    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    saved = json.loads(token_file(cli).read_text())["access_token"]
    assert saved not in result.stderr  # the minted token is never printed
    whoami = cli.run("--output", "json", "whoami", env=NO_ENV_TOKEN)
    assert whoami.returncode == 0, whoami.stderr
    assert json.loads(whoami.stdout)["token_type"] == "cli"
    if mode == "pretty":
        assert "[auth] Authorize this device in your browser" in result.stderr
        assert "[wait] Waiting for authorization" in result.stderr
        assert f"[ok] Authorized; token saved to {token_file(cli)}" in result.stderr
    else:
        # Only what the user needs to finish the flow: no progress lines.
        assert not re.search(r"^\[", result.stderr, re.MULTILINE), result.stderr


def test_login_user_code_is_the_one_the_approval_page_accepts(cli: CLI) -> None:
    command = start(cli, "login", "--no-browser")
    code = command.wait_for(USER_CODE).group(1)
    try:
        assert re.fullmatch(r"[A-Z]{4}-\d{4}", code), code
        wrong = cli.http.post(f"{cli.server.origin}/cli-auth", data={"user_code": "ZZZZ-0000"})
        assert wrong.status_code == 400
        assert command.proc.poll() is None  # still waiting: an unknown code decides nothing
        decide_device(cli, code)
    finally:
        result = command.finish()
    assert result.returncode == 0, result.stderr


def test_denied_login_exits_77_and_saves_nothing(cli: CLI) -> None:
    command = start(cli, "login", "--no-browser")
    code = command.wait_for(USER_CODE).group(1)

    decide_device(cli, code, action="deny")
    result = command.finish()

    assert result.returncode == 77
    assert "Error:" in result.stderr and "Traceback" not in result.stderr
    assert "runcomfy login" in result.stderr
    assert not token_file(cli).exists()


def test_denied_login_in_json_mode_is_a_json_error_line(cli: CLI) -> None:
    command = start(cli, "--output", "json", "login", "--no-browser")
    code = command.wait_for(USER_CODE).group(1)

    decide_device(cli, code, action="deny")
    result = command.finish()

    assert result.returncode == 77
    last = json.loads(result.stderr.splitlines()[-1])
    assert isinstance(last["error"], str) and last["exit_code"] == 77


def test_expired_device_code_exits_75_and_saves_nothing(cli: CLI) -> None:
    cli.configure(device_expires_s=2)

    command = start(cli, "login", "--no-browser")
    command.wait_for(USER_CODE)
    result = command.finish(timeout=30)

    assert result.returncode == 75
    assert "Error:" in result.stderr and "Traceback" not in result.stderr
    assert "runcomfy login" in result.stderr
    assert not token_file(cli).exists()


def test_login_polls_without_sending_any_token(cli: CLI) -> None:
    command = start(cli, "login", "--no-browser")
    code = command.wait_for(USER_CODE).group(1)
    decide_device(cli, code)
    assert command.finish().returncode == 0

    calls = cli.calls("cli-auth-start") + cli.calls("cli-auth-poll")
    assert calls and not any(call["authorized"] for call in calls)


def test_login_honours_web_base_option_over_the_environment(cli: CLI) -> None:
    command = start(
        cli,
        "login",
        "--no-browser",
        "--web-base",
        cli.server.origin + "/",
        env={"RUNCOMFY_WEB_BASE": "http://127.0.0.1:9"},
    )
    code = command.wait_for(USER_CODE).group(1)
    decide_device(cli, code)

    result = command.finish()

    assert result.returncode == 0, result.stderr
    assert token_file(cli).exists()


@pytest.mark.parametrize(
    "verify_url",
    [
        "javascript:alert(1)",
        "http://evil.example.com/cli-auth",  # plain http, and not the configured web origin
        "file:///etc/passwd",
        "https://someone:secret@evil.example.com/cli-auth",  # credentials in the URL
    ],
)
def test_login_refuses_an_unsafe_verification_url_and_never_shows_it(cli: CLI, verify_url: str) -> None:
    # What a hostile or compromised login service might send. (Any other https URL is accepted by design.)
    cli.fault(
        route="cli-auth-start",
        kind="respond",
        body={
            "device_code": "device-code-from-a-hostile-service",
            "user_code": "EVIL-0001",
            "verify_url": verify_url,
            "expires_in": 5,
            "poll_interval": 1,
        },
    )

    result = cli.run("login", "--no-browser", env=NO_ENV_TOKEN, timeout=30)

    assert result.returncode == 69, result.stderr
    assert "unsafe verification URL" in result.stderr and "Traceback" not in result.stderr
    assert verify_url not in result.stdout + result.stderr
    assert "EVIL-0001" not in result.stderr  # nothing of the flow is shown: there is nothing safe to open
    assert cli.calls("cli-auth-poll") == []
    assert not token_file(cli).exists()
