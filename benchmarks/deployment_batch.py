"""Deployment batch: `runcomfy deployments run D --batch` against a shell loop of single `deployments run` commands.

Starts `runcomfy emulator` (loopback) with instances that boot at once and requests that run in no time
(``cold_start_s`` 0, ``deployment_run_s`` 0, and a balance that cannot run out), so what is measured is the CLI,
not waiting. It deploys the emulator's example text-to-image workflow on 4 instances (``min_instances`` =
``max_instances`` = 4, queue room for every request in flight), then, in the same run:

1. a batch of N lines (default 500), each an overrides object ``{"6": {"inputs": {"text": "fox N"}}}``, with
   `--concurrency 16`: wall time, time per item, peak memory of the CLI process (ru_maxrss) and HTTP calls
   per item (from the emulator's call log); every item's image is downloaded, as users run it;
2. the baseline: M lines (default 20) run as a loop of single `runcomfy deployments run D --overrides ...`
   commands, the way users script the official CLI today; its time per item is scaled to N items.

Goal (issue 11): the batch at least 30x faster per item than the loop.

    python benchmarks/deployment_batch.py [--items 500] [--loop-items 20] [--concurrency 16] [--instances 4]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _emulator import Emulator, runcomfy
from startup import compile_package

WORKFLOW_ID = "7e57c0de-0000-4000-8000-000000000001"  # the emulator's example "Text to Image"
WORKFLOW_VERSION = "v1"
PROMPT_NODE = "6"  # its CLIPTextEncode (positive prompt)
SPEEDUP_GOAL = 30


def overrides(n: int) -> dict[str, object]:
    return {PROMPT_NODE: {"inputs": {"text": f"fox {n}"}}}


def create_deployment(emulator: Emulator, instances: int, concurrency: int) -> str:
    """A deployment of the example workflow on ``instances`` warm instances, with queue room for every
    request in flight (created over HTTP, so no CLI process but the measured ones counts in ru_maxrss)."""
    body = {
        "name": "bench",
        "workflow_id": WORKFLOW_ID,
        "workflow_version": WORKFLOW_VERSION,
        "hardware": ["AMPERE_48"],
        "min_instances": instances,
        "max_instances": instances,
        "queue_size": max(1, math.ceil(concurrency / instances)),
        "keep_warm_duration_in_seconds": 3600,
    }
    serverless = emulator.exports["RUNCOMFY_SERVERLESS_API_BASE"]
    return str(emulator.call("POST", "/deployments", body, base=serverless)["id"])


def run_batch(env: dict[str, str], deployment: str, items: int, concurrency: int, work: Path) -> float:
    batch = work / "batch.jsonl"
    batch.write_text("".join(json.dumps(overrides(n)) + "\n" for n in range(items)))
    command = [
        runcomfy(),
        "-q",
        "deployments",
        "run",
        deployment,
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


def run_loop(env: dict[str, str], deployment: str, items: int, work: Path) -> float:
    started = time.perf_counter()
    for n in range(items):
        command = [
            runcomfy(),
            "-q",
            "deployments",
            "run",
            deployment,
            "--overrides",
            json.dumps(overrides(n)),
            "--output-dir",
            str(work / "loop" / str(n)),  # one directory each: the loop's files would share a name
        ]
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def files_in(directory: Path) -> int:
    return sum(1 for path in directory.rglob("*") if path.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--loop-items", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--instances", type=int, default=4)
    args = parser.parse_args()
    compile_package()  # an installed package has its bytecode: the compiler's one-time cost is not the CLI's
    with Emulator() as emulator, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        settings = emulator.configure(cold_start_s=0, deployment_run_s=0, balance_usd=1_000_000)
        deployment = create_deployment(emulator, args.instances, args.concurrency)
        env = {**os.environ, **emulator.exports, "RUNCOMFY_STATE_DIR": str(work / "state"), "NO_COLOR": "1"}
        emulator.clear_calls()
        emulator_cpu_before, cli_cpu_before = emulator.cpu_seconds(), children_cpu_seconds()
        batch_s = run_batch(env, deployment, args.items, args.concurrency, work)
        emulator_cpu_after, cli_cpu_s = emulator.cpu_seconds(), children_cpu_seconds() - cli_cpu_before
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        calls = emulator.calls_by_route()
        batch_files = files_in(work / "out")
        emulator.clear_calls()
        loop_s = run_loop(env, deployment, args.loop_items, work)
        loop_calls = emulator.calls_by_route()
        loop_files = files_in(work / "loop")
    per_item_batch = batch_s / args.items
    per_item_loop = loop_s / args.loop_items
    # The one deployment lookup per batch (its workflow, for the pre-flight check) is not a per-item call.
    per_item_calls = sum(n for route, n in calls.items() if route != "deployment") / args.items
    loop_calls_per_item = sum(loop_calls.values()) / args.loop_items
    speedup = per_item_loop / per_item_batch
    print(
        f"emulator: cold_start_s {settings['cold_start_s']:g}, deployment_run_s {settings['deployment_run_s']:g}; "
        f"deployment of {WORKFLOW_ID} {WORKFLOW_VERSION} on {args.instances} instances"
    )
    print(
        f"batch:    {args.items} items, --concurrency {args.concurrency}: {batch_s:.1f} s wall, "
        f"{per_item_batch * 1000:.1f} ms/item, {batch_files} files saved"
    )
    print(
        f"baseline: {args.loop_items} single `runcomfy deployments run` in a shell loop: {loop_s:.1f} s, "
        f"{per_item_loop * 1000:.0f} ms/item, {loop_files} files saved "
        f"(scaled to {args.items} items: {per_item_loop * args.items:.0f} s)"
    )
    verdict = "met" if speedup >= SPEEDUP_GOAL else "NOT met"
    print(f"speedup per item:      {speedup:.1f}x   (goal >= {SPEEDUP_GOAL}x: {verdict})")
    print(f"peak memory (batch):   {peak_mb:.0f} MB")
    print(
        f"HTTP calls per item:   batch {per_item_calls:.2f} {dict(calls)}, the deployment lookup once per batch; "
        f"loop {loop_calls_per_item:.2f} {dict(loop_calls)}"
    )
    # Where the batch's time goes: the emulator is one process (its rendering of each image is most of its CPU),
    # the CLI another; on a machine shared with other work, neither gets a whole CPU.
    emulator_cpu = (
        "n/a"
        if emulator_cpu_before is None or emulator_cpu_after is None
        else f"{(emulator_cpu_after - emulator_cpu_before) / args.items * 1000:.1f} ms/item "
        f"({(emulator_cpu_after - emulator_cpu_before) / batch_s:.0%} of one CPU)"
    )
    print(
        f"CPU during the batch:  emulator {emulator_cpu}, CLI {cli_cpu_s / args.items * 1000:.1f} ms/item; "
        f"{os.cpu_count()} CPUs, load average {'n/a' if load is None else f'{load:.1f}'}"
    )


if __name__ == "__main__":
    main()
