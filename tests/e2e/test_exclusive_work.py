"""Two processes never do the same paid work at once: a second identical batch, or a second fetch of one
request's files, stops with exit 75 instead of submitting or downloading twice."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cli_harness import CLI
from waiting import background, finish, wait_for_call

SIZED = "runcomfy/emulator/sized-file"


@contextmanager
def lock_held_elsewhere(lock_file: Path, name: str) -> Iterator[None]:
    """Hold the named lock in another process (locks are per process) until the block ends."""
    code = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from runcomfy.locks import ProcessLocks
        with ProcessLocks(Path({str(lock_file)!r})).hold({name!r}, what="test"):
            print("held", flush=True)
            sys.stdin.read()
        """
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield
    finally:
        assert holder.stdin is not None and holder.stdout is not None
        holder.stdin.close()
        holder.wait(10)
        holder.stdout.close()


def test_a_second_identical_batch_exits_75_and_nothing_is_submitted_twice(cli: CLI) -> None:
    cli.configure(durations={SIZED: 30}, workers=6)
    batch = cli.home / "cb.jsonl"
    batch.write_text("".join(f'{{"size_bytes": {100 + n}}}\n' for n in range(6)))
    command = ["run", SIZED, "--batch", str(batch), "--output-dir", "out", "--concurrency", "6"]
    with background(cli.start(*command)) as first:
        wait_for_call(cli, "submit", first, count=6)

        second = cli.run(*command)

        assert second.returncode == 75, second.stderr
        assert "this batch is being worked on by another runcomfy process" in second.stderr
        cli.advance(31)
        done = finish(first, deadline_s=60)
    assert done.returncode == 0, done.stderr
    assert len(cli.calls("submit")) == 6
    assert len(list((cli.home / "out").iterdir())) == 6  # no duplicate files


def test_the_same_batch_runs_again_once_the_first_has_finished(cli: CLI) -> None:
    batch = cli.home / "b.jsonl"
    batch.write_text('{"size_bytes": 10}\n')
    command = ["run", SIZED, "--batch", str(batch), "--output-dir", "out"]

    assert cli.run(*command).returncode == 0
    again = cli.run(*command)

    assert again.returncode == 0 and "already done" in again.stderr  # the lock went with the first process


def test_result_exits_75_while_another_process_fetches_the_same_request(cli: CLI) -> None:
    request_id = cli.submit(SIZED, {"size_bytes": 10})
    lock_file = cli.home / "state" / "requests.lock"

    with lock_held_elsewhere(lock_file, f"request:{request_id}"):
        busy = cli.run("result", request_id)
    free = cli.run("result", request_id)

    assert busy.returncode == 75, busy.stderr
    assert f"request {request_id} is being worked on by another runcomfy process" in busy.stderr
    assert cli.calls("file") != [] and len(cli.calls("file")) == 1  # only the second one downloaded
    assert free.returncode == 0
