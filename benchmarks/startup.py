"""Start-up time of the CLI: `runcomfy --version` and `runcomfy --help`, against a bare interpreter.

Baselines in the same run: `python -c pass` (the floor any Python CLI pays) and `python -c "import click"`
(the floor of a click-based CLI). Each command runs N times; the median wall time is printed.

    python benchmarks/startup.py [--runs 20]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time


def median_ms(command: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    runcomfy = shutil.which("runcomfy") or os.path.join(os.path.dirname(sys.executable), "runcomfy")
    rows = [
        ("baseline: python -c pass", [sys.executable, "-c", "pass"]),
        ("baseline: python -c 'import click'", [sys.executable, "-c", "import click"]),
        ("runcomfy --version", [runcomfy, "--version"]),
        ("runcomfy --help", [runcomfy, "--help"]),
        ("runcomfy run --help", [runcomfy, "run", "--help"]),
    ]
    for label, command in rows:
        print(f"{label:<38} {median_ms(command, args.runs):7.1f} ms (median of {args.runs})")


if __name__ == "__main__":
    main()
