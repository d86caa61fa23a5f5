"""``runcomfy emulator --port N`` on a port that is taken: a prompt, clear failure that says how to get a free one."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys

RUNCOMFY = shutil.which("runcomfy") or os.path.join(os.path.dirname(sys.executable), "runcomfy")


def test_a_port_in_use_fails_at_once_and_suggests_port_0() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = subprocess.run(
            [RUNCOMFY, "emulator", "--port", str(port), "--token", "tok"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode != 0
    assert result.stdout == ""  # no export lines for an emulator that is not running
    assert f"127.0.0.1:{port}" in result.stderr and "--port 0" in result.stderr
    assert "Traceback" not in result.stderr
