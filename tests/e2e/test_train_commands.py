"""``runcomfy train init|submit|status|result|cancel|resume|edit`` against the emulator's Trainer API.

What the official CLI prints and how it exits (``[submit] Submitting training job (TYPE)``, ``STATUS P% (c/t)``
lines, ``[ok] Training job <id> finished`` 0, stopped short 75 with ``runcomfy train resume <id>``, FAILED and
cancelled 1, Ctrl-C only stops watching 130, ``--timeout`` needs ``--wait``, an empty config 65), and what this
one adds: the local check of the config, ``--dataset`` filling the folder in, the journal row before the wait,
status calls retried through an outage, downloads with a manifest that a rerun honours, the token never shown.
"""

from __future__ import annotations

import io
import json
import re
import signal
from pathlib import Path
from typing import Any

from cli_harness import CLI
from waiting import background, finish, wait_for_call


def png_bytes() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (30, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def api(cli: CLI, method: str, path: str, **kwargs: Any) -> Any:
    response = cli.http.request(
        method,
        f"{cli.emulator.trainer_api_base}/{path}",
        headers={"Authorization": f"Bearer {cli.token}"},
        **kwargs,
    )
    assert response.status_code < 400, response.text
    return response.json()


def ready_dataset(cli: CLI, name: str = "cats") -> dict[str, Any]:
    """A READY dataset of two captioned images, made straight through the API."""
    dataset = api(cli, "POST", "trainers/datasets", json={"name": name})
    for stem in ("a", "b"):
        for filename, data, mime in (
            (f"{stem}.png", png_bytes(), "image/png"),
            (f"{stem}.txt", b"ohwx", "text/plain"),
        ):
            api(
                cli,
                "POST",
                f"trainers/datasets/{dataset['id']}/upload",
                files={"file": (filename, data, mime)},
            )
    cli.advance(60)
    ready = api(cli, "GET", f"trainers/datasets/{dataset['id']}/status")
    assert ready["status"] == "READY", ready
    return dict(ready)


def trainer_settings(cli: CLI, **settings: Any) -> None:
    cli.control("POST", "config", settings)


def write_config(cli: CLI, dataset: str = "cats", *args: str) -> Path:
    made = cli.run("train", "init", "--dataset", dataset, "--trigger", "ohwx", *args)
    assert made.returncode == 0, made.stderr
    path = cli.home / "config.yaml"
    path.write_text(made.stdout)
    return path


def jobs(cli: CLI) -> list[dict[str, Any]]:
    return list(cli.control("GET", "training").json()["jobs"])


def job_status(cli: CLI, job_id: str) -> dict[str, Any]:
    return dict(api(cli, "GET", f"trainers/ai-toolkit/jobs/{job_id}/status"))


def waiting_job(cli: CLI, config: Path, *extra: str) -> tuple[Any, str]:
    """``train submit --wait`` in the background, once it polls: the process and the job id."""
    process = cli.start("train", "submit", "--config", str(config), "--wait", "--poll-secs", "1", *extra)
    wait_for_call(cli, "training-status", process)
    return process, str(jobs(cli)[-1]["id"])


# --- init and the local check --------------------------------------------------------------------------------


def test_init_prints_a_commented_config_and_json_mode_wraps_it(cli: CLI) -> None:
    made = cli.run(
        "train", "init", "--dataset", "cats", "--steps", "400", "--trigger", "ohwx", "--name", "v1"
    )
    assert made.returncode == 0, made.stderr
    assert "# " in made.stdout and "folder_path: /app/ai-toolkit/datasets/cats" in made.stdout
    assert "save_every: 100" in made.stdout and "sample_every: 100" in made.stdout
    assert '"ohwx, ' in made.stdout
    assert made.stderr == ""
    as_json = cli.run("--output", "json", "train", "init", "--dataset", "cats")
    document = json.loads(as_json.stdout)
    assert document["config_file_format"] == "yaml"
    assert "name: cats_lora" in document["config_file"]
    refused = cli.run("train", "init", "--dataset", "cats", "--steps", "0")
    assert refused.returncode == 64
    assert cli.calls() == []  # init sends nothing


def test_a_config_is_checked_before_anything_is_sent(cli: CLI) -> None:
    empty = cli.home / "empty.yaml"
    empty.write_text("  \n")
    result = cli.run("train", "submit", "--config", str(empty))
    assert result.returncode == 65
    assert "is empty" in result.stderr
    for text, problem in (
        ("config:\n  process: [\n", "not valid YAML"),
        ("job: extension\n", "config: is missing"),
        ("config:\n  name: x\n", "config.process: is missing"),
        ("config:\n  process: []\n", "config.process: must be a non-empty list"),
    ):
        result = cli.run("train", "submit", "--config", "-", input=text)
        assert result.returncode == 65, result.stderr
        assert problem in result.stderr
        assert "nothing was submitted" in result.stderr
    missing = cli.run("train", "submit", "--config", "nope.yaml")
    assert missing.returncode == 66
    as_json = cli.run("--output", "json", "train", "submit", "--config", "-", input="job: x\n")
    error = json.loads(as_json.stderr.strip().splitlines()[-1])
    assert error["exit_code"] == 65 and error["detail"][0]["field"] == "config"
    config = write_config(cli)
    no_wait = cli.run("train", "submit", "--config", str(config), "--timeout", "5")
    assert no_wait.returncode == 64
    assert "--timeout needs --wait" in no_wait.stderr
    assert cli.calls("training-submit") == []


def test_the_service_refusal_of_a_config_is_65_with_its_reason(cli: CLI) -> None:
    config = write_config(cli, "nobody-has-this")
    result = cli.run("train", "submit", "--config", str(config))
    assert result.returncode == 65
    assert "nobody-has-this" in result.stderr


# --- submit and wait -----------------------------------------------------------------------------------------


def test_init_then_submit_wait_runs_to_the_end(cli: CLI) -> None:
    ready_dataset(cli)
    trainer_settings(cli, training_steps_per_s=20, training_queue_s=0)
    config = write_config(cli, "cats", "--steps", "40")
    result = cli.run("train", "submit", "--config", str(config), "--wait", "--poll-secs", "1")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    job_id = record["id"]
    assert "[submit] Submitting training job (ADA_80_PLUS)" in result.stderr
    assert f"job_id: {job_id} (name: cats_lora)" in result.stderr
    lines = [line.strip() for line in result.stderr.splitlines()]
    assert "STOPPED 100% (40/40)" in lines
    assert all(
        re.fullmatch(r"(IN_QUEUE|RUNNING|STOPPED) [0-9.]+% \(\d+/40\)", line)
        for line in lines
        if line.startswith(("IN_QUEUE", "RUNNING", "STOPPED"))
    )
    assert f"[ok] Training job {job_id} finished" in result.stderr
    assert record["status"] == "STOPPED"
    assert [c["filename"] for c in record["artifacts"]["checkpoints"]][-1] == "cats_lora.safetensors"
    assert cli.calls("training-cancel") == []
    listed = cli.run("--output", "json", "requests", "list")
    rows = {row["request_id"]: row for row in json.loads(listed.stdout)}
    assert rows[job_id]["model_id"] == "training/cats_lora"
    assert rows[job_id]["status"] == "stopped"
    cli.assert_no_leak(result.stdout, result.stderr, listed.stdout)


def test_gpu_options_reach_the_service_and_the_progress_line(cli: CLI) -> None:
    ready_dataset(cli)
    config = write_config(cli)
    result = cli.run(
        "--output",
        "json",
        "train",
        "submit",
        "--config",
        str(config),
        "--gpu-type",
        "HOPPER_141",
        "--gpu-count",
        "8",
    )
    assert result.returncode == 0, result.stderr
    job = json.loads(result.stdout)
    assert job["status"] in ("IN_QUEUE", "RUNNING")
    (stored,) = jobs(cli)
    assert (stored["gpu_type"], stored["gpu_count"]) == ("HOPPER_141", 8)
    pretty = cli.run("train", "submit", "--config", str(config), "--gpu-count", "8")
    assert "[submit] Submitting training job (ADA_80_PLUS x8)" in pretty.stderr
    assert "Track with `runcomfy train status" in pretty.stderr
    bad = cli.run("train", "submit", "--config", str(config), "--gpu-type", "TURING_16")
    assert bad.returncode == 64


def test_dataset_flag_fills_the_folder_in_and_wants_a_ready_dataset(cli: CLI) -> None:
    dataset = ready_dataset(cli, "real-photos")
    config = write_config(cli, "placeholder")
    without = cli.run("train", "submit", "--config", str(config))
    assert without.returncode == 65  # no dataset is called "placeholder"
    filled = cli.run(
        "--output", "json", "train", "submit", "--config", str(config), "--dataset", dataset["id"]
    )
    assert filled.returncode == 0, filled.stderr
    assert jobs(cli)[-1]["status"] in ("IN_QUEUE", "RUNNING")
    draft = api(cli, "POST", "trainers/datasets", json={"name": "empty"})
    before = len(cli.calls("training-submit"))
    refused = cli.run("train", "submit", "--config", str(config), "--dataset", draft["id"])
    assert refused.returncode == 65
    assert "not READY" in refused.stderr and f"runcomfy datasets status {draft['id']}" in refused.stderr
    assert len(cli.calls("training-submit")) == before


def test_a_job_stopped_short_exits_75_and_resumes(cli: CLI) -> None:
    ready_dataset(cli)
    trainer_settings(cli, training_steps_per_s=1, training_queue_s=0)
    config = write_config(cli, "cats", "--steps", "1000")
    process, job_id = waiting_job(cli, config)
    with background(process):
        cli.control("POST", f"training/{job_id}/stop", {"error": "Job failed: server was reclaimed."})
        done = finish(process)
    assert done.returncode == 75, done.stderr
    assert json.loads(done.stdout)["status"] == "STOPPED"
    assert "did not finish" in done.stderr and "server was reclaimed" in done.stderr
    assert f"`runcomfy train resume {job_id}`" in done.stderr
    status = cli.run("train", "status", job_id)
    assert status.returncode == 0
    assert "status:      STOPPED" in status.stdout
    assert re.search(r"^progress: +[0-9.]+% \(step \d+/1000\)$", status.stdout, re.M)
    assert re.search(rf"^note: .*`runcomfy train resume {job_id}` to continue$", status.stdout, re.M)
    resumed = cli.run("train", "resume", job_id)
    assert resumed.returncode == 0, resumed.stderr
    assert f"[ok] Resumed training job {job_id} from its latest checkpoint" in resumed.stderr
    assert json.loads(resumed.stdout)["status"] in ("RESUMING", "RUNNING")
    assert job_status(cli, job_id)["status"] in ("RESUMING", "RUNNING")


def test_a_job_stopped_short_without_an_error_is_75_too(cli: CLI) -> None:
    ready_dataset(cli)
    trainer_settings(cli, training_steps_per_s=1, training_queue_s=0)
    process, job_id = waiting_job(cli, write_config(cli, "cats", "--steps", "1000"))
    with background(process):
        cli.control("POST", f"training/{job_id}/stop", {})
        done = finish(process)
    assert done.returncode == 75
    assert "training stopped at step" in done.stderr and "/1000 before completing" in done.stderr


def test_a_failed_job_exits_1_with_its_error(cli: CLI) -> None:
    ready_dataset(cli)
    trainer_settings(cli, training_steps_per_s=1, training_queue_s=0)
    process, job_id = waiting_job(cli, write_config(cli, "cats", "--steps", "1000"))
    with background(process):
        cli.control("POST", f"training/{job_id}/fail", {"message": "CUDA out of memory"})
        done = finish(process)
    assert done.returncode == 1
    assert f"training job {job_id} FAILED" in done.stderr and "CUDA out of memory" in done.stderr
    assert json.loads(done.stdout)["status"] == "FAILED"


def test_cancel_ends_a_wait_elsewhere_with_1(cli: CLI) -> None:
    ready_dataset(cli)
    trainer_settings(cli, training_steps_per_s=1, training_queue_s=0)
    process, job_id = waiting_job(cli, write_config(cli, "cats", "--steps", "1000"))
    with background(process):
        cancelled = cli.run("train", "cancel", job_id)
        done = finish(process)
    assert cancelled.returncode == 0, cancelled.stderr
    assert f"[ok] Cancelled training job {job_id} (status: CANCELED)" in cancelled.stderr
    assert f"runcomfy train result {job_id}" in cancelled.stderr
    assert json.loads(cancelled.stdout)["status"] == "CANCELED"
    assert done.returncode == 1
    assert f"training job {job_id} was cancelled" in done.stderr


def test_ctrl_c_only_stops_watching(cli: CLI) -> None:
    ready_dataset(cli)
    trainer_settings(cli, training_steps_per_s=1, training_queue_s=0)
    process, job_id = waiting_job(cli, write_config(cli, "cats", "--steps", "1000"))
    with background(process):
        process.send_signal(signal.SIGINT)
        done = finish(process)
    assert done.returncode == 130, done.stderr
    assert job_id in done.stderr and f"runcomfy train status {job_id}" in done.stderr
    assert "keeps running" in done.stderr
    assert cli.calls("training-cancel") == []
    assert job_status(cli, job_id)["status"] in ("IN_QUEUE", "RUNNING")


def test_timeout_stops_waiting_with_75_and_the_job_runs_on(cli: CLI) -> None:
    ready_dataset(cli)
    trainer_settings(cli, training_steps_per_s=1, training_queue_s=0)
    config = write_config(cli, "cats", "--steps", "1000")
    result = cli.run(
        "train", "submit", "--config", str(config), "--wait", "--poll-secs", "1", "--timeout", "1"
    )
    assert result.returncode == 75, result.stderr
    (job,) = jobs(cli)
    assert "keeps running" in result.stderr and f"runcomfy train status {job['id']}" in result.stderr
    assert cli.calls("training-cancel") == []
    assert job_status(cli, job["id"])["status"] == "RUNNING"


def test_status_calls_ride_out_an_outage(cli: CLI) -> None:
    ready_dataset(cli)
    trainer_settings(cli, training_steps_per_s=1000, training_queue_s=0)
    cli.fault(route="training-status", kind="error", status=503, times=2)
    config = write_config(cli, "cats", "--steps", "20")
    result = cli.run("train", "submit", "--config", str(config), "--wait", "--poll-secs", "1")
    assert result.returncode == 0, result.stderr
    assert "[retry]" in result.stderr
    assert len(cli.calls("training-status")) >= 3


def test_insufficient_funds_says_to_top_up(cli: CLI) -> None:
    ready_dataset(cli)
    trainer_settings(cli, balance_usd=0)
    result = cli.run("train", "submit", "--config", str(write_config(cli)))
    assert result.returncode == 65
    assert "top up your RunComfy balance" in result.stderr


# --- status, result, edit ----------------------------------------------------------------------------------------


def finished_job(cli: CLI, steps: int = 20) -> str:
    ready_dataset(cli)
    trainer_settings(cli, training_steps_per_s=1000, training_queue_s=0)
    config = write_config(cli, "cats", "--steps", str(steps))
    result = cli.run(
        "--output", "json", "train", "submit", "--config", str(config), "--wait", "--poll-secs", "1"
    )
    assert result.returncode == 0, result.stderr
    return str(json.loads(result.stdout)["id"])


def test_status_pretty_and_json(cli: CLI) -> None:
    job_id = finished_job(cli)
    pretty = cli.run("train", "status", job_id)
    assert pretty.returncode == 0
    assert f"id:          {job_id}" in pretty.stdout
    assert "name:        cats_lora" in pretty.stdout
    assert re.search(r"^progress: +100(\.0)?% \(step 20/20\)$", pretty.stdout, re.M)
    assert "note:" not in pretty.stdout
    as_json = json.loads(cli.run("--output", "json", "train", "status", job_id).stdout)
    assert as_json["id"] == job_id and as_json["progress"]["current_step"] == 20
    unknown = cli.run("--output", "json", "train", "status", "no-such-job")
    assert unknown.returncode == 65
    assert json.loads(unknown.stderr.strip().splitlines()[-1])["exit_code"] == 65


def test_result_download_keeps_a_manifest_and_a_rerun_skips_what_is_there(cli: CLI) -> None:
    job_id = finished_job(cli)
    plain = cli.run("train", "result", job_id)
    assert plain.returncode == 0
    record = json.loads(plain.stdout)
    checkpoints, samples = len(record["artifacts"]["checkpoints"]), len(record["artifacts"]["samples"])
    assert checkpoints > 0 and samples > 0
    assert (
        f"[result] job {job_id} - status STOPPED: {checkpoints} checkpoint(s), {samples} sample(s)"
        in plain.stderr
    )
    assert "Pass --download" in plain.stderr
    assert cli.calls("trainer-file") == []
    out = cli.home / "lora"
    saved = cli.run("train", "result", job_id, "--download", "--output-dir", str(out))
    assert saved.returncode == 0, saved.stderr
    manifest = json.loads((out / "runcomfy-manifest.json").read_text())
    assert len(manifest["files"]) == checkpoints + samples
    for entry in manifest["files"]:
        path = out / entry["file"]
        assert path.stat().st_size == entry["size"]
        assert isinstance(entry["step"], int) and entry["url"].endswith(entry["file"])
    assert (out / "cats_lora.safetensors").read_bytes()[8:9] == b"{"  # a safetensors header
    fetched = len(cli.calls("trainer-file"))
    assert fetched == checkpoints + samples
    again = cli.run("train", "result", job_id, "--download", "--output-dir", str(out))
    assert again.returncode == 0, again.stderr
    assert len(cli.calls("trainer-file")) == fetched
    assert "already saved, sha256 matches" in again.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [*(e["file"] for e in manifest["files"]), "runcomfy-manifest.json"]
    )
    as_json = cli.run("--output", "json", "train", "result", job_id)
    assert json.loads(as_json.stdout)["id"] == job_id and as_json.stderr == ""
    cli.assert_no_leak(plain.stdout, plain.stderr, saved.stderr, again.stderr)


def test_a_download_that_fails_leaves_no_partial_file_and_exits_74(cli: CLI) -> None:
    job_id = finished_job(cli)
    cli.fault(route="trainer-file", kind="error", status=500, times=100)
    out = cli.home / "lora"
    failed = cli.run("train", "result", job_id, "--download", "--output-dir", str(out))
    assert failed.returncode == 74
    assert f"runcomfy train result {job_id} --download" in failed.stderr
    left = sorted(p.name for p in out.rglob("*")) if out.exists() else []
    assert left == []  # nothing saved: no file, no partial file, no manifest


def test_edit_only_while_stopped_then_resume(cli: CLI) -> None:
    ready_dataset(cli)
    trainer_settings(cli, training_steps_per_s=1, training_queue_s=0)
    config = write_config(cli, "cats", "--steps", "1000")
    submitted = cli.run("--output", "json", "train", "submit", "--config", str(config))
    job_id = json.loads(submitted.stdout)["id"]
    busy = cli.run("train", "edit", job_id, "--config", str(config))
    assert busy.returncode == 65
    assert "STOPPED, FAILED or CANCELED" in busy.stderr
    empty = cli.home / "empty.yaml"
    empty.write_text("")
    assert cli.run("train", "edit", job_id, "--config", str(empty)).returncode == 65
    assert cli.run("train", "cancel", job_id).returncode == 0
    edited = cli.run("train", "edit", job_id, "--config", str(write_config(cli, "cats", "--steps", "500")))
    assert edited.returncode == 0, edited.stderr
    assert f"[ok] Updated config of training job {job_id}" in edited.stderr
    assert f"runcomfy train resume {job_id}" in edited.stderr
    assert cli.run("train", "resume", job_id).returncode == 0
    assert job_status(cli, job_id)["progress"]["total_steps"] == 500


def test_requests_list_refreshes_training_and_dataset_rows(cli: CLI) -> None:
    ready_dataset(cli)
    trainer_settings(cli, training_steps_per_s=0.1, training_queue_s=0)
    config = write_config(cli, "cats", "--steps", "100")
    job_id = json.loads(cli.run("--output", "json", "train", "submit", "--config", str(config)).stdout)["id"]
    created = cli.run("--output", "json", "datasets", "create", "--name", "later")
    dataset_id = json.loads(created.stdout)["id"]
    before = {
        row["request_id"]: row for row in json.loads(cli.run("--output", "json", "requests", "list").stdout)
    }
    assert before[job_id]["status"] in ("in_queue", "running")
    assert before[dataset_id]["status"].lower() == "draft"
    for filename, data in (("a.png", png_bytes()), ("a.txt", b"ohwx")):
        api(cli, "POST", f"trainers/datasets/{dataset_id}/upload", files={"file": (filename, data)})
    cli.advance(3600)
    listed = cli.run("--output", "json", "requests", "list")
    rows = {row["request_id"]: row for row in json.loads(listed.stdout)}
    assert rows[job_id]["status"] == "stopped"
    assert rows[job_id]["model_id"] == "training/cats_lora"
    assert rows[dataset_id]["model_id"] == "dataset/later"
    assert rows[dataset_id]["status"].lower() == "ready"
    status = cli.run("status", job_id)  # a journaled job is asked on the Trainer API by the generic command
    assert status.returncode == 0, status.stderr
    assert "STOPPED" in status.stdout or "stopped" in status.stdout
