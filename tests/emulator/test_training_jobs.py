"""The Trainer API's AI Toolkit jobs over loopback: config checks, every state and transition with the clock,
checkpoints and samples, resume from the last checkpoint, edit rules, charging, the control plane's stop and
fail switches, and the trained LoRA used by the Model API."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from emulator_harness import Emulator, started_emulator
from PIL import Image
from serverless_harness import assert_error, locs
from trainer_harness import JOBS, Trainer, config

from runcomfy.emulator.billing import PRICES_USD_PER_S
from runcomfy.emulator.safetensors_file import read_header

STEPS_PER_S = 50
QUEUE_S = 1.0
GPT = "openai/gpt-image-2/text-to-image"


@pytest.fixture
def trainer(emulator: Emulator) -> Trainer:
    return Trainer(emulator)


def body(config_file: str, **fields: Any) -> dict[str, Any]:
    return {"config_file_format": "yaml", "config_file": config_file, "gpu_type": "ADA_80_PLUS", **fields}


def job_ready(trainer: Trainer, **options: Any) -> str:
    trainer.ready_dataset("faces")
    return trainer.submit_ok(config("faces", **options))


# -- submit and its checks ------------------------------------------------------------------------------------


def test_a_submitted_job_queues_runs_with_the_clock_and_stops_at_its_last_step(trainer: Trainer) -> None:
    trainer.ready_dataset("faces")
    response = trainer.submit(body(config("faces", steps=1000)))
    assert response.status_code == 200, response.text
    job = response.json()
    assert job["name"] == "my_lora" and job["status"] == "IN_QUEUE"
    assert job["progress"] == {"current_step": 0, "total_steps": 1000, "percent": 0.0}
    assert job["started_at"] is None and job["finished_at"] is None and job["error"] is None
    assert job["result_url"] == f"{trainer.base}{JOBS}/{job['id']}/result"
    assert job["gpu_type"] == "ADA_80_PLUS" and job["gpu_count"] == 1

    trainer.advance(QUEUE_S - 0.5)
    assert trainer.status(job["id"])["status"] == "IN_QUEUE"
    trainer.advance(0.5)
    started = trainer.status(job["id"])
    assert started["status"] == "RUNNING" and started["progress"]["current_step"] == 0
    assert started["started_at"] is not None
    trainer.advance(5)
    running = trainer.status(job["id"])
    assert running["progress"] == {"current_step": 250, "total_steps": 1000, "percent": 25.0}
    trainer.advance(14.98)
    assert trainer.status(job["id"])["progress"]["current_step"] == 999
    trainer.advance(0.02)
    done = trainer.status(job["id"])
    assert done["status"] == "STOPPED" and done["progress"]["percent"] == 100.0
    assert done["finished_at"] is not None and done["error"] is None
    assert "result" not in trainer.result(job["id"])


def test_checkpoints_and_samples_appear_as_their_steps_pass_and_are_well_formed(trainer: Trainer) -> None:
    job_id = job_ready(trainer, steps=1000, save_every=250, sample_every=500, prompts=["ohwx, a", "ohwx, b"])
    trainer.advance(QUEUE_S + 260 / STEPS_PER_S)
    early = trainer.result(job_id)["artifacts"]
    assert [c["filename"] for c in early["checkpoints"]] == ["my_lora_000000250.safetensors"]
    assert early["samples"] == []
    trainer.advance(20)
    result = trainer.result(job_id)
    checkpoints, samples = result["artifacts"]["checkpoints"], result["artifacts"]["samples"]
    assert [(c["filename"], c["step"]) for c in checkpoints] == [
        ("my_lora_000000250.safetensors", 250),
        ("my_lora_000000500.safetensors", 500),
        ("my_lora_000000750.safetensors", 750),
        ("my_lora.safetensors", 1000),
    ]
    assert [(s["filename"], s["prompt"]) for s in samples] == [
        ("my_lora__000000500_0.png", "ohwx, a"),
        ("my_lora__000000500_1.png", "ohwx, b"),
        ("my_lora__000001000_0.png", "ohwx, a"),
        ("my_lora__000001000_1.png", "ohwx, b"),
    ]
    for entry in checkpoints + samples:
        assert entry["path"] == f"/app/ai-toolkit/output/my_lora/{entry['filename']}"
        assert entry["url"] == f"{trainer.emulator.web}/trainer-files/{job_id}/{entry['filename']}"
        response = trainer.http.get(entry["url"])  # public, like the other file URLs
        assert response.status_code == 200 and len(response.content) == entry["size_bytes"]
        if entry in checkpoints:
            header = read_header(response.content)
            assert header["__metadata__"]["step"] == str(entry["step"])
            assert header["__metadata__"]["base_model"] == "black-forest-labs/FLUX.1-dev"
        else:
            assert response.headers["content-type"] == "image/png"
            assert Image.open(io.BytesIO(response.content)).format == "PNG"
    first, last = (trainer.http.get(samples[i]["url"]).content for i in (0, 2))
    assert first != last  # the LoRA shows more at the last step

    url = checkpoints[-1]["url"]
    ranged = trainer.http.get(url, headers={"Range": "bytes=0-7"})
    assert ranged.status_code == 206 and ranged.headers["content-range"].endswith(
        f"/{checkpoints[-1]['size_bytes']}"
    )
    assert trainer.http.head(url).headers["content-length"] == str(checkpoints[-1]["size_bytes"])
    assert_error(
        trainer.http.get(f"{trainer.emulator.web}/trainer-files/{job_id}/nope.safetensors"), 404, 404001
    )
    assert_error(
        trainer.http.get(f"{trainer.emulator.web}/trainer-files/nope/my_lora.safetensors"), 404, 404001
    )


@pytest.mark.parametrize(
    ("config_file", "loc"),
    [
        ("config: [unclosed", ["body", "config_file"]),
        ("- a list\n- not a mapping\n", ["body", "config_file"]),
        ("job: extension\nconfig:\n  name: x\n", ["body", "config_file", "config", "process"]),
        (config(steps=0), ["body", "config_file", "config", "process", 0, "train", "steps"]),
        (config(steps=100_001), ["body", "config_file", "config", "process", 0, "train", "steps"]),
        (
            config(datasets=[{"folder_path": "/tmp/faces"}]),
            ["body", "config_file", "config", "process", 0, "datasets", 0, "folder_path"],
        ),
        (config("unknown"), ["body", "config_file", "config", "process", 0, "datasets", 0, "folder_path"]),
        (config("uploading"), ["body", "config_file", "config", "process", 0, "datasets", 0, "folder_path"]),
        (config("theirs"), ["body", "config_file", "config", "process", 0, "datasets", 0, "folder_path"]),
        (config(steps=10_000, save_every=1), ["body", "config_file"]),
    ],
)
def test_a_bad_config_is_a_422_naming_its_place(trainer: Trainer, config_file: str, loc: list[Any]) -> None:
    trainer.ready_dataset("faces")
    trainer.ready_dataset("theirs", token=trainer.emulator.other_token)
    uploading = trainer.create_ok("uploading")
    trainer.upload_ok(uploading, "a.txt", b"x")
    assert locs(trainer.submit(body(config_file))) == [loc]


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"gpu_type": "A100"}, ["body", "gpu_type"]),
        ({"gpu_count": 2}, ["body", "gpu_count"]),
        ({"gpu_count": True}, ["body", "gpu_count"]),
        ({"gpu_id": 7}, ["body", "gpu_id"]),
        ({"config_file_format": "json"}, ["body", "config_file_format"]),
        ({"config_file": None}, ["body", "config_file"]),
    ],
)
def test_bad_job_fields_are_a_422(trainer: Trainer, fields: dict[str, Any], loc: list[str]) -> None:
    trainer.ready_dataset("faces")
    assert locs(trainer.submit({**body(config("faces")), **fields})) == [loc]


def test_a_dataset_is_named_by_its_id_too_and_gpu_fields_are_kept(trainer: Trainer) -> None:
    dataset_id = trainer.ready_dataset("faces")
    job_id = trainer.submit_ok(config(dataset_id), gpu_type="HOPPER_141", gpu_count=8, gpu_id="gpu-7")
    status = trainer.status(job_id)
    assert (status["gpu_type"], status["gpu_count"], status["gpu_id"]) == ("HOPPER_141", 8, "gpu-7")


def test_every_job_route_needs_a_known_token_and_the_owner(trainer: Trainer) -> None:
    job_id = job_ready(trainer)
    verbs = ("status", "result", "cancel", "resume", "edit")
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        assert_error(
            trainer.http.post(f"{trainer.base}{JOBS}", json=body(config()), headers=headers), 401, 401001
        )
        for verb in verbs:
            url = f"{trainer.base}{JOBS}/{job_id}/{verb}"
            method = "GET" if verb in ("status", "result") else "POST"
            assert_error(trainer.http.request(method, url, json={}, headers=headers), 401, 401001)
    for verb in verbs:
        assert_error(trainer.call(verb, job_id, token=trainer.emulator.other_token, body={}), 403, 403003)
        assert_error(trainer.call(verb, "no-such-job", body={}), 404, 404001)
    assert trainer.status(job_id)["status"] == "IN_QUEUE"  # the refused cancel cancelled nothing


# -- cancel, stop, fail, resume, edit ---------------------------------------------------------------------------


def test_cancel_ends_a_job_canceled_and_a_second_cancel_is_a_409(trainer: Trainer) -> None:
    job_id = job_ready(trainer)
    trainer.advance(QUEUE_S + 3)
    cancelled = trainer.call("cancel", job_id)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "CANCELED" and cancelled.json()["progress"]["current_step"] == 150
    trainer.advance(100)
    assert trainer.status(job_id)["progress"]["current_step"] == 150
    assert_error(trainer.call("cancel", job_id), 409, 409001)


def test_resume_continues_from_the_last_checkpoint(trainer: Trainer) -> None:
    job_id = job_ready(trainer, steps=1000, save_every=250)
    trainer.advance(QUEUE_S + 12)  # step 600: checkpoints at 250 and 500
    stopped = trainer.control(job_id, "stop")
    assert stopped.status_code == 200, stopped.text
    short = trainer.status(job_id)
    assert (
        short["status"] == "STOPPED" and short["progress"]["current_step"] == 600 and short["error"] is None
    )
    assert short["resume_from_step"] == 500

    resumed = trainer.call("resume", job_id, body={})
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["status"] == "RESUMING"
    assert resumed.json()["progress"]["current_step"] == 500
    assert_error(trainer.call("resume", job_id, body={}), 409, 409001)
    trainer.advance(QUEUE_S)
    assert trainer.status(job_id)["status"] == "RUNNING"
    trainer.advance(2)
    assert trainer.status(job_id)["progress"]["current_step"] == 600
    trainer.advance(8)
    done = trainer.status(job_id)
    assert done["status"] == "STOPPED" and done["progress"]["current_step"] == 1000
    assert [c["step"] for c in trainer.result(job_id)["artifacts"]["checkpoints"]] == [250, 500, 750, 1000]
    assert_error(trainer.call("resume", job_id, body={}), 409, 409001)  # it finished all its steps


def test_a_cancelled_job_resumes_from_step_zero_without_a_checkpoint(trainer: Trainer) -> None:
    job_id = job_ready(trainer, steps=1000, save_every=250)
    trainer.advance(QUEUE_S + 2)  # step 100
    trainer.call("cancel", job_id)
    resumed = trainer.call("resume", job_id, body={}).json()
    assert resumed["status"] == "RESUMING" and resumed["progress"]["current_step"] == 0


def test_stop_with_an_error_and_fail_switches(trainer: Trainer) -> None:
    first = job_ready(trainer)
    trainer.advance(QUEUE_S + 1)
    answer = trainer.control(first, "stop", {"error": "CUDA out of memory"})
    assert answer.status_code == 200 and answer.json()["status"] == "STOPPED"
    result = trainer.result(first)
    assert result["status"] == "STOPPED" and result["progress"]["current_step"] == 50
    assert result["error"] == "CUDA out of memory"
    assert result["result"] == {"error": {"message": "CUDA out of memory", "code": "TRAINING_ERROR"}}
    assert trainer.control(first, "stop").status_code == 409
    assert trainer.control(first, "fail", {"message": "x"}).status_code == 409

    second = trainer.submit_ok(config("faces"))
    failed = trainer.control(second, "fail", {"message": "NaN loss"})
    assert failed.status_code == 200 and failed.json()["status"] == "FAILED"
    status = trainer.status(second)
    assert status["status"] == "FAILED" and status["error"] == "NaN loss" and status["started_at"] is None
    assert trainer.call("resume", second, body={}).json()["status"] == "RESUMING"  # a failed job resumes
    assert trainer.control("no-such-job", "stop").status_code == 404
    assert trainer.control(second, "stop", {"error": 5}).status_code == 400


def test_edit_only_once_stopped_and_the_new_config_is_checked_and_followed(trainer: Trainer) -> None:
    job_id = job_ready(trainer, steps=1000)
    edit = {"config_file_format": "yaml", "config_file": config("faces", steps=1500)}
    assert_error(trainer.call("edit", job_id, body=edit), 409, 409001)  # queued
    trainer.advance(QUEUE_S + 1)
    assert_error(trainer.call("edit", job_id, body=edit), 409, 409001)  # running
    trainer.advance(30)
    assert trainer.status(job_id)["status"] == "STOPPED"
    bad = {"config_file_format": "yaml", "config_file": config("unknown")}
    assert locs(trainer.call("edit", job_id, body=bad)) == [
        ["body", "config_file", "config", "process", 0, "datasets", 0, "folder_path"]
    ]
    edited = trainer.call("edit", job_id, body=edit)
    assert edited.status_code == 200, edited.text
    assert edited.json()["status"] == "STOPPED" and edited.json()["progress"]["total_steps"] == 1500
    assert edited.json()["resume_from_step"] == 1000  # now short of its last step
    trainer.call("resume", job_id, body={})
    trainer.advance(QUEUE_S + 10)
    done = trainer.result(job_id)
    assert done["status"] == "STOPPED" and done["progress"]["current_step"] == 1500
    checkpoints = done["artifacts"]["checkpoints"]
    assert [c["step"] for c in checkpoints] == [250, 500, 750, 1250, 1500]  # the new run's, from step 1000
    assert checkpoints[-1]["filename"] == "my_lora.safetensors"


def test_settings_change_the_speed_and_queue_of_runs_started_after(trainer: Trainer) -> None:
    trainer.settings(training_steps_per_s=100, training_queue_s=5)
    job_id = job_ready(trainer, steps=1000)
    trainer.advance(4.9)
    assert trainer.status(job_id)["status"] == "IN_QUEUE"
    trainer.advance(0.1 + 2)
    assert trainer.status(job_id)["progress"]["current_step"] == 200
    trainer.settings(training_steps_per_s=1)  # runs already started keep their speed
    trainer.advance(1)
    assert trainer.status(job_id)["progress"]["current_step"] == 300


# -- money ------------------------------------------------------------------------------------------------------


def test_training_is_charged_by_gpu_seconds_times_the_gpu_count(trainer: Trainer) -> None:
    trainer.ready_dataset("faces")
    before = trainer.balance()
    job_id = trainer.submit_ok(config("faces", steps=1000), gpu_type="HOPPER_141", gpu_count=8)
    trainer.advance(QUEUE_S + 10)
    assert trainer.balance() == before  # charged when the run ends
    trainer.advance(10)
    assert trainer.status(job_id)["status"] == "STOPPED"
    expected = PRICES_USD_PER_S["HOPPER_141"] * 20 * 8  # 1000 steps at 50 a second, on 8 GPUs
    assert trainer.balance() == pytest.approx(before - expected, abs=1e-6)
    cancelled = trainer.submit_ok(config("faces"))
    trainer.call("cancel", cancelled)  # still queued: nothing to pay
    assert trainer.balance() == pytest.approx(before - expected, abs=1e-6)


def test_an_account_that_cannot_pay_is_refused_new_training(trainer: Trainer) -> None:
    job_id = job_ready(trainer)
    trainer.call("cancel", job_id)
    trainer.emulator.running.control.call(
        "POST", "balance", {"balance_usd": 0, "token": trainer.emulator.token}
    )
    refused = assert_error(trainer.submit(body(config("faces"))), 402, 10001)
    assert "balance" in refused["detail"].lower()
    assert_error(trainer.call("resume", job_id, body={}), 402, 10001)
    assert trainer.status(job_id)["status"] == "CANCELED"


# -- the trained LoRA -----------------------------------------------------------------------------------------------


def picture(trainer: Trainer, body: dict[str, Any], token: str | None = None) -> bytes:
    emulator = trainer.emulator
    emulator.control("POST", "config", {"durations": {"*": 0}})
    request_id = emulator.submit_ok(GPT, body, token)
    result = emulator.result(request_id, token).json()
    assert result["status"] == "completed", result
    return emulator.http.get(result["output"]["images"][0]).content


def test_a_trained_lora_is_usable_by_run_and_an_unknown_name_is_a_422(trainer: Trainer) -> None:
    emulator = trainer.emulator
    unknown = emulator.submit(GPT, {"prompt": "a fox", "lora": {"path": "my_lora.safetensors"}})
    assert locs(unknown) == [["body", "lora", "path"]]  # not trained yet
    job_ready(trainer, steps=1000, save_every=500)
    trainer.advance(QUEUE_S + 20)
    plain = picture(trainer, {"prompt": "a fox", "seed": 1})
    trained = picture(trainer, {"prompt": "a fox", "seed": 1, "lora": {"path": "my_lora.safetensors"}})
    middle = picture(
        trainer, {"prompt": "a fox", "seed": 1, "lora": {"path": "my_lora_000000500.safetensors"}}
    )
    assert len({plain, trained, middle}) == 3  # the picture visibly changes, per LoRA
    other = emulator.other_token
    theirs = emulator.submit(GPT, {"prompt": "a fox", "lora": {"path": "my_lora.safetensors"}}, other)
    assert locs(theirs) == [["body", "lora", "path"]]  # another user's LoRA
    assert locs(emulator.submit(GPT, {"prompt": "a fox", "lora": {"path": "nope.safetensors"}})) == [
        ["body", "lora", "path"]
    ]


# -- persistence ------------------------------------------------------------------------------------------------


def test_with_a_database_jobs_keep_running_across_a_restart(tmp_path: Path) -> None:
    db, token = tmp_path / "state.db", "canary-jobs"
    with started_emulator(db=db, token=token) as emulator:
        trainer = Trainer(emulator)
        job_id = job_ready(trainer, steps=1000)
        trainer.advance(QUEUE_S + 6)
        assert trainer.status(job_id)["progress"]["current_step"] == 300
        offset = emulator.running.control.call("GET", "clock")["offset"]
    with started_emulator(db=db, token=token) as emulator:
        trainer = Trainer(emulator)
        assert emulator.running.control.call("GET", "clock")["offset"] == offset
        assert trainer.status(job_id)["progress"]["current_step"] == 300
        trainer.advance(20)
        result = trainer.result(job_id)
        assert result["status"] == "STOPPED"
        assert len(result["artifacts"]["checkpoints"]) == 4
        assert trainer.http.get(result["artifacts"]["checkpoints"][0]["url"]).status_code == 200


# -- the control plane ------------------------------------------------------------------------------------------


def test_the_trainer_settings_are_read_checked_and_reset(trainer: Trainer) -> None:
    control = trainer.emulator.running.control
    settings = control.call("GET", "config")
    assert {key: settings[key] for key in ("dataset_processing_s", "training_steps_per_s")} == {
        "dataset_processing_s": 2.0,
        "training_steps_per_s": 50.0,
    }
    assert (settings["training_queue_s"], settings["upload_url_ttl_s"]) == (1.0, 3600.0)
    for bad in ({"training_steps_per_s": 0}, {"upload_url_ttl_s": -1}, {"dataset_processing_s": "2"}):
        assert control.request("POST", "config", bad).status_code == 400, bad
    assert control.call("GET", "config")["training_steps_per_s"] == 50.0  # a refused change changes nothing
    trainer.settings(training_steps_per_s=7)
    job_ready(trainer)
    root = trainer.emulator.running.state.trainer.storage.root
    assert any((root / "datasets").iterdir())
    control.call("POST", "reset")
    assert control.call("GET", "config")["training_steps_per_s"] == 50.0
    assert control.call("GET", "training") == {"datasets": [], "jobs": []}
    assert not (root / "datasets").exists()


def test_the_control_plane_lists_every_dataset_and_job(trainer: Trainer) -> None:
    job_id = job_ready(trainer, steps=1000)
    trainer.advance(QUEUE_S + 6)
    view = trainer.emulator.running.control.call("GET", "training")
    (dataset,) = view["datasets"]
    assert dataset["name"] == "faces" and dataset["status"] == "READY" and dataset["owner"]
    (job,) = view["jobs"]
    assert job["id"] == job_id and job["status"] == "RUNNING" and job["current_step"] == 300
    assert len(job["runs"]) == 1 and set(job["artifacts"]) == {"my_lora_000000250.safetensors"}


def test_a_name_several_datasets_share_must_be_given_as_an_id(trainer: Trainer) -> None:
    first = trainer.ready_dataset("faces")
    trainer.ready_dataset("faces")
    problems = trainer.submit(body(config("faces"))).json()["detail"]
    assert [p["type"] for p in problems] == ["dataset_not_ready"] and "id" in problems[0]["msg"]
    assert trainer.status(trainer.submit_ok(config(first)))["status"] == "IN_QUEUE"
