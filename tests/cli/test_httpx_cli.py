"""The console script keeps ``import httpx`` from importing httpx's own command-line tool (rich, pygments),
and the stand-in it leaves hands over the real module as soon as anything but ``main`` is asked of it."""

from __future__ import annotations

import subprocess
import sys

PROBE = """\
import sys
from runcomfy.cli.httpx_cli import MODULE, defer
defer()
import httpx
assert "rich" not in sys.modules and "pygments" not in sys.modules, "httpx imported its command-line tool"
assert callable(httpx.main)
stand_in = sys.modules[MODULE]
assert callable(stand_in.format_request_headers)  # any other name: the real module, imported now
assert sys.modules[MODULE] is not stand_in and "rich" in sys.modules
print("ok")
"""

ALREADY_IMPORTED = """\
import sys
import httpx
from runcomfy.cli.httpx_cli import MODULE, defer
real = sys.modules[MODULE]
defer()
assert sys.modules[MODULE] is real
print("ok")
"""


def run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_httpx_is_imported_without_its_command_line_tool_which_stays_reachable() -> None:
    assert run(PROBE) == "ok"


def test_an_httpx_already_imported_is_left_alone() -> None:
    assert run(ALREADY_IMPORTED) == "ok"
