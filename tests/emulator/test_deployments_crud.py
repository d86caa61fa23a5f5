"""Contract tests of the Serverless API's deployment routes over loopback: create, list, get, update and delete,
their shapes and codes, ownership, and the 422s that name the field."""

from __future__ import annotations

import uuid

import pytest
from serverless_harness import ANIMATION, TEXT_TO_IMAGE, Serverless, assert_error, locs

FIELDS = {
    "id",
    "name",
    "workflow_id",
    "workflow_version",
    "hardware",
    "min_instances",
    "max_instances",
    "queue_size",
    "keep_warm_duration_in_seconds",
    "status",
    "is_enabled",
    "created_at",
    "updated_at",
}


def test_create_answers_the_deployment_with_the_official_clis_defaults(serverless: Serverless) -> None:
    response = serverless.create(name="  my-api ")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == FIELDS
    assert uuid.UUID(body["id"])
    assert (
        body
        | {
            "name": "my-api",
            "workflow_id": TEXT_TO_IMAGE,
            "workflow_version": "v1",
            "hardware": ["AMPERE_48"],
            "min_instances": 0,
            "max_instances": 1,
            "queue_size": 1,
            "keep_warm_duration_in_seconds": 60,
            "status": "ready",
            "is_enabled": True,
            "created_at": "2027-01-15T08:00:00.000Z",
        }
        == body
    )


def test_list_is_a_bare_array_of_the_callers_deployments_oldest_first(serverless: Serverless) -> None:
    first, second = serverless.create_ok(name="a"), serverless.create_ok(name="b")
    serverless.create_ok(token=serverless.emulator.other_token, name="theirs")
    listed = serverless.http.get(f"{serverless.base}/deployments", headers=serverless.auth())
    assert listed.status_code == 200
    assert [d["id"] for d in listed.json()] == [first, second]
    assert all(set(d) == FIELDS for d in listed.json())


def test_list_filters_by_repeated_or_comma_separated_ids(serverless: Serverless) -> None:
    ids = [serverless.create_ok(name=f"d{n}") for n in range(3)]
    url = f"{serverless.base}/deployments"
    repeated = serverless.http.get(url, params=[("ids", ids[0]), ("ids", ids[2])], headers=serverless.auth())
    assert [d["id"] for d in repeated.json()] == [ids[0], ids[2]]
    commas = serverless.http.get(url, params={"ids": f"{ids[1]}, ,{uuid.uuid4()}"}, headers=serverless.auth())
    assert [d["id"] for d in commas.json()] == [ids[1]]


def test_includes_payload_and_readme_add_the_graph_its_overrides_and_node_info(
    serverless: Serverless,
) -> None:
    deployment_id = serverless.create_ok()
    plain = serverless.get(deployment_id).json()
    assert "payload" not in plain and "readme" not in plain
    full = serverless.http.get(
        f"{serverless.base}/deployments",
        params=[("includes", "payload"), ("includes", "readme")],
        headers=serverless.auth(),
    ).json()[0]
    payload = full["payload"]
    assert set(payload) == {"workflow_api_json", "overrides", "object_info_url"}
    graph = payload["workflow_api_json"]
    assert {nid: node["class_type"] for nid, node in graph.items()} == {
        "3": "KSampler",
        "4": "CheckpointLoaderSimple",
        "5": "EmptyLatentImage",
        "6": "CLIPTextEncode",
        "7": "CLIPTextEncode",
        "8": "VAEDecode",
        "9": "SaveImage",
    }
    assert payload["overrides"]["6"] == {"inputs": {"text": graph["6"]["inputs"]["text"]}}
    assert "`9`" in full["readme"] and "SaveImage" in full["readme"]
    info = serverless.http.get(payload["object_info_url"])  # public, like output files
    assert info.status_code == 200
    assert set(info.json()) == {node["class_type"] for node in graph.values()}
    assert info.json()["KSampler"]["input"]["required"]["steps"][0] == "INT"


def test_unknown_includes_is_a_422_naming_the_query(serverless: Serverless) -> None:
    deployment_id = serverless.create_ok()
    assert locs(serverless.get(deployment_id, includes="everything")) == [["query", "includes"]]


def test_another_users_deployment_is_a_403_and_an_unknown_one_a_404(serverless: Serverless) -> None:
    deployment_id = serverless.create_ok()
    other = serverless.emulator.other_token
    for response in (
        serverless.get(deployment_id, token=other),
        serverless.patch(deployment_id, {"name": "mine now"}, token=other),
        serverless.delete(deployment_id, token=other),
        serverless.infer(deployment_id, token=other),
    ):
        assert_error(response, 403, 403003)
    missing = str(uuid.uuid4())
    assert_error(serverless.get(missing), 404, 404001)
    assert_error(serverless.infer(missing), 404, 404001)
    assert serverless.get(deployment_id).json()["name"] == "test"  # untouched


def test_every_call_needs_a_known_token(serverless: Serverless) -> None:
    deployment_id = serverless.create_ok()
    for response in (
        serverless.http.get(f"{serverless.base}/deployments"),
        serverless.get(deployment_id, token="wrong-token"),
        serverless.http.get(f"{serverless.base}/balance"),
        serverless.infer(deployment_id, token="wrong-token"),
    ):
        assert_error(response, 401, 401001)


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"hardware": ["VOLTA_32"]}, ["body", "hardware", 0]),
        ({"hardware": ["AMPERE_24", "AMPERE_48"]}, ["body", "hardware"]),
        ({"hardware": "AMPERE_48"}, ["body", "hardware"]),
        ({"hardware": []}, ["body", "hardware"]),
        ({"min_instances": 31}, ["body", "min_instances"]),
        ({"min_instances": -1}, ["body", "min_instances"]),
        ({"max_instances": 0}, ["body", "max_instances"]),
        ({"max_instances": 61}, ["body", "max_instances"]),
        ({"min_instances": 3, "max_instances": 2}, ["body", "max_instances"]),
        ({"queue_size": 0}, ["body", "queue_size"]),
        ({"keep_warm_duration_in_seconds": -5}, ["body", "keep_warm_duration_in_seconds"]),
        ({"min_instances": True}, ["body", "min_instances"]),
        ({"queue_size": 1.5}, ["body", "queue_size"]),
        ({"workflow_id": str(uuid.uuid4())}, ["body", "workflow_id"]),
        ({"workflow_version": "v9"}, ["body", "workflow_version"]),
        ({"name": "  "}, ["body", "name"]),
        ({"is_enabled": "yes"}, ["body", "is_enabled"]),
        ({"colour": "blue"}, ["body", "colour"]),
    ],
)
def test_create_refuses_a_bad_field_with_a_422_naming_it(
    serverless: Serverless, fields: dict, loc: list
) -> None:
    assert locs(serverless.create(**fields)) == [loc]


def test_create_reports_every_missing_field_and_a_body_that_is_not_an_object(serverless: Serverless) -> None:
    missing = serverless.http.post(f"{serverless.base}/deployments", json={}, headers=serverless.auth())
    assert locs(missing) == [["body", "name"], ["body", "workflow_id"], ["body", "workflow_version"]]
    listed = serverless.http.post(f"{serverless.base}/deployments", json=[1], headers=serverless.auth())
    assert locs(listed) == [["body"]]


def test_patch_changes_only_the_given_fields_and_always_needs_the_name(serverless: Serverless) -> None:
    deployment_id = serverless.create_ok(max_instances=3, keep_warm_duration_in_seconds=30)
    before = serverless.get(deployment_id).json()
    assert locs(serverless.patch(deployment_id, {"max_instances": 5})) == [["body", "name"]]
    serverless.advance(10)
    changed = serverless.patch(
        deployment_id, {"name": "renamed", "max_instances": 5, "hardware": ["HOPPER_141"]}
    )
    assert changed.status_code == 200
    after = serverless.get(deployment_id).json()
    assert after == changed.json()
    assert {k for k in after if after[k] != before[k]} == {"name", "max_instances", "hardware", "updated_at"}
    assert after["updated_at"] == "2027-01-15T08:00:10.000Z"


def test_patch_enables_and_disables_and_checks_the_merged_ranges(serverless: Serverless) -> None:
    deployment_id = serverless.create_ok(max_instances=2)
    disabled = serverless.patch(deployment_id, {"name": "test", "is_enabled": False}).json()
    assert (disabled["is_enabled"], disabled["status"]) == (False, "disabled")
    enabled = serverless.patch(deployment_id, {"name": "test", "is_enabled": True}).json()
    assert (enabled["is_enabled"], enabled["status"]) == (True, "ready")
    assert locs(serverless.patch(deployment_id, {"name": "test", "min_instances": 3})) == [
        ["body", "max_instances"]
    ]
    assert locs(serverless.patch(deployment_id, {"name": "test", "workflow_id": ANIMATION})) == [
        ["body", "workflow_id"]
    ]
    assert locs(serverless.patch(deployment_id, {"name": "test", "workflow_version": "v7"})) == [
        ["body", "workflow_version"]
    ]
    upgraded = serverless.patch(
        deployment_id, {"name": "test", "workflow_id": TEXT_TO_IMAGE, "workflow_version": "v2"}
    )
    assert upgraded.json()["workflow_version"] == "v2"


def test_delete_answers_json_and_the_deployment_is_gone_but_its_inference_says_deleted(
    serverless: Serverless,
) -> None:
    deployment_id = serverless.create_ok()
    deleted = serverless.delete(deployment_id)
    assert deleted.status_code == 200
    assert deleted.json() == {"id": deployment_id, "deleted": True}
    assert_error(serverless.get(deployment_id), 404, 404001)
    assert_error(serverless.patch(deployment_id, {"name": "x"}), 404, 404001)
    assert_error(serverless.delete(deployment_id), 404, 404001)
    assert serverless.http.get(f"{serverless.base}/deployments", headers=serverless.auth()).json() == []
    assert_error(serverless.infer(deployment_id), 410, 10003)
    assert_error(serverless.infer(deployment_id, prefix="/prod/v1"), 410, 10003)


def test_a_wrong_method_is_a_405_in_the_service_shape(serverless: Serverless) -> None:
    deployment_id = serverless.create_ok()
    response = serverless.http.put(
        f"{serverless.base}/deployments/{deployment_id}", headers=serverless.auth()
    )
    assert_error(response, 405, 405001)
