"""Download throughput: `runcomfy result ID` saving a 1 GiB file, against `curl -o` of the same URL.

Issue 14's goal: the CLI's wall time at most 1.1 x curl's (throughput at least 0.9 x curl) and a peak resident
memory of at most 80 MB, while it still writes through a temporary file renamed into place, checks the size
cap and computes the file's sha256 (curl does none of these).

Starts `runcomfy emulator` (loopback, every model instant), runs the emulator's sized-file model once for a
file of --size-mib MiB, then, after one verification round, alternates (A B A B ...) for --runs rounds:

A. `runcomfy result ID --output-dir DIR`: the command as users run it (the service's record, then the download);
B. `curl -s -o DIR/FILE URL` of the same file from the same emulator: the floor for fetching it.

Before each timed run the harness touches, then frees, anonymous memory a quarter larger than the file, so
both commands write into memory the system has just used. Why: on a virtual machine whose balloon reports free
memory to the host (this 2-core one does), memory left free for a second or more is taken back, and the first
touch of each such page is a fault in the host. Measured here: writing 1 GiB into the page cache took 0.3 s on
memory freed a moment before and 1.2-1.9 s after a one-second pause. Which of the two commands paid that depended
on timing (how long since the previous file was deleted, how long its own start-up took), not on the command.
``--no-prime`` measures without it.

Each is its own child process reaped with `os.wait4`, whose rusage is that child's alone: wall time, CPU time
(user + system) and peak RSS. The emulator's CPU time for each transfer is printed too, since on a 2-core
machine it competes with the client. Each file is deleted right after its run, so no run pays for the dirty
pages of another. The verification round (not timed) checks that the CLI's recorded sha256 and size match the
bytes curl fetched.

    python benchmarks/download_throughput.py [--size-mib 1024] [--runs 3] [--no-prime]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _emulator import Emulator, runcomfy
from startup import compile_package

SIZED = "runcomfy/emulator/sized-file"
MIB = 1024 * 1024
GOAL_WALL_RATIO = 1.1
GOAL_PEAK_MB = 80.0


@dataclass
class Run:
    wall_s: float
    cpu_s: float
    peak_mb: float
    emulator_cpu_s: float


def measure(command: list[str], env: dict[str, str], emulator: Emulator) -> tuple[Run, bytes]:
    """Run ``command`` to completion; its wall, CPU, peak RSS (its own rusage) and the emulator's CPU meanwhile."""
    emulator_before = emulator.cpu_seconds() or 0.0
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
    ):  # files: no pipe to drain meanwhile
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        printed, errors = out.read(), err.read()
    if code != 0:
        sys.stderr.write(errors.decode(errors="replace"))
        raise SystemExit(f"{command[0]} exited {code}")
    emulator_cpu = (emulator.cpu_seconds() or 0.0) - emulator_before
    run = Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, emulator_cpu)
    return run, printed


def prime_memory(size: int) -> None:
    """Touch ``size`` bytes of anonymous memory in a short-lived process, then free it (the process exits): the
    next run starts on memory just in use. In another process, so this process's peak memory, which a child
    started later inherits as its own starting peak, stays small."""
    toucher = (
        "import mmap, sys\n"
        "size, chunk = int(sys.argv[1]), b'\\1' * 1048576\n"
        "with mmap.mmap(-1, size) as memory:\n"
        "    for offset in range(0, size - len(chunk) + 1, len(chunk)):\n"
        "        memory[offset : offset + len(chunk)] = chunk\n"
    )
    subprocess.run([sys.executable, "-c", toucher, str(size)], check=True)


def balloon_reports_free_memory() -> bool:
    """Whether a virtio balloon driver here reports free memory to the host (feature bit 5, free page
    reporting): then memory left free for a second or two is taken back by the host (see the docstring)."""
    driver = Path("/sys/bus/virtio/drivers/virtio_balloon")
    for device in driver.glob("virtio*"):
        with contextlib.suppress(OSError):
            features = (device / "features").read_text().strip()
            if len(features) > 5 and features[5] == "1":
                return True
    return False


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(4 * MIB):
            digest.update(chunk)
    return digest.hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mib", type=int, default=1024, help="size of the file (default 1024)")
    parser.add_argument("--runs", type=int, default=3, help="timed rounds of A then B (default 3)")
    parser.add_argument(
        "--no-prime", action="store_true", help="do not touch and free memory before each timed run"
    )
    args = parser.parse_args()
    compile_package()  # an installed package has its bytecode: the compiler's one-time cost is not the CLI's
    size = args.size_mib * MIB
    curl = shutil.which("curl")
    if curl is None:
        raise SystemExit("curl is needed for the baseline")
    work = Path(tempfile.mkdtemp(prefix="runcomfy-download-bench-"))
    out_dir = work / "out"
    cli = runcomfy()
    try:
        with Emulator("--duration", "*=0") as emulator:
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("RUNCOMFY_")},
                **emulator.exports,
                "RUNCOMFY_STATE_DIR": str(work / "state"),
                "RUNCOMFY_CONFIG_DIR": str(work / "config"),
                "RUNCOMFY_CACHE_DIR": str(work / "cache"),
                "NO_COLOR": "1",
            }
            submit = [cli, "--output", "json", "run", SIZED, "--input", json.dumps({"size_bytes": size})]
            _, printed = measure([*submit, "--no-download", "--emit", "record"], env, emulator)
            record = json.loads(printed)
            request_id, url = record["request_id"], record["output"]
            a_command = [cli, "result", request_id, "--output-dir", str(out_dir)]
            b_command = [curl, "-s", "-S", "-f", "-o", str(out_dir / "curl.bin"), url]

            # Verification round (not timed): the CLI's record says what curl fetched.
            verify = [cli, "--output", "json", "result", request_id, "--output-dir", str(out_dir)]
            _, printed = measure([*verify, "--emit", "record"], env, emulator)
            saved = json.loads(printed)["files"]
            assert len(saved) == 1 and saved[0]["bytes"] == size, saved
            cli_file = Path(saved[0]["path"])
            assert sha256_of(cli_file) == saved[0]["sha256"], "the recorded sha256 is not the file's"
            shutil.rmtree(out_dir)
            out_dir.mkdir()
            measure(b_command, env, emulator)
            assert sha256_of(out_dir / "curl.bin") == saved[0]["sha256"], "curl fetched other bytes"
            shutil.rmtree(out_dir)

            runs: dict[str, list[Run]] = {"runcomfy result": [], "curl -o": []}
            for round_number in range(1, args.runs + 1):
                for label, command in (("runcomfy result", a_command), ("curl -o", b_command)):
                    out_dir.mkdir()
                    if not args.no_prime:
                        prime_memory(size + size // 4)
                    run, _ = measure(command, env, emulator)
                    files = list(out_dir.iterdir())
                    assert len(files) == 1 and files[0].stat().st_size == size, files
                    shutil.rmtree(out_dir)
                    runs[label].append(run)
                    print(
                        f"round {round_number} {label:<16} wall {run.wall_s:6.2f} s  cpu {run.cpu_s:5.2f} s  "
                        f"peak {run.peak_mb:5.1f} MB  emulator cpu {run.emulator_cpu_s:5.2f} s",
                        flush=True,
                    )
    finally:
        shutil.rmtree(work, ignore_errors=True)

    primed = "" if args.no_prime else ", each started on memory just touched and freed"
    print(f"\n{args.size_mib} MiB over loopback, median of {args.runs} interleaved rounds{primed}:")
    medians: dict[str, dict[str, float]] = {}
    for label, samples in runs.items():
        wall = statistics.median(r.wall_s for r in samples)
        medians[label] = {
            "wall": wall,
            "cpu": statistics.median(r.cpu_s for r in samples),
            "peak": statistics.median(r.peak_mb for r in samples),
            "emulator": statistics.median(r.emulator_cpu_s for r in samples),
            "throughput": size / MIB / wall,
        }
        m = medians[label]
        print(
            f"  {label:<16} wall {m['wall']:6.2f} s ({m['throughput']:6.1f} MiB/s)  cpu {m['cpu']:5.2f} s  "
            f"peak {m['peak']:5.1f} MB  emulator cpu {m['emulator']:5.2f} s"
        )
    if balloon_reports_free_memory():
        print(
            "  note: this machine's virtio balloon reports free memory to the host, so writing into memory freed "
            "a second or more before faults in the host; the priming evens this out but a slower run still pays "
            "more of it. To measure the commands alone, run as root with the balloon driver unbound: "
            "echo virtio0 > /sys/bus/virtio/drivers/virtio_balloon/unbind (bind to undo)"
        )
    a, b = medians["runcomfy result"], medians["curl -o"]
    print(
        f"  ratio runcomfy/curl: wall {a['wall'] / b['wall']:.2f} (goal <= {GOAL_WALL_RATIO}), "
        f"throughput {a['throughput'] / b['throughput']:.2f} x curl, cpu {a['cpu'] / b['cpu']:.2f}; "
        f"runcomfy peak {a['peak']:.1f} MB (goal <= {GOAL_PEAK_MB:.0f} MB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
