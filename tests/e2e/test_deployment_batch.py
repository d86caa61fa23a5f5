"""``runcomfy deployments run D --batch FILE.jsonl``: one overrides object per line, through the batch engine.

Every line is checked against the deployment's workflow before anything is sent; lines run concurrently (never
more than ``--concurrency`` in flight); a rerun submits nothing it submitted before, also after the batch was
killed half way (SIGKILL: no cleanup runs); and the token never shows.
"""

from __future__ import annotations

import json
import signal
from collections import Counter
from pathlib import Path
from typing import Any

from cli_harness import CLI
from test_deployment_run import PNG_MAGIC, deploy, jobs, prompt_of, serverless
from waiting import background, finish, wait_for_call, wait_until

LINES = 6


def write_lines(path: Path, prompts: list[str]) -> Path:
    path.write_text("".join(json.dumps({"6": {"inputs": {"text": text}}}) + "\n" for text in prompts))
    return path


def prompts(count: int = LINES) -> list[str]:
    return [f"prompt number {n}" for n in range(1, count + 1)]


def saved(out: Path) -> list[str]:
    names = sorted(p.name for p in out.iterdir() if p.is_file()) if out.is_dir() else []
    for name in names:
        assert (out / name).read_bytes().startswith(PNG_MAGIC), name
    return names


def expected_names(count: int = LINES) -> list[str]:
    return [f"{n:03d}-ComfyUI_00001_.png" for n in range(1, count + 1)]


def submitted_prompts(cli: CLI) -> Counter[Any]:
    return Counter(prompt_of(job) for job in jobs(cli).values())


def most_in_flight(cli: CLI) -> int:
    """The most requests the emulator held unfinished at one moment (each from its submit to its end)."""
    events = []
    for job in jobs(cli).values():
        events += [(job["submitted_at"], 1), (job["finished_at"], -1)]
    peak = current = 0
    for _, step in sorted(events, key=lambda e: (e[0], e[1])):  # an end before a start at the same instant
        current += step
        peak = max(peak, current)
    return peak


def polled(cli: CLI) -> set[str]:
    """The request ids the command has asked the status of."""
    return {call["path"].split("/")[-2] for call in cli.calls("deployment-status")}


def test_every_line_runs_once_files_land_and_a_rerun_submits_nothing(cli: CLI) -> None:
    serverless(cli, cold_start_s=0, deployment_run_s=0.1)
    deployment = deploy(cli, max_instances=3)
    write_lines(cli.home / "lines.jsonl", prompts())
    command = ["deployments", "run", deployment, "--batch", "lines.jsonl", "--output-dir", "out"]
    first = cli.run(*command, "--concurrency", "3", "--poll-secs", "1")
    assert first.returncode == 0, first.combined
    assert saved(cli.home / "out") == expected_names()
    assert submitted_prompts(cli) == Counter(prompts())
    assert len(cli.calls("inference")) == LINES
    assert f"batch finished: {LINES} succeeded" in first.stderr
    assert first.stderr.count("[batch] line ") == LINES

    again = cli.run(*command)
    assert again.returncode == 0, again.combined
    assert again.stderr.count(": already done (") == LINES
    assert len(cli.calls("inference")) == LINES
    assert saved(cli.home / "out") == expected_names()
    assert f"-> {cli.home}" not in again.stderr  # paths shown as the user gave the directory, not absolute
    assert again.stderr.count("-> out/") == LINES

    as_json = cli.run("--output", "json", *command)
    records = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert len(records) == LINES
    assert {r["model_id"] for r in records} == {f"deployment/{deployment}"}
    assert all(r["output"] and r["files"] for r in records)  # a reused line still shows what it produced
    assert len(cli.calls("inference")) == LINES
    cli.assert_no_leak(first.stdout, first.stderr, again.stdout, again.stderr, as_json.stdout)


def test_concurrency_bounds_the_requests_in_flight(cli: CLI) -> None:
    serverless(cli, cold_start_s=0, deployment_run_s=0.3)
    deployment = deploy(cli, max_instances=6)
    write_lines(cli.home / "lines.jsonl", prompts())
    result = cli.run(
        "deployments",
        "run",
        deployment,
        "--batch",
        "lines.jsonl",
        "--concurrency",
        "2",
        "--poll-secs",
        "1",
        "--no-download",
    )
    assert result.returncode == 0, result.combined
    assert len(jobs(cli)) == LINES
    assert most_in_flight(cli) <= 2  # never three at once, though six instances were free
    assert cli.calls("deployment-file") == []


def test_json_mode_prints_one_record_per_line_and_override_applies_under_every_line(cli: CLI) -> None:
    serverless(cli, cold_start_s=0, deployment_run_s=0.1)
    deployment = deploy(cli, max_instances=3)
    write_lines(cli.home / "lines.jsonl", prompts(3))
    result = cli.run(
        "--output",
        "json",
        "deployments",
        "run",
        deployment,
        "--batch",
        "lines.jsonl",
        "--override",
        "KSampler.seed=7",
        "--override",
        "6.text=under the line",
        "--output-dir",
        "out",
    )
    assert result.returncode == 0, result.combined
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(r["line"] for r in records) == [1, 2, 3]
    for record in records:
        assert record["status"] == "succeeded" and record["error"] is None
        assert record["model_id"] == f"deployment/{deployment}"
        (file,) = record["files"]
        assert Path(file["path"]).name == f"{record['line']:03d}-ComfyUI_00001_.png"
    assert submitted_prompts(cli) == Counter(prompts(3))  # the line wins over --override
    assert {job["workflow"]["3"]["inputs"]["seed"] for job in jobs(cli).values()} == {7}
    cli.assert_no_leak(result.stdout, result.stderr)


def test_a_line_that_is_not_an_object_is_reported_and_nothing_is_submitted(cli: CLI) -> None:
    deployment = deploy(cli)
    (cli.home / "bad.jsonl").write_text('{"6": {"inputs": {"text": "fine"}}}\n[1, 2]\n')
    result = cli.run("deployments", "run", deployment, "--batch", "bad.jsonl")
    assert result.returncode == 65, result.combined
    assert "line 2" in result.stderr and "JSON object" in result.stderr
    assert "Traceback" not in result.stderr
    assert cli.calls("inference") == []


def test_lines_the_workflow_does_not_fit_are_each_reported_and_nothing_is_submitted(cli: CLI) -> None:
    deployment = deploy(cli)
    (cli.home / "bad.jsonl").write_text(
        '{"6": {"inputs": {"text": "fine"}}}\n{"66": {"inputs": {"text": "x"}}}\n{"6": {"inputs": {"txt": "x"}}}\n'
    )
    result = cli.run("deployments", "run", deployment, "--batch", "bad.jsonl")
    assert result.returncode == 65, result.combined
    assert "2 lines of the batch do not match" in result.stderr
    assert "line 2: overrides.66: the workflow has no node 66; did you mean 6" in result.stderr
    assert "line 3: overrides.6.inputs.txt:" in result.stderr and 'did you mean "text"?' in result.stderr
    assert "Traceback" not in result.stderr
    assert cli.calls("inference") == [] and cli.calls("deployment") != []
    cli.assert_no_leak(result.stdout, result.stderr)


def test_a_batch_killed_half_way_finishes_on_rerun_without_submitting_a_line_twice(cli: CLI) -> None:
    serverless(cli, cold_start_s=0, deployment_run_s=600)
    deployment = deploy(cli, max_instances=2)
    write_lines(cli.home / "lines.jsonl", prompts())
    command = [
        "deployments",
        "run",
        deployment,
        "--batch",
        "lines.jsonl",
        "--concurrency",
        "2",
        "--poll-secs",
        "1",
        "--output-dir",
        "out",
    ]
    with background(cli.start(*command)) as process:
        wait_for_call(cli, "inference", process, count=2)
        # Each of the two has been polled, so both submits are in the journal by now.
        wait_until(lambda: len(polled(cli)) == 2, what="both requests polled", process=process)
        process.send_signal(signal.SIGKILL)  # no cleanup runs
        process.wait(10)
    before = jobs(cli)
    assert len(before) == 2 and all(job["status"] == "in_progress" for job in before.values())
    assert saved(cli.home / "out") == []

    serverless(cli, deployment_run_s=0.1)  # the lines not yet submitted run fast
    cli.advance(600)  # and the two in flight finish
    rerun = cli.run(*command)
    assert rerun.returncode == 0, rerun.combined
    assert submitted_prompts(cli) == Counter(prompts())  # each line once: the killed run's two were resumed
    assert len(cli.calls("inference")) == LINES
    assert saved(cli.home / "out") == expected_names()
    assert not list((cli.home / "out").glob(".*.part-*"))
    cli.assert_no_leak(rerun.stdout, rerun.stderr)


def test_ctrl_c_cancels_the_lines_in_flight_on_the_serverless_api_and_exits_130(cli: CLI) -> None:
    serverless(cli, cold_start_s=0, deployment_run_s=600)
    deployment = deploy(cli, max_instances=2)
    write_lines(cli.home / "lines.jsonl", prompts())
    command = [
        "deployments",
        "run",
        deployment,
        "--batch",
        "lines.jsonl",
        "--concurrency",
        "2",
        "--poll-secs",
        "1",
    ]
    with background(cli.start(*command)) as process:
        wait_for_call(cli, "inference", process, count=2)
        wait_until(lambda: len(polled(cli)) == 2, what="both requests polled", process=process)
        process.send_signal(signal.SIGINT)
        done = finish(process)
    assert done.returncode == 130, done.stderr
    in_flight = set(jobs(cli))
    assert len(in_flight) == 2 and len(cli.calls("inference")) == 2  # nothing submitted after the interrupt
    assert sorted(call["path"].split("/")[-2] for call in cli.calls("deployment-cancel")) == sorted(in_flight)
    assert {job["status"] for job in jobs(cli).values()} == {"cancelled"}
    assert "Traceback" not in done.stderr
    cli.assert_no_leak(done.stdout, done.stderr)


def test_a_stdin_batch_runs_like_a_file(cli: CLI) -> None:
    serverless(cli, cold_start_s=0, deployment_run_s=0.1)
    deployment = deploy(cli, max_instances=2)
    text = "".join(json.dumps({"6": {"inputs": {"text": t}}}) + "\n" for t in prompts(2))
    result = cli.run("deployments", "run", deployment, "--batch", "-", "--no-download", input=text)
    assert result.returncode == 0, result.combined
    assert submitted_prompts(cli) == Counter(prompts(2))
