"""Status requests per second the emulator serves, with concurrent keep-alive clients, against bare uvicorn.

Starts `runcomfy emulator` (a real process, loopback only, every API it serves: Model, Serverless, Trainer),
submits one echo request, checks its status route answers 200 with the request's status, then hammers
`GET /v1/requests/{id}/status` for a fixed time. Baseline in the same run: a bare uvicorn app (same loop and
HTTP parser as the emulator) that answers a constant JSON body, measured with the same client, so the figure
shows what the emulator's own work costs.

The two are measured in turns (emulator, bare, emulator, bare, ...), so a burst of load from another process on
this machine hits both alike; each row prints requests/s and the server process's own CPU time per request
(user + system, from /proc: less sensitive to other processes than the rate); the last rows print the medians
and their ratios.

The load client is wrk when installed (Debian package `wrk`), else a pool of Python processes using
http.client with keep-alive. Goal (issue 14): at least 2,000 status requests/s on a 2-core machine.

    python benchmarks/emulator_throughput.py [--seconds 3] [--repeats 5] [--connections 32]
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import re
import shutil
import statistics
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _emulator import TOKEN, Emulator

GOAL_RPS = 2000
BARE_APP = textwrap.dedent(
    """
    import socket, sys, uvicorn
    BODY = b'{"request_id":"x","status":"completed"}'
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": BODY})
    sock = socket.socket(); sock.bind(("127.0.0.1", 0)); sock.listen(1024)
    print(sock.getsockname()[1], flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")).run(sockets=[sock])
    """
)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, from /proc (0 where there is none)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_bare() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen([sys.executable, "-c", BARE_APP], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    port = process.stdout.readline().strip()
    return process, f"http://127.0.0.1:{port}/status"


def status_url(emulator: Emulator) -> str:
    """Submit one echo request and return its status URL, once it answers 200 with the request's status."""
    base = emulator.exports["RUNCOMFY_MODEL_API_BASE"]
    request_id = emulator.call("POST", "/models/runcomfy/emulator/echo", {}, base=base)["request_id"]
    status = emulator.call("GET", f"/requests/{request_id}/status", base=base)
    if status.get("request_id") != request_id or status.get("status") not in (
        "in_queue",
        "in_progress",
        "completed",
    ):
        raise SystemExit(f"unexpected status answer: {status}")
    return f"{base}/requests/{request_id}/status"


def run_wrk(url: str, seconds: float, connections: int) -> tuple[float, int]:
    out = subprocess.run(
        [
            "wrk",
            "-t",
            "1",
            "-c",
            str(connections),
            "-d",
            f"{seconds}s",
            "-H",
            f"Authorization: Bearer {TOKEN}",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    count = re.search(r"(\d+) requests in", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise SystemExit(f"wrk saw {non2xx.group(1)} error responses:\n{out}")
    assert rate and count, out
    return float(rate.group(1)), int(count.group(1))


def _python_worker(args: tuple[str, float]) -> int:
    url, deadline = args
    parts = urllib.request.urlparse(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port)
    done = 0
    while time.monotonic() < deadline:
        connection.request("GET", parts.path, headers={"Authorization": f"Bearer {TOKEN}"})
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"status {response.status}")
        done += 1
    return done


def run_python(url: str, seconds: float, connections: int) -> tuple[float, int]:
    with multiprocessing.Pool(connections) as pool:
        started = time.monotonic()
        counts = pool.map(_python_worker, [(url, started + seconds)] * connections)
        elapsed = time.monotonic() - started
    return sum(counts) / elapsed, sum(counts)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3, help="length of each measurement")
    parser.add_argument("--repeats", type=int, default=5, help="measurements of each server, in turns")
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    use_wrk = shutil.which("wrk") is not None
    measure = run_wrk if use_wrk else run_python
    connections = args.connections if use_wrk else min(args.connections, 8)
    client = f"wrk, {connections} connections" if use_wrk else f"python http.client x{connections} processes"
    print(
        f"client: {client}, {args.seconds:g} s per measurement, {args.repeats} repeats, {os.cpu_count()} CPUs"
    )
    rows: dict[str, list[tuple[float, float]]] = {"emulator": [], "bare": []}
    with Emulator("--duration", "*=0") as emulator:
        bare, bare_url = start_bare()
        try:
            servers = {"emulator": (emulator.process.pid, status_url(emulator)), "bare": (bare.pid, bare_url)}
            for _name, (_, url) in servers.items():
                measure(url, 1, connections)  # warm up: connections, caches, the first requests' imports
            print(
                f"{'#':>2}  {'emulator req/s':>14}  {'CPU us/req':>10}  {'bare req/s':>10}  {'CPU us/req':>10}"
            )
            for repeat in range(1, args.repeats + 1):
                for name, (pid, url) in servers.items():
                    cpu_before = cpu_seconds(pid)
                    rate, count = measure(url, args.seconds, connections)
                    rows[name].append((rate, (cpu_seconds(pid) - cpu_before) / max(count, 1) * 1e6))
                (er, ec), (br, bc) = rows["emulator"][-1], rows["bare"][-1]
                print(f"{repeat:>2}  {er:>14,.0f}  {ec:>10.0f}  {br:>10,.0f}  {bc:>10.0f}")
        finally:
            bare.terminate()
            bare.wait(10)
    rate = statistics.median(r for r, _ in rows["emulator"])
    cpu = statistics.median(c for _, c in rows["emulator"])
    base_rate = statistics.median(r for r, _ in rows["bare"])
    base_cpu = statistics.median(c for _, c in rows["bare"])
    print(f"median emulator GET .../status:        {rate:,.0f} requests/s, {cpu:.0f} us CPU per request")
    print(
        f"median baseline bare uvicorn JSON app: {base_rate:,.0f} requests/s, {base_cpu:.0f} us CPU per request"
    )
    print(
        f"ratio emulator / baseline:             {rate / base_rate:.2f} (rate), {cpu / base_cpu:.1f}x (CPU per request)"
    )
    print(f"goal >= {GOAL_RPS:,} requests/s:              {'met' if rate >= GOAL_RPS else 'NOT met'}")


if __name__ == "__main__":
    main()
