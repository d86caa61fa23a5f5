"""Start-up time of the CLI: `runcomfy --version`, `--help` and a few commands' `--help`, against a bare interpreter.

Baselines in the same run: `python -c pass` (the floor any Python CLI pays) and `python -c "import click"` (the
floor of a click-based CLI; issue 14's goal is a ratio of at most 1.3 to it for `--version` and `--help`).

The package's bytecode is compiled first (an installed package has it; a first run from a fresh checkout would
otherwise count the compiler). Every command then runs once to warm the page cache, and the rounds interleave
the commands (A B C ... A B C ...), so a burst of load from another process on this machine hits every row
alike rather than one row's samples. Each row prints the median wall time, its spread (lower and upper quartile)
and its ratio to the click baseline, then the median CPU time (user + system, the child's own rusage: less
sensitive to other processes than the wall clock) and its ratio.

    python benchmarks/startup.py [--runs 30]
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

GOAL_RATIO = 1.3
CLICK_BASELINE = "baseline: python -c 'import click'"


def runcomfy() -> str:
    return shutil.which("runcomfy") or os.path.join(os.path.dirname(sys.executable), "runcomfy")


def compile_package() -> None:
    """Write the bytecode of every runcomfy module, as installing the package does."""
    import runcomfy

    compileall.compile_dir(str(Path(runcomfy.__file__).parent), quiet=1)


def once_ms(command: list[str]) -> tuple[float, float]:
    """Wall and CPU milliseconds of one run of ``command`` (CPU from ``wait4``: that child's alone)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = (time.perf_counter() - started) * 1000
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{command} exited {process.returncode}")
    return wall, (usage.ru_utime + usage.ru_stime) * 1000


Rows = list[tuple[str, list[str]]]


def interleaved(rows: Rows, runs: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Wall and CPU milliseconds of every row, ``runs`` rounds, each round running every row once (A B C ...),
    after one untimed warm-up of each (page cache, bytecode of anything compile_package missed)."""
    for _, command in rows:
        once_ms(command)
    walls: dict[str, list[float]] = {label: [] for label, _ in rows}
    cpus: dict[str, list[float]] = {label: [] for label, _ in rows}
    for _ in range(runs):
        for label, command in rows:
            wall, cpu = once_ms(command)
            walls[label].append(wall)
            cpus[label].append(cpu)
    return walls, cpus


def print_table(
    rows: Rows, walls: dict[str, list[float]], cpus: dict[str, list[float]], baseline: str
) -> None:
    """One line per row: median wall with its quartiles, median CPU, each with its ratio to ``baseline``."""
    wall_baseline, cpu_baseline = statistics.median(walls[baseline]), statistics.median(cpus[baseline])
    print(f"{'':<34} {'wall ms [quartiles]':>26} {'ratio':>6} {'cpu ms':>8} {'ratio':>6}")
    for label, _ in rows:
        low, _, high = statistics.quantiles(walls[label], n=4)
        wall, cpu = statistics.median(walls[label]), statistics.median(cpus[label])
        print(
            f"{label:<34} {wall:7.1f} [{low:6.1f}, {high:6.1f}]   {wall / wall_baseline:6.2f} "
            f"{cpu:8.1f} {cpu / cpu_baseline:6.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=30, help="rounds; every command runs once per round")
    args = parser.parse_args()
    compile_package()
    cli = runcomfy()
    rows: Rows = [
        ("baseline: python -c pass", [sys.executable, "-c", "pass"]),
        (CLICK_BASELINE, [sys.executable, "-c", "import click"]),
        ("runcomfy --version", [cli, "--version"]),
        ("runcomfy --help", [cli, "--help"]),
        ("runcomfy run --help", [cli, "run", "--help"]),
        ("runcomfy result --help", [cli, "result", "--help"]),
        ("runcomfy datasets upload --help", [cli, "datasets", "upload", "--help"]),
    ]
    walls, cpus = interleaved(rows, args.runs)
    print(f"{args.runs} interleaved rounds; medians, ratios to the import-click baseline of the same run")
    print_table(rows, walls, cpus, CLICK_BASELINE)
    print(f"goal: runcomfy --version and --help at most {GOAL_RATIO} x the import-click baseline")


if __name__ == "__main__":
    main()
