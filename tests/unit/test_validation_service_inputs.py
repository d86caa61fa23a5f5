"""The pre-flight check never refuses an input the service documents for every model: ``lora``."""

from __future__ import annotations

from typing import Any

import pytest

from runcomfy.emulator.catalog import CATALOG
from runcomfy.emulator.standins import GPT_IMAGE_ID, VIDEO_ID
from runcomfy.validation import Problem, check_input

LORA = {"path": "my_lora_3000.safetensors"}
CLOSED_WITHOUT_LORA = CATALOG[VIDEO_ID].input_schema  # additionalProperties: false, no lora property
DECLARES_LORA = CATALOG[GPT_IMAGE_ID].input_schema


def test_a_top_level_lora_is_not_an_unknown_field_when_the_schema_leaves_it_out() -> None:
    assert "lora" not in CLOSED_WITHOUT_LORA["properties"]
    assert check_input(CLOSED_WITHOUT_LORA, {"prompt": "a fox", "lora": LORA}) == []
    assert check_input(CLOSED_WITHOUT_LORA, {"prompt": "a fox", "lora": {**LORA, "scale": 2.5}}) == []


def test_other_unknown_fields_beside_a_lora_are_still_reported() -> None:
    problems = check_input(CLOSED_WITHOUT_LORA, {"prompt": "a fox", "lora": LORA, "promt": "x"})
    assert problems == [Problem("promt", 'unknown field; did you mean "prompt"?', "unknown_field")]


def test_no_other_rule_of_the_schema_can_refuse_an_undeclared_lora() -> None:
    schema = {"type": "object", "maxProperties": 1, "additionalProperties": {"type": "string"}}
    assert check_input(schema, {"prompt": "x", "lora": LORA}) == []


def test_a_lora_below_the_top_level_is_an_ordinary_field() -> None:
    schema = {
        "type": "object",
        "properties": {"options": {"type": "object", "additionalProperties": False}},
    }
    problems = check_input(schema, {"options": {"lora": LORA}})
    assert [(p.field, p.kind) for p in problems] == [("options.lora", "unknown_field")]


@pytest.mark.parametrize(
    ("lora", "expected"),
    [
        (LORA, []),
        ({**LORA, "scale": 4}, []),
        ({**LORA, "scale": 5}, [("lora.scale", "range")]),
        ({"scale": 1}, [("lora.path", "missing")]),
        ({**LORA, "weight": 1}, [("lora.weight", "unknown_field")]),
        ("my_lora_3000.safetensors", [("lora", "type")]),
    ],
)
def test_a_schema_that_declares_lora_checks_it_like_any_other_field(
    lora: Any, expected: list[tuple[str, str]]
) -> None:
    problems = check_input(DECLARES_LORA, {"prompt": "a fox", "lora": lora})
    assert [(p.field, p.kind) for p in problems] == expected


def test_a_pattern_that_covers_lora_counts_as_declaring_it() -> None:
    schema = {
        "type": "object",
        "additionalProperties": False,
        "patternProperties": {"^lo": {"type": "string"}},
    }
    assert [(p.field, p.kind) for p in check_input(schema, {"lora": LORA})] == [("lora", "type")]
