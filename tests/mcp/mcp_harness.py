"""Harness of the MCP tests: the real ``runcomfy mcp`` (a subprocess) and the official SDK's client.

Each test gets its own emulator (the test kit's, on loopback), private config/state/output directories and a
unique canary token. :meth:`McpRig.stdio` starts ``runcomfy mcp`` as an MCP client's config would and connects
the SDK's :class:`mcp.Client` over its stdin/stdout; the server's stderr is kept in a file so tests can check
what it logged. :meth:`McpRig.http_server` starts ``runcomfy mcp --http`` and waits for its URL.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcp.client.stdio import StdioServerParameters, stdio_client

from mcp import Client
from runcomfy.emulator.testkit import RunningEmulator

RUNCOMFY = shutil.which("runcomfy") or os.path.join(os.path.dirname(sys.executable), "runcomfy")
START_DEADLINE_S = 60.0
SLOW_MODEL = "runcomfy/emulator/slow"  # runs for an hour on the rig's emulator: stays running or queued


@dataclass
class McpRig:
    emulator: RunningEmulator
    token: str
    home: Path
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def output_dir(self) -> Path:
        return self.home / "outputs"

    @property
    def stderr_path(self) -> Path:
        return self.home / "server-stderr.log"

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUNCOMFY_")}
        env.update(
            {
                "HOME": str(self.home),
                "RUNCOMFY_CONFIG_DIR": str(self.home / "config"),
                "RUNCOMFY_STATE_DIR": str(self.home / "state"),
                "XDG_CACHE_HOME": str(self.home / "cache"),
                **self.emulator.env,
                "RUNCOMFY_TOKEN": self.token,
                "NO_COLOR": "1",
            }
        )
        env.update(self.extra_env)
        return env

    def server_args(self, *extra: str) -> list[str]:
        return ["mcp", "--poll-secs", "0.05", "--output-dir", str(self.output_dir), *extra]

    @contextlib.asynccontextmanager
    async def stdio(
        self, *extra: str, global_args: tuple[str, ...] = (), **client_options: Any
    ) -> AsyncIterator[Client]:
        """An SDK client connected to ``runcomfy [global_args] mcp ...`` over stdio."""
        params = StdioServerParameters(
            command=RUNCOMFY, args=[*global_args, *self.server_args(*extra)], env=self.env, cwd=str(self.home)
        )
        with self.stderr_path.open("a", encoding="utf-8") as errlog:
            async with Client(stdio_client(params, errlog=errlog), **client_options) as client:
                yield client

    @contextlib.contextmanager
    def http_server(self, *extra: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
        """``runcomfy mcp --http --port 0 ...`` in the background; its URL once it listens. Stopped after."""
        log = self.home / "http-stderr.log"
        with log.open("w", encoding="utf-8") as err:
            process = subprocess.Popen(
                [RUNCOMFY, *self.server_args("--http", "--port", "0", *extra)],
                env=self.env,
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                text=True,
            )
        try:
            url = _wait_for_url(log, process)
            yield url, process
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def every_file_text(self) -> str:
        """Every file the server may have written (outputs, journal, config, cache, its stderr) as text."""
        parts = []
        for path in sorted(self.home.rglob("*")):
            if path.is_file():
                parts.append(path.read_bytes().decode("utf-8", errors="replace"))
        return "\n".join(parts)


def _wait_for_url(log: Path, process: subprocess.Popen[str]) -> str:
    deadline = time.monotonic() + START_DEADLINE_S
    while time.monotonic() < deadline:
        text = log.read_text(encoding="utf-8")
        match = re.search(r"at (http://\S+/mcp)", text)
        if match:
            return match.group(1)
        if process.poll() is not None:
            raise AssertionError(f"runcomfy mcp --http exited with {process.returncode}: {text}")
        time.sleep(0.05)
    raise AssertionError(f"runcomfy mcp --http did not print its URL in time: {log.read_text()}")


def result_text(result: Any) -> str:
    """Everything a tool result shows: its text blocks and its structured content."""
    texts = [block.text for block in result.content if getattr(block, "type", None) == "text"]
    return "\n".join(texts) + "\n" + json.dumps(result.structured_content)
