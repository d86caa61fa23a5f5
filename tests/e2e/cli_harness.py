"""End-to-end harness (kept out of ``conftest.py`` under a unique module name, so test modules can import it): the real ``runcomfy`` command (a subprocess) against an emulator on loopback.

Each test gets an emulator from the test kit users get (:mod:`runcomfy.emulator.testkit`: a thread of the
test process, with a clock that runs with the wall clock and jumps when the test advances it), reset for it
(``conftest.py`` keeps one per test worker), its own config and state directories, and a unique canary token.
``cli.run(...)`` runs the installed command with an environment that points at the emulator; ``cli.start(...)``
starts it in the background (for signal tests).
The control-plane helpers (``fault``, ``calls``, ``configure``, ``advance``, ``control``) are thin wrappers
over the kit's typed control client.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from runcomfy.emulator.server import EmulatorServer
from runcomfy.emulator.testkit import RunningEmulator

RUNCOMFY = shutil.which("runcomfy") or os.path.join(os.path.dirname(sys.executable), "runcomfy")


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def combined(self) -> str:
        return self.stdout + self.stderr


@dataclass
class CLI:
    """The installed command, pointed at one emulator, with private config/state directories.

    ``token`` is the emulator's by default; a test may swap in another token the emulator accepts
    (``dataclasses.replace(cli, token=...)``).
    """

    emulator: RunningEmulator
    token: str
    home: Path
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def server(self) -> EmulatorServer:
        return self.emulator.server

    @property
    def http(self) -> httpx.Client:
        return self.emulator.http

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUNCOMFY_")}
        env.update(
            {
                "HOME": str(self.home),
                "RUNCOMFY_CONFIG_DIR": str(self.home / "config"),
                "RUNCOMFY_STATE_DIR": str(self.home / "state"),
                **self.emulator.env,
                "RUNCOMFY_TOKEN": self.token,
                "NO_COLOR": "1",
            }
        )
        env.update(self.extra_env)
        return {k: v for k, v in env.items() if v is not None}

    def run(
        self,
        *args: str,
        input: str | None = None,
        env: dict[str, str | None] | None = None,
        cwd: Path | None = None,
        timeout: float = 60,
    ) -> Result:
        merged = self.env
        for key, value in (env or {}).items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        done = subprocess.run(
            [RUNCOMFY, *args],
            input=input,
            capture_output=True,
            text=True,
            env=merged,
            cwd=cwd or self.home,
            timeout=timeout,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def start(
        self, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> subprocess.Popen[str]:
        merged = {**self.env, **(env or {})}
        return subprocess.Popen(
            [RUNCOMFY, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=merged,
            cwd=cwd or self.home,
        )

    def submit(self, model: str, body: dict[str, Any] | None = None) -> str:
        """A request created straight through the API (faster than a subprocess), for commands that need an id."""
        response = self.http.post(
            f"{self.server.model_api_base}/models/{model}",
            json=body if body is not None else {"k": "v"},
            headers={"Authorization": f"Bearer {self.token}"},
        )
        assert response.status_code == 200, response.text
        return str(response.json()["request_id"])

    def occupy_the_only_worker(self) -> str:
        """Run a long request on the emulator's only worker, so the next one waits in the queue; its id."""
        slow = "runcomfy/emulator/slow"
        self.configure(workers=1, durations={slow: 60})
        started = self.run("--output", "json", "run", slow, "--input", '{"seconds": 60}', "--no-wait")
        assert started.returncode == 0, started.stderr
        return str(json.loads(started.stdout)["request_id"])

    # -- the emulator's control plane ------------------------------------------------------------------------

    def control(self, method: str, path: str, body: Any = None) -> httpx.Response:
        response = self.emulator.control.request(method, path, body)
        assert response.status_code < 400, response.text
        return response

    def fault(self, **fault: Any) -> None:
        self.emulator.control.faults.add(**fault)

    def calls(self, route: str | None = None) -> list[dict[str, Any]]:
        return [asdict(call) for call in self.emulator.control.calls.list(route)]

    def configure(self, **settings: Any) -> None:
        self.emulator.control.config.set(**settings)

    def advance(self, seconds: float) -> None:
        """Move the emulator's clock ahead; it keeps running with the wall clock from there."""
        self.emulator.control.clock.advance(seconds)

    def files_under(self, path: Path | None = None) -> list[Path]:
        """Every file written below ``path`` (default: the test's home, where commands run)."""
        root = path or self.home
        return sorted(p for p in root.rglob("*") if p.is_file())

    def assert_no_leak(self, *texts: str) -> None:
        """The canary token appears in none of the given texts nor in any file the command wrote."""
        for text in texts:
            assert self.token not in text
        for path in self.files_under():
            assert self.token.encode() not in path.read_bytes(), path
