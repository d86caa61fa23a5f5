"""Status values: one parser, a case-insensitive vocabulary, unknown statuses kept non-terminal."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runcomfy.lifecycle.apis import parse_model_api_status as parse_status
from runcomfy.status import (
    Cancelled,
    Completed,
    Failed,
    InProgress,
    Queued,
    RequestStatus,
    Unknown,
)


@pytest.mark.parametrize(
    ("raw", "kind", "terminal", "success"),
    [
        ("in_queue", Queued, False, False),
        ("IN_QUEUE", Queued, False, False),
        ("in_progress", InProgress, False, False),
        ("completed", Completed, True, True),
        ("Succeeded", Completed, True, True),
        ("failed", Failed, True, False),
        ("cancelled", Cancelled, True, False),
        ("CANCELED", Cancelled, True, False),
        ("cancellation_requested", Unknown, False, False),
        ("", Unknown, False, False),
    ],
)
def test_vocabulary_is_case_insensitive_with_both_spellings(
    raw: str, kind: type[RequestStatus], terminal: bool, success: bool
) -> None:
    status = parse_status({"status": raw})
    assert type(status) is kind
    assert status.is_terminal is terminal
    assert status.is_success is success
    assert status.raw == raw


def test_queue_position_is_kept_only_when_it_is_a_non_negative_integer() -> None:
    assert parse_status({"status": "in_queue", "queue_position": 3}) == Queued(3, raw="in_queue")
    for bad in (True, -1, "3", 2.5, None):
        status = parse_status({"status": "in_queue", "queue_position": bad})
        assert isinstance(status, Queued) and status.position is None


def test_describe_renders_like_the_official_cli() -> None:
    assert parse_status({"status": "in_queue", "queue_position": 2}).describe() == "in_queue (position 2)"
    assert parse_status({"status": "in_queue"}).describe() == "in_queue"
    assert (
        parse_status({"status": "in_progress", "instance_id": "i-1"}).describe()
        == "in_progress (instance i-1)"
    )
    assert parse_status({}).describe() == "(no status)"
    assert parse_status({"status": "Weird"}).describe() == "weird"


def test_the_payload_is_kept_but_does_not_affect_equality() -> None:
    payload = {"status": "completed", "request_id": "r1", "result_url": "u"}
    status = parse_status(payload)
    assert status.payload["request_id"] == "r1"
    assert status == Completed(raw="completed")


def test_missing_or_mistyped_status_is_unknown_not_an_exception() -> None:
    for payload in ({}, {"status": None}, {"status": 5}, {"status": ["completed"]}):
        assert isinstance(parse_status(payload), Unknown)
    assert isinstance(parse_status(None), Unknown)
    assert isinstance(parse_status("Completed"), Completed)


def test_control_characters_never_survive_in_raw() -> None:
    status = parse_status({"status": "in_\x1b[31mprogress"})
    assert "\x1b" not in status.raw and "\x1b" not in status.describe()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=10,
)


@given(st.dictionaries(st.sampled_from(["status", "queue_position", "instance_id", "x"]), json_values))
def test_parse_status_never_raises_and_always_renders(payload: dict[str, Any]) -> None:
    status = parse_status(payload)
    assert isinstance(status, RequestStatus)
    assert isinstance(status.describe(), str)


@given(st.text(max_size=30))
def test_strings_outside_the_vocabulary_are_unknown_and_non_terminal(text: str) -> None:
    known = {
        "in_queue",
        "queued",
        "pending",
        "waiting",
        "in_progress",
        "running",
        "processing",
        "starting",
        "completed",
        "succeeded",
        "failed",
        "cancelled",
        "canceled",
    }
    status = parse_status({"status": text})
    if status.raw.lower() not in known:
        assert isinstance(status, Unknown) and not status.is_terminal
