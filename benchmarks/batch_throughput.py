"""Batch throughput: `runcomfy run --batch` against a shell loop of single `runcomfy run` commands.

Starts `runcomfy emulator` (loopback, zero run time), then, in the same run:

1. a batch of N items (default 1,000) of the echo model with `--concurrency 16`: wall time, time per item, peak
   memory of the CLI process (ru_maxrss) and HTTP calls per item (from the emulator's call log);
2. the baseline: M items (default 50) run as a loop of single `runcomfy run` commands, the way users script the
   official CLI today; its time per item is scaled to N items for comparison.

Goals (issue 4): batch at least 30x faster per item than the loop, under 150 MB peak, and no more than
(duration / poll interval + 3) HTTP calls per item (3 for a zero-duration model).

    python benchmarks/batch_throughput.py [--items 1000] [--loop-items 50] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _emulator import Emulator, runcomfy

MODEL = "runcomfy/emulator/echo"


def run_batch(env: dict[str, str], items: int, concurrency: int, work: Path) -> float:
    batch = work / "batch.jsonl"
    batch.write_text("".join(json.dumps({"prompt": f"item {n}", "n": n}) + "\n" for n in range(items)))
    command = [
        runcomfy(),
        "-q",
        "run",
        MODEL,
        "--batch",
        str(batch),
        "--concurrency",
        str(concurrency),
        "--output-dir",
        str(work / "out"),
    ]
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def run_loop(env: dict[str, str], items: int, work: Path) -> float:
    started = time.perf_counter()
    for n in range(items):
        command = [
            runcomfy(),
            "-q",
            "run",
            MODEL,
            "--input",
            json.dumps({"prompt": f"item {n}", "n": n}),
            "--output-dir",
            str(work / "loop"),
        ]
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--loop-items", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    with Emulator("--duration", "*=0") as emulator, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {**os.environ, **emulator.exports, "RUNCOMFY_STATE_DIR": str(work / "state"), "NO_COLOR": "1"}
        batch_s = run_batch(env, args.items, args.concurrency, work)
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        calls = emulator.calls_by_route()
        emulator.reset()
        loop_s = run_loop(env, args.loop_items, work)
    per_item_batch = batch_s / args.items
    per_item_loop = loop_s / args.loop_items
    # The one catalog lookup per batch (the model's schema for pre-flight) is not a per-item call.
    per_item_calls = {route: n for route, n in calls.items() if route != "model"}
    calls_per_item = sum(per_item_calls.values()) / args.items
    speedup = per_item_loop / per_item_batch
    print(
        f"batch:    {args.items} items, --concurrency {args.concurrency}: {batch_s:.1f} s wall, "
        f"{per_item_batch * 1000:.1f} ms/item"
    )
    print(
        f"baseline: {args.loop_items} single `runcomfy run` in a shell loop: {loop_s:.1f} s, "
        f"{per_item_loop * 1000:.0f} ms/item (scaled to {args.items} items: {per_item_loop * args.items:.0f} s)"
    )
    print(f"speedup per item:      {speedup:.0f}x   (goal >= 30x: {'met' if speedup >= 30 else 'NOT met'})")
    print(
        f"peak memory (batch):   {peak_mb:.0f} MB   (goal < 150 MB: {'met' if peak_mb < 150 else 'NOT met'})"
    )
    print(
        f"HTTP calls per item:   {calls_per_item:.2f} {dict(calls)}, the model lookup once per batch   "
        f"(goal <= 3 for a zero-duration model: "
        f"{'met' if calls_per_item <= 3 else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
