"""What start-up imports (issue 14): ``--version`` and ``--help`` load click and a handful of small modules, and
every command's ``--help`` loads its own module but none of the heavy libraries its work needs (the HTTP client,
rich, jsonschema, YAML, the emulator). Each probe is a fresh interpreter going through the console script's
``entry``, as a user's shell does; time is never measured here (benchmarks/startup.py does that)."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from runcomfy.cli import httpx_cli
from runcomfy.cli.main import LAZY_COMMANDS

_PROBE = """\
import sys
sys.argv = ["runcomfy", *{argv!r}]
from runcomfy.cli import entry
try:
    entry()
except SystemExit as exc:
    code = int(exc.code) if isinstance(exc.code, int) else exc.code
sys.stdout.flush()
sys.stderr.write("\\nMODULES " + repr(sorted(sys.modules)) + " CODE " + repr(code) + "\\n")
"""

# The runcomfy modules the root --version may load; --help adds the exit-code table (and the exception tree
# it is keyed by) for its EXIT CODES section.
VERSION_MODULES = {
    "runcomfy",
    "runcomfy._version",
    "runcomfy.cli",
    "runcomfy.cli.context",
    "runcomfy.cli.httpx_cli",
    "runcomfy.cli.main",
    "runcomfy.cli.output",
    "runcomfy.cli.signals",
    "runcomfy.safe_text",
}
HELP_MODULES = VERSION_MODULES | {"runcomfy.cli.exit_codes", "runcomfy.errors"}

# Standard-library modules that cost milliseconds and that neither --version nor --help needs.
ROOT_STDLIB_UNNEEDED = {
    "json",
    "dataclasses",
    "pathlib",
    "logging",
    "shutil",
    "urllib.parse",
    "concurrent.futures",
    "tempfile",
}

# Loaded by no command's --help: a command imports them when it runs.
HEAVY = {
    "httpx",
    "httpcore",
    "rich",
    "jsonschema",
    "yaml",
    "regex",
    "sqlite3",
    "logging",
    "concurrent.futures",
    "starlette",
    "uvicorn",
    "PIL",
    "runcomfy.client",
    "runcomfy.http",
    "runcomfy.journal",
    "runcomfy.catalog",
    "runcomfy.downloads",
    "runcomfy.emulator",
    "runcomfy.lifecycle",
    "runcomfy.status",
}


def loaded_modules(*argv: str) -> set[str]:
    """The modules a ``runcomfy`` process ran with ``argv`` has loaded (not counting the stand-in that keeps
    httpx's command-line tool from being imported with httpx: it is not httpx)."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(argv=list(argv))], capture_output=True, text=True, timeout=60
    )
    marker = done.stderr.rpartition("\nMODULES ")[2]
    assert marker, done.stderr
    modules_text, _, code_text = marker.strip().partition(" CODE ")
    assert ast.literal_eval(code_text) in (0, None), done.stderr
    return set(ast.literal_eval(modules_text)) - {httpx_cli.MODULE}


def _top_and_self(modules: set[str], wanted: set[str]) -> set[str]:
    """Which of ``wanted`` (packages or modules) are among ``modules``."""
    return {name for name in wanted if any(m == name or m.startswith(name + ".") for m in modules)}


def test_version_loads_only_the_start_up_modules() -> None:
    modules = loaded_modules("--version")
    assert {m for m in modules if m.startswith("runcomfy")} <= VERSION_MODULES
    assert not _top_and_self(modules, ROOT_STDLIB_UNNEEDED | HEAVY)


def test_root_help_loads_only_the_start_up_modules_and_the_exit_code_table() -> None:
    modules = loaded_modules("--help")
    assert {m for m in modules if m.startswith("runcomfy")} <= HELP_MODULES
    assert not _top_and_self(modules, ROOT_STDLIB_UNNEEDED | HEAVY)


def _help_argvs() -> list[tuple[str, ...]]:
    """Every command's --help, and the --help of one subcommand of each group."""
    argvs = [(name, "--help") for name in sorted(LAZY_COMMANDS)]
    argvs += [
        ("requests", "list", "--help"),
        ("models", "get", "--help"),
        ("deployments", "run", "--help"),
        ("datasets", "upload", "--help"),
        ("train", "submit", "--help"),
    ]
    return argvs


@pytest.mark.parametrize("argv", _help_argvs(), ids=" ".join)
def test_a_commands_help_loads_none_of_the_heavy_libraries(argv: tuple[str, ...]) -> None:
    modules = loaded_modules(*argv)
    assert not _top_and_self(modules, HEAVY)
