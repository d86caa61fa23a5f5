"""Token precedence, the 0600 token store and the secret-hiding Token type."""

from __future__ import annotations

import json
import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from runcomfy.auth import credentials
from runcomfy.auth.credentials import Token, delete_token, find_token, require_token, save_token
from runcomfy.errors import NotAuthenticated, TokenFileError

CANARY = f"rc-canary-{uuid.uuid4()}"
posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"RUNCOMFY_CONFIG_DIR": str(tmp_path / "cfg"), **extra}


@pytest.fixture
def umask_zero() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def test_env_token_wins_over_token_file(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    save_token("from-file", env)
    lookup = find_token({**env, "RUNCOMFY_TOKEN": "  from-env \n"})
    assert lookup.token is not None
    assert lookup.token.reveal() == "from-env"
    assert lookup.source == "env"


def test_blank_env_token_falls_back_to_the_file(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    save_token("from-file", env)
    token = require_token({**env, "RUNCOMFY_TOKEN": "   "})
    assert token.reveal() == "from-file"
    assert token.source == "file"


def test_no_token_anywhere_is_not_authenticated(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    assert find_token(env).token is None
    with pytest.raises(NotAuthenticated, match="runcomfy login"):
        require_token(env)


def test_token_file_has_the_official_cli_format(tmp_path: Path) -> None:
    path = save_token(CANARY, env_for(tmp_path))
    expected = (
        "{\n"
        f'  "access_token": "{CANARY}",\n'
        '  "refresh_token": null,\n'
        '  "expires_at": null,\n'
        '  "user_email": null\n'
        "}"
    )
    assert path.read_text() == expected
    assert path == tmp_path / "cfg" / "token.json"


def test_a_file_written_by_the_official_cli_is_read(tmp_path: Path) -> None:
    directory = tmp_path / "cfg"
    directory.mkdir()
    document = {"access_token": "tok", "refresh_token": "r", "expires_at": 1700000000, "user_email": "a@b.c"}
    (directory / "token.json").write_text(json.dumps(document, indent=2))
    os.chmod(directory / "token.json", 0o600)
    assert require_token(env_for(tmp_path)).reveal() == "tok"


@posix_only
@pytest.mark.usefixtures("umask_zero")
def test_token_file_is_0600_in_a_0700_dir_even_with_umask_zero(tmp_path: Path) -> None:
    path = save_token(CANARY, env_for(tmp_path))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


@posix_only
def test_token_file_is_0600_even_with_a_restrictive_umask(tmp_path: Path) -> None:
    old = os.umask(0o277)
    try:
        path = save_token(CANARY, env_for(tmp_path))
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@posix_only
def test_saving_over_a_loose_existing_file_leaves_it_0600(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    path = save_token("old", env)
    os.chmod(path, 0o644)
    save_token("new", env)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert require_token(env).reveal() == "new"


def test_save_leaves_no_temporary_files(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    save_token("one", env)
    save_token("two", env)
    assert sorted(p.name for p in (tmp_path / "cfg").iterdir()) == ["token.json"]


@posix_only
def test_a_symlink_at_token_json_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    directory = tmp_path / "cfg"
    directory.mkdir(mode=0o700)
    target = tmp_path / "elsewhere.txt"
    target.write_text("keep me")
    (directory / "token.json").symlink_to(target)
    with pytest.raises(TokenFileError, match="symbolic link"):
        save_token(CANARY, env)
    with pytest.raises(TokenFileError, match="symbolic link"):
        find_token(env)
    assert target.read_text() == "keep me"
    assert CANARY not in "".join(p.read_text() for p in tmp_path.rglob("*") if p.is_file())


@posix_only
def test_loose_permissions_on_read_produce_a_warning(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    path = save_token(CANARY, env)
    assert find_token(env).warnings == ()
    os.chmod(path, 0o644)
    warnings = find_token(env).warnings
    assert len(warnings) == 1
    assert "chmod 600" in warnings[0]
    assert CANARY not in warnings[0]


@pytest.mark.parametrize("content", ["not json", "[]", '{"access_token": 5}', '{"access_token": "  "}', "{"])
def test_malformed_token_file_is_a_token_file_error_without_its_content(tmp_path: Path, content: str) -> None:
    directory = tmp_path / "cfg"
    directory.mkdir()
    (directory / "token.json").write_text(content.replace("not json", f"not json {CANARY}"))
    with pytest.raises(TokenFileError) as caught:
        find_token(env_for(tmp_path))
    assert CANARY not in str(caught.value)
    assert "token.json" in str(caught.value)


def test_delete_token_reports_whether_a_file_existed(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    assert delete_token(env) is False
    save_token("x", env)
    assert delete_token(env) is True
    assert not (tmp_path / "cfg" / "token.json").exists()


@posix_only
def test_delete_token_removes_a_symlink_not_its_target(tmp_path: Path) -> None:
    directory = tmp_path / "cfg"
    directory.mkdir()
    target = tmp_path / "target"
    target.write_text("data")
    (directory / "token.json").symlink_to(target)
    assert delete_token(env_for(tmp_path)) is True
    assert target.read_text() == "data"


def test_token_repr_and_str_never_show_the_secret() -> None:
    token = Token(CANARY, source="env")
    for shown in (repr(token), str(token), f"{token}", repr([token]), repr(find_token.__doc__)):
        assert CANARY not in shown
    assert "****" in repr(token)
    assert token.reveal() == CANARY


def test_tokens_compare_by_value_and_empty_tokens_are_refused() -> None:
    assert Token("a") == Token("a", source="file")
    assert Token("a") != Token("b")
    with pytest.raises(NotAuthenticated):
        Token("   ")


def test_token_path_follows_the_config_dir(tmp_path: Path) -> None:
    assert credentials.token_path({"XDG_CONFIG_HOME": str(tmp_path)}) == tmp_path / "runcomfy" / "token.json"


def test_signatures_do_not_embed_the_environment_where_help_would_print_a_token() -> None:
    import inspect

    from runcomfy import config, journal

    for fn in (
        find_token,
        require_token,
        save_token,
        delete_token,
        config.config_dir,
        config.model_api_base,
        journal.default_journal_path,
    ):
        assert "environ" not in str(inspect.signature(fn))
