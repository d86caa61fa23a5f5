"""Pre-flight validation: every problem of an input, worded for a person, against real and hand-made schemas."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runcomfy.emulator.catalog import CATALOG
from runcomfy.emulator.probes import ECHO_ID, SIZED_ID
from runcomfy.emulator.standins import GPT_IMAGE_ID, KONTEXT_ID, VIDEO_ID
from runcomfy.validation import Problem, check_input, format_problems

KONTEXT = CATALOG[KONTEXT_ID].input_schema
GPT = CATALOG[GPT_IMAGE_ID].input_schema
GOOD_KONTEXT = {"prompt": "add a red hat", "image_url": "https://example.com/a.png"}


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, problems
    return problems[0]


def test_a_valid_input_has_no_problems() -> None:
    assert (
        check_input(KONTEXT, {**GOOD_KONTEXT, "seed": 7, "aspect_ratio": "1:1", "guidance_scale": 2.5}) == []
    )


def test_unknown_field_suggests_the_close_property_name() -> None:
    problem = only(check_input(KONTEXT, {**GOOD_KONTEXT, "promt": "x"}))
    assert problem == Problem("promt", 'unknown field; did you mean "prompt"?', "unknown_field")


def test_unknown_field_without_a_close_match_has_no_suggestion() -> None:
    problem = only(check_input(KONTEXT, {**GOOD_KONTEXT, "zzzz": 1}))
    assert problem.message == "unknown field"


def test_unknown_fields_are_allowed_when_the_schema_allows_additional_properties() -> None:
    assert check_input(CATALOG[ECHO_ID].input_schema, {"anything": [1], "else": None}) == []


def test_pattern_properties_are_not_unknown() -> None:
    schema = {"type": "object", "additionalProperties": False, "patternProperties": {"^x-": {}}}
    assert check_input(schema, {"x-extra": 1}) == []
    assert only(check_input(schema, {"y": 1})).kind == "unknown_field"


def test_every_missing_required_field_is_listed() -> None:
    problems = check_input(KONTEXT, {})
    assert problems == [
        Problem("image_url", "required field is missing", "missing"),
        Problem("prompt", "required field is missing", "missing"),
    ]


def test_wrong_type_says_expected_and_got() -> None:
    problem = only(check_input(KONTEXT, {**GOOD_KONTEXT, "seed": "7"}))
    assert problem == Problem("seed", 'expected integer, got string "7"', "type")


@pytest.mark.parametrize(
    ("value", "got"),
    [(True, "got boolean true"), (None, "got null"), (1.5, "got number 1.5"), ([1], "got array [1]")],
)
def test_wrong_type_names_the_json_type_of_the_value(value: Any, got: str) -> None:
    problem = only(check_input(GPT, {"prompt": "x", "num_images": value}))
    assert problem.message == f"expected integer, {got}"


def test_type_lists_and_nullable_alternatives_list_every_accepted_type() -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": ["integer", "null"]},
            "b": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        },
    }
    assert check_input(schema, {"a": None, "b": None}) == []
    assert check_input(schema, {"a": "x", "b": 1}) == [
        Problem("a", 'expected integer or null, got string "x"', "type"),
        Problem("b", "expected string or null, got integer 1", "type"),
    ]


def test_value_outside_an_enum_lists_the_allowed_values() -> None:
    problem = only(check_input(KONTEXT, {**GOOD_KONTEXT, "output_format": "gif"}))
    assert problem == Problem("output_format", 'must be one of "png", "jpeg"; got "gif"', "enum")
    video = only(check_input(CATALOG[VIDEO_ID].input_schema, {"prompt": "x", "duration": 6}))
    assert video.message == "must be one of 5, 8; got 6"


def test_const_is_reported_as_an_enum_problem() -> None:
    schema = {"type": "object", "properties": {"v": {"const": "one"}}}
    assert only(check_input(schema, {"v": "two"})) == Problem("v", 'must be "one"; got "two"', "enum")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("guidance_scale", 25, "must be <= 20; got 25"),
        ("guidance_scale", 0.5, "must be >= 1; got 0.5"),
        ("seed", -1, "must be >= 0; got -1"),
        ("seed", 4294967296, "must be <= 4294967295; got 4294967296"),
    ],
)
def test_values_outside_minimum_and_maximum_are_range_problems(field: str, value: Any, message: str) -> None:
    assert only(check_input(KONTEXT, {**GOOD_KONTEXT, field: value})) == Problem(field, message, "range")


def test_exclusive_bounds_and_multiple_of() -> None:
    schema = {
        "type": "object",
        "properties": {
            "x": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
            "step": {"type": "integer", "multipleOf": 8},
        },
    }
    assert check_input(schema, {"x": 0, "step": 12}) == [
        Problem("step", "must be a multiple of 8; got 12", "range"),
        Problem("x", "must be > 0; got 0", "range"),
    ]
    assert only(check_input(schema, {"x": 1})).message == "must be < 1; got 1"


def test_string_length_limits_are_range_problems() -> None:
    assert only(check_input(KONTEXT, {**GOOD_KONTEXT, "prompt": ""})) == Problem(
        "prompt", "must be at least 1 characters long; got 0", "range"
    )
    problem = only(check_input(GPT, {"prompt": "x" * 32001}))
    assert problem.message == "must be at most 32000 characters long; got 32001"


def test_pattern_mismatch_is_a_format_problem() -> None:
    problem = only(check_input(CATALOG[SIZED_ID].input_schema, {"size_bytes": 1, "filename": "../x"}))
    assert problem == Problem(
        "filename", 'must match the pattern "^[A-Za-z0-9._-]{1,100}$"; got "../x"', "format"
    )


def test_format_is_an_annotation_so_a_data_uri_passes_a_uri_field() -> None:
    schema = {"type": "object", "properties": {"image": {"type": "string", "format": "uri"}}}
    assert check_input(schema, {"image": "not a uri at all"}) == []


def test_nested_problems_carry_a_dotted_path_with_indices() -> None:
    schema = {
        "type": "object",
        "properties": {
            "loras": {
                "type": "array",
                "maxItems": 2,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["path"],
                    "properties": {"path": {"type": "string"}, "scale": {"type": "number"}},
                },
            }
        },
    }
    data = {"loras": [{"path": "a", "scale": "x"}, {"scael": 1}, {"path": "c"}]}
    assert check_input(schema, data) == [
        Problem("loras", "must have at most 2 items; got 3", "range"),
        Problem("loras[0].scale", 'expected number, got string "x"', "type"),
        Problem("loras[1].path", "required field is missing", "missing"),
        Problem("loras[1].scael", 'unknown field; did you mean "scale"?', "unknown_field"),
    ]


def test_every_problem_is_reported_sorted_by_field() -> None:
    data = {"promt": "x", "seed": "7", "aspect_ratio": "5:4", "safety_tolerance": 9}
    problems = check_input(KONTEXT, data)
    assert [p.field for p in problems] == sorted(p.field for p in problems)
    assert {(p.field, p.kind) for p in problems} == {
        ("aspect_ratio", "enum"),
        ("image_url", "missing"),
        ("prompt", "missing"),
        ("promt", "unknown_field"),
        ("safety_tolerance", "range"),
        ("seed", "type"),
    }


def test_problems_about_the_whole_input_have_an_empty_field() -> None:
    schema = {"type": "object", "minProperties": 1}
    problem = only(check_input(schema, {}))
    assert (problem.field, problem.kind) == ("", "other")


def test_values_in_messages_are_bounded_and_free_of_control_characters() -> None:
    long_value = "\x1b[31m" + "A" * 10_000
    problem = only(check_input(KONTEXT, {**GOOD_KONTEXT, "aspect_ratio": long_value}))
    assert "\x1b" not in problem.message
    assert len(problem.message) < 300
    unknown = only(check_input(KONTEXT, {**GOOD_KONTEXT, "evil\x1b]0;x\x07": 1}))
    assert "\x1b" not in unknown.field and "\x07" not in unknown.field


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "no-such-type"},
        {"properties": {"a": {"minimum": "ten"}}},
        {"properties": {"a": {"pattern": "("}}},
        {"$ref": "https://example.com/remote-schema.json"},
        {"$ref": "#/$defs/missing"},
    ],
)
def test_an_unusable_schema_skips_validation_instead_of_crashing(schema: dict[str, Any]) -> None:
    assert check_input(schema, {"a": 1}) == []


def test_the_schema_dialect_named_by_dollar_schema_is_used() -> None:
    draft4 = {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "type": "object",
        "properties": {"x": {"type": "number", "maximum": 1, "exclusiveMaximum": True}},
    }
    assert only(check_input(draft4, {"x": 1})).kind == "range"


def test_format_problems_writes_one_indented_line_per_problem() -> None:
    text = format_problems(
        [Problem("", "expected object", "type"), Problem("seed", "expected integer, got string", "type")]
    )
    assert text == "  expected object\n  seed: expected integer, got string"
    assert format_problems([]) == ""


@given(st.integers(min_value=0, max_value=4294967295))
def test_any_seed_in_range_is_accepted(seed: int) -> None:
    assert check_input(KONTEXT, {**GOOD_KONTEXT, "seed": seed}) == []


@given(st.text(min_size=1, max_size=40).filter(lambda name: name not in KONTEXT["properties"]))
def test_any_unknown_name_is_reported_as_unknown(name: str) -> None:
    problems = check_input(KONTEXT, {**GOOD_KONTEXT, name: 1})
    assert [p.kind for p in problems] == ["unknown_field"]
