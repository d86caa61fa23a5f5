"""Reading a batch file: one JSON object per line (JSONL); blank lines and ``#`` comments are skipped.

Every line is checked before anything is submitted: a malformed line is reported with its number, so a typo
on line 900 costs nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from runcomfy.errors import InvalidInput
from runcomfy.json_limits import JSONLimitError, loads_bounded

MAX_PROBLEMS_SHOWN = 5


@dataclass(frozen=True)
class BatchInput:
    """One input of a batch and the line it came from (1-based)."""

    line: int
    input: dict[str, Any]


def parse_jsonl(lines: Iterable[str], *, source: str = "batch") -> list[BatchInput]:
    """Every input of a JSONL text; :class:`InvalidInput` naming each bad line (up to a few) otherwise."""
    items: list[BatchInput] = []
    problems: list[str] = []
    for number, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        try:
            value = loads_bounded(text)
        except JSONLimitError as exc:
            problems.append(f"line {number}: {exc}")
            continue
        except ValueError as exc:
            problems.append(f"line {number}: invalid JSON: {exc}")
            continue
        if not isinstance(value, dict):
            problems.append(f"line {number}: expected a JSON object, got {type(value).__name__}")
            continue
        items.append(BatchInput(number, value))
    if problems:
        shown = "; ".join(problems[:MAX_PROBLEMS_SHOWN])
        more = (
            f" (and {len(problems) - MAX_PROBLEMS_SHOWN} more)" if len(problems) > MAX_PROBLEMS_SHOWN else ""
        )
        raise InvalidInput(f"{source}: {shown}{more}; nothing was submitted")
    if not items:
        raise InvalidInput(f"{source}: no inputs (every line is blank or a comment)")
    return items
