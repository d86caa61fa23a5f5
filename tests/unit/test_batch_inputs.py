"""Reading JSONL batch files: every line checked before anything is sent, bad lines named by number."""

from __future__ import annotations

import pytest

from runcomfy.batch import BatchInput, parse_jsonl
from runcomfy.errors import InvalidInput


def test_blank_lines_and_comments_are_skipped_and_line_numbers_kept() -> None:
    lines = ['{"prompt": "a"}', "", "   ", "# a comment", '  {"prompt": "b"}  ']
    assert parse_jsonl(lines) == [BatchInput(1, {"prompt": "a"}), BatchInput(5, {"prompt": "b"})]


@pytest.mark.parametrize(
    ("bad", "fragment"),
    [
        ('{"prompt": }', "line 2: invalid JSON"),
        ("[1, 2]", "line 2: expected a JSON object, got list"),
        ('"text"', "line 2: expected a JSON object, got str"),
        ("[" * 5000 + "]" * 5000, "line 2: JSON document is nested"),
    ],
)
def test_a_bad_line_is_reported_with_its_number(bad: str, fragment: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_jsonl(['{"ok": 1}', bad, '{"ok": 2}'], source="--batch in.jsonl")
    assert fragment in str(caught.value)
    assert str(caught.value).startswith("--batch in.jsonl: ")
    assert "nothing was submitted" in str(caught.value)


def test_every_bad_line_is_listed_up_to_a_few() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_jsonl(["nope"] * 8)
    message = str(caught.value)
    assert "line 1:" in message and "line 5:" in message and "line 6:" not in message
    assert "(and 3 more)" in message


def test_a_file_with_no_inputs_is_an_error() -> None:
    with pytest.raises(InvalidInput, match="no inputs"):
        parse_jsonl(["", "# only comments"])
