"""``runcomfy deployments run|status|result|cancel`` against the emulator's Serverless API.

What the official CLI does (outputs printed, files downloaded, ``--no-wait``'s record, the inputs given as
overrides JSON, a file, stdin or a whole workflow, ``cancellation_requested`` shown as such, timeout exit 75) and
what this one adds: the ``--override NODE.INPUT=VALUE`` shorthand, the pre-flight check of overrides against the
deployment's workflow (exit 65 with a did-you-mean, nothing paid), one cancel on Ctrl-C or SIGTERM, every request
in the journal (``requests list``, resume through ``deployments result``), and the token never shown.

Deployments are created straight through the API; the emulator's run time and cold start are set small through
``/_emulator/config`` (a long run time where a test needs a request that stays unfinished).
"""

from __future__ import annotations

import hashlib
import json
import signal
from pathlib import Path
from typing import Any

import pytest
from cli_harness import CLI, Result
from waiting import background, finish, wait_for_call, wait_until

WORKFLOW_ID = "7e57c0de-0000-4000-8000-000000000001"  # text to image: node 6 is the positive prompt
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
INTERRUPTED = 130
LONG_RUN_S = 600  # a request that stays unfinished unless the test advances the clock


# --- helpers ---------------------------------------------------------------------------------------------------


def api(cli: CLI) -> str:
    """The Serverless API's base (``.../prod/v2``)."""
    return cli.emulator.env["RUNCOMFY_SERVERLESS_API_BASE"]


def serverless(cli: CLI, **settings: Any) -> None:
    """Change the Serverless API's settings (cold start, run time) for requests submitted from now on."""
    cli.control("POST", "config", settings)


def deploy(cli: CLI, **fields: Any) -> str:
    """A new deployment of the text-to-image workflow (straight through the API); its id."""
    body = {"name": "e2e", "workflow_id": WORKFLOW_ID, "workflow_version": "v1", **fields}
    response = cli.http.post(
        f"{api(cli)}/deployments",
        json=body,
        headers={"Authorization": f"Bearer {cli.token}"},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def fast_deployment(cli: CLI, **fields: Any) -> str:
    serverless(cli, cold_start_s=0, deployment_run_s=0)  # done by the first poll
    return deploy(cli, **fields)


def jobs(cli: CLI) -> dict[str, dict[str, Any]]:
    """Every deployment request the emulator holds, id -> its record (status, merged workflow, extra_data)."""
    listed = cli.control("GET", "requests").json()["deployment_requests"]
    return {job["request_id"]: job for job in listed}


def prompt_of(job: dict[str, Any]) -> Any:
    return job["workflow"]["6"]["inputs"]["text"]


def pngs(directory: Path) -> list[Path]:
    files = sorted(p for p in directory.iterdir() if p.is_file()) if directory.is_dir() else []
    for path in files:
        assert path.read_bytes().startswith(PNG_MAGIC), path
    return files


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ok(result: Result) -> Result:
    assert result.returncode == 0, result.combined
    assert "Traceback" not in result.combined
    return result


def inference(cli: CLI, deployment_id: str, overrides: dict[str, Any] | None = None) -> str:
    """A request submitted straight through the API (for tests of the commands that act on one); its id."""
    response = cli.http.post(
        f"{api(cli)}/deployments/{deployment_id}/inference",
        json={"overrides": overrides or {}},
        headers={"Authorization": f"Bearer {cli.token}"},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["request_id"])


def submitted(cli: CLI, deployment_id: str, *inputs: str) -> str:
    """A request submitted with ``--no-wait``; its id."""
    started = ok(cli.run("--output", "json", "deployments", "run", deployment_id, *inputs, "--no-wait"))
    return str(json.loads(started.stdout)["request_id"])


# --- run: outputs, downloads, modes ----------------------------------------------------------------------------


def test_run_prints_the_outputs_and_downloads_the_images(cli: CLI) -> None:
    deployment = fast_deployment(cli)
    result = ok(
        cli.run(
            "deployments",
            "run",
            deployment,
            "--override",
            "6.text=a fox",
            "--output-dir",
            "out",
            "--poll-secs",
            "1",
        )
    )
    outputs = json.loads(result.stdout)
    (image,) = outputs["9"]["images"]
    assert image["filename"].endswith(".png") and image["type"] == "output"
    (saved,) = pngs(cli.home / "out")
    assert saved.name == image["filename"]
    (job,) = jobs(cli).values()
    assert job["status"] == "succeeded" and prompt_of(job) == "a fox"
    assert job["request_id"] in result.stderr
    assert "[download]" in result.stderr
    cli.assert_no_leak(result.stdout, result.stderr)


def test_json_mode_prints_the_outputs_on_one_line_and_still_downloads(cli: CLI) -> None:
    deployment = fast_deployment(cli)
    result = ok(
        cli.run(
            "--output", "json", "deployments", "run", deployment, "--overrides", "{}", "--output-dir", "out"
        )
    )
    (line,) = result.stdout.splitlines()
    assert set(json.loads(line)) == {"9"}
    assert len(pngs(cli.home / "out")) == 1
    cli.assert_no_leak(result.stdout, result.stderr)


def test_no_download_prints_the_outputs_and_fetches_no_file(cli: CLI) -> None:
    deployment = fast_deployment(cli)
    result = ok(cli.run("deployments", "run", deployment, "--overrides", "{}", "--no-download"))
    assert json.loads(result.stdout)["9"]["images"][0]["url"].startswith("http://127.0.0.1:")
    assert cli.calls("deployment-file") == []
    assert not [p for p in cli.files_under() if p.suffix == ".png"]


def test_no_wait_prints_the_official_record_and_polls_nothing(cli: CLI) -> None:
    serverless(cli, cold_start_s=0, deployment_run_s=LONG_RUN_S)
    deployment = deploy(cli)
    result = ok(
        cli.run("--output", "json", "deployments", "run", deployment, "--overrides", "{}", "--no-wait")
    )
    record = json.loads(result.stdout)
    assert set(record) == {"deployment_id", "request_id", "wait"}
    assert record["deployment_id"] == deployment and record["wait"] is False
    assert list(jobs(cli)) == [record["request_id"]]
    assert cli.calls("deployment-status") == [] and cli.calls("deployment-result") == []
    cli.assert_no_leak(result.stdout, result.stderr)


# --- run: the inputs -------------------------------------------------------------------------------------------

FOX = {"6": {"inputs": {"text": "a fox"}}}


@pytest.mark.parametrize("source", ["overrides", "file", "stdin", "shorthand"])
def test_every_way_of_giving_overrides_reaches_the_service(cli: CLI, source: str) -> None:
    deployment = fast_deployment(cli)
    (cli.home / "overrides.json").write_text(json.dumps(FOX))
    flags, stdin = {
        "overrides": (["--overrides", json.dumps(FOX)], None),
        "file": (["--overrides-file", "overrides.json"], None),
        "stdin": (["--overrides-file", "-"], json.dumps(FOX)),
        "shorthand": (["--override", "6.text=a fox"], None),
    }[source]
    result = ok(cli.run("deployments", "run", deployment, *flags, "--no-download", input=stdin))
    (job,) = jobs(cli).values()
    assert prompt_of(job) == "a fox"
    assert job["workflow"]["3"]["inputs"]["steps"] == 20  # the rest of the graph is the deployment's
    cli.assert_no_leak(result.stdout, result.stderr)


def test_the_shorthand_converts_by_the_inputs_type_and_changes_the_picture(cli: CLI) -> None:
    deployment = fast_deployment(cli)
    ok(cli.run("deployments", "run", deployment, "--overrides", "{}", "--output-dir", "plain"))
    ok(
        cli.run(
            "deployments",
            "run",
            deployment,
            "--override",
            "6.text=a fox",
            "--override",
            "KSampler.seed=42",
            "--output-dir",
            "fox",
        )
    )
    ok(cli.run("deployments", "run", deployment, "--override", "6.text=a fox", "--override", "3.seed=42"))
    (default_png,) = pngs(cli.home / "plain")
    (fox_png,) = pngs(cli.home / "fox")
    (again_png,) = [p for p in pngs(cli.home) if p.suffix == ".png"]
    assert sha(default_png) != sha(fox_png)
    assert sha(fox_png) == sha(again_png)  # rendered from the merged inputs only
    seeds = [job["workflow"]["3"]["inputs"]["seed"] for job in jobs(cli).values()]
    assert seeds[1:] == [42, 42] and seeds[0] != 42  # an integer, not the text "42"


def test_a_whole_workflow_file_in_api_format_is_sent_as_is(cli: CLI) -> None:
    deployment = fast_deployment(cli)
    (listed, *_) = cli.control("GET", "workflows").json()["workflows"]
    graph = listed["workflow_api_json"]
    graph["6"]["inputs"]["text"] = "a whole workflow"
    graph["5"]["inputs"]["width"] = 256
    (cli.home / "workflow_api.json").write_text(json.dumps(graph))
    result = ok(
        cli.run("deployments", "run", deployment, "--workflow-file", "workflow_api.json", "--no-download")
    )
    (call,) = cli.calls("inference")
    (job,) = jobs(cli).values()
    assert prompt_of(job) == "a whole workflow" and job["workflow"]["5"]["inputs"]["width"] == 256
    assert call["status"] == 200
    cli.assert_no_leak(result.stdout, result.stderr)


def test_a_workflow_file_in_ui_format_is_refused_before_anything_is_sent(cli: CLI) -> None:
    deployment = fast_deployment(cli)
    (cli.home / "ui.json").write_text(json.dumps({"nodes": [], "links": []}))
    result = cli.run("deployments", "run", deployment, "--workflow-file", "ui.json")
    assert result.returncode == 65
    assert "UI format" in result.stderr and "Traceback" not in result.stderr
    assert cli.calls("inference") == []


def test_extra_data_is_sent_with_the_request(cli: CLI) -> None:
    deployment = fast_deployment(cli)
    ok(
        cli.run(
            "deployments",
            "run",
            deployment,
            "--overrides",
            "{}",
            "--extra-data",
            '{"client": "e2e", "n": 3}',
            "--no-download",
        )
    )
    (job,) = jobs(cli).values()
    assert job["extra_data"] == {"client": "e2e", "n": 3}


# --- pre-flight ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["--overrides", '{"66": {"inputs": {"text": "x"}}}'], "the workflow has no node 66; did you mean 6"),
        (["--overrides", '{"6": {"inputs": {"txt": "x"}}}'], 'has no input txt; did you mean "text"?'),
        (["--override", "6.txt=x"], 'has no input txt; did you mean "text"?'),
        (["--override", "66.text=x"], "the workflow has no node 66; did you mean 6"),
    ],
    ids=["unknown-node", "unknown-input", "shorthand-unknown-input", "shorthand-unknown-node"],
)
def test_overrides_the_workflow_lacks_are_exit_65_and_nothing_is_submitted(
    cli: CLI, flags: list[str], said: str
) -> None:
    deployment = fast_deployment(cli)
    result = cli.run("deployments", "run", deployment, *flags)
    assert result.returncode == 65, result.combined
    assert said in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert cli.calls("inference") == [] and jobs(cli) == {}
    cli.assert_no_leak(result.stdout, result.stderr)


@pytest.mark.parametrize(
    "flags",
    [["--overrides", '{"66": {"inputs": {"text": "x"}}}'], ["--override", "66.text=x"]],
    ids=["overrides", "shorthand"],
)
def test_no_validate_skips_the_check_and_the_service_refuses_with_422(cli: CLI, flags: list[str]) -> None:
    deployment = fast_deployment(cli)
    result = cli.run("deployments", "run", deployment, *flags, "--no-validate")
    assert result.returncode == 65, result.combined
    assert [call["status"] for call in cli.calls("inference")] == [422]
    assert "overrides.66" in result.stderr and "Traceback" not in result.stderr
    assert jobs(cli) == {}


# --- timeout and resume ----------------------------------------------------------------------------------------


def test_timeout_exits_75_cancels_once_and_names_the_resume_command(cli: CLI) -> None:
    serverless(cli, cold_start_s=0, deployment_run_s=LONG_RUN_S)
    deployment = deploy(cli)
    result = cli.run(
        "deployments", "run", deployment, "--overrides", "{}", "--timeout", "1", "--poll-secs", "1"
    )
    assert result.returncode == 75, result.combined
    (rid,) = jobs(cli)
    assert f"runcomfy deployments result {deployment} {rid}" in result.stderr
    assert [call["path"].split("/")[-2] for call in cli.calls("deployment-cancel")] == [rid]
    assert jobs(cli)[rid]["status"] == "cancelled"
    assert "Traceback" not in result.stderr
    cli.assert_no_leak(result.stdout, result.stderr)


def test_after_a_timeout_whose_cancel_did_not_stop_it_deployments_result_resumes_and_downloads(
    cli: CLI,
) -> None:
    serverless(cli, cold_start_s=0, deployment_run_s=30)
    deployment = deploy(cli)
    # A service that could not stop the running request (the spec allows an outcome instead of cancelling).
    cli.fault(
        route="deployment-cancel", kind="respond", status=200, body={"outcome": "not_cancellable"}, times=None
    )
    timed_out = cli.run(
        "deployments",
        "run",
        deployment,
        "--overrides",
        "{}",
        "--timeout",
        "1",
        "--poll-secs",
        "1",
        "--output-dir",
        "out",
    )
    assert timed_out.returncode == 75, timed_out.combined
    (rid,) = jobs(cli)
    resume = f"runcomfy deployments result {deployment} {rid}"
    assert resume in timed_out.stderr
    assert not (cli.home / "out").exists() or pngs(cli.home / "out") == []

    not_yet = cli.run("deployments", "result", deployment, rid)
    assert not_yet.returncode == 75, not_yet.combined  # still running: try again later

    cli.advance(60)
    resumed = ok(cli.run("deployments", "result", deployment, rid))
    assert set(json.loads(resumed.stdout)["outputs"]) == {"9"}
    assert len(pngs(cli.home / "out")) == 1  # into the directory the run was given
    listed = ok(cli.run("--output", "json", "requests", "list"))
    (row,) = json.loads(listed.stdout)
    assert row["status"] == "succeeded" and len(row["files"]) == 1
    cli.assert_no_leak(timed_out.stderr, not_yet.stderr, resumed.stdout, resumed.stderr, listed.stdout)


# --- signals ---------------------------------------------------------------------------------------------------

SIGNALS = pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])


@SIGNALS
def test_a_signal_while_a_request_runs_cancels_it_once_and_exits_130(
    cli: CLI, tmp_path: Path, sig: signal.Signals
) -> None:
    serverless(cli, cold_start_s=0, deployment_run_s=LONG_RUN_S)
    deployment = deploy(cli)
    out_dir = tmp_path / "out"
    command = (
        "deployments",
        "run",
        deployment,
        "--overrides",
        "{}",
        "--poll-secs",
        "1",
        "--output-dir",
        str(out_dir),
    )
    with background(cli.start(*command)) as process:
        rid = wait_for_call(cli, "deployment-status", process)[-1]["path"].split("/")[-2]
        process.send_signal(sig)
        done = finish(process)

    assert done.returncode == INTERRUPTED, done.stderr
    assert [call["path"].split("/")[-2] for call in cli.calls("deployment-cancel")] == [rid]
    assert jobs(cli)[rid]["status"] == "cancelled"
    assert rid in done.stderr and f"runcomfy deployments result {deployment} {rid}" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert not out_dir.exists() or list(out_dir.iterdir()) == []
    cli.assert_no_leak(done.stdout, done.stderr)


@SIGNALS
def test_a_signal_while_the_request_is_queued_cancels_it_and_leaves_the_other_running(
    cli: CLI, sig: signal.Signals
) -> None:
    serverless(cli, cold_start_s=0, deployment_run_s=LONG_RUN_S)
    deployment = deploy(cli, max_instances=1, queue_size=2)
    blocker = inference(cli, deployment)
    with background(
        cli.start("deployments", "run", deployment, "--overrides", "{}", "--poll-secs", "1")
    ) as process:
        wait_for_call(cli, "deployment-status", process)
        process.send_signal(sig)
        done = finish(process)

    assert done.returncode == INTERRUPTED, done.stderr
    (rid,) = set(jobs(cli)) - {blocker}
    assert [call["path"].split("/")[-2] for call in cli.calls("deployment-cancel")] == [rid]
    assert {k: v["status"] for k, v in jobs(cli).items()} == {blocker: "in_progress", rid: "cancelled"}
    listed = ok(cli.run("--output", "json", "requests", "list"))
    statuses = {row["request_id"]: row["status"] for row in json.loads(listed.stdout)}
    assert statuses[rid] in {"cancelled", "interrupted"}


# --- status, result, cancel ------------------------------------------------------------------------------------


def test_status_shows_a_running_request_as_a_record_and_json(cli: CLI) -> None:
    serverless(cli, cold_start_s=0, deployment_run_s=LONG_RUN_S)
    deployment = deploy(cli)
    rid = inference(cli, deployment)
    pretty = ok(cli.run("deployments", "status", deployment, rid))
    as_json = ok(cli.run("--output", "json", "deployments", "status", deployment, rid))
    lines = dict(line.split(":", 1) for line in pretty.stdout.splitlines())
    assert lines["request_id"].strip() == rid and lines["status"].strip() == "in_progress"
    assert lines["instance_id"].strip() == jobs(cli)[rid]["instance_id"]
    record = json.loads(as_json.stdout)
    assert record["request_id"] == rid and record["status"] == "in_progress"
    assert record["instance_id"] == jobs(cli)[rid]["instance_id"]
    cli.assert_no_leak(pretty.stdout, pretty.stderr, as_json.stdout, as_json.stderr)


def test_status_of_a_queued_request_shows_its_position(cli: CLI) -> None:
    serverless(cli, cold_start_s=0, deployment_run_s=LONG_RUN_S)
    deployment = deploy(cli, max_instances=1, queue_size=2)
    inference(cli, deployment)
    queued = inference(cli, deployment)
    pretty = ok(cli.run("deployments", "status", deployment, queued))
    lines = {key: value.strip() for key, value in (line.split(":", 1) for line in pretty.stdout.splitlines())}
    assert lines["status"] == "in_queue"
    assert lines["queue"] == f"position {jobs(cli)[queued]['queue_position']}"


def test_result_downloads_a_finished_request_and_json_mode_prints_the_record(cli: CLI) -> None:
    deployment = fast_deployment(cli)
    rid = inference(cli, deployment, {"6": {"inputs": {"text": "later"}}})
    cli.advance(5)
    fetched = ok(cli.run("deployments", "result", deployment, rid, "--output-dir", "out"))
    record = json.loads(fetched.stdout)
    assert record["request_id"] == rid and record["status"] == "succeeded"
    (saved,) = pngs(cli.home / "out")
    assert saved.name == record["outputs"]["9"]["images"][0]["filename"]
    as_json = ok(cli.run("--output", "json", "deployments", "result", deployment, rid, "--no-download"))
    assert json.loads(as_json.stdout)["outputs"] == record["outputs"]
    assert len(cli.calls("deployment-file")) == 1
    cli.assert_no_leak(fetched.stdout, fetched.stderr, as_json.stdout, as_json.stderr)


def test_result_of_a_cancelled_request_exits_1(cli: CLI) -> None:
    serverless(cli, cold_start_s=0, deployment_run_s=LONG_RUN_S)
    deployment = deploy(cli)
    rid = inference(cli, deployment)
    ok(cli.run("deployments", "cancel", deployment, rid))
    result = cli.run("deployments", "result", deployment, rid)
    assert result.returncode == 1, result.combined
    assert "cancelled" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("queued", [False, True], ids=["running", "queued"])
def test_cancel_says_cancellation_was_requested_and_the_request_ends_cancelled(
    cli: CLI, queued: bool
) -> None:
    serverless(cli, cold_start_s=0, deployment_run_s=LONG_RUN_S)
    deployment = deploy(cli, max_instances=1, queue_size=2)
    first = inference(cli, deployment)
    rid = inference(cli, deployment) if queued else first
    assert jobs(cli)[rid]["status"] == ("in_queue" if queued else "in_progress")
    result = ok(cli.run("deployments", "cancel", deployment, rid))
    assert "cancellation requested; it may still be running" in result.stderr
    assert f"runcomfy deployments status {deployment} {rid}" in result.stderr
    assert jobs(cli)[rid]["status"] == "cancelled"
    assert len(cli.calls("deployment-cancel")) == 1
    status = ok(cli.run("--output", "json", "deployments", "status", deployment, rid))
    assert json.loads(status.stdout)["status"] == "cancelled"
    cli.assert_no_leak(result.stdout, result.stderr)


def test_cancel_of_a_finished_request_says_it_had_already_ended(cli: CLI) -> None:
    deployment = fast_deployment(cli)
    rid = inference(cli, deployment)
    wait_until(lambda: jobs(cli)[rid]["status"] == "succeeded", what="the request to finish")
    result = ok(cli.run("deployments", "cancel", deployment, rid))
    assert f"{rid} had already ended (succeeded); nothing to cancel" in result.stderr
    assert "(no outcome)" not in result.combined
    assert jobs(cli)[rid]["status"] == "succeeded"


def test_cancel_in_json_mode_prints_one_record(cli: CLI) -> None:
    serverless(cli, cold_start_s=0, deployment_run_s=LONG_RUN_S)
    deployment = deploy(cli)
    rid = inference(cli, deployment)
    result = ok(cli.run("--output", "json", "deployments", "cancel", deployment, rid))
    record = json.loads(result.stdout)
    assert record["deployment_id"] == deployment and record["request_id"] == rid
    assert record["status"] == "cancellation_requested"


# --- errors ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["run", "status", "result", "cancel"])
def test_an_unknown_deployment_is_exit_65_naming_it(cli: CLI, command: str) -> None:
    args = ["--overrides", "{}"] if command == "run" else ["3f1c0000-0000-4000-8000-000000000000"]
    result = cli.run("deployments", command, "no-such-deployment", *args)
    assert result.returncode == 65, result.combined
    assert "no-such-deployment" in result.stderr and "not found" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert cli.calls("inference") == []


def test_an_unknown_request_of_a_known_deployment_is_exit_65(cli: CLI) -> None:
    deployment = fast_deployment(cli)
    result = cli.run("deployments", "status", deployment, "3f1c0000-0000-4000-8000-000000000000")
    assert result.returncode == 65, result.combined
    assert "Traceback" not in result.stderr


def test_a_disabled_deployment_is_refused_with_how_to_enable_it(cli: CLI) -> None:
    deployment = fast_deployment(cli)
    disabled = cli.http.patch(
        f"{api(cli)}/deployments/{deployment}",
        json={"name": "e2e", "is_enabled": False},
        headers={"Authorization": f"Bearer {cli.token}"},
    )
    assert disabled.status_code == 200, disabled.text
    result = cli.run("deployments", "run", deployment, "--overrides", "{}")
    assert result.returncode == 65, result.combined
    assert "disabled" in result.stderr and "10002" in result.stderr
    assert f"runcomfy deployments update {deployment} --enable" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert jobs(cli) == {}
    cli.assert_no_leak(result.stdout, result.stderr)


def test_an_empty_balance_is_refused_with_how_to_top_up(cli: CLI) -> None:
    deployment = fast_deployment(cli)
    cli.control("POST", "balance", {"balance_usd": 0})
    result = cli.run("deployments", "run", deployment, "--overrides", "{}", "--output-dir", "out")
    assert result.returncode == 65, result.combined
    assert "Insufficient funds" in result.stderr and "10001" in result.stderr
    assert "runcomfy balance" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert jobs(cli) == {}
    cli.assert_no_leak(result.stdout, result.stderr)


# --- the journal -----------------------------------------------------------------------------------------------


def test_requests_list_shows_a_deployment_request_after_a_run(cli: CLI) -> None:
    deployment = fast_deployment(cli)
    ok(cli.run("deployments", "run", deployment, "--overrides", "{}", "--output-dir", "out"))
    (rid,) = jobs(cli)
    pretty = ok(cli.run("requests", "list"))
    as_json = ok(cli.run("--output", "json", "requests", "list"))
    (row,) = [line.split() for line in pretty.stdout.splitlines() if rid in line]
    assert f"deployment/{deployment}" in row and "succeeded" in row
    (record,) = json.loads(as_json.stdout)
    assert record["request_id"] == rid and record["model_id"] == f"deployment/{deployment}"
    assert record["status"] == "succeeded"
    assert [Path(f["path"]).name for f in record["files"]] == [p.name for p in pngs(cli.home / "out")]
    cli.assert_no_leak(pretty.stdout, pretty.stderr, as_json.stdout, as_json.stderr)


def test_requests_list_refreshes_an_unfinished_deployment_request_on_the_serverless_api(cli: CLI) -> None:
    serverless(cli, cold_start_s=0, deployment_run_s=30)
    deployment = deploy(cli)
    rid = submitted(cli, deployment, "--overrides", "{}")
    before = ok(cli.run("--output", "json", "requests", "list"))
    (row,) = json.loads(before.stdout)
    assert row["status"] in {"submitted", "in_progress"}
    cli.advance(60)
    after = ok(cli.run("--output", "json", "requests", "list"))
    (row,) = json.loads(after.stdout)
    assert row["request_id"] == rid and row["status"] == "succeeded"
    paths = [call["path"] for call in cli.calls("deployment-status")]
    assert paths and all(f"/deployments/{deployment}/requests/{rid}/status" in path for path in paths)
    assert cli.calls("status") == []  # never asked on the Model API


def test_deployments_result_saves_a_no_wait_requests_files_where_the_run_was_told(cli: CLI) -> None:
    """The journal keeps the output directory: a bare ``deployments result`` saves the files there."""
    serverless(cli, cold_start_s=0, deployment_run_s=30)
    deployment = deploy(cli)
    rid = submitted(cli, deployment, "--overrides", "{}", "--output-dir", "out")
    cli.advance(60)
    wait_until(lambda: jobs(cli)[rid]["status"] == "succeeded", what="the request to finish")
    ok(cli.run("deployments", "result", deployment, rid))
    assert len(pngs(cli.home / "out")) == 1
