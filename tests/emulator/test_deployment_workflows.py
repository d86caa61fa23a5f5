"""The example workflows over loopback: real files drawn from the merged inputs, both override shapes, a whole
``workflow_api_json``, ComfyUI's validation, the 422s of overrides naming what the workflow lacks, and Range
on output files."""

from __future__ import annotations

import copy
import io
from typing import Any

from PIL import Image
from serverless_harness import ANIMATION, TEXT_TO_IMAGE, Serverless, assert_error, locs


def outputs_of(serverless: Serverless, deployment_id: str, body: Any = None) -> dict[str, Any]:
    request_id = serverless.infer_ok(deployment_id, body)
    result = serverless.result(deployment_id, request_id)
    assert result["status"] == "succeeded", result
    outputs: dict[str, Any] = result["outputs"]
    return outputs


def fetch(serverless: Serverless, url: str) -> bytes:
    response = serverless.http.get(url)
    assert response.status_code == 200
    return response.content


def test_text_to_image_saves_a_png_drawn_at_the_latent_size(serverless: Serverless) -> None:
    deployment_id = serverless.create_ok()
    body = {"overrides": {"5": {"inputs": {"width": 320, "height": 192, "batch_size": 2}}}}
    outputs = outputs_of(serverless, deployment_id, body)
    assert list(outputs) == ["9"]
    files = outputs["9"]["images"]
    assert [(f["filename"], f["subfolder"], f["type"]) for f in files] == [
        ("ComfyUI_00001_.png", "", "output"),
        ("ComfyUI_00002_.png", "", "output"),
    ]
    first, second = (fetch(serverless, f["url"]) for f in files)
    assert first != second  # a batch holds different images
    with Image.open(io.BytesIO(first)) as image:
        assert (image.format, image.size) == ("PNG", (320, 192))
        image.load()


def test_the_animation_workflow_saves_an_animated_gif_with_a_frame_per_batch_item(
    serverless: Serverless,
) -> None:
    deployment_id = serverless.create_ok(workflow_id=ANIMATION)
    body = {"overrides": {"5": {"width": 96, "height": 64, "batch_size": 6}, "8": {"frame_rate": 10}}}
    outputs = outputs_of(serverless, deployment_id, body)
    (item,) = outputs["8"]["gifs"]
    assert item | {"filename": "AnimateDiff_00001.gif", "subfolder": "", "type": "output"} == item
    assert (item["format"], item["frame_rate"]) == ("image/gif", 10)
    response = serverless.http.get(item["url"])
    assert response.headers["content-type"] == "image/gif"
    with Image.open(io.BytesIO(response.content)) as image:
        assert image.is_animated and image.n_frames == 6
        assert image.size == (96, 64) and image.info["duration"] == 100


def test_a_different_prompt_gives_different_bytes_and_the_same_inputs_the_same(
    serverless: Serverless,
) -> None:
    deployment_id = serverless.create_ok()

    def image(**inputs: Any) -> bytes:
        body = {"overrides": {"6": {"inputs": inputs}, "5": {"inputs": {"width": 128, "height": 128}}}}
        return fetch(serverless, outputs_of(serverless, deployment_id, body)["9"]["images"][0]["url"])

    fox, owl = image(text="a red fox"), image(text="an owl at night")
    assert fox != owl
    assert image(text="a red fox") == fox


def test_seed_and_sampler_inputs_change_the_picture_too(serverless: Serverless) -> None:
    deployment_id = serverless.create_ok()
    small = {"5": {"width": 128, "height": 128}}

    def image(overrides: dict[str, Any]) -> bytes:
        body = {"overrides": {**small, **overrides}}
        return fetch(serverless, outputs_of(serverless, deployment_id, body)["9"]["images"][0]["url"])

    base = image({})
    assert image({"3": {"seed": 7}}) != base
    assert image({"3": {"inputs": {"steps": 30, "cfg": 4.5}}}) != base


def test_overrides_naming_a_node_or_an_input_the_workflow_lacks_are_422s(serverless: Serverless) -> None:
    deployment_id = serverless.create_ok()
    unknown_node = serverless.infer(deployment_id, {"overrides": {"42": {"inputs": {"text": "x"}}}})
    assert locs(unknown_node) == [["body", "overrides", "42"]]
    unknown_input = serverless.infer(deployment_id, {"overrides": {"6": {"inputs": {"prompt": "x"}}}})
    assert locs(unknown_input) == [["body", "overrides", "6", "inputs", "prompt"]]
    flat = serverless.infer(deployment_id, {"overrides": {"3": {"seeds": 1}}})
    assert locs(flat) == [["body", "overrides", "3", "seeds"]]
    assert locs(serverless.infer(deployment_id, {"overrides": {"6": "a fox"}})) == [
        ["body", "overrides", "6"]
    ]


def test_bad_inference_bodies_are_422s_naming_the_field(serverless: Serverless) -> None:
    deployment_id = serverless.create_ok()
    assert locs(serverless.infer(deployment_id, [])) == [["body"]]
    assert locs(serverless.infer(deployment_id, {"overrides": []})) == [["body", "overrides"]]
    assert locs(serverless.infer(deployment_id, {"extra_data": 3})) == [["body", "extra_data"]]
    assert locs(serverless.infer(deployment_id, {"inputs": {}})) == [["body", "inputs"]]


def test_a_whole_workflow_api_json_runs_instead_of_the_deployments_graph(serverless: Serverless) -> None:
    deployment_id = serverless.create_ok()
    workflows = serverless.emulator.control("GET", "workflows").json()["workflows"]
    graph = copy.deepcopy(
        next(w for w in workflows if w["workflow_id"] == TEXT_TO_IMAGE)["workflow_api_json"]
    )
    graph["5"]["inputs"] |= {"width": 64, "height": 64}
    graph["9"]["inputs"]["filename_prefix"] = "renders/fox"
    graph["10"] = {
        "class_type": "PreviewImage",
        "inputs": {"images": ["8", 0]},
        "_meta": {"title": "Preview"},
    }
    outputs = outputs_of(
        serverless, deployment_id, {"workflow_api_json": graph, "overrides": {"6": {"text": "fox"}}}
    )
    saved, preview = outputs["9"]["images"][0], outputs["10"]["images"][0]
    assert (saved["filename"], saved["subfolder"], saved["type"]) == ("fox_00001_.png", "renders", "output")
    assert preview["type"] == "temp" and preview["filename"].startswith("ComfyUI_temp_")
    assert fetch(serverless, saved["url"]) == fetch(serverless, preview["url"])  # the same decoded images


def test_a_malformed_workflow_api_json_is_a_422_naming_the_node(serverless: Serverless) -> None:
    deployment_id = serverless.create_ok()
    assert locs(serverless.infer(deployment_id, {"workflow_api_json": {}})) == [["body", "workflow_api_json"]]
    unknown_class = {"1": {"class_type": "MagicNode", "inputs": {}}}
    assert locs(serverless.infer(deployment_id, {"workflow_api_json": unknown_class})) == [
        ["body", "workflow_api_json", "1", "class_type"]
    ]
    dangling = {"9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0]}}}
    assert locs(serverless.infer(deployment_id, {"workflow_api_json": dangling})) == [
        ["body", "workflow_api_json", "9", "inputs", "images"]
    ]
    no_outputs = {
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 8, "height": 8, "batch_size": 1}}
    }
    assert locs(serverless.infer(deployment_id, {"workflow_api_json": no_outputs})) == [
        ["body", "workflow_api_json"]
    ]


def test_values_comfyui_would_refuse_make_the_request_fail_at_once_with_its_error(
    serverless: Serverless,
) -> None:
    serverless.config(deployment_run_s=30)
    deployment_id = serverless.create_ok()
    body = {"overrides": {"3": {"steps": 20000}, "4": {"ckpt_name": "missing.safetensors"}}}
    request_id = serverless.infer_ok(deployment_id, body)
    result = serverless.result(deployment_id, request_id)  # no run time: refused before it runs
    assert result["status"] == "failed" and result["outputs"] is None
    error = result["error"]
    assert error["type"] == "prompt_outputs_failed_validation"
    assert [e["type"] for e in error["node_errors"]["3"]["errors"]] == ["value_bigger_than_max"]
    assert [e["type"] for e in error["node_errors"]["4"]["errors"]] == ["value_not_in_list"]


def test_output_files_serve_ranges_and_unknown_names_are_404s(serverless: Serverless) -> None:
    deployment_id = serverless.create_ok()
    url = outputs_of(serverless, deployment_id)["9"]["images"][0]["url"]
    whole = fetch(serverless, url)
    part = serverless.http.get(url, headers={"range": "bytes=10-19"})
    assert part.status_code == 206
    assert part.content == whole[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{len(whole)}"
    head = serverless.http.head(url)
    assert head.headers["content-length"] == str(len(whole)) and head.headers["accept-ranges"] == "bytes"
    assert_error(serverless.http.get(url.replace("00001", "00009")), 404, 404001)


def test_the_control_plane_lists_the_example_workflows(serverless: Serverless) -> None:
    workflows = serverless.emulator.control("GET", "workflows").json()["workflows"]
    assert [(w["workflow_id"], w["workflow_version"]) for w in workflows] == [
        (TEXT_TO_IMAGE, "v1"),
        (TEXT_TO_IMAGE, "v2"),
        (ANIMATION, "v1"),
    ]
    animation = workflows[2]
    assert animation["workflow_api_json"]["8"]["class_type"] == "VHS_VideoCombine"
    assert {"name", "description", "overrides", "run_s"} <= set(animation)


def test_a_version_upgrade_changes_what_new_requests_run(serverless: Serverless) -> None:
    deployment_id = serverless.create_ok()
    serverless.patch(deployment_id, {"name": "test", "workflow_version": "v2"})
    url = outputs_of(serverless, deployment_id)["9"]["images"][0]["url"]
    with Image.open(io.BytesIO(fetch(serverless, url))) as image:
        assert image.size == (768, 768)


def test_an_unknown_workflow_version_in_the_object_info_url_is_a_404(serverless: Serverless) -> None:
    response = serverless.http.get(f"{serverless.emulator.web}/object-info/{TEXT_TO_IMAGE}/v9")
    assert_error(response, 404, 404001)
