"""Bounded JSON: parsing that refuses hostile documents, and the canonical form used for digests.

Owns the limits on JSON the program accepts from anywhere (a server reply, a user's ``--input``): a maximum
nesting depth and a maximum size, enforced without recursion so a deep document can never raise
``RecursionError`` further up. It must never raise anything but :class:`JSONLimitError` or ``ValueError``.
"""

from __future__ import annotations

import json
import math
from typing import Any

# ``logging`` and ``hashlib`` are imported where they are used (a number too large for a float; a digest): this
# module is loaded by every command that reads JSON input, and so by its ``--help`` too.
LOGGER_NAME = "runcomfy.json"

MAX_JSON_DEPTH = 64
MAX_JSON_CHARS = 32 * 1024 * 1024


class JSONLimitError(ValueError):
    """The document is valid JSON (or might be) but exceeds the depth or size limit."""


def loads_bounded(
    text: str | bytes, *, max_depth: int = MAX_JSON_DEPTH, max_chars: int = MAX_JSON_CHARS
) -> Any:
    """Parse JSON, refusing documents nested deeper than ``max_depth`` or longer than ``max_chars``.

    Raises ``ValueError`` (``json.JSONDecodeError``, ``UnicodeDecodeError``) for malformed input and
    :class:`JSONLimitError` for a document over a limit. The standard parser recurses in C and raises
    ``RecursionError`` on very deep input; that is turned into :class:`JSONLimitError` here.
    """
    if len(text) > max_chars:
        raise JSONLimitError(f"JSON document is too large ({len(text)} bytes, limit {max_chars})")
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError as exc:
        raise JSONLimitError(f"JSON document is nested too deeply (limit {max_depth} levels)") from exc
    if depth_exceeds(value, max_depth):
        raise JSONLimitError(f"JSON document is nested too deeply (limit {max_depth} levels)")
    return value


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON; Python accepts them by default and would send them on.
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float | str:
    """A JSON number as a float; one too large for a float (``1e999``) is kept as its text.

    ``1e999`` is valid JSON, but as a float it is infinity, which would be written back as ``Infinity`` (not
    JSON) and break every ``| jq``. Refusing the document would lose a paid result over one number, so the
    number is kept, as a string, and a warning says so.
    """
    value = float(text)
    if math.isfinite(value):
        return value
    import logging

    logging.getLogger(LOGGER_NAME).warning(
        "the number %s does not fit a float; it was kept as the string %r", text[:40], text[:40]
    )
    return text


def depth_exceeds(value: Any, max_depth: int) -> bool:
    """Whether ``value`` has containers nested deeper than ``max_depth``; iterative, so never recursion-bound."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: list[Any] = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > max_depth:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 kept: equal documents give equal text whatever their key order."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def digest(value: Any) -> str:
    """``sha256:<hex>`` of the canonical JSON, to recognise the same input without storing it."""
    import hashlib

    return "sha256:" + hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()
