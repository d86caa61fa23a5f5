"""The token: ``RUNCOMFY_TOKEN`` wins over the file; ``login`` writes the official format
0600 in a 0700 directory whatever the umask; a symlink at the path is refused; ``logout`` deletes the file and
warns when the environment token still applies; a file others can read draws a warning.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from background import USER_CODE, decide_device, login, start, token_file, umask_zero
from cli_harness import CLI

NO_ENV_TOKEN: dict[str, str | None] = {"RUNCOMFY_TOKEN": None}


def official_text(access_token: str) -> str:
    """token.json as the official CLI writes it: serde's pretty printer, fields in struct order, no newline."""
    return (
        "{\n"
        f'  "access_token": "{access_token}",\n'
        '  "refresh_token": null,\n'
        '  "expires_at": null,\n'
        '  "user_email": null\n'
        "}"
    )


def write_token_file(cli: CLI, access_token: str, mode: int = 0o600) -> Path:
    path = token_file(cli)
    path.parent.mkdir(mode=0o700, exist_ok=True)
    path.write_text(official_text(access_token))
    path.chmod(mode)
    return path


def other_user(cli: CLI, token: str = "rc-other-user-token") -> tuple[str, str]:
    """A second static token on the emulator, and the e-mail of the user it belongs to."""
    record = cli.control("POST", "tokens", {"token": token}).json()
    return token, record["email"]


def whoami_email(cli: CLI, env: dict[str, str | None] | None = None) -> str:
    result = cli.run("--output", "json", "whoami", env=env)
    assert result.returncode == 0, result.stderr
    return str(json.loads(result.stdout)["email"])


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


# -- precedence -------------------------------------------------------------------------------------------------


def test_environment_token_wins_over_the_token_file(cli: CLI) -> None:
    token, email = other_user(cli)
    write_token_file(cli, token)

    with_env = whoami_email(cli)
    without_env = whoami_email(cli, NO_ENV_TOKEN)

    assert without_env == email
    assert with_env != email


@pytest.mark.parametrize("blank", ["", "   ", "\t\n"], ids=["empty", "spaces", "whitespace"])
def test_blank_environment_token_counts_as_unset(cli: CLI, blank: str) -> None:
    token, email = other_user(cli)
    write_token_file(cli, token)

    assert whoami_email(cli, {"RUNCOMFY_TOKEN": blank}) == email


def test_environment_token_is_trimmed(cli: CLI) -> None:
    result = cli.run("whoami", env={"RUNCOMFY_TOKEN": f"  {cli.token}\t\n"})

    assert result.returncode == 0, result.stderr


def test_no_token_anywhere_is_exit_77_with_the_way_to_sign_in(cli: CLI) -> None:
    result = cli.run("whoami", env=NO_ENV_TOKEN)

    assert result.returncode == 77
    assert result.stderr.startswith("Error: not signed in")
    assert "runcomfy login" in result.stderr
    assert cli.calls("me") == []


def test_token_with_a_line_break_is_refused_before_any_request(cli: CLI) -> None:
    result = cli.run("status", "some-id", env={"RUNCOMFY_TOKEN": f"{cli.token}\nsecond-line"}, timeout=30)

    assert result.returncode == 77
    assert "control character" in result.stderr and "RUNCOMFY_TOKEN" in result.stderr
    assert cli.calls() == []
    cli.assert_no_leak(result.stdout, result.stderr)


# -- the file login writes ---------------------------------------------------------------------------------------


def test_login_writes_the_token_0600_in_a_0700_directory_even_with_umask_000(cli: CLI) -> None:
    result = login(cli, preexec_fn=umask_zero)

    assert result.returncode == 0, result.stderr
    path = token_file(cli)
    assert mode_of(path) == 0o600
    assert mode_of(path.parent) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["token.json"]  # no temp file left behind


def test_login_writes_the_official_token_file_format(cli: CLI) -> None:
    result = login(cli)

    assert result.returncode == 0, result.stderr
    text = token_file(cli).read_text()
    document = json.loads(text)
    assert list(document) == ["access_token", "refresh_token", "expires_at", "user_email"]
    assert text == official_text(document["access_token"])
    assert document["access_token"] != cli.token


def test_login_replaces_a_loose_token_file_with_a_private_one(cli: CLI) -> None:
    write_token_file(cli, "old-token", mode=0o644)

    result = login(cli)

    assert result.returncode == 0, result.stderr
    assert mode_of(token_file(cli)) == 0o600
    assert json.loads(token_file(cli).read_text())["access_token"] != "old-token"


def test_login_refuses_a_symlink_at_the_token_path_and_leaves_its_target_untouched(
    cli: CLI, tmp_path: Path
) -> None:
    target = tmp_path / "elsewhere.txt"
    target.write_text("not yours to overwrite\n")
    target.chmod(0o644)
    path = token_file(cli)
    path.parent.mkdir(mode=0o700)
    path.symlink_to(target)

    result = login(cli)

    assert result.returncode == 74
    assert "symbolic link" in result.stderr and "Traceback" not in result.stderr
    assert path.is_symlink()
    assert target.read_text() == "not yours to overwrite\n"
    assert mode_of(target) == 0o644
    assert [p.name for p in path.parent.iterdir()] == ["token.json"]


def test_a_symlinked_token_file_is_never_read(cli: CLI, tmp_path: Path) -> None:
    token, _email = other_user(cli)
    target = tmp_path / "planted.json"
    target.write_text(official_text(token))
    path = token_file(cli)
    path.parent.mkdir(mode=0o700)
    path.symlink_to(target)

    result = cli.run("whoami", env=NO_ENV_TOKEN)

    assert result.returncode == 77  # an unusable token file is an authentication problem
    assert "symbolic link" in result.stderr
    assert "remove the link" in result.stderr
    assert cli.calls("me") == []


def test_token_file_readable_by_others_draws_a_warning(cli: CLI) -> None:
    token, email = other_user(cli)
    path = write_token_file(cli, token, mode=0o644)

    result = cli.run("whoami", env=NO_ENV_TOKEN)

    assert result.returncode == 0
    assert email in result.stdout
    assert f"warning: token file {path} is accessible by other users (mode 0644)" in result.stderr


def test_private_token_file_draws_no_warning(cli: CLI) -> None:
    token, _email = other_user(cli)
    write_token_file(cli, token)

    result = cli.run("whoami", env=NO_ENV_TOKEN)

    assert result.returncode == 0
    assert result.stderr == ""


def test_malformed_token_file_is_a_clear_error_that_never_shows_its_content(cli: CLI) -> None:
    path = token_file(cli)
    path.parent.mkdir(mode=0o700)
    path.write_text(json.dumps({"access_token": 42, "note": cli.token}))
    path.chmod(0o600)

    result = cli.run("whoami", env=NO_ENV_TOKEN)

    assert result.returncode == 77  # an authentication problem, not an I/O one
    assert "is not a valid token file" in result.stderr
    assert "Hint: run `runcomfy login` (it replaces the file)" in result.stderr
    assert "permissions" not in result.stderr
    assert "Traceback" not in result.stderr
    assert cli.token not in result.stdout + result.stderr


def test_login_replaces_a_corrupt_token_file(cli: CLI) -> None:
    path = token_file(cli)
    path.parent.mkdir(mode=0o700)
    path.write_text("{not json")
    path.chmod(0o600)

    command = start(cli, "login", "--no-browser", env=NO_ENV_TOKEN)
    decide_device(cli, command.wait_for(USER_CODE).group(1))
    result = command.finish()

    assert result.returncode == 0, result.stderr
    assert json.loads(path.read_text())["access_token"]
    assert cli.run("whoami", env=NO_ENV_TOKEN).returncode == 0


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_a_token_path_that_is_not_a_file_is_refused_at_once(cli: CLI, kind: str) -> None:
    path = token_file(cli)
    path.parent.mkdir(mode=0o700)
    if kind == "directory":
        path.mkdir()
    else:
        os.mkfifo(path)

    result = cli.run("whoami", env=NO_ENV_TOKEN, timeout=20)  # a FIFO must not block the read

    assert result.returncode == 77
    assert "is not a regular file" in result.stderr
    assert "Errno" not in result.stderr


# -- logout --------------------------------------------------------------------------------------------------------


def test_logout_deletes_the_token_file(cli: CLI) -> None:
    write_token_file(cli, "a-token")

    result = cli.run("logout", env=NO_ENV_TOKEN)

    assert result.returncode == 0
    assert not token_file(cli).exists()
    assert result.stderr == "[ok] Logged out\n"
    assert result.stdout == ""


def test_logout_after_login_signs_the_user_out(cli: CLI) -> None:
    assert login(cli).returncode == 0
    assert cli.run("whoami", env=NO_ENV_TOKEN).returncode == 0

    assert cli.run("logout", env=NO_ENV_TOKEN).returncode == 0

    after = cli.run("whoami", env=NO_ENV_TOKEN)
    assert after.returncode == 77
    assert "not signed in" in after.stderr


@pytest.mark.parametrize("flags", [[], ["-q"], ["--output", "json"]], ids=["pretty", "quiet", "json"])
def test_logout_warns_when_the_environment_token_still_applies(cli: CLI, flags: list[str]) -> None:
    write_token_file(cli, "a-token")

    result = cli.run(*flags, "logout")

    assert result.returncode == 0
    assert not token_file(cli).exists()
    assert "RUNCOMFY_TOKEN is still set" in result.stderr
    assert cli.token not in result.stderr
    # ...and it is right: the environment token still works.
    assert cli.run("whoami").returncode == 0


def test_logout_without_a_token_file_says_so_and_succeeds(cli: CLI) -> None:
    result = cli.run("logout", env=NO_ENV_TOKEN)

    assert result.returncode == 0
    assert "no token file" in result.stderr
    assert "RUNCOMFY_TOKEN" not in result.stderr


def test_logout_removes_a_symlink_but_never_its_target(cli: CLI, tmp_path: Path) -> None:
    target = tmp_path / "precious.json"
    target.write_text("keep me")
    path = token_file(cli)
    path.parent.mkdir(mode=0o700)
    path.symlink_to(target)

    result = cli.run("logout", env=NO_ENV_TOKEN)

    assert result.returncode == 0
    assert not os.path.lexists(path)
    assert target.read_text() == "keep me"
