"""The instance proxy over loopback: ComfyUI backend paths of a warm instance, and 404s for everything else."""

from __future__ import annotations

import pytest
from serverless_harness import Serverless, assert_error

RUNNING = pytest.mark.emulator_config(cold_start_s=5, deployment_run_s=20)


def running_instance(serverless: Serverless, **fields: object) -> tuple[str, str, str]:
    """A deployment, a request running on it, and its instance."""
    deployment_id = serverless.create_ok(**fields)
    request_id = serverless.infer_ok(deployment_id)
    serverless.advance(5)
    status = serverless.status(deployment_id, request_id)
    assert status["status"] == "in_progress"
    return deployment_id, request_id, status["instance_id"]


@RUNNING
def test_free_and_object_info_answer_like_comfyui(serverless: Serverless) -> None:
    deployment_id, _, instance_id = running_instance(serverless)
    free = serverless.proxy(deployment_id, instance_id, "api/free")
    assert (free.status_code, free.json()) == (200, {})
    info = serverless.proxy(deployment_id, instance_id, "/api/object_info").json()
    assert {
        "KSampler",
        "CLIPTextEncode",
        "SaveImage",
        "VHS_VideoCombine",
        "ADE_AnimateDiffLoaderGen1",
    } <= set(info)
    sampler = info["KSampler"]
    assert sampler["output"] == ["LATENT"] and sampler["category"] == "sampling"
    assert sampler["input"]["required"]["sampler_name"][0][0] == "euler"
    one = serverless.proxy(deployment_id, instance_id, "api/object_info/SaveImage").json()
    assert list(one) == ["SaveImage"] and one["SaveImage"]["output_node"] is True


@RUNNING
def test_queue_shows_the_running_request_as_comfyui_lists_a_prompt(serverless: Serverless) -> None:
    deployment_id, request_id, instance_id = running_instance(serverless)
    queue = serverless.proxy(deployment_id, instance_id, "api/queue").json()
    assert queue["queue_pending"] == []
    ((number, prompt_id, prompt, extra, outputs),) = queue["queue_running"]
    assert (number, prompt_id, outputs) == (0, request_id, ["9"])
    assert prompt["3"]["class_type"] == "KSampler" and extra == {"client_id": "runcomfy"}
    serverless.advance(20)
    idle = serverless.proxy(deployment_id, instance_id, "api/queue").json()
    assert idle == {"queue_running": [], "queue_pending": []}  # warm (kept for 60 s), nothing running


@RUNNING
def test_system_stats_report_the_skus_vram(serverless: Serverless) -> None:
    deployment_id, _, instance_id = running_instance(serverless, hardware=["HOPPER_141"])
    stats = serverless.proxy(deployment_id, instance_id, "system_stats").json()
    assert set(stats["system"]) >= {"os", "comfyui_version", "python_version", "pytorch_version", "ram_total"}
    (device,) = stats["devices"]
    assert device["type"] == "cuda" and "H200" in device["name"]
    assert device["vram_total"] == 141 * 1024**3


@RUNNING
def test_other_paths_and_unknown_booting_or_stopped_instances_are_404s(serverless: Serverless) -> None:
    deployment_id, _, instance_id = running_instance(serverless, keep_warm_duration_in_seconds=0)
    assert_error(serverless.proxy(deployment_id, instance_id, "api/prompt"), 404, 404001)
    assert_error(serverless.proxy(deployment_id, "no-such-instance", "api/free"), 404, 404001)
    other_deployment = serverless.create_ok()
    assert_error(serverless.proxy(other_deployment, instance_id, "api/free"), 404, 404001)
    serverless.advance(20)  # the request ends; keep warm 0: the instance stops
    assert_error(serverless.proxy(deployment_id, instance_id, "api/free"), 404, 404001)
    request_id = serverless.infer_ok(deployment_id)  # a new instance, booting for 5 s
    booting = next(i for i in serverless.instances() if i["phase"] == "booting")
    assert_error(serverless.proxy(deployment_id, booting["instance_id"], "api/free"), 404, 404001)
    assert serverless.status(deployment_id, request_id)["status"] == "in_queue"


@RUNNING
def test_the_proxy_belongs_to_the_deployments_owner(serverless: Serverless) -> None:
    deployment_id, _, instance_id = running_instance(serverless)
    other = serverless.emulator.other_token
    assert_error(serverless.proxy(deployment_id, instance_id, "api/free", token=other), 403, 403003)
    assert_error(serverless.proxy(deployment_id, instance_id, "api/free", token="unknown"), 401, 401001)
