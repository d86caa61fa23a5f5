"""Every Python example in the README runs as written against the emulator (the README promises it)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from cli_harness import CLI

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)


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
