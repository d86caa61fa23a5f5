"""The ``--override NODE.INPUT=VALUE`` shorthand and the check of overrides against a deployment's workflow."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runcomfy.errors import InvalidInput
from runcomfy.workflow_overrides import (
    apply_overrides,
    describe_node,
    merge_overrides,
    override_problems,
    parse_overrides,
    workflow_of,
)

GRAPH = {
    "3": {
        "class_type": "KSampler",
        "inputs": {"seed": 5, "steps": 20, "cfg": 7.5, "denoise": 1.0, "model": ["4", 0]},
        "_meta": {"title": "KSampler"},
    },
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd.safetensors"}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
    "6": {
        "class_type": "CLIPTextEncode",
        "inputs": {"text": "a cat", "clip": ["4", 1]},
        "_meta": {"title": "Positive Prompt"},
    },
    "7": {
        "class_type": "CLIPTextEncode",
        "inputs": {"text": "blurry", "clip": ["4", 1]},
        "_meta": {"title": "Negative Prompt"},
    },
    "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "out", "preview": False}},
}


def test_values_take_the_type_of_the_input_they_replace() -> None:
    overrides = parse_overrides(
        ["6.text=a fox", "3.seed=42", "3.cfg=4", "9.preview=yes", "5.width=768"], GRAPH
    )
    assert overrides == {
        "6": {"inputs": {"text": "a fox"}},
        "3": {"inputs": {"seed": 42, "cfg": 4}},
        "9": {"inputs": {"preview": True}},
        "5": {"inputs": {"width": 768}},
    }
    assert isinstance(overrides["3"]["inputs"]["seed"], int)


def test_text_inputs_keep_digits_as_text_and_json_form_sends_json() -> None:
    overrides = parse_overrides(["6.text=42", "3.seed:=null", '6.clip:=["4", 1]'], GRAPH)
    assert overrides["6"]["inputs"] == {"text": "42", "clip": ["4", 1]}
    assert overrides["3"]["inputs"] == {"seed": None}


def test_a_node_may_be_named_by_its_unique_title_or_class_type() -> None:
    overrides = parse_overrides(
        ["Positive Prompt.text=a fox", "KSampler.seed=1", "SaveImage.filename_prefix=x"], GRAPH
    )
    assert set(overrides) == {"6", "3", "9"}


def test_an_ambiguous_class_type_asks_for_the_id() -> None:
    with pytest.raises(
        InvalidInput, match=r"names 2 nodes .*6 \(CLIPTextEncode \"Positive Prompt\"\).*use the node id"
    ):
        parse_overrides(["CLIPTextEncode.text=a fox"], GRAPH)


def test_an_unknown_node_suggests_the_closest() -> None:
    with pytest.raises(InvalidInput, match=r"no node Ksampler; did you mean 3 \(KSampler\)"):
        parse_overrides(["Ksampler.seed=1"], GRAPH)


@pytest.mark.parametrize("arg", ["6text=a fox", "text", ".text=x", "6.=x", "=x"])
def test_malformed_assignments_show_the_expected_form(arg: str) -> None:
    with pytest.raises(InvalidInput, match=r"expected NODE\.INPUT=VALUE"):
        parse_overrides([arg], GRAPH)


def test_a_value_that_does_not_fit_names_the_argument() -> None:
    with pytest.raises(InvalidInput, match=r"--override 3.seed=many: expected an integer"):
        parse_overrides(["3.seed=many"], GRAPH)


def test_without_the_graph_node_ids_are_taken_as_given_and_values_stay_text() -> None:
    assert parse_overrides(["6.text=a fox", "3.seed=42", "3.cfg:=4.5"], None) == {
        "6": {"inputs": {"text": "a fox"}},
        "3": {"inputs": {"seed": "42", "cfg": 4.5}},
    }


def test_merge_keeps_the_other_inputs_of_a_node() -> None:
    base = {"3": {"inputs": {"seed": 1, "steps": 10}}, "6": {"inputs": {"text": "a"}}}
    merged = merge_overrides(base, {"3": {"inputs": {"seed": 2}}})
    assert merged == {"3": {"inputs": {"seed": 2, "steps": 10}}, "6": {"inputs": {"text": "a"}}}
    assert base["3"]["inputs"]["seed"] == 1  # the base is not changed


def test_problems_name_unknown_nodes_inputs_and_shapes() -> None:
    problems = override_problems(
        {
            "66": {"inputs": {"text": "x"}},
            "6": {"inputs": {"txt": "x"}},
            "3": {"seed": 4},
            "5": "wide",
        },
        GRAPH,
    )
    by_field = {p["field"]: p for p in problems}
    assert by_field["overrides.66"]["kind"] == "unknown_node"
    assert 'did you mean 6 (CLIPTextEncode "Positive Prompt")' in by_field["overrides.66"]["message"]
    assert by_field["overrides.6.inputs.txt"]["kind"] == "unknown_input"
    assert 'did you mean "text"' in by_field["overrides.6.inputs.txt"]["message"]
    assert by_field["overrides.3"]["kind"] == "shape"
    assert 'did you mean {"3": {"inputs": {"seed": 4}}}' in by_field["overrides.3"]["message"]
    assert by_field["overrides.5"]["message"] == 'expected {"inputs": {...}}'
    assert len(problems) == 4


def test_valid_overrides_have_no_problems() -> None:
    assert override_problems({"6": {"inputs": {"text": "x"}}, "3": {"inputs": {"seed": 9}}}, GRAPH) == []
    assert override_problems({}, GRAPH) == []


def test_overrides_that_are_not_an_object() -> None:
    assert override_problems(["6"], GRAPH)[0]["field"] == "overrides"


def test_apply_writes_into_a_copy_of_the_graph() -> None:
    applied = apply_overrides(GRAPH, {"6": {"inputs": {"text": "a fox"}}})
    assert applied["6"]["inputs"] == {"text": "a fox", "clip": ["4", 1]}
    assert GRAPH["6"]["inputs"]["text"] == "a cat"
    with pytest.raises(InvalidInput, match="no input"):
        apply_overrides(GRAPH, {"6": {"inputs": {"txt": "x"}}})


def test_workflow_of_reads_the_payload_graph_also_as_a_json_string() -> None:
    assert workflow_of({"payload": {"workflow_api_json": GRAPH}}) == GRAPH
    assert workflow_of({"payload": {"workflow_api_json": json.dumps(GRAPH)}}) == GRAPH
    assert workflow_of({"payload": {"workflow_api_json": "{broken"}}) is None
    assert workflow_of({"id": "x"}) is None
    assert workflow_of({"payload": {"workflow_api_json": {}}}) is None


def test_describe_node_strips_control_characters() -> None:
    node = {"class_type": "X\x1b[31m", "_meta": {"title": "t\u202e"}}
    assert "\x1b" not in describe_node("1", node) and "\u202e" not in describe_node("1", node)


@given(
    st.dictionaries(
        st.sampled_from(sorted(GRAPH)),
        st.dictionaries(st.sampled_from(["seed", "text", "width", "nope"]), st.integers(), max_size=3),
        max_size=4,
    )
)
def test_every_reported_problem_points_at_something_the_graph_lacks(raw: dict[str, dict[str, int]]) -> None:
    overrides = {node: {"inputs": inputs} for node, inputs in raw.items()}
    problems = override_problems(overrides, GRAPH)
    expected = {
        f"overrides.{node}.inputs.{name}"
        for node, inputs in raw.items()
        for name in inputs
        if name not in GRAPH[node]["inputs"]
    }
    assert {p["field"] for p in problems} == expected
