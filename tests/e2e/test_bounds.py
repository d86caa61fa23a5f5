"""Limits that keep a command from running away: input reads bounded before memory grows, strict JSON out
whatever numbers the service sends, and a scan of an output that stops at a limit says so."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_harness import CLI, RUNCOMFY, Result
from hostile_server import HostileServer, hostile

ECHO = "runcomfy/emulator/echo"
CANARY = "rc-canary-bounds-7c1e"


@pytest.fixture
def service() -> Iterator[HostileServer]:
    yield from hostile()


def run_against(service: HostileServer, home: Path, *args: str) -> Result:
    import subprocess

    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNCOMFY_")}
    env.update(
        HOME=str(home),
        RUNCOMFY_CONFIG_DIR=str(home / "config"),
        RUNCOMFY_STATE_DIR=str(home / "state"),
        RUNCOMFY_MODEL_API_BASE=service.base,
        RUNCOMFY_WEB_BASE=service.origin,
        RUNCOMFY_TOKEN=CANARY,
        RUNCOMFY_RETRY_WINDOW="0",
        NO_COLOR="1",
    )
    done = subprocess.run([RUNCOMFY, *args], capture_output=True, text=True, env=env, cwd=home, timeout=60)
    return Result(done.returncode, done.stdout, done.stderr)


def result_reply(service: HostileServer, raw: str) -> None:
    service.answer("GET", "/v1/requests/r1/result", 200, raw)


def strict(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise AssertionError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


# -- bounded reads ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("option", ["--input-file", "--batch"])
def test_an_endless_input_ends_with_a_clear_error_not_gigabytes_of_memory(cli: CLI, option: str) -> None:
    result = cli.run("run", ECHO, option, "/dev/zero", timeout=60)

    assert result.returncode == 65, result.stderr
    assert f"{option}: /dev/zero holds more than" in result.stderr
    assert cli.calls("submit") == []


def test_an_endless_stdin_input_ends_with_a_clear_error(cli: CLI) -> None:
    result = cli.run("run", ECHO, "--input-file", "-", input="0" * (33 * 1024 * 1024))

    assert result.returncode == 65
    assert "--input-file: stdin holds more than 32 MiB" in result.stderr


# -- strict JSON out ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["pretty", "json"])
def test_a_number_too_large_for_a_float_is_printed_as_valid_json(
    service: HostileServer, tmp_path: Path, mode: str
) -> None:
    result_reply(service, '{"request_id": "r1", "status": "completed", "output": {"n": 1e999, "ok": 2.5}}')

    result = run_against(service, tmp_path, "--output", mode, "result", "r1", "--no-download")

    assert result.returncode == 0, result.stderr
    document = strict(result.stdout)
    assert document["output"] == {"n": "1e999", "ok": 2.5}
    if mode == "pretty":
        assert "warning: the number 1e999 does not fit a float" in result.stderr
    else:
        assert result.stderr == ""


# -- a scan stopped by a limit is not silent ----------------------------------------------------------------------


def test_a_trusted_url_past_the_scan_limit_is_reported_and_exits_74(
    service: HostileServer, tmp_path: Path
) -> None:
    output = {"a_values": list(range(100_001)), "z_image": f"{service.origin}/files/late.png"}
    result_reply(service, json.dumps({"request_id": "r1", "status": "completed", "output": output}))

    result = run_against(service, tmp_path, "result", "r1", "--output-dir", "out")

    assert result.returncode == 74, result.stderr[-500:]
    assert "too large or too deeply nested to look through completely" in result.stderr
    assert "runcomfy result r1" in result.stderr
