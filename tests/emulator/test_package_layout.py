"""The emulator package's shape: any module can be imported first, the package itself imports nothing, models
are built by keyword, and an error raised anywhere in a route is answered and logged the same way."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest
from emulator_harness import Emulator

import runcomfy
import runcomfy.emulator
from runcomfy.emulator.models import Model

# That any emulator module can be the first one imported is checked with the rest of the package, each module
# alone in a fresh interpreter, by ``tests/unit/test_imports.py`` (its module list covers ``runcomfy.emulator``).


def test_the_package_wide_import_check_covers_every_emulator_module() -> None:
    emulator_modules = {
        f"runcomfy.emulator.{info.name}" for info in pkgutil.iter_modules(runcomfy.emulator.__path__)
    }
    checked = {
        info.name
        for info in pkgutil.walk_packages(runcomfy.__path__, prefix="runcomfy.")
        if "__main__" not in info.name
    }
    assert len(emulator_modules) > 20
    assert emulator_modules <= checked


def test_importing_the_package_imports_none_of_its_modules() -> None:
    probe = (
        "import sys, runcomfy.emulator; print([m for m in sys.modules if m.startswith('runcomfy.emulator.')])"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_model_is_built_by_keyword_only() -> None:
    with pytest.raises(TypeError):
        Model("x/y", "X", (), 0.0, "image", "", {}, 0.0, None, None)  # type: ignore[misc]


def test_an_error_raised_by_a_route_is_answered_in_the_service_shape_and_logged_with_its_status(
    emulator: Emulator,
) -> None:
    missing = emulator.status("no-such-request")
    unauthorized = emulator.status("no-such-request", token="wrong")
    assert missing.status_code == 404 and missing.json()["error_code"] == 404001
    assert unauthorized.status_code == 401 and unauthorized.headers["www-authenticate"] == "Bearer"
    calls = emulator.control("GET", "calls?route=status").json()["calls"]
    assert [(call["status"], call["authorized"]) for call in calls] == [(404, True), (401, False)]
