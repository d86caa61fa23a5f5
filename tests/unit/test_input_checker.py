"""One schema, many inputs (a batch): InputChecker looks at the schema once and reports as a check of each did."""

from __future__ import annotations

from typing import Any

import pytest

from runcomfy.emulator.catalog import CATALOG
from runcomfy.emulator.standins import KONTEXT_ID
from runcomfy.validation import InputChecker, PatternBudget, check_input_report

KONTEXT = CATALOG[KONTEXT_ID].input_schema
INPUTS: list[dict[str, Any]] = [
    {"prompt": "add a red hat", "image_url": "https://example.com/a.png"},
    {},
    {"prompt": 7, "image_url": "https://example.com/a.png", "promt": "x"},
    {"prompt": "p", "image_url": "https://example.com/a.png", "seed": "7", "lora": {"path": "x"}},
]
SCHEMAS: list[dict[str, Any]] = [
    KONTEXT,
    {"$ref": "#"},  # refers to itself without end: a warning, no check
    {
        "type": "object",
        "properties": {"a": {"$ref": "https://example.com/remote.json"}, "seed": {"type": "integer"}},
    },
    {
        "type": "object",
        "properties": {"seed": {"type": "integer", "minimum": "not a number"}},
    },  # not a schema
    {"$schema": 5, "properties": {"seed": {"type": "integer"}}},
    {"type": "object", "additionalProperties": False, "patternProperties": {"^x-": {}}},
]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_each_report_is_the_report_of_a_check_of_that_input_alone(schema: dict[str, Any]) -> None:
    checker = InputChecker(schema)
    for data in INPUTS:
        assert checker.report(data) == check_input_report(schema, data), data


def test_what_the_schema_check_warned_about_is_in_every_report() -> None:
    checker = InputChecker({"$ref": "#"})
    reports = [checker.report(data) for data in INPUTS]
    assert all(report.problems == [] and report.warnings for report in reports)
    assert len({tuple(report.warnings) for report in reports}) == 1


def test_the_schema_is_checked_once_for_many_inputs(monkeypatch: pytest.MonkeyPatch) -> None:
    import runcomfy.validation

    built: list[object] = []
    real = runcomfy.validation._built

    def counting(validator_class: Any, schema: dict[str, Any]) -> Any:
        built.append(schema)
        return real(validator_class, schema)

    monkeypatch.setattr(runcomfy.validation, "_built", counting)
    checker = InputChecker(KONTEXT)
    budget = PatternBudget()
    reports = [checker.report(data, budget=budget) for data in INPUTS * 25]

    assert len(built) == 1
    assert [r.problems for r in reports[:4]] == [check_input_report(KONTEXT, d).problems for d in INPUTS]
