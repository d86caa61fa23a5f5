"""Status requests per second the emulator serves, with concurrent keep-alive clients.

Starts `runcomfy emulator` (a real process, loopback only), submits one request, then hammers
`GET /v1/requests/{id}/status` for a fixed time. Baseline in the same run: a bare uvicorn app that answers a
constant JSON body, measured with the same client, so the figure shows what the emulator's own work costs.

The load client is wrk when installed (Debian package `wrk`), else a pool of Python processes using
http.client with keep-alive. Goal: at least 2,000 status requests/s on a 2-core machine.

    python benchmarks/emulator_throughput.py [--seconds 5] [--connections 32]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
import urllib.request

TOKEN = "bench-token"
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


def start_emulator() -> tuple[subprocess.Popen[str], str]:
    runcomfy = shutil.which("runcomfy") or os.path.join(os.path.dirname(sys.executable), "runcomfy")
    cmd = [runcomfy, "emulator", "--port", "0", "--token", TOKEN, "--duration", "*=0"]
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    base = process.stdout.readline().strip().split("=", 1)[1]
    for _ in range(2):
        process.stdout.readline()
    return process, base


def start_bare() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen([sys.executable, "-c", BARE_APP], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    port = process.stdout.readline().strip()
    return process, f"http://127.0.0.1:{port}/status"


def submit(base: str) -> str:
    request = urllib.request.Request(
        f"{base}/models/runcomfy/emulator/echo",
        data=b"{}",
        method="POST",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:
        return str(json.load(response)["request_id"])


def run_wrk(url: str, seconds: int, connections: int) -> float:
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
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise SystemExit(f"wrk saw {non2xx.group(1)} error responses:\n{out}")
    assert match, out
    return float(match.group(1))


def _python_worker(args: tuple[str, float, int]) -> int:
    url, deadline, _ = args
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


def run_python(url: str, seconds: int, connections: int) -> float:
    deadline = time.monotonic() + seconds
    with multiprocessing.Pool(connections) as pool:
        started = time.monotonic()
        counts = pool.map(_python_worker, [(url, deadline, i) for i in range(connections)])
        elapsed = time.monotonic() - started
    return sum(counts) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    use_wrk = shutil.which("wrk") is not None
    measure = run_wrk if use_wrk else run_python
    connections = args.connections if use_wrk else min(args.connections, 8)
    emulator, base = start_emulator()
    bare, bare_url = start_bare()
    try:
        status_url = f"{base}/requests/{submit(base)}/status"
        figure = measure(status_url, args.seconds, connections)
        baseline = measure(bare_url, args.seconds, connections)
    finally:
        for process in (emulator, bare):
            process.terminate()
            process.wait(10)
    client = f"wrk, {connections} connections" if use_wrk else f"python http.client x{connections} processes"
    print(f"client:                          {client}, {args.seconds}s each, {os.cpu_count()} CPUs")
    print(f"emulator GET .../status:         {figure:,.0f} requests/s")
    print(f"baseline bare uvicorn JSON app:  {baseline:,.0f} requests/s")
    print(f"emulator / baseline:             {figure / baseline:.0%}")
    print(f"goal >= 2,000 requests/s:        {'met' if figure >= 2000 else 'NOT met'}")


if __name__ == "__main__":
    main()
