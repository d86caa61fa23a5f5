"""One API call from the command line: `runcomfy status ID` against a bare Python script doing one httpx GET.

Starts `runcomfy emulator` (loopback), submits one echo request, then runs in interleaved rounds (A B A B ...):

- `runcomfy status ID` (token from the environment, the emulator's Model API base);
- the baseline: `python -c` that imports httpx and GETs the same status URL with the same token, the least a
  Python tool can do for the same answer.

Each row prints the median wall time with its quartiles and the median CPU time (the child's own, from
`wait4`), and the ratio to the baseline. Issue 14's goal: `runcomfy status` at most 1.2 times the baseline.

    python benchmarks/status_call.py [--runs 30]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _emulator import TOKEN, Emulator, runcomfy
from startup import compile_package, interleaved, print_table

GOAL_RATIO = 1.2
BASELINE = "baseline: python + httpx GET"
BARE_GET = (
    "import sys, httpx\n"
    "r = httpx.get(sys.argv[1], headers={'Authorization': 'Bearer ' + sys.argv[2]})\n"
    "r.raise_for_status(); print(r.json()['status'])\n"
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=30, help="rounds; each command runs once per round")
    args = parser.parse_args()
    compile_package()
    state = tempfile.TemporaryDirectory(prefix="runcomfy-bench-")
    with state, Emulator("--duration", "*=0") as emulator:
        base = emulator.exports["RUNCOMFY_MODEL_API_BASE"]
        submitted = emulator.call("POST", "/models/runcomfy/emulator/echo", {"x": 1}, base=base)
        request_id = submitted["request_id"]
        status_url = f"{base}/requests/{request_id}/status"
        os.environ.update(emulator.exports)
        os.environ["RUNCOMFY_TOKEN"] = TOKEN
        os.environ["RUNCOMFY_STATE_DIR"] = state.name  # the journal of a throwaway user
        rows = [
            (BASELINE, [sys.executable, "-c", BARE_GET, status_url, TOKEN]),
            ("runcomfy status ID", [runcomfy(), "status", request_id]),
            ("runcomfy --output json status ID", [runcomfy(), "--output", "json", "status", request_id]),
        ]
        walls, cpus = interleaved(rows, args.runs)
    print(
        f"{args.runs} interleaved rounds against the emulator; medians, ratios to the baseline of the same run"
    )
    print_table(rows, walls, cpus, BASELINE)
    print(f"goal: runcomfy status at most {GOAL_RATIO} x the baseline")


if __name__ == "__main__":
    main()
