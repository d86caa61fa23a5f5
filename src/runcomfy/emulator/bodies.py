"""Request bodies: read as a stream under a byte limit, and parsed as JSON the emulator can keep and send back.

A body is read chunk by chunk and refused with a 413 as soon as it passes its route's limit, or before a byte
is read when its ``Content-Length`` already says it will; a huge upload is never held in memory. Each route
that reads a body names its limit: a submit may carry a base64 image, while the control plane and the login
take a few small fields.

JSON is refused with a 422 whose ``detail`` names the problem when it is malformed, nested too deeply, holds
too many values for its size to stay proportionate in memory, or holds what the emulator could store but never
render again: numbers that are not finite (``NaN``, ``Infinity``, ``1e999``; JSON has no such numbers and the
responses refuse to encode them) and strings with lone surrogates (``"\\ud800"``, which have no UTF-8 form).
Checking once at the door keeps every later answer about the same data (result, call log, request listing)
from failing.
"""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.requests import Request

from runcomfy.emulator.errors import ServiceError, validation_error
from runcomfy.json_limits import MAX_JSON_DEPTH

SUBMIT_BODY_LIMIT = 64 * 1024 * 1024  # the service's own limit on a submit
CONTROL_BODY_LIMIT = 1024 * 1024  # faults (with their canned bodies), config, tokens
LOGIN_BODY_LIMIT = 16 * 1024  # a device code, or the approval form's two fields
MAX_JSON_VALUES = 1_000_000

Loc = list[str | int]
_Path = tuple[str | int, "_Path"] | None  # a value's key, then its parent's path


def body_too_large(limit: int) -> ServiceError:
    """The 413 for a body over ``limit`` bytes."""
    return ServiceError(413, "Request body too large", f"The limit is {limit} bytes.")


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, read as a stream; a 413 as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and (len(declared) > 20 or int(declared) > limit):
        raise body_too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise body_too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, limit: int) -> Any:
    """The request body as checked JSON (see :func:`parse_json`)."""
    return parse_json(await read_body(request, limit))


def parse_json(body: bytes) -> Any:
    """The JSON document of a body (empty means ``{}``); a 422 naming the problem when it cannot be kept."""
    if not body.strip():
        return {}
    # An upper bound on the number of values, counted before parsing: a document of many tiny containers
    # would otherwise grow many times its size in memory.
    if body.count(b",") + body.count(b"[") + body.count(b"{") >= MAX_JSON_VALUES:
        raise validation_error(
            "the body holds too many values",
            [_problem([], f"More than {MAX_JSON_VALUES} values", "json_too_large")],
        )
    try:
        document = json.loads(body, parse_constant=float)
    except RecursionError:
        raise _too_deep() from None
    except ValueError:  # malformed JSON and bytes that are not UTF-8 (or UTF-16/32) alike
        raise validation_error(
            "the body is not valid JSON", [_problem([], "Invalid JSON", "json_invalid")]
        ) from None
    problem = first_problem(document)
    if problem is not None:
        if problem["type"] == "json_too_deep":
            raise _too_deep()
        raise validation_error("the body holds a value the service cannot accept", [problem])
    return document


def first_problem(document: Any) -> dict[str, Any] | None:
    """The first value that makes ``document`` unfit to keep, as a 422 ``detail`` entry; None when it is fit.

    Iterative, so depth is checked without recursion; each value remembers only its key and its parent's
    entry, and a ``loc`` is spelled out only for the value reported. Object keys are checked before their
    values are visited, so every key in a reported ``loc`` can itself be rendered.
    """
    stack: list[tuple[Any, int, _Path]] = [(document, 0, None)]
    while stack:
        value, depth, path = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            return _problem(_loc(path), "Input should be a finite number", "finite_number")
        if isinstance(value, str) and not _encodable(value):
            message = "Input should be a valid string: it holds a lone surrogate"
            return _problem(_loc(path), message, "string_unicode")
        if isinstance(value, dict | list) and depth >= MAX_JSON_DEPTH:
            return _problem(_loc(path), f"Nested deeper than {MAX_JSON_DEPTH} levels", "json_too_deep")
        if isinstance(value, dict):
            if not all(_encodable(key) for key in value):
                message = "Object keys should be valid strings: one holds a lone surrogate"
                return _problem(_loc(path), message, "string_unicode")
            children: list[tuple[str | int, Any]] = list(value.items())
        elif isinstance(value, list):
            children = list(enumerate(value))
        else:
            continue
        stack.extend((item, depth + 1, (key, path)) for key, item in reversed(children))  # in document order
    return None


def _loc(path: _Path) -> Loc:
    loc: Loc = []
    while path is not None:
        key, path = path
        loc.append(key)
    return loc[::-1]


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _problem(loc: Loc, message: str, kind: str) -> dict[str, Any]:
    return {"loc": ["body", *loc], "msg": message, "type": kind}


def _too_deep() -> ServiceError:
    return validation_error(
        "the body is nested too deeply",
        [_problem([], f"Nested deeper than {MAX_JSON_DEPTH} levels", "json_too_deep")],
    )
