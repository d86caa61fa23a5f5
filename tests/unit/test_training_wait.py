"""``Client.training`` against a scripted Trainer API on httpx.MockTransport, on a clock moved by hand: the calls
and their bodies, the wait (progress, outages, timeouts, never a cancel), how a job ended, and the artifact
downloads with their manifest."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from fake_time import FakeClock

from runcomfy import Client, errors
from runcomfy.downloads import make_download_client
from runcomfy.status import RequestStatus
from runcomfy.training import (
    TRAINING_PREFIX,
    job_line,
    job_outcome,
    raise_for_job,
    stopped_short,
    training_of,
)
from runcomfy.training_artifacts import MANIFEST_NAME, artifact_counts, download_artifacts, read_manifest

CANARY = f"rc-canary-{uuid.uuid4()}"
BASE = "https://trainer-api.runcomfy.net/prod/v1"
JOBS = "/prod/v1/trainers/ai-toolkit/jobs"
Step = httpx.Response | Exception


def job(status: str, current: int = 0, total: int = 100, **extra: Any) -> dict[str, Any]:
    percent = round(100 * current / total, 2) if total else 0
    return {
        "id": "job-1",
        "name": "my_lora",
        "status": status,
        "progress": {"current_step": current, "total_steps": total, "percent": percent},
        "error": None,
        **extra,
    }


class FakeTrainer:
    """Statuses in order (the last repeats); ``faults[route]`` steps are served first."""

    def __init__(self, statuses: list[dict[str, Any]], result: dict[str, Any] | None = None) -> None:
        self.statuses = statuses
        self.result = result or {**statuses[-1], "artifacts": {"checkpoints": [], "samples": []}}
        self.faults: dict[str, list[Step]] = {}
        self.requests: list[httpx.Request] = []
        self.submit_reply: dict[str, Any] = {"id": "job-1", "name": "my_lora", "status": "IN_QUEUE"}

    def calls(self, route: str) -> list[httpx.Request]:
        return [r for r in self.requests if self.route(r) == route]

    @staticmethod
    def route(request: httpx.Request) -> str:
        path = request.url.path
        if path == JOBS:
            return "submit"
        return path.rsplit("/", 1)[-1] if path.startswith(JOBS + "/") else "other"

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        route = self.route(request)
        if self.faults.get(route):
            step = self.faults[route].pop(0)
            if isinstance(step, Exception):
                raise step
            return step
        if route == "submit":
            return httpx.Response(200, json=self.submit_reply)
        if route == "status":
            reply = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
            return httpx.Response(200, json=reply)
        if route == "result":
            return httpx.Response(200, json=self.result)
        if route in ("cancel", "resume", "edit"):
            return httpx.Response(200, json={"id": "job-1", "status": route.upper() + "D"})
        return httpx.Response(404, json={"error_code": 404001, "error_message": "no route"})


def client_for(api: FakeTrainer, clock: FakeClock | None = None, **kwargs: Any) -> Client:
    clock = clock or FakeClock()
    return Client(
        CANARY, env={}, transport=httpx.MockTransport(api), sleep=clock.sleep, clock=clock, **kwargs
    )


# --- the calls -----------------------------------------------------------------------------------------------


def test_submit_sends_the_config_as_yaml_with_the_gpu() -> None:
    api = FakeTrainer([job("IN_QUEUE")])
    reply = client_for(api).training.submit(
        "job: extension\n", gpu_type="HOPPER_141", gpu_count=8, gpu_id="g7"
    )
    (sent,) = api.calls("submit")
    assert str(sent.url) == f"{BASE}/trainers/ai-toolkit/jobs"
    assert sent.headers["authorization"] == f"Bearer {CANARY}"
    assert json.loads(sent.content) == {
        "config_file_format": "yaml",
        "config_file": "job: extension\n",
        "gpu_type": "HOPPER_141",
        "gpu_count": 8,
        "gpu_id": "g7",
    }
    assert reply["id"] == "job-1"


def test_submit_leaves_out_what_was_not_given_and_refuses_an_empty_config() -> None:
    api = FakeTrainer([job("IN_QUEUE")])
    client = client_for(api)
    client.training.submit("a: 1")
    assert json.loads(api.calls("submit")[0].content) == {
        "config_file_format": "yaml",
        "config_file": "a: 1",
        "gpu_type": "ADA_80_PLUS",
    }
    with pytest.raises(errors.InvalidInput):
        client.training.submit("  \n")
    assert len(api.calls("submit")) == 1


def test_submit_is_retried_on_429_but_never_after_a_5xx() -> None:
    api = FakeTrainer([job("IN_QUEUE")])
    api.faults["submit"] = [httpx.Response(429, json={"error_message": "slow down"})]
    assert client_for(api).training.submit("a: 1")["id"] == "job-1"
    assert len(api.calls("submit")) == 2

    api = FakeTrainer([job("IN_QUEUE")])
    api.faults["submit"] = [httpx.Response(500, json={"error_message": "boom"})]
    with pytest.raises(errors.ServerError):
        client_for(api).training.submit("a: 1")
    assert len(api.calls("submit")) == 1


@pytest.mark.parametrize("reply", [{}, {"id": ""}, {"id": 7}, {"id": "../../x"}])
def test_a_submit_reply_without_a_usable_id_is_refused(reply: dict[str, Any]) -> None:
    api = FakeTrainer([job("IN_QUEUE")])
    api.submit_reply = reply
    with pytest.raises(errors.APIResponseError):
        client_for(api).training.submit("a: 1")


def test_cancel_resume_and_edit_post_to_the_job() -> None:
    api = FakeTrainer([job("STOPPED")])
    training = client_for(api).training
    training.cancel("job-1")
    training.resume("job-1")
    training.edit("job-1", "config: {}\n")
    cancel, resume, edit = api.calls("cancel")[0], api.calls("resume")[0], api.calls("edit")[0]
    assert [r.method for r in (cancel, resume, edit)] == ["POST"] * 3
    assert str(cancel.url) == f"{BASE}/trainers/ai-toolkit/jobs/job-1/cancel"
    assert cancel.content == b""
    assert json.loads(resume.content) == {}
    assert json.loads(edit.content) == {"config_file_format": "yaml", "config_file": "config: {}\n"}


def test_a_job_id_cannot_change_the_path() -> None:
    api = FakeTrainer([job("RUNNING")])
    with pytest.raises(errors.InvalidInput):
        client_for(api).training.status("../datasets")
    assert api.requests == []


def test_status_and_result_are_retried_through_a_5xx() -> None:
    api = FakeTrainer([job("RUNNING", 5)])
    api.faults["status"] = [httpx.Response(503, json={"error_message": "down"})]
    assert client_for(api).training.status("job-1")["status"] == "RUNNING"
    assert len(api.calls("status")) == 2


# --- the wait ------------------------------------------------------------------------------------------------


def test_wait_reports_each_change_and_returns_the_result() -> None:
    clock = FakeClock()
    steps = [job("IN_QUEUE"), job("IN_QUEUE"), job("RUNNING", 10), job("RUNNING", 10), job("RUNNING", 60)]
    api = FakeTrainer([*steps, job("STOPPED", 100)])
    seen: list[str] = []
    record = client_for(api, clock).training.wait(
        "job-1", poll_interval_s=10, on_progress=lambda s: seen.append(job_line(s.payload))
    )
    assert seen == [
        "IN_QUEUE 0% (0/100)",
        "RUNNING 10% (10/100)",
        "RUNNING 60% (60/100)",
        "STOPPED 100% (100/100)",
    ]
    assert clock.sleeps == [10] * 5
    assert record["artifacts"] == {"checkpoints": [], "samples": []}
    assert len(api.calls("result")) == 1
    assert api.calls("cancel") == []


def test_wait_rides_out_an_outage_of_the_status_call() -> None:
    clock = FakeClock()
    api = FakeTrainer([job("RUNNING", 50), job("STOPPED", 100)])
    api.faults["status"] = [
        httpx.Response(503, json={"error_message": "down"}),
        httpx.ConnectError("refused"),
        httpx.Response(502, text="bad gateway"),
    ]
    record = client_for(api, clock).training.wait("job-1")
    assert record["status"] == "STOPPED"
    assert len(api.calls("status")) == 5


def test_a_sustained_outage_ends_the_wait_with_the_job_id() -> None:
    clock = FakeClock()
    api = FakeTrainer([job("RUNNING", 50)])
    api.faults["status"] = [httpx.Response(503, json={"error_message": "down"})] * 1000
    with pytest.raises(errors.ServerError) as caught:
        client_for(api, clock, retry_window_s=60).training.wait("job-1")
    assert caught.value.request_id == "job-1"
    assert 60 <= clock.now < 200
    assert api.calls("cancel") == []


def test_timeout_stops_waiting_and_never_cancels_the_job() -> None:
    clock = FakeClock()
    api = FakeTrainer([job("RUNNING", 50)])
    with pytest.raises(errors.WaitTimeout) as caught:
        client_for(api, clock).training.wait("job-1", poll_interval_s=10, timeout=35)
    assert caught.value.request_id == "job-1"
    assert "keeps running" in str(caught.value)
    assert "RUNNING 50% (50/100)" in str(caught.value)
    assert "runcomfy train status job-1" in (caught.value.hint or "")
    assert api.calls("cancel") == []
    assert clock.now == 35


def test_a_result_without_progress_gets_the_last_status_progress() -> None:
    api = FakeTrainer([job("STOPPED", 40)], result={"id": "job-1", "status": "STOPPED"})
    record = client_for(api).training.wait("job-1")
    assert record["progress"]["current_step"] == 40
    assert job_outcome(record) == "incomplete"


def test_resuming_is_a_running_status_and_the_wait_goes_on() -> None:
    clock = FakeClock()
    api = FakeTrainer([job("RESUMING", 40), job("RUNNING", 70), job("STOPPED", 100)])
    statuses: list[RequestStatus] = []
    client_for(api, clock).training.wait("job-1", on_progress=statuses.append)
    assert [s.raw for s in statuses] == ["RESUMING", "RUNNING", "STOPPED"]
    assert [s.is_terminal for s in statuses] == [False, False, True]


# --- how a job ended ----------------------------------------------------------------------------------------------

REACHED_END = job("STOPPED", 100)
SHORT = job("STOPPED", 30)
RECLAIMED = {
    **job("STOPPED", 100),
    "result": {"error": {"message": "Job failed: server was reclaimed.", "code": "TRAINING_ERROR"}},
}


def test_stopped_short_reads_progress_and_errors() -> None:
    assert stopped_short(REACHED_END) is None
    assert "30/100" in (stopped_short(SHORT) or "")
    assert "server was reclaimed" in (stopped_short(REACHED_END, RECLAIMED) or "")
    top_level_error = {**REACHED_END, "error": {"message": "preempted"}}
    assert "preempted" in (stopped_short(top_level_error) or "")
    assert stopped_short({"status": "STOPPED"}) is None  # no progress: finished, as the official CLI says
    assert stopped_short(job("STOPPED", 5, total=0)) is None


@pytest.mark.parametrize(
    ("record", "outcome", "error", "exit_word"),
    [
        (REACHED_END, "finished", None, ""),
        (SHORT, "incomplete", errors.TrainingIncomplete, "did not finish"),
        (RECLAIMED, "incomplete", errors.TrainingIncomplete, "server was reclaimed"),
        ({**job("FAILED", 20), "error": {"message": "OOM"}}, "failed", errors.RequestFailed, "FAILED"),
        (job("CANCELED", 20), "cancelled", errors.RequestCancelled, "cancelled"),
        (job("CANCELLED", 20), "cancelled", errors.RequestCancelled, "cancelled"),
        (job("RUNNING", 20), "unfinished", errors.WaitTimeout, "not finished"),
        (job("BAKING", 20), "unfinished", errors.WaitTimeout, "not finished"),
    ],
)
def test_how_a_job_ended(
    record: dict[str, Any], outcome: str, error: type[Exception] | None, exit_word: str
) -> None:
    assert job_outcome(record) == outcome
    if error is None:
        raise_for_job("job-1", record)
        return
    with pytest.raises(error) as caught:
        raise_for_job("job-1", record)
    assert exit_word in str(caught.value)
    assert getattr(caught.value, "request_id", None) == "job-1"


def test_an_incomplete_job_says_how_to_resume() -> None:
    with pytest.raises(errors.TrainingIncomplete) as caught:
        raise_for_job("job-1", SHORT)
    assert "`runcomfy train resume job-1`" in str(caught.value)
    assert caught.value.record == SHORT


def test_a_failed_job_never_shows_the_token() -> None:
    record = {**job("FAILED"), "error": {"message": f"token {CANARY} rejected"}}
    with pytest.raises(errors.RequestFailed) as caught:
        raise_for_job("job-1", record, secrets=[CANARY])
    assert CANARY not in str(caught.value)


@pytest.mark.parametrize(
    ("payload", "line"),
    [
        (job("RUNNING", 320, 2000), "RUNNING 16% (320/2000)"),
        ({"status": "RUNNING", "progress": {"percent": 33.5}}, "RUNNING 33.5%"),
        ({"status": "IN_QUEUE"}, "IN_QUEUE"),
        ({"progress": "nope"}, "(no status)"),
        ({"status": "RUNNING\x1b[2J", "progress": {"current_step": 1, "total_steps": 2}}, "RUNNING[2J (1/2)"),
    ],
)
def test_the_status_line(payload: dict[str, Any], line: str) -> None:
    assert job_line(payload) == line


def test_journal_names() -> None:
    from runcomfy.cli import refresh

    assert refresh.TRAINING_PREFIX == TRAINING_PREFIX
    assert training_of("training/my_lora") == "my_lora"
    assert training_of("deployment/x") is None and training_of("training/") is None


def test_a_journaled_training_job_is_asked_on_the_trainer_api() -> None:
    from runcomfy.cli.refresh import handle_for

    api = FakeTrainer([job("RUNNING", 5)])
    handle = handle_for(client_for(api), "job-1", "training/my_lora")
    assert handle.status().raw == "RUNNING"
    assert str(api.calls("status")[0].url) == f"{BASE}/trainers/ai-toolkit/jobs/job-1/status"
    with pytest.raises(errors.InvalidInput):
        handle_for(client_for(api), "ds-1", "dataset/photos")


# --- artifacts ----------------------------------------------------------------------------------------------------

FILES = "https://files.runcomfy.net/trainer-files/job-1"


class FakeFiles:
    def __init__(self, contents: dict[str, bytes]) -> None:
        self.contents = contents
        self.fetched: list[str] = []
        self.fail: set[str] = set()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        name = request.url.path.rsplit("/", 1)[-1]
        assert "authorization" not in request.headers
        self.fetched.append(name)
        if name in self.fail:
            return httpx.Response(500)
        if name not in self.contents:
            return httpx.Response(404)
        return httpx.Response(200, content=self.contents[name])


def artifact_record(names: dict[str, int], *, base: str = FILES) -> dict[str, Any]:
    checkpoints = [
        {"filename": n, "url": f"{base}/{n}", "step": s, "path": f"/app/ai-toolkit/output/my_lora/{n}"}
        for n, s in names.items()
        if n.endswith(".safetensors")
    ]
    samples = [
        {"filename": n, "url": f"{base}/{n}", "step": s, "prompt": "p"}
        for n, s in names.items()
        if n.endswith(".png")
    ]
    return {**job("STOPPED", 100), "artifacts": {"checkpoints": checkpoints, "samples": samples}}


NAMES = {"my_lora_000000050.safetensors": 50, "my_lora.safetensors": 100, "my_lora__000000050_0.png": 50}


def download(record: dict[str, Any], files: FakeFiles, directory: Path, **kwargs: Any) -> Any:
    with make_download_client(transport=httpx.MockTransport(files)) as http:
        return download_artifacts(record, directory, trusted_origins=[], client=http, **kwargs)


def test_artifacts_are_saved_with_a_manifest(tmp_path: Path) -> None:
    files = FakeFiles({name: name.encode() * 3 for name in NAMES})
    record = artifact_record(NAMES)
    assert artifact_counts(record) == (2, 1)
    report = download(record, files, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*NAMES, MANIFEST_NAME])
    manifest = json.loads((tmp_path / MANIFEST_NAME).read_text())
    by_file = {entry["file"]: entry for entry in manifest["files"]}
    for name, step in NAMES.items():
        data = name.encode() * 3
        assert by_file[name]["size"] == len(data)
        assert by_file[name]["sha256"] == hashlib.sha256(data).hexdigest()
        assert by_file[name]["url"] == f"{FILES}/{name}"
        assert by_file[name]["step"] == step
        assert by_file[name]["job_id"] == "job-1"
    assert by_file["my_lora.safetensors"]["kind"] == "checkpoints"
    assert report.manifest_path == tmp_path / MANIFEST_NAME
    assert len(report.files) == 3


def test_a_rerun_fetches_nothing_already_there_and_a_changed_file_again(tmp_path: Path) -> None:
    files = FakeFiles({name: name.encode() for name in NAMES})
    record = artifact_record(NAMES)
    download(record, files, tmp_path)
    files.fetched.clear()
    report = download(record, files, tmp_path)
    assert files.fetched == []
    assert len(report.downloads.reused) == 3
    (tmp_path / "my_lora.safetensors").write_bytes(b"tampered")
    report = download(record, files, tmp_path)
    assert files.fetched == ["my_lora.safetensors"]
    (fresh,) = report.downloads.saved
    assert fresh.path.name == "my_lora-1.safetensors"  # nothing is overwritten
    assert fresh.path.read_bytes() == b"my_lora.safetensors"
    names = [entry["file"] for entry in read_manifest(tmp_path)]
    assert "my_lora-1.safetensors" in names


def test_a_failure_leaves_no_partial_file_and_the_manifest_lists_the_rest(tmp_path: Path) -> None:
    files = FakeFiles({name: b"x" for name in NAMES})
    files.fail = {"my_lora.safetensors"}
    report = download(artifact_record(NAMES), files, tmp_path)
    assert [url for url, _ in report.downloads.failed] == [f"{FILES}/my_lora.safetensors"]
    assert not (tmp_path / "my_lora.safetensors").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert {e["file"] for e in read_manifest(tmp_path)} == set(NAMES) - {"my_lora.safetensors"}
    files.fail = set()
    files.fetched.clear()
    download(artifact_record(NAMES), files, tmp_path)
    assert files.fetched == ["my_lora.safetensors"]


def test_untrusted_artifact_urls_are_not_fetched(tmp_path: Path) -> None:
    files = FakeFiles({name: b"x" for name in NAMES})
    report = download(artifact_record(NAMES, base="https://evil.example/f"), files, tmp_path)
    assert files.fetched == []
    assert len(report.downloads.skipped) == 3
    assert list(tmp_path.iterdir()) == []


def test_a_manifest_cannot_point_outside_its_directory(tmp_path: Path) -> None:
    outside = tmp_path / "secret.safetensors"
    outside.write_bytes(b"s")
    directory = tmp_path / "out"
    directory.mkdir()
    entry = {"url": f"{FILES}/my_lora.safetensors", "sha256": hashlib.sha256(b"s").hexdigest(), "size": 1}
    bad = [
        {**entry, "file": "../secret.safetensors"},
        {**entry, "file": str(outside)},
        {**entry, "file": ".."},
    ]
    (directory / MANIFEST_NAME).write_text(json.dumps({"files": bad}))
    assert read_manifest(directory) == []
    files = FakeFiles({"my_lora.safetensors": b"fresh"})
    report = download(artifact_record({"my_lora.safetensors": 100}), files, directory)
    assert files.fetched == ["my_lora.safetensors"]
    assert report.downloads.reused == []


@pytest.mark.parametrize("content", ["not json", "[]", '{"files": 3}', '{"files": [1, {"file": "a"}]}'])
def test_an_unreadable_manifest_is_replaced(tmp_path: Path, content: str) -> None:
    (tmp_path / MANIFEST_NAME).write_text(content)
    files = FakeFiles({name: b"x" for name in NAMES})
    download(artifact_record(NAMES), files, tmp_path)
    assert {e["file"] for e in read_manifest(tmp_path)} == set(NAMES)


def test_no_manifest_when_asked_for_none(tmp_path: Path) -> None:
    files = FakeFiles({name: b"x" for name in NAMES})
    download(artifact_record(NAMES), files, tmp_path, manifest=False)
    assert not (tmp_path / MANIFEST_NAME).exists()
    assert len(list(tmp_path.iterdir())) == 3


def test_client_download_trusts_the_trainer_origin_and_raises_for_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = FakeFiles({name: b"x" for name in NAMES})
    record = artifact_record(NAMES, base="https://trainer-api.runcomfy.net/trainer-files/job-1")
    api = FakeTrainer([job("STOPPED", 100)])
    training = client_for(api).training
    assert any(origin[1] == "trainer-api.runcomfy.net" for origin in training.trusted_origins())

    import runcomfy.training_artifacts as artifacts

    real = artifacts.download_outputs

    def through_fake(*args: Any, **kwargs: Any) -> Any:
        with make_download_client(transport=httpx.MockTransport(files)) as http:
            return real(*args, **{**kwargs, "client": http})

    monkeypatch.setattr(artifacts, "download_outputs", through_fake)
    saved = training.download(record, tmp_path)
    assert sorted(f.path.name for f in saved) == sorted(NAMES)
    files.fail = {"my_lora.safetensors"}
    (tmp_path / "my_lora.safetensors").unlink()
    with pytest.raises(errors.DownloadError) as caught:
        training.download(record, tmp_path)
    assert caught.value.request_id == "job-1"


# --- the CLI's hints ------------------------------------------------------------------------------------------------


def status_error(status: int, code: int | None = None, detail: Any = None) -> errors.APIStatusError:
    cls = errors.status_error_class(status)
    return cls("refused", status_code=status, error_code=code, detail=detail)


@pytest.mark.parametrize(
    ("exc", "action", "expected"),
    [
        (status_error(402, 10001), "submit", "top up"),
        (status_error(400, 10001), "resume", "top up"),
        (status_error(409), "cancel", "already ended"),
        (status_error(409), "resume", "stopped short, failed or was cancelled"),
        (status_error(409), "edit", "STOPPED, FAILED or CANCELED"),
        (
            status_error(422, 422001, [{"loc": ["body", "config_file", "config", "process", 0, "datasets"]}]),
            "submit",
            "READY dataset",
        ),
        (status_error(404), "status", "no such training job"),
        (errors.APIConnectionError("refused"), "status", "RUNCOMFY_TRAINER_API_BASE"),
    ],
)
def test_trainer_hints_follow_the_failure(exc: Exception, action: str, expected: str) -> None:
    from runcomfy.cli.train import trainer_hint

    assert expected in (trainer_hint(exc, "job-1", action) or "")


@pytest.mark.parametrize(
    "exc",
    [
        status_error(422, 422001, [{"loc": ["body", "gpu_type"]}]),
        status_error(400),
        errors.APITimeoutError("slow"),
    ],
)
def test_no_trainer_hint_where_the_table_fits(exc: Exception) -> None:
    from runcomfy.cli.train import trainer_hint

    assert trainer_hint(exc, "job-1", "submit") is None
