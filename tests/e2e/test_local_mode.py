"""``--local``: every command against an embedded emulator, with no configuration and no daemon left behind.

A request submitted by one ``--local`` process is seen by the next ones (the embedded emulator keeps its state in
SQLite under the state directory and job progress is a function of elapsed time), so it can be queried, cancelled
and fetched later. Real time passes here: the slow jobs are kept short and every wait is bounded.
"""

from __future__ import annotations

import json
import re
import socket
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from cli_harness import CLI, Result

IMAGE = "openai/gpt-image-2/text-to-image"
SLOW = "runcomfy/emulator/slow"
OPEN_URL = re.compile(r"Open:\s+(\S+)")


def bare_env(marker: str | None = None) -> dict[str, str | None]:
    """No RUNCOMFY_* variable and no XDG directories: what a new user has (HOME is the test's own)."""
    env: dict[str, str | None] = {
        key: None
        for key in (
            "RUNCOMFY_TOKEN",
            "RUNCOMFY_MODEL_API_BASE",
            "RUNCOMFY_WEB_BASE",
            "RUNCOMFY_CONFIG_DIR",
            "RUNCOMFY_STATE_DIR",
            "XDG_CONFIG_HOME",
            "XDG_STATE_HOME",
        )
    }
    if marker is not None:
        env["RUNCOMFY_TEST_MARKER"] = marker
    return env


def local(cli: CLI, *args: str, cwd: Path | None = None) -> Result:
    return cli.run("--local", *args, env=bare_env(), cwd=cwd)


def local_json(cli: CLI, *args: str) -> dict[str, object]:
    result = local(cli, "--output", "json", *args)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert isinstance(document, dict)
    return document


def submit_slow(cli: CLI, seconds: float) -> str:
    document = local_json(cli, "run", SLOW, "--input", json.dumps({"seconds": seconds}), "--no-wait")
    return str(document["request_id"])


def processes_with_marker(marker: str) -> list[int]:
    """Live processes whose environment carries ``marker`` (every child or daemon of the command would)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if f"RUNCOMFY_TEST_MARKER={marker}".encode() in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def port_is_closed(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_local_run_leaves_a_real_png_in_the_current_directory_with_no_setup(cli: CLI) -> None:
    from PIL import Image

    work = cli.home / "work"
    work.mkdir()
    marker = uuid.uuid4().hex

    result = cli.run(
        "--local", "run", IMAGE, "--input", '{"prompt": "a lighthouse"}', env=bare_env(marker), cwd=work
    )

    assert result.returncode == 0, result.stderr
    [url] = json.loads(result.stdout)["images"]
    pngs = list(work.glob("*.png"))
    assert len(pngs) == 1
    with Image.open(pngs[0]) as image:
        assert image.format == "PNG"
        assert image.size[0] > 0 and image.size[1] > 0
        image.verify()
    assert "[ok] completed" in result.stderr
    # Nothing outlives the command: no process carries its environment, and the emulator's port is closed.
    assert processes_with_marker(marker) == []
    assert port_is_closed(urlsplit(url).port or 80)
    # The fixture's emulator (where RUNCOMFY_MODEL_API_BASE would have pointed) was never asked anything.
    assert cli.calls() == []


def test_local_mode_never_uses_or_sends_the_users_real_token(cli: CLI) -> None:
    # RUNCOMFY_TOKEN (the canary) and the bases stay set: --local must replace them, not use them.
    result = cli.run("--local", "-vv", "whoami")

    assert result.returncode == 0, result.stderr
    assert "emulator.local" in result.stdout
    assert cli.calls() == []
    cli.assert_no_leak(result.stdout, result.stderr)


def test_local_requests_survive_between_processes_for_status_cancel_and_result(cli: CLI) -> None:
    # The queue is a function of wall-clock time, so the test orders its submissions to make every state it
    # asserts hold however fast or slow the machine is: the quick job is finished before the long ones take
    # both workers (were it still running, the second long one would queue ahead of `queued`).
    quick = submit_slow(cli, 1)
    deadline = time.monotonic() + 30
    while local_json(cli, "status", quick)["status"] != "completed":  # seen by a later process
        assert time.monotonic() < deadline, "the 1-second job never completed"
        time.sleep(0.2)
    long_a = submit_slow(cli, 60)  # with long_b, keeps both workers busy for the whole test
    long_b = submit_slow(cli, 60)
    queued = submit_slow(cli, 60)  # both workers are taken: this one waits in the queue

    status = local_json(cli, "status", queued)
    assert status["status"] == "in_queue"
    assert status["queue_position"] == 0  # the emulator counts the requests ahead: none

    cancelled = local_json(cli, "cancel", queued)
    assert cancelled == {"outcome": "cancelled", "request_id": queued, "status": "cancelled"}

    running = local_json(cli, "cancel", long_a)
    assert running == {"outcome": "not_cancellable", "request_id": long_a, "status": "in_progress"}
    pretty_cancel = local(cli, "cancel", long_b)
    assert pretty_cancel.returncode == 0
    assert "could not be cancelled (status: in_progress)" in pretty_cancel.stderr

    result = local_json(cli, "result", quick)
    assert result["status"] == "completed"
    assert result["output"] == {"slept_seconds": 1}
    assert local_json(cli, "status", queued)["status"] == "cancelled"


def test_local_result_of_a_cancelled_request_exits_1(cli: CLI) -> None:
    busy = [submit_slow(cli, 60), submit_slow(cli, 60)]
    queued = submit_slow(cli, 60)
    assert local_json(cli, "cancel", queued)["outcome"] == "cancelled"

    result = local(cli, "result", queued)

    assert result.returncode == 1
    assert "cancel" in result.stderr.lower()
    assert "Traceback" not in result.stderr
    assert len(set(busy)) == 2


def test_local_no_wait_leaves_no_daemon_and_its_state_under_the_users_state_directory(cli: CLI) -> None:
    marker = uuid.uuid4().hex
    submitted = cli.run(
        "--local",
        "--output",
        "json",
        "run",
        SLOW,
        "--input",
        '{"seconds": 60}',
        "--no-wait",
        env=bare_env(marker),
    )
    assert submitted.returncode == 0, submitted.stderr
    request_id = json.loads(submitted.stdout)["request_id"]

    assert processes_with_marker(marker) == []  # nothing stays alive to run the job...
    state = cli.home / ".local" / "state" / "runcomfy"
    assert (state / "local-emulator.db").is_file()
    later = local_json(cli, "status", request_id)  # ...yet the next process finds it running
    assert later["request_id"] == request_id and later["status"] == "in_progress"


def test_local_login_says_that_local_needs_no_login_and_touches_no_token(cli: CLI) -> None:
    result = local(cli, "login", "--no-browser")

    assert result.returncode == 0, result.stderr
    assert "--local needs no login" in result.stderr
    assert not (cli.home / ".config" / "runcomfy" / "token.json").exists()
    assert not (cli.home / ".local" / "state" / "runcomfy" / "local-config" / "token.json").exists()
    whoami = local(cli, "--output", "json", "whoami")  # and --local works right away
    assert whoami.returncode == 0, whoami.stderr
    assert json.loads(whoami.stdout)["id"]


def test_a_local_batch_rerun_reuses_what_the_last_process_did(cli: CLI) -> None:
    # Each --local process serves the emulator on a new port; its journal rows must still count as the same
    # service's, or a rerun would pay again for every line.
    (cli.home / "f.jsonl").write_text('{"message": "one"}\n')
    (cli.home / "ok.jsonl").write_text('{"n": 1}\n')
    failed = local(cli, "run", "runcomfy/emulator/fail", "--batch", "f.jsonl")
    done = local(cli, "run", "runcomfy/emulator/echo", "--batch", "ok.jsonl")
    assert (failed.returncode, done.returncode) == (1, 0), failed.stderr + done.stderr

    failed_again = local(cli, "run", "runcomfy/emulator/fail", "--batch", "f.jsonl")
    done_again = local(cli, "run", "runcomfy/emulator/echo", "--batch", "ok.jsonl")

    assert "failed, recorded earlier" in failed_again.stderr
    assert "already done" in done_again.stderr
    listed = local(cli, "--output", "json", "requests", "list", "--no-refresh")
    assert len(json.loads(listed.stdout)) == 2  # the service's requests, whatever port served them
