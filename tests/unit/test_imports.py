"""Every module imports on its own, first, in a fresh interpreter: no import cycle and no import-time effects.

A cycle between two modules shows only when one of them is the first imported (the bug that made
``import runcomfy.emulator.probes`` fail), so each module gets an interpreter of its own. Importing must write
nothing (HOME is an empty directory), print nothing, and start no thread of its own.
"""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import runcomfy

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(runcomfy.__path__, prefix="runcomfy.")
    if "__main__" not in info.name
)

CHECK = """
import importlib, sys, threading
before = threading.active_count()
importlib.import_module(sys.argv[1])
assert threading.active_count() == before, "a thread was started at import time"
"""


def test_the_package_has_modules_to_check() -> None:
    assert len(MODULES) > 40
    assert "runcomfy.lifecycle.handle" in MODULES and "runcomfy.emulator.app" in MODULES


@pytest.mark.parametrize("module", MODULES)
def test_each_module_imports_alone_in_a_fresh_interpreter(module: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNCOMFY_", "XDG_"))}
    env["HOME"] = str(home)

    done = subprocess.run(
        [sys.executable, "-c", CHECK, module],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""
    assert list(home.iterdir()) == []  # nothing written at import time


def test_importing_the_package_loads_no_http_library() -> None:
    code = "import runcomfy, sys; print(sorted(m for m in ('httpx', 'click', 'rich', 'jsonschema') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]"


def test_the_package_ships_its_type_marker() -> None:
    assert (Path(runcomfy.__file__).parent / "py.typed").is_file()


def _runtime_imports(module: str) -> set[str]:
    """The runcomfy modules ``module`` imports when it is imported (not under TYPE_CHECKING, not in functions)."""
    import ast
    import importlib.util

    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    package = module if spec.submodule_search_locations else module.rpartition(".")[0]
    found: set[str] = set()
    for node in tree.body:  # top level only: imports inside functions run later, when they are needed
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test):
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        found.update(name for name in names if name.startswith("runcomfy.") and name in MODULES)
    return found - {module}


def test_no_module_imports_another_that_imports_it_back() -> None:
    graph = {module: _runtime_imports(module) for module in MODULES}
    cycles = []
    for start in graph:  # a depth-first search from each module; the graph is small
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in graph.get(node, ()):
                if nxt == start:
                    cycles.append(" -> ".join([*path, start]))
                elif nxt not in path and len(path) < 12:
                    stack.append((nxt, [*path, nxt]))
    assert not cycles, cycles[:5]


def test_the_clis_status_filter_names_are_the_journals_groups() -> None:
    from runcomfy.cli.requests import STATUS_FILTER_NAMES
    from runcomfy.journal_statuses import STATUS_FILTERS

    assert tuple(STATUS_FILTERS) == STATUS_FILTER_NAMES
