"""Every Python example in the README runs as written against the emulator (the README promises it)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cli_harness import CLI

README = Path(__file__).resolve().parents[2] / "README.md"
ALL_BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)
# A block that starts with "# test_<name>.py" is a user's test file: it is run with pytest, as its user would.
TEST_FILES = [block for block in ALL_BLOCKS if re.match(r"# test_\w+\.py\n", block)]
BLOCKS = [block for block in ALL_BLOCKS if block not in TEST_FILES]


def saving_to(block: str) -> list[str]:
    """The directories an example saves files into (``client.download(result, "out/")``, ``output_dir=...``)."""
    return re.findall(r'"([\w-]+)/?"\)', block) + re.findall(r'output_dir="([\w-]+)"', block)


def test_the_readme_has_library_examples_and_most_save_files() -> None:
    assert len(BLOCKS) >= 5
    assert sum(1 for block in BLOCKS if saving_to(block)) >= 3


@pytest.mark.parametrize("number", range(len(BLOCKS)), ids=[f"block-{n + 1}" for n in range(len(BLOCKS))])
def test_each_python_example_of_the_readme_runs_against_the_emulator(
    cli: CLI, tmp_path: Path, number: int
) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    env = {**cli.env, "PYTHONWARNINGS": "error"}

    done = subprocess.run(
        [sys.executable, "-c", BLOCKS[number]],
        capture_output=True,
        text=True,
        env=env,
        cwd=workdir,
        timeout=120,
    )

    assert done.returncode == 0, f"README example {number + 1} failed:\n{BLOCKS[number]}\n{done.stderr}"
    assert "Traceback" not in done.stderr
    assert "warning" not in done.stderr.lower()  # nothing was skipped: the emulator's own files are trusted
    cli.assert_no_leak(done.stdout, done.stderr)
    for directory in saving_to(BLOCKS[number]):
        target = workdir / directory
        saved = [p for p in target.rglob("*") if p.is_file()] if target.exists() else []
        assert saved, f"README example {number + 1} saved nothing in {directory}/"
        assert all(p.read_bytes()[:4] == b"\x89PNG" for p in saved)


def test_the_readme_has_a_users_test_file_and_it_passes_under_pytest(tmp_path: Path) -> None:
    assert len(TEST_FILES) == 1
    name = TEST_FILES[0].split("\n", 1)[0].removeprefix("# ")
    (tmp_path / name).write_text(TEST_FILES[0])
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNCOMFY_")}
    env["HOME"] = str(tmp_path)

    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error", name],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout
