"""The benchmarks' emulator: `runcomfy emulator` started as a subprocess on loopback, and its control plane.

`runcomfy emulator` prints one `export NAME=VALUE` line per setting on stdout (as many as it has: the number grew
when the Serverless API came), then `listening on ...` on stderr, then serves without printing anything more on
stdout. So the export block ends at the stderr line, not at a line of stdout (reading one more line would wait
forever): the exports are read when that line has arrived (each line is flushed, so they are all in the pipe by
then), every line that starts with `export `, whatever their number.
"""

from __future__ import annotations

import json
import os
import selectors
import shlex
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

TOKEN = "bench-token"
STARTUP_TIMEOUT_S = 30.0
LISTENING = b"listening on"


def runcomfy() -> str:
    return shutil.which("runcomfy") or os.path.join(os.path.dirname(sys.executable), "runcomfy")


class Emulator:
    """``with Emulator("--duration", "*=0") as emulator:``: a running emulator; ``exports`` for the CLI's env."""

    def __init__(self, *options: str) -> None:
        command = [runcomfy(), "emulator", "--host", "127.0.0.1", "--port", "0", "--token", TOKEN, *options]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            self.exports = _read_exports(self.process)
        except BaseException:
            self.stop()
            raise
        self.web = self.exports["RUNCOMFY_WEB_BASE"]
        for stream in (self.process.stdout, self.process.stderr):  # keep draining: a full pipe would block it
            threading.Thread(target=_drain, args=(stream,), daemon=True).start()

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system) the emulator has used so far; ``None`` where /proc is not there."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def call(self, method: str, path: str, body: Any = None, *, base: str | None = None) -> Any:
        """One call to the emulator (its control plane, or an API under ``base`` with the token); its JSON."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        if base is not None:
            headers["Authorization"] = f"Bearer {TOKEN}"
        if method == "POST" and data is None:
            data = b""
        url = (self.web if base is None else base) + path
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        with urllib.request.urlopen(request) as response:
            return json.load(response)

    def configure(self, **settings: Any) -> dict[str, Any]:
        """``POST /_emulator/config``; the settings now in force."""
        return self.call("POST", "/_emulator/config", settings)

    def calls_by_route(self) -> Counter[str]:
        return Counter(call["route"] for call in self.call("GET", "/_emulator/calls")["calls"])

    def clear_calls(self) -> None:
        self.call("DELETE", "/_emulator/calls")

    def reset(self) -> None:
        """Forget requests, deployments, calls and config changes (``POST /_emulator/reset``)."""
        self.call("POST", "/_emulator/reset")


def _read_exports(process: subprocess.Popen[bytes]) -> dict[str, str]:
    assert process.stdout is not None and process.stderr is not None
    out, err = bytearray(), bytearray()
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ, out)
        selector.register(process.stderr, selectors.EVENT_READ, err)
        while LISTENING not in err:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"the emulator did not start in {STARTUP_TIMEOUT_S:.0f} s: {err.decode()}")
            for key, _ in selector.select(left):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    raise RuntimeError(f"the emulator exited: {err.decode(errors='replace')}")
                key.data.extend(chunk)
    os.set_blocking(process.stdout.fileno(), False)  # the rest of the export lines, already in the pipe
    try:
        while chunk := os.read(process.stdout.fileno(), 65536):
            out.extend(chunk)
    except BlockingIOError:
        pass
    os.set_blocking(process.stdout.fileno(), True)
    exports = {}
    for line in out.decode().splitlines():
        if not line.startswith("export "):
            break
        name, _, value = line.removeprefix("export ").partition("=")
        exports[name] = shlex.split(value)[0] if value else ""
    if "RUNCOMFY_WEB_BASE" not in exports:
        raise RuntimeError(f"no export lines from the emulator: {out.decode(errors='replace')!r}")
    return exports


def _drain(stream: Any) -> None:
    while stream.read1(65536):
        pass
