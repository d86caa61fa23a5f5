"""Edges of the process itself: signals at odd moments, closed streams, umask 000, files left by a killed run."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest
from background import login, start, umask_zero
from cli_harness import CLI, RUNCOMFY
from waiting import background, finish, wait_for_call, wait_until

ECHO = "runcomfy/emulator/echo"
SLOW = "runcomfy/emulator/slow"
SIZED = "runcomfy/emulator/sized-file"


def test_a_temp_file_left_by_a_killed_download_is_swept_by_the_next_single_run(cli: CLI) -> None:
    out = cli.home / "out"
    out.mkdir()
    stale = out / ".sized.bin.part-999999999-0123456789abcdef"  # a pid that cannot be alive
    stale.write_bytes(b"half a file")

    result = cli.run("run", SIZED, "--input", '{"size_bytes": 10}', "--output-dir", "out")

    assert result.returncode == 0, result.stderr
    assert not stale.exists()
    assert [p.name for p in out.iterdir()] == ["sized.bin"]


def test_ctrl_c_while_the_cli_is_being_imported_exits_130_without_a_traceback(
    cli: CLI, tmp_path: Path
) -> None:
    # A Ctrl-C that lands while click and the CLI are imported, made certain: the first import of click raises
    # KeyboardInterrupt, as a real SIGINT during that import would.
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "click.py").write_text("raise KeyboardInterrupt\n")
    env = {**cli.env, "PYTHONPATH": str(shim)}

    done = subprocess.run(
        [RUNCOMFY, "--version"], capture_output=True, text=True, env=env, cwd=cli.home, timeout=30
    )

    assert done.returncode == 130
    assert done.stderr == "" and done.stdout == ""


def handles_sigterm(pid: int) -> bool:
    """Whether process ``pid`` has a handler of its own for SIGTERM (the ``SigCgt`` mask in /proc)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # already gone
        return False
    caught = next(line for line in status.splitlines() if line.startswith("SigCgt:")).split()[1]
    return bool(int(caught, 16) & (1 << (signal.SIGTERM - 1)))


@pytest.mark.parametrize("after_s", [0.0, 0.15])
def test_ctrl_c_while_the_command_starts_never_prints_a_traceback(cli: CLI, after_s: float) -> None:
    # A signal that lands while Python itself starts (before the console script has run one line of ours) prints
    # Python's own traceback whatever the CLI does, so the test waits for the CLI's first step: the SIGTERM
    # handler ``entry()`` installs before importing click and the commands. The signal then lands during those
    # imports (at once) or around the command's first steps (a moment later), however loaded the machine is.
    process = subprocess.Popen(
        [RUNCOMFY, "run", ECHO, "--input", "{}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli.env,
        cwd=cli.home,
    )
    with background(process):
        wait_until(lambda: handles_sigterm(process.pid), what="the CLI's signal set-up", process=process)
        time.sleep(after_s)  # an e2e test of a real process: only where the signal lands varies
        process.send_signal(signal.SIGINT)
        ended = finish(process, deadline_s=60)

    assert "Traceback" not in ended.stderr
    assert ended.returncode in (0, 130), ended.stderr  # it may have finished before the signal arrived


def test_sigterm_before_the_submit_exits_130_and_submits_nothing(cli: CLI) -> None:
    cli.fault(route="model", kind="latency", seconds=20, times=1)  # the pre-flight schema fetch hangs
    with background(cli.start("run", ECHO, "--input", "{}")) as process:
        wait_for_call(cli, "model", process)
        process.send_signal(signal.SIGTERM)
        ended = finish(process, deadline_s=30)

    assert ended.returncode == 130, ended.stderr
    assert "Traceback" not in ended.stderr
    assert cli.calls("submit") == []


def test_a_sigint_the_parent_ignores_stays_ignored_while_polling(cli: CLI) -> None:
    cli.configure(durations={SLOW: 30})

    def ignore_sigint() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    command = start(
        cli, "run", SLOW, "--input", '{"seconds": 30}', "--poll-secs", "1", preexec_fn=ignore_sigint
    )
    wait_for_call(cli, "status", command.proc)
    command.proc.send_signal(signal.SIGINT)
    wait_for_call(cli, "status", command.proc, count=2)  # still polling after the ignored signal
    cli.advance(31)
    result = command.finish()

    assert result.returncode == 0, result.stderr
    assert cli.calls("cancel") == []


def test_a_closed_stdout_is_no_crash(cli: CLI) -> None:
    done = subprocess.run(
        [RUNCOMFY, "run", ECHO, "--input", '{"a": 1}'],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=cli.env,
        cwd=cli.home,
        preexec_fn=lambda: os.close(1),
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    assert "unexpected error" not in done.stderr and "Traceback" not in done.stderr


def test_under_umask_000_every_directory_made_for_the_token_and_journal_is_private(cli: CLI) -> None:
    config = cli.home / "deep" / "er" / "config"
    state = cli.home / "st" / "ate"
    cli.extra_env.update(RUNCOMFY_CONFIG_DIR=str(config), RUNCOMFY_STATE_DIR=str(state))

    logged_in = login(cli, preexec_fn=umask_zero)
    ran = cli.run("run", ECHO, "--input", "{}")

    assert logged_in.returncode == 0 and ran.returncode == 0, logged_in.stderr + ran.stderr
    for directory in (cli.home / "deep", cli.home / "deep" / "er", config, cli.home / "st", state):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory


def test_every_download_skips_nothing_silently_in_json_mode(cli: CLI, tmp_path: Path) -> None:
    result = cli.run("--output", "json", "run", ECHO, "--input", '{"u": "https://evil.example.com/a.png"}')

    assert result.returncode == 0
    assert result.stderr == ""  # the library's log records go through the sink, never Python's fallback


def test_an_interrupt_python_could_not_raise_is_delivered_again_not_printed() -> None:
    # A KeyboardInterrupt raised in a weakref callback (as a Ctrl-C during an import can be) is "ignored" by
    # Python with a traceback on stderr; the CLI's hook delivers it again to the main thread instead. The child
    # waits in short naps: a redelivered interrupt (no real signal) cannot wake one long blocking wait, which
    # would only end when its full timeout ran out.
    import sys

    code = """
import gc, time, weakref
from runcomfy.cli.signals import redeliver_lost_interrupts
redeliver_lost_interrupts()
class Thing: pass
def on_collect(ref): raise KeyboardInterrupt
thing = Thing(); ref = weakref.ref(thing, on_collect)
try:
    del thing; gc.collect()
    for _ in range(2000):  # up to 20 s; a redelivered interrupt is raised between two naps
        time.sleep(0.01)
    print("not interrupted")
except KeyboardInterrupt:
    print("interrupted")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)

    assert done.stdout == "interrupted\n"
    assert done.stderr == ""


def test_an_interrupt_wrapped_by_python_during_an_import_still_exits_130_quietly(
    cli: CLI, tmp_path: Path
) -> None:
    # Python wraps an exception raised in a descriptor's __set_name__ (while a class is built during an import)
    # in a RuntimeError; a Ctrl-C landing there must still end as an interrupt.
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "click.py").write_text(
        "class Interrupting:\n"
        "    def __set_name__(self, owner, name):\n"
        "        raise KeyboardInterrupt\n"
        "class Built:\n"
        "    field = Interrupting()\n"
    )
    env = {**cli.env, "PYTHONPATH": str(shim)}

    done = subprocess.run(
        [RUNCOMFY, "--version"], capture_output=True, text=True, env=env, cwd=cli.home, timeout=30
    )

    assert done.returncode == 130
    assert done.stderr == ""
