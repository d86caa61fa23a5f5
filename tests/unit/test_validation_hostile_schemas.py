"""A model schema from a hostile catalog cannot make the pre-flight check fetch, read files, hang or crash.

References are followed only inside the schema: a loopback server started here records whether anything
contacted it (nothing may), and a ``file://`` reference names a schema that would refuse the input if it were
used. Patterns run under a time budget; the tests assert that a check returns, never how fast (the file's
timeout is pytest's default). The total budget is measured with an injected clock, so nothing waits for it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from runcomfy.validation import (
    InputReport,
    PatternBudget,
    PatternSkipped,
    Problem,
    check_input,
    check_input_report,
)

# Catastrophic backtracking for Python's re: the alternatives can split a run of "a" in exponentially many ways,
# and the "!" at the end makes every one of them fail.
BACKTRACKING = "^(a|aa)+$"
BACKTRACKING_TEXT = "a" * 60 + "!"
REFUSING_SCHEMA = {"type": "integer"}  # what an outside reference would bring in: it refuses any string


class RecordingServer:
    """Answers nothing: each request is recorded, then held open until the test ends (a stalled host)."""

    def __init__(self) -> None:
        self.contacted: list[str] = []
        self.release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.contacted.append(self.path)
                server.release.wait(30)
                body = json.dumps(REFUSING_SCHEMA).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}{path}"

    def close(self) -> None:
        self.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    recording = RecordingServer()
    try:
        yield recording
    finally:
        recording.close()


def with_a_checked_neighbour(subschema: dict[str, Any]) -> dict[str, Any]:
    """An object schema: ``target`` under test, ``seed`` an ordinary integer field that must still be checked."""
    return {
        "type": "object",
        "properties": {"target": subschema, "seed": {"type": "integer"}},
    }


def fields(report: InputReport) -> list[str]:
    return [problem.field for problem in report.problems]


# --- $ref ---------------------------------------------------------------------------------------------------------


def test_a_ref_to_another_server_is_never_fetched_and_that_part_is_skipped_with_a_warning(
    server: RecordingServer,
) -> None:
    url = server.url("/schema.json")
    schema = with_a_checked_neighbour({"$ref": url})

    report = check_input_report(schema, {"target": "text", "seed": "7"})

    assert server.contacted == []  # not even a connection that stalls: nothing was asked
    assert report.problems == [Problem("seed", 'expected integer, got string "7"', "type")]
    assert len(report.warnings) == 1
    assert url in report.warnings[0] and "nothing is fetched" in report.warnings[0]


def test_a_ref_in_an_older_dialect_is_not_fetched_either(server: RecordingServer) -> None:
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "properties": {"target": {"$ref": server.url("/draft7.json")}},
    }

    assert check_input_report(schema, {"target": "text"}).problems == []
    assert server.contacted == []


def test_a_relative_ref_under_a_remote_id_is_not_fetched(server: RecordingServer) -> None:
    schema = {"$id": server.url("/base/"), "properties": {"target": {"$ref": "other.json"}}}

    report = check_input_report(schema, {"target": "text"})

    assert report.problems == [] and report.warnings
    assert server.contacted == []


# jsonschema's automatic retrieval reads the file first and warns afterwards; under the suite's "warnings are
# errors" that warning would hide the file's use. Ignoring it lets the test see what a real run would do.
@pytest.mark.filterwarnings("ignore:Automatically retrieving remote references:DeprecationWarning")
def test_a_file_ref_is_never_read_or_used(tmp_path: Path) -> None:
    local = tmp_path / "refuse.json"
    local.write_text(json.dumps(REFUSING_SCHEMA))
    schema = with_a_checked_neighbour({"$ref": local.as_uri()})

    report = check_input_report(schema, {"target": "text", "seed": 1})

    assert report.problems == []  # the file's "type": "integer" was not applied to "text"
    assert [local.as_uri() in warning for warning in report.warnings] == [True]


def test_an_internal_ref_still_validates() -> None:
    schema = {
        "$defs": {"size": {"type": "integer", "minimum": 64}},
        "type": "object",
        "properties": {"width": {"$ref": "#/$defs/size"}, "height": {"$ref": "#/$defs/size"}},
    }

    report = check_input_report(schema, {"width": "wide", "height": 8})

    assert report.problems == [
        Problem("height", "must be >= 64; got 8", "range"),
        Problem("width", 'expected integer, got string "wide"', "type"),
    ]
    assert report.warnings == []


def test_a_ref_that_leads_nowhere_skips_only_its_part() -> None:
    schema = with_a_checked_neighbour({"$ref": "#/$defs/missing"})

    report = check_input_report(schema, {"target": 1, "seed": "x"})

    assert fields(report) == ["seed"]
    assert ["leads nowhere" in warning for warning in report.warnings] == [True]


def test_check_input_logs_what_it_skipped(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="runcomfy.validation"):
        problems = check_input({"$ref": "https://example.com/remote-schema.json"}, {"a": 1})

    assert problems == []
    assert [record.name for record in caplog.records] == ["runcomfy.validation"]
    assert "https://example.com/remote-schema.json" in caplog.records[0].getMessage()


@pytest.mark.parametrize("dialect", [5, ["x"], {"$ref": "x"}])
def test_a_dollar_schema_that_is_not_a_string_raises_nothing(dialect: Any) -> None:
    schema = {"$schema": dialect, "type": "object", "properties": {"seed": {"type": "integer"}}}

    assert check_input_report(schema, {"seed": "x"}).problems == []  # an unusable schema: no check
    nested = with_a_checked_neighbour({"$schema": dialect, "type": "integer"})
    assert check_input_report(nested, {"seed": "x", "target": 1}).problems == []


def test_a_schema_that_refers_to_itself_without_end_is_no_check_and_no_crash() -> None:
    report = check_input_report({"$ref": "#"}, {"a": 1})

    assert report.problems == []
    assert report.warnings


# --- patterns -----------------------------------------------------------------------------------------------------


def test_the_catastrophic_pattern_of_the_issue_returns() -> None:
    schema = with_a_checked_neighbour({"type": "string", "pattern": "^(a+)+$"})

    report = check_input_report(schema, {"target": "a" * 36 + "!"})

    # The regex engine sees at once that this one cannot match; had it run out of time, the field would be
    # skipped with a warning instead. Either way the check returns.
    if report.problems:
        assert [(p.field, p.kind) for p in report.problems] == [("target", "format")]
    else:
        assert report.warnings


def test_a_pattern_that_backtracks_without_end_is_skipped_with_a_warning() -> None:
    schema = {
        "type": "object",
        "properties": {
            "target": {"type": "string", "pattern": BACKTRACKING},
            "code": {"type": "string", "pattern": "^[A-Z]{3}$"},
        },
    }

    # A total far above the one timeout: on a loaded machine the timer that stops the match fires late, and the
    # default 1 s total (tested on its own) would then skip the second pattern too.
    budget = PatternBudget(total_s=60.0)
    report = check_input_report(schema, {"target": BACKTRACKING_TEXT, "code": "abc"}, budget=budget)

    assert report.problems == [Problem("code", 'must match the pattern "^[A-Z]{3}$"; got "abc"', "format")]
    assert len(report.warnings) == 1
    assert BACKTRACKING in report.warnings[0] and "skipped" in report.warnings[0]


def test_a_matching_pattern_still_passes_and_a_search_is_not_anchored() -> None:
    schema = {"properties": {"ratio": {"type": "string", "pattern": r"\d+:\d+"}}}

    assert check_input_report(schema, {"ratio": "is 16:9 here"}) == InputReport([], [])
    assert fields(check_input_report(schema, {"ratio": "wide"})) == ["ratio"]


def test_a_pattern_in_a_subschema_naming_its_own_dialect_is_still_bounded() -> None:
    # jsonschema switches validator class where a subschema names a "$schema"; the limits must follow it.
    subschema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "string",
        "pattern": BACKTRACKING,
    }

    report = check_input_report(with_a_checked_neighbour(subschema), {"target": BACKTRACKING_TEXT})

    assert report.problems == [] and report.warnings


def test_a_slow_property_name_pattern_neither_hangs_nor_calls_the_field_unknown() -> None:
    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"prompt": {"type": "string"}},
        "patternProperties": {BACKTRACKING: {"type": "integer"}},
    }

    # Room in the total budget: on a loaded machine the regex timer fires late (see the test above).
    report = check_input_report(
        schema,
        {"prompt": "x", BACKTRACKING_TEXT: "not an integer", "promt": 1},
        budget=PatternBudget(total_s=60.0),
    )

    assert [(p.field, p.kind) for p in report.problems] == [("promt", "unknown_field")]
    assert report.warnings


def test_unevaluated_properties_beside_pattern_properties_is_skipped_with_a_warning() -> None:
    schema = {
        "type": "object",
        "unevaluatedProperties": False,
        "patternProperties": {BACKTRACKING: {}},
        "properties": {"seed": {"type": "integer"}},
    }

    report = check_input_report(schema, {BACKTRACKING_TEXT: 1, "seed": "x"})

    assert fields(report) == ["seed"]
    assert any("unevaluatedProperties" in warning for warning in report.warnings)


def test_unevaluated_properties_without_patterns_is_still_checked() -> None:
    schema = {"type": "object", "unevaluatedProperties": False, "properties": {"seed": {}}}

    assert [p.kind for p in check_input_report(schema, {"seed": 1, "extra": 2}).problems] == ["other"]


class SteppingClock:
    """Every reading is ``step`` seconds after the previous one: each pattern seems to take that long."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_all_patterns_of_a_check_together_stay_within_the_total_budget() -> None:
    names = [f"field{i}" for i in range(6)]
    schema = {"type": "object", "properties": {name: {"pattern": "^x$"} for name in names}}
    budget = PatternBudget(per_pattern_s=0.2, total_s=1.0, clock=SteppingClock(0.3))

    report = check_input_report(schema, dict.fromkeys(names, "no"), budget=budget)

    # Four patterns fit in 1 s at 0.3 s each (the fourth starts with 0.1 s left); the last two are skipped.
    assert len(report.problems) == 4
    assert report.warnings == ["pattern checks used up their 1 s; the others were skipped"]


def test_a_shared_budget_never_runs_a_pattern_on_a_text_it_was_too_slow_for_again() -> None:
    schema = {"properties": {"target": {"pattern": BACKTRACKING}}}
    budget = PatternBudget(per_pattern_s=0.05, total_s=10.0)

    first = check_input_report(schema, {"target": BACKTRACKING_TEXT}, budget=budget)
    spent = budget.spent_s
    second = check_input_report(schema, {"target": BACKTRACKING_TEXT}, budget=budget)

    assert first.warnings == second.warnings and first.warnings
    assert budget.spent_s == spent  # the second check did not try it again


def test_a_pattern_the_regex_engine_refuses_is_skipped_not_raised() -> None:
    with pytest.raises(PatternSkipped, match="cannot be used"):
        PatternBudget().search("(", "x")
