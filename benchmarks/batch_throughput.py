"""Batch throughput and per-item cost: `runcomfy run --batch` against a shell loop of single `runcomfy run` commands.

Starts `runcomfy emulator` (loopback, zero run time), then, in the same run:

1. ``--repeats`` batches (default 3) of N items (default 1,000) of the echo model with `--concurrency 16`, each
   with a fresh state directory and output directory (so nothing is resumed from the previous one). For each:
   wall time per item; the CLI process's own CPU time per item (user + system, from ``wait4``: that process
   alone); HTTP calls per item and the items actually in flight (both from the emulator's call log: an item is
   in flight from the arrival of its submit to the arrival of its result call, its last; the maximum overlap and
   the time-weighted mean over the batch); the emulator's CPU time over the same interval (from /proc) and its
   share of one core, so it shows whether the emulator, rather than the CLI, is what saturates first; and the
   CLI's peak memory (ru_maxrss);
2. the baseline: M items (default 30) run as a loop of single `runcomfy run` commands, the way users script the
   official CLI today: the median wall and CPU time per item, scaled to N items for comparison.

Goals (issues 4 and 14): the batch at least 30x faster per item than the loop, under 150 MB peak, at most 3 HTTP
calls per item for a zero-duration model, and at most 3 ms of CLI CPU per item, with 16 items in flight.

3. then, since a zero-run-time item is in flight only for milliseconds (the CLI's CPU bounds the overlap), one
   batch of 4 x ``--concurrency`` items of a model that runs 1 s on another emulator: whether it keeps
   ``--concurrency`` items in flight, and how busy the emulator is meanwhile.

    python benchmarks/batch_throughput.py [--items 1000] [--repeats 3] [--loop-items 30] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _emulator import Emulator, runcomfy
from startup import compile_package

MODEL = "runcomfy/emulator/echo"
SPEEDUP_GOAL = 30
PEAK_MB_GOAL = 150
CALLS_GOAL = 3
CPU_MS_GOAL = 3.0
SLOW_RUN_S = 1.0  # the model's run time in the in-flight check
SLOW_ROUNDS = 4  # that check runs --concurrency x this many items


@dataclass
class Child:
    """One finished CLI process: wall seconds, its own CPU seconds (user + system) and peak memory."""

    wall_s: float
    cpu_s: float
    peak_mb: float


def run_child(command: list[str], env: dict[str, str]) -> Child:
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {process.returncode}")
    return Child(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


@dataclass
class BatchRun:
    child: Child
    items: int
    calls: Counter[str]
    emulator_cpu_s: float
    max_in_flight: int
    mean_in_flight: float

    @property
    def per_item_calls(self) -> float:
        # The one catalog lookup per batch (the model's schema for pre-flight) is not a per-item call.
        return sum(n for route, n in self.calls.items() if route != "model") / self.items


def in_flight(calls: list[dict[str, Any]]) -> tuple[int, float]:
    """The maximum and the time-weighted mean number of items between their submit and their result call."""
    steps = sorted(
        (call["time"], 1 if call["route"] == "submit" else -1)
        for call in calls
        if call["route"] in ("submit", "result")
    )
    if not steps:
        return 0, 0.0
    level = peak = 0
    area, last = 0.0, steps[0][0]
    for moment, change in steps:
        area += level * (moment - last)
        level, last = level + change, moment
        peak = max(peak, level)
    span = steps[-1][0] - steps[0][0]
    return peak, area / span if span > 0 else float(peak)


def run_batch(emulator: Emulator, items: int, concurrency: int, work: Path) -> BatchRun:
    work.mkdir()
    batch = work / "batch.jsonl"
    batch.write_text("".join(json.dumps({"prompt": f"item {n}", "n": n}) + "\n" for n in range(items)))
    env = {**os.environ, **emulator.exports, "RUNCOMFY_STATE_DIR": str(work / "state"), "NO_COLOR": "1"}
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
    emulator.reset()
    cpu_before = emulator.cpu_seconds() or 0.0
    child = run_child(command, env)
    emulator_cpu = (emulator.cpu_seconds() or 0.0) - cpu_before
    calls = emulator.call("GET", "/_emulator/calls")["calls"]
    peak, mean = in_flight(calls)
    return BatchRun(child, items, Counter(c["route"] for c in calls), emulator_cpu, peak, mean)


def run_loop(emulator: Emulator, items: int, work: Path) -> list[Child]:
    work.mkdir()
    env = {**os.environ, **emulator.exports, "RUNCOMFY_STATE_DIR": str(work / "state"), "NO_COLOR": "1"}
    runs = []
    for n in range(items):
        command = [
            runcomfy(),
            "-q",
            "run",
            MODEL,
            "--input",
            json.dumps({"prompt": f"item {n}", "n": n}),
            "--output-dir",
            str(work / "out"),
        ]
        runs.append(run_child(command, env))
    return runs


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3, help="batches of --items, each from scratch")
    parser.add_argument("--loop-items", type=int, default=30)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    compile_package()  # an installed package has its bytecode: the compiler's one-time cost is not the CLI's
    batches: list[BatchRun] = []
    with Emulator("--duration", "*=0") as emulator, tempfile.TemporaryDirectory() as tmp:
        print(
            f"batch: {args.items} items of {MODEL} (zero run time), --concurrency {args.concurrency}, "
            f"{os.cpu_count()} CPUs"
        )
        print(
            f"{'#':>2} {'wall s':>7} {'ms/item':>8} {'CLI CPU ms/item':>16} {'calls/item':>11} "
            f"{'in flight max/mean':>19} {'emulator CPU ms/item':>21} {'emulator busy':>14} {'peak MB':>8}"
        )
        for repeat in range(1, args.repeats + 1):
            run = run_batch(emulator, args.items, args.concurrency, Path(tmp) / f"batch-{repeat}")
            batches.append(run)
            wall = run.child.wall_s
            print(
                f"{repeat:>2} {wall:>7.2f} {wall / run.items * 1000:>8.2f} "
                f"{run.child.cpu_s / run.items * 1000:>16.2f} {run.per_item_calls:>11.2f} "
                f"{run.max_in_flight:>10} / {run.mean_in_flight:>5.1f} "
                f"{run.emulator_cpu_s / run.items * 1000:>21.2f} {run.emulator_cpu_s / wall:>13.0%} "
                f"{run.child.peak_mb:>8.0f}"
            )
        print(
            f"routes called in the last batch: {dict(batches[-1].calls)} (a `model` lookup, the pre-flight "
            "check's schema, is made once per batch when not cached, and not counted per item)"
        )
        loop = run_loop(emulator, args.loop_items, Path(tmp) / "loop")
    # With a zero run time an item is in flight for a few milliseconds and the CLI's CPU bounds the overlap; a
    # model that takes a while shows whether the batch keeps --concurrency items in flight.
    slow_items = args.concurrency * SLOW_ROUNDS
    with Emulator("--duration", f"*={SLOW_RUN_S:g}") as slow, tempfile.TemporaryDirectory() as tmp:
        held = run_batch(slow, slow_items, args.concurrency, Path(tmp) / "slow")
    batch_ms = statistics.median(b.child.wall_s / b.items for b in batches) * 1000
    batch_cpu_ms = statistics.median(b.child.cpu_s / b.items for b in batches) * 1000
    calls = statistics.median(b.per_item_calls for b in batches)
    peak_mb = max(b.child.peak_mb for b in batches)
    max_in_flight = statistics.median(b.max_in_flight for b in batches)
    mean_in_flight = statistics.median(b.mean_in_flight for b in batches)
    emulator_busy = statistics.median(b.emulator_cpu_s / b.child.wall_s for b in batches)
    cli_busy = statistics.median(b.child.cpu_s / b.child.wall_s for b in batches)
    loop_ms = statistics.median(c.wall_s for c in loop) * 1000
    loop_cpu_ms = statistics.median(c.cpu_s for c in loop) * 1000
    speedup = loop_ms / batch_ms
    print(
        f"baseline: {args.loop_items} single `runcomfy run` in a shell loop: median {loop_ms:.0f} ms/item wall, "
        f"{loop_cpu_ms:.0f} ms CPU/item (scaled to {args.items} items: {loop_ms * args.items / 1000:.0f} s)"
    )
    print(f"median batch: {batch_ms:.2f} ms/item wall, {batch_cpu_ms:.2f} ms CLI CPU/item")
    print(
        f"ratio loop / batch:    {speedup:.0f}x per item wall, {loop_cpu_ms / batch_cpu_ms:.0f}x CPU   "
        f"(goal >= {SPEEDUP_GOAL}x: {verdict(speedup >= SPEEDUP_GOAL)})"
    )
    print(
        f"CLI CPU per item:      {batch_cpu_ms:.2f} ms   (goal <= {CPU_MS_GOAL:g} ms: "
        f"{verdict(batch_cpu_ms <= CPU_MS_GOAL)})"
    )
    print(
        f"HTTP calls per item:   {calls:.2f}   (goal <= {CALLS_GOAL} for a zero-duration model: "
        f"{verdict(calls <= CALLS_GOAL)})"
    )
    print(
        f"items in flight:       max {max_in_flight:.0f}, mean {mean_in_flight:.1f} of --concurrency "
        f"{args.concurrency}; busy (CPU / wall): CLI {cli_busy:.0%}, emulator {emulator_busy:.0%} of one core"
    )
    print(
        f"peak memory (batch):   {peak_mb:.0f} MB   (goal < {PEAK_MB_GOAL} MB: {verdict(peak_mb < PEAK_MB_GOAL)})"
    )
    print(
        f"in flight, {SLOW_RUN_S:g} s model:  max {held.max_in_flight}, mean {held.mean_in_flight:.1f} over "
        f"{slow_items} items, emulator busy {held.emulator_cpu_s / held.child.wall_s:.0%} of one core   "
        f"(goal: {args.concurrency} in flight: {verdict(held.max_in_flight >= args.concurrency)})"
    )


if __name__ == "__main__":
    main()
