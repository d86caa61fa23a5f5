"""``runcomfy emulator`` as a user runs it: a real process, export lines, Ctrl-C to stop."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys

import httpx

from runcomfy.cli.main import hoist_global_options

RUNCOMFY = shutil.which("runcomfy") or os.path.join(os.path.dirname(sys.executable), "runcomfy")


def read_exports(process: subprocess.Popen[str]) -> dict[str, str]:
    assert process.stdout is not None
    lines = [process.stdout.readline().strip() for _ in range(5)]
    return dict(line.removeprefix("export ").split("=", 1) for line in lines)


def test_emulator_prints_exports_serves_and_stops_on_ctrl_c(tmp_path) -> None:
    command = [RUNCOMFY, "emulator", "--port", "0", "--token", "tok-cmd", "--duration", "*=0"]
    command += ["--db", str(tmp_path / "e.db")]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as process:
        try:
            exports = read_exports(process)
            assert list(exports) == [
                "RUNCOMFY_MODEL_API_BASE",
                "RUNCOMFY_WEB_BASE",
                "RUNCOMFY_TOKEN",
                "RUNCOMFY_SERVERLESS_API_BASE",
                "RUNCOMFY_TRAINER_API_BASE",
            ]
            assert exports["RUNCOMFY_TOKEN"] == "tok-cmd"
            base = exports["RUNCOMFY_MODEL_API_BASE"]
            assert base.startswith("http://127.0.0.1:") and base.endswith("/v1")
            assert exports["RUNCOMFY_SERVERLESS_API_BASE"] == base.removesuffix("/v1") + "/prod/v2"
            assert exports["RUNCOMFY_TRAINER_API_BASE"] == base.removesuffix("/v1") + "/prod/v1"
            balance = httpx.get(
                f"{exports['RUNCOMFY_SERVERLESS_API_BASE']}/balance",
                headers={"Authorization": "Bearer tok-cmd"},
            )
            assert balance.json() == {"balance_usd": 100.0, "currency": "USD"}
            response = httpx.post(
                f"{base}/models/runcomfy/emulator/echo",
                json={"a": 1},
                headers={"Authorization": "Bearer tok-cmd"},
            )
            assert response.status_code == 200
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=15)
    assert process.returncode == 130  # interrupted, as the exit-code table says
    assert (tmp_path / "e.db").exists()


def test_emulator_generates_a_token_when_none_is_given() -> None:
    env = {**os.environ, "RUNCOMFY_EMULATOR_TOKENS": ""}
    command = [RUNCOMFY, "emulator", "--port", "0"]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    ) as process:
        try:
            exports = read_exports(process)
            token = exports["RUNCOMFY_TOKEN"]
            assert token.startswith("rcemu_") and len(token) > 20
            me = httpx.get(
                f"{exports['RUNCOMFY_WEB_BASE']}/api/auth/me", headers={"Authorization": f"Bearer {token}"}
            )
            assert me.status_code == 200
        finally:
            process.terminate()
            process.wait(timeout=15)


def test_emulator_help_version_and_bad_flags() -> None:
    help_text = subprocess.run([RUNCOMFY, "emulator", "--help"], capture_output=True, text=True)
    assert help_text.returncode == 0 and "--workers" in help_text.stdout and "Examples" in help_text.stdout
    version = subprocess.run([RUNCOMFY, "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("runcomfy ")
    for option in ("--balance", "--cold-start", "--deployment-duration", "--allow-webhook-hosts"):
        assert option in help_text.stdout
    bad = subprocess.run([RUNCOMFY, "emulator", "--duration", "oops"], capture_output=True, text=True)
    assert bad.returncode == 64 and "MODEL=SECONDS" in bad.stderr
    unknown = subprocess.run([RUNCOMFY, "no-such-command"], capture_output=True, text=True)
    assert unknown.returncode == 64


def test_global_options_are_accepted_after_the_command_name() -> None:
    assert hoist_global_options(["status", "abc", "--output", "json", "-q"]) == [
        "--output",
        "json",
        "-q",
        "status",
        "abc",
    ]
    assert hoist_global_options(["run", "m", "--input", "{}", "--output=json"]) == [
        "--output=json",
        "run",
        "m",
        "--input",
        "{}",
    ]
    assert hoist_global_options(["run", "--", "-q"]) == ["run", "--", "-q"]


def test_json_mode_prints_the_settings_as_one_document() -> None:
    command = [RUNCOMFY, "--output", "json", "emulator", "--port", "0", "--token", "tok-json"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as process:
        try:
            assert process.stdout is not None
            settings = json.loads(process.stdout.readline())
            assert settings["RUNCOMFY_TOKEN"] == "tok-json"
            assert settings["RUNCOMFY_SERVERLESS_API_BASE"] == settings["RUNCOMFY_WEB_BASE"] + "/prod/v2"
            assert settings["RUNCOMFY_TRAINER_API_BASE"] == settings["RUNCOMFY_WEB_BASE"] + "/prod/v1"
            me = httpx.get(
                f"{settings['RUNCOMFY_WEB_BASE']}/api/auth/me", headers={"Authorization": "Bearer tok-json"}
            )
            assert me.status_code == 200
        finally:
            process.terminate()
            process.wait(timeout=15)
