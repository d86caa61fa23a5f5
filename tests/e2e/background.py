"""Helpers for end-to-end tests that drive a command while it runs: read its stderr as it arrives, approve a
device code on the emulator's page, open the request journal read-only.

Not a test module (no ``test_`` prefix): imported by ``test_login.py``, ``test_tokens.py``,
``test_journal.py`` and ``test_canary_leaks.py``. Every wait here is bounded by a deadline.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cli_harness import CLI, RUNCOMFY, Result

USER_CODE = re.compile(r"YOUR CODE:\s+(\S+)")


class Background:
    """A running ``runcomfy`` whose stderr is collected line by line by a reader thread."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._eof = False
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._eof = True
            self._changed.notify_all()

    @property
    def stderr(self) -> str:
        with self._changed:
            return "".join(self.lines)

    def wait_for(self, pattern: re.Pattern[str], timeout: float = 20) -> re.Match[str]:
        """The first match of ``pattern`` in stderr, waiting for it at most ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                match = pattern.search("".join(self.lines))
                if match:
                    return match
                remaining = deadline - time.monotonic()
                if self._eof or remaining <= 0:
                    raise AssertionError(
                        f"{pattern.pattern!r} never appeared on stderr:\n{''.join(self.lines)}"
                    )
                self._changed.wait(remaining)

    def finish(self, timeout: float = 30) -> Result:
        """Wait for the command to end and return what it printed."""
        try:
            self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(10)
        return self._collect()

    def kill(self) -> Result:
        """End the command at once (SIGKILL: no handler runs) and return what it printed."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        return self._collect()

    def _collect(self) -> Result:
        self._reader.join(10)
        assert self.proc.stdout is not None and self.proc.stderr is not None
        stdout = self.proc.stdout.read()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return Result(self.proc.returncode, stdout, self.stderr)


def start(
    cli: CLI,
    *args: str,
    env: dict[str, str | None] | None = None,
    preexec_fn: Callable[[], Any] | None = None,
) -> Background:
    """Start ``runcomfy *args`` in the background with the test's environment (a ``None`` value unsets)."""
    merged = cli.env
    for key, value in (env or {}).items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    proc = subprocess.Popen(
        [RUNCOMFY, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=merged,
        cwd=cli.home,
        preexec_fn=preexec_fn,
    )
    return Background(proc)


def decide_device(cli: CLI, user_code: str, action: str = "authorize") -> None:
    """Type ``user_code`` into the emulator's approval page and press Authorize (or Deny)."""
    response = cli.http.post(f"{cli.server.origin}/cli-auth", data={"user_code": user_code, "action": action})
    assert response.status_code == 200, response.text


def login(cli: CLI, *extra: str, preexec_fn: Callable[[], Any] | None = None) -> Result:
    """Run ``runcomfy login --no-browser`` to completion, approving the code it prints."""
    command = start(cli, "login", "--no-browser", *extra, preexec_fn=preexec_fn)
    code = command.wait_for(USER_CODE).group(1)
    decide_device(cli, code)
    return command.finish()


def umask_zero() -> None:
    """``preexec_fn`` giving the child the loosest umask, so only explicit modes keep files private."""
    os.umask(0)


def token_file(cli: CLI) -> Path:
    return cli.home / "config" / "token.json"


def journal_rows(state_dir: Path) -> dict[str, sqlite3.Row]:
    """Every row of the request journal under ``state_dir``, by request id, read through a read-only handle."""
    databases = [
        p for p in state_dir.rglob("*") if p.suffix in (".sqlite3", ".db") and "emulator" not in p.name
    ]
    assert len(databases) == 1, databases
    db = sqlite3.connect(f"{databases[0].as_uri()}?mode=ro", uri=True)
    try:
        db.row_factory = sqlite3.Row
        return {row["request_id"]: row for row in db.execute("SELECT * FROM requests")}
    finally:
        db.close()
