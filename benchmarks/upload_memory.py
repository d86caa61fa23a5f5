"""Upload memory: the peak resident memory of `runcomfy datasets upload` sending a 1 GiB file.

A dataset file over 150,000,000 bytes goes through a signed upload URL; the CLI must stream it from disk, not
read it whole (issue 12's goal: under 100 MB of peak memory while uploading 1 GiB). Starts `runcomfy emulator`
(loopback), creates a dataset over HTTP, writes a 1 GiB file (sparse, with a few written blocks so it is not all
zeroes) and its caption, then measures, each as its own child process reaped with `os.wait4` (whose rusage is
that child's alone, so the emulator's memory never counts):

1. `runcomfy datasets upload ID clip.mp4 clip.txt` (the command as users run it: status, pre-flight, the
   caption by multipart, then the signed-URL PUT of 1 GiB);
2. baselines: `curl -T` PUT of the same file to a fresh upload URL (the floor for sending a file), and a bare
   `python -c "import runcomfy.cli.main"` (what the interpreter and the CLI's imports cost before any upload).

    python benchmarks/upload_memory.py [--size-mib 1024] [--keep]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _emulator import TOKEN, Emulator, runcomfy

GOAL_MB = 100.0
MIB = 1024 * 1024


def make_file(path: Path, size: int) -> None:
    """A sparse file of ``size`` bytes with an MP4-like header and a written 1 MiB block every 128 MiB."""
    block = os.urandom(MIB)
    with open(path, "wb") as handle:
        handle.write(b"\x00\x00\x00\x18ftypmp42")
        for offset in range(0, size - MIB, 128 * MIB):
            handle.seek(offset + 4096)
            handle.write(block)
        handle.truncate(size)


def measure(command: list[str], env: dict[str, str]) -> tuple[int, float, float]:
    """Run ``command``; its exit status, peak RSS in MB (the child's own ru_maxrss) and wall seconds."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert process.stderr is not None
    # The stderr pipe is small: read it in full while the child runs (it prints one line per file).
    err = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - started
    if process.returncode != 0:
        sys.stderr.write(err.decode(errors="replace"))
    return process.returncode, usage.ru_maxrss / 1024, elapsed  # ru_maxrss is in KiB on Linux


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mib", type=int, default=1024, help="size of the uploaded file (default 1024)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    size = args.size_mib * MIB
    work = Path(tempfile.mkdtemp(prefix="runcomfy-upload-bench-"))
    try:
        with Emulator() as emulator:
            trainer = emulator.exports["RUNCOMFY_TRAINER_API_BASE"]
            dataset = emulator.call("POST", "/trainers/datasets", {"name": "bench"}, base=trainer)
            dataset_id = dataset["id"]
            clip, caption = work / "clip.mp4", work / "clip.txt"
            make_file(clip, size)
            caption.write_text("ohwx, a benchmark clip")
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("RUNCOMFY_")},
                **emulator.exports,
                "HOME": str(work),
                "RUNCOMFY_CONFIG_DIR": str(work / "config"),
                "RUNCOMFY_STATE_DIR": str(work / "state"),
                "RUNCOMFY_TOKEN": TOKEN,
                "NO_COLOR": "1",
            }
            code, cli_mb, cli_s = measure(
                [runcomfy(), "datasets", "upload", dataset_id, str(clip), str(caption)], env
            )
            if code != 0:
                print(f"runcomfy datasets upload failed (exit {code})")
                return 1
            held = emulator.call("GET", f"/trainers/datasets/{dataset_id}/status", base=trainer)
            sizes = {f["filename"]: f["size_bytes"] for f in held.get("files", [])}
            if sizes.get("clip.mp4") != size:
                print(f"the emulator holds {sizes.get('clip.mp4')} bytes of clip.mp4, expected {size}")
                return 1
            rows = [("runcomfy datasets upload (1 file + caption)", cli_mb, cli_s)]
            if shutil.which("curl"):
                endpoint = emulator.call(
                    "POST",
                    f"/trainers/datasets/{dataset_id}/get-upload-endpoint",
                    {"filenameToByteSize": {"copy.mp4": size}},
                    base=trainer,
                )
                target = endpoint["uploads"]["copy.mp4"]
                headers = [arg for k, v in target.get("headers", {}).items() for arg in ("-H", f"{k}: {v}")]
                curl = ["curl", "-sS", "--fail", "-X", target.get("method", "PUT"), "-T", str(clip), *headers]
                code, curl_mb, curl_s = measure([*curl, target["upload_url"]], env)
                rows.append((f"baseline: curl -T (exit {code})", curl_mb, curl_s))
            code, py_mb, py_s = measure([sys.executable, "-c", "import runcomfy.cli.main"], env)
            rows.append(("baseline: python -c 'import runcomfy.cli.main'", py_mb, py_s))
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"upload of {size:,} bytes ({args.size_mib} MiB) through the signed upload URL")
    print(f"{'process':<50} {'peak RSS':>10} {'wall':>8}")
    for label, peak, seconds in rows:
        print(f"{label:<50} {peak:>7.1f} MB {seconds:>7.2f}s")
    verdict = "PASS" if cli_mb < GOAL_MB else "FAIL"
    print(f"goal: peak RSS of the CLI under {GOAL_MB:.0f} MB -> {verdict} ({cli_mb:.1f} MB)")
    return 0 if cli_mb < GOAL_MB else 1


if __name__ == "__main__":
    sys.exit(main())
