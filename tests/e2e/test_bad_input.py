"""Bad input: malformed or non-object JSON, a missing or unreadable input file, deeply nested
JSON, conflicting options, unknown models and schema errors from the server. Each is one clear ``Error:`` line
(plus a ``Hint:``), the table's exit code, never a traceback, and nothing on stdout.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_harness import CLI, Result

ECHO = "runcomfy/emulator/echo"
IMAGE = "openai/gpt-image-2/text-to-image"


def error_lines(result: Result) -> list[str]:
    """stderr without the progress lines of pretty mode (``[submit] ...``), which may precede a server error."""
    return [line for line in result.stderr.splitlines() if not line.startswith("[")]


def assert_one_clear_error(result: Result, exit_code: int, *fragments: str) -> str:
    """Exactly one ``Error:`` line (optionally followed by a ``Hint:``); returns the error line."""
    assert result.returncode == exit_code, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = error_lines(result)
    assert lines and lines[0].startswith("Error: "), result.stderr
    assert all(line.startswith("Hint: ") for line in lines[1:]), result.stderr
    assert len(lines) <= 2, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{"prompt": ', "invalid JSON"),
        ("{'prompt': 'single quotes'}", "invalid JSON"),
        ('{"a": 1} trailing', "invalid JSON"),
        ("", "invalid JSON"),
        ("[1, 2, 3]", "must be a JSON object, got an array"),
        ('"just a string"', "must be a JSON object, got a string"),
        ("42", "must be a JSON object, got a number"),
        ("true", "must be a JSON object, got a boolean"),
        ("null", "must be a JSON object, got null"),
    ],
    ids=[
        "truncated",
        "single-quotes",
        "trailing-garbage",
        "empty",
        "array",
        "string",
        "number",
        "bool",
        "null",
    ],
)
def test_inline_input_that_is_not_a_json_object_is_exit_65(cli: CLI, text: str, fragment: str) -> None:
    result = cli.run("run", ECHO, "--input", text)

    assert_one_clear_error(result, 65, "--input", fragment)
    assert cli.calls("submit") == []


def test_deeply_nested_input_is_a_clear_error_not_a_recursion_crash(cli: CLI) -> None:
    result = cli.run("run", ECHO, "--input", "[" * 100_000)

    assert_one_clear_error(result, 65, "nested too deeply")
    assert "RecursionError" not in result.stderr
    assert cli.calls("submit") == []


def test_deeply_nested_object_in_an_input_file_is_exit_65(cli: CLI) -> None:
    path = cli.home / "nested.json"
    path.write_text('{"a": ' * 50_000 + "1" + "}" * 50_000)

    result = cli.run("run", ECHO, "--input-file", str(path))

    assert_one_clear_error(result, 65, "--input-file", "nested too deeply")


def test_missing_input_file_is_exit_66(cli: CLI) -> None:
    result = cli.run("run", ECHO, "--input-file", "does-not-exist.json")

    assert_one_clear_error(result, 66, "does-not-exist.json", "no such file")
    assert cli.calls("submit") == []


def test_directory_as_input_file_is_exit_65(cli: CLI) -> None:
    folder = cli.home / "a-folder"
    folder.mkdir()

    result = cli.run("run", ECHO, "--input-file", str(folder))

    assert_one_clear_error(result, 65, "is a directory")


def test_non_object_input_file_is_exit_65(cli: CLI) -> None:
    path = cli.home / "list.json"
    path.write_text("[1]")

    result = cli.run("run", ECHO, "--input-file", str(path))

    assert_one_clear_error(result, 65, "--input-file must be a JSON object, got an array")


def test_input_file_that_is_not_utf8_is_exit_65(cli: CLI) -> None:
    path = cli.home / "binary.json"
    path.write_bytes(b'{"prompt": "\xff\xfe"}')

    result = cli.run("run", ECHO, "--input-file", str(path))

    assert_one_clear_error(result, 65, "--input-file")


def test_input_file_is_read_and_sent(cli: CLI) -> None:
    path = cli.home / "input.json"
    path.write_text(json.dumps({"from": "file"}))

    result = cli.run("run", ECHO, "--input-file", str(path))

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"from": "file"}


def test_input_file_dash_reads_standard_input(cli: CLI) -> None:
    result = cli.run("run", ECHO, "--input-file", "-", input='{"from": "stdin"}')

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"from": "stdin"}


def test_malformed_json_on_standard_input_is_exit_65(cli: CLI) -> None:
    result = cli.run("run", ECHO, "--input-file", "-", input="{not json")

    assert_one_clear_error(result, 65, "--input-file", "invalid JSON")


def test_both_input_and_input_file_is_a_usage_error_64(cli: CLI, tmp_path: Path) -> None:
    path = tmp_path / "input.json"
    path.write_text("{}")

    result = cli.run("run", ECHO, "--input", "{}", "--input-file", str(path))

    assert result.returncode == 64
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert "Error: --input and --input-file cannot be used together" in result.stderr
    assert cli.calls("submit") == []


def test_bad_input_beats_a_missing_login(cli: CLI) -> None:
    """Input is checked before the token: the user fixes the real problem first."""
    result = cli.run("run", ECHO, "--input", "[]", env={"RUNCOMFY_TOKEN": None})

    assert_one_clear_error(result, 65, "must be a JSON object")


def test_model_id_without_a_slash_is_exit_65_before_any_request(cli: CLI) -> None:
    result = cli.run("run", "flux", "--input", "{}")

    assert_one_clear_error(result, 65, "`flux` is not a valid model_id")
    assert cli.calls() == []


def test_unknown_model_rejected_by_the_server_is_exit_65(cli: CLI) -> None:
    result = cli.run("run", "nobody/no-such-model", "--input", "{}", "--no-validate")  # the server decides

    assert_one_clear_error(result, 65, "HTTP 400", "Invalid model_id: nobody/no-such-model")
    assert len(cli.calls("submit")) == 1  # a rejected submit is not retried


@pytest.mark.parametrize(
    ("body", "field"),
    [({"prompt": 3}, "prompt"), ({}, "prompt"), ({"prompt": "x", "size": "huge"}, "size")],
    ids=["wrong-type", "missing-field", "bad-enum"],
)
def test_schema_error_from_the_server_is_exit_65_and_names_the_field(
    cli: CLI, body: dict[str, object], field: str
) -> None:
    result = cli.run("run", IMAGE, "--input", json.dumps(body), "--no-validate")  # the server decides

    line = assert_one_clear_error(result, 65, "HTTP 422")
    assert f"— {field}:" in line
    assert len(cli.calls("submit")) == 1


def test_unknown_model_is_caught_by_the_catalog_before_any_submit(cli: CLI) -> None:
    result = cli.run("run", "nobody/no-such-model", "--input", "{}")

    assert_one_clear_error(result, 65, "`nobody/no-such-model` is not in the catalog")
    assert cli.calls("submit") == []


def test_schema_error_in_json_mode_is_one_json_line(cli: CLI) -> None:
    result = cli.run("--output", "json", "run", IMAGE, "--input", '{"prompt": 3}')

    assert result.returncode == 65
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    error = json.loads(line)
    assert "prompt" in error["error"] and error["exit_code"] == 65


def test_bad_input_in_quiet_mode_still_shows_the_error(cli: CLI) -> None:
    result = cli.run("-q", "run", ECHO, "--input", "{")

    assert result.returncode == 65
    assert result.stderr.splitlines()[0].startswith("Error: --input: invalid JSON")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["run"], "Missing argument 'MODEL_ID'"),
        (["run", ECHO, "--poll-secs", "-1"], "--poll-secs"),
        (["run", ECHO, "--timeout", "0"], "--timeout"),
        (["run", ECHO, "--emit", "everything"], "--emit"),
        (["--output", "yaml", "whoami"], "--output"),
    ],
    ids=["no-model", "negative-poll", "zero-timeout", "bad-emit", "bad-output-mode"],
)
def test_bad_option_values_are_usage_errors_64(cli: CLI, args: list[str], fragment: str) -> None:
    result = cli.run(*args)

    assert result.returncode == 64
    assert result.stdout == ""
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr
