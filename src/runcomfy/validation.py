"""Pre-flight checks: an input compared with a model's JSON Schema before anything is sent.

Owns the translation of ``jsonschema`` errors into :class:`Problem` values a person can act on (one per field,
"did you mean" for a misspelt name, expected versus actual type, the allowed values) and their text form. The
checking itself is ``jsonschema``'s; this module only words its findings. ``format`` stays an annotation, as
JSON Schema 2020-12 says by default, so a ``"format": "uri"`` never blocks a data: URI the server accepts. For
the same reason an input the service takes on every model (``lora``) is left to the server when a model's
schema does not declare it.

It must never do I/O, never raise for a schema it cannot use (a broken schema means "no check": the server
still validates), and never put unbounded text or control characters from the input into a message.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Mapping, Sequence, Sized
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import SchemaError
from jsonschema.exceptions import ValidationError as SchemaViolation
from referencing.exceptions import Unresolvable

from runcomfy.safe_text import strip_controls

__all__ = ["Problem", "check_input", "format_problems"]

SHOWN_VALUE_CHARS = 60
DID_YOU_MEAN_CUTOFF = 0.6
# Inputs the service takes on every base model (a LoRA: {"path": ..., "scale": ...}) though a model's published
# schema may leave them out. A pre-flight check must not refuse what the service accepts, so these are checked
# only where a schema declares them; otherwise the server has the last word.
SERVICE_WIDE_INPUTS = frozenset({"lora"})

_KINDS_BY_KEYWORD = {
    "type": "type",
    "enum": "enum",
    "const": "enum",
    "minimum": "range",
    "maximum": "range",
    "exclusiveMinimum": "range",
    "exclusiveMaximum": "range",
    "multipleOf": "range",
    "minLength": "range",
    "maxLength": "range",
    "minItems": "range",
    "maxItems": "range",
    "pattern": "format",
    "format": "format",
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input.

    ``field`` is the path to the value (``"seed"``, ``"loras[0].scale"``; ``""`` for the input as a whole);
    ``kind`` is one of ``unknown_field``, ``missing``, ``type``, ``enum``, ``range``, ``format``, ``other``.
    """

    field: str
    message: str
    kind: str


def check_input(schema: Mapping[str, Any], data: Mapping[str, Any]) -> list[Problem]:
    """Every problem of ``data`` against ``schema``, sorted by field; ``[]`` also when the schema is unusable."""
    schema = dict(schema)
    data = _without_undeclared_service_inputs(schema, data)
    validator_class = validators.validator_for(schema, default=Draft202012Validator)
    try:
        validator_class.check_schema(schema)
        validator = validator_class(schema)
        errors = list(validator.iter_errors(data))
    except (SchemaError, Unresolvable, RecursionError):
        return []
    found: set[Problem] = set()
    for error in errors:
        found.update(_problems_of(error))
    return sorted(found, key=lambda p: (p.field, p.kind, p.message))


def _without_undeclared_service_inputs(
    schema: Mapping[str, Any], data: Mapping[str, Any]
) -> Mapping[str, Any]:
    """``data`` minus the :data:`SERVICE_WIDE_INPUTS` the schema does not declare at the top level (by name or
    by a pattern), so no rule of the schema (closed properties, a property count, ...) can refuse them."""
    if not isinstance(data, Mapping) or not SERVICE_WIDE_INPUTS.intersection(data):
        return data
    declared = schema.get("properties")
    declared = declared if isinstance(declared, Mapping) else {}
    by_pattern = schema.get("patternProperties")
    patterns = [p for p in by_pattern if isinstance(p, str)] if isinstance(by_pattern, Mapping) else []
    undeclared = {
        name
        for name in SERVICE_WIDE_INPUTS.intersection(data)
        if name not in declared and not any(_matches(pattern, name) for pattern in patterns)
    }
    return {key: value for key, value in data.items() if key not in undeclared} if undeclared else data


def format_problems(problems: Sequence[Problem]) -> str:
    """One line per problem, ``  <field>: <message>`` (``  <message>`` for the whole input)."""
    return "\n".join(f"  {p.field}: {p.message}" if p.field else f"  {p.message}" for p in problems)


def _problems_of(error: SchemaViolation) -> list[Problem]:
    path = list(error.absolute_path)
    keyword = str(error.validator)
    if keyword == "additionalProperties" and isinstance(error.instance, dict):
        return _unknown_fields(path, error.instance, error.schema)
    if keyword == "required" and isinstance(error.instance, dict):
        missing = [name for name in _strings(error.validator_value) if name not in error.instance]
        return [Problem(_field(path, name), "required field is missing", "missing") for name in missing]
    if keyword in ("anyOf", "oneOf") and (wanted := _alternative_types(error)):
        return [Problem(_field(path), _type_message(wanted, error.instance), "type")]
    kind = _KINDS_BY_KEYWORD.get(keyword, "other")
    return [Problem(_field(path), _message(keyword, error), kind)]


def _alternative_types(error: SchemaViolation) -> list[str]:
    """The types a value could have had when every alternative of ``anyOf``/``oneOf`` failed on its type alone
    (how a nullable field is often written), else ``[]``: then the library's own wording is kept."""
    context = list(error.context or [])
    if not context or any(sub.validator != "type" or sub.relative_path for sub in context):
        return []
    wanted: list[str] = []
    for sub in context:
        names = sub.validator_value if isinstance(sub.validator_value, list) else [sub.validator_value]
        wanted.extend(str(name) for name in names if str(name) not in wanted)
    return wanted


def _type_message(wanted: list[str], value: Any) -> str:
    kind = _json_type(value)
    shown = "" if kind == "null" else f" {_shown(value)}"
    return f"expected {' or '.join(wanted)}, got {kind}{shown}"


def _unknown_fields(path: list[Any], instance: dict[str, Any], schema: Any) -> list[Problem]:
    schema = schema if isinstance(schema, Mapping) else {}
    known = [name for name in schema.get("properties") or {} if isinstance(name, str)]
    patterns = [p for p in schema.get("patternProperties") or {} if isinstance(p, str)]
    problems = []
    for name in instance:
        if name in known or any(_matches(pattern, name) for pattern in patterns):
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=DID_YOU_MEAN_CUTOFF)
        hint = f'; did you mean "{strip_controls(close[0], max_len=80)}"?' if close else ""
        problems.append(Problem(_field(path, name), f"unknown field{hint}", "unknown_field"))
    return problems


def _message(keyword: str, error: SchemaViolation) -> str:
    expected, value = error.validator_value, error.instance
    got = _shown(value)
    if keyword == "type":
        return _type_message(_strings(expected) if isinstance(expected, list) else [str(expected)], value)
    if keyword == "enum" and isinstance(expected, list):
        return f"must be one of {', '.join(_shown(v) for v in expected)}; got {got}"
    if keyword == "const":
        return f"must be {_shown(expected)}; got {got}"
    bounds = {
        "minimum": ">=",
        "maximum": "<=",
        "exclusiveMinimum": ">",
        "exclusiveMaximum": "<",
    }
    if keyword in bounds:
        return f"must be {bounds[keyword]} {_shown(expected)}; got {got}"
    if keyword in ("minLength", "maxLength"):
        word = "at least" if keyword == "minLength" else "at most"
        return f"must be {word} {expected} characters long; got {_length(value)}"
    if keyword in ("minItems", "maxItems"):
        word = "at least" if keyword == "minItems" else "at most"
        return f"must have {word} {expected} items; got {_length(value)}"
    if keyword == "multipleOf":
        return f"must be a multiple of {_shown(expected)}; got {got}"
    if keyword == "pattern":
        return f"must match the pattern {_shown(expected)}; got {got}"
    return strip_controls(error.message, max_len=200)


def _field(path: Iterable[Any], *extra: str) -> str:
    text = ""
    for part in [*path, *extra]:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return strip_controls(text, max_len=120)


def _shown(value: Any) -> str:
    """A value as JSON, control characters removed and the length bounded (it may be a whole data URI)."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return strip_controls(text, max_len=SHOWN_VALUE_CHARS)


def _length(value: object) -> str:
    return str(len(value)) if isinstance(value, Sized) else "?"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    return "object" if isinstance(value, Mapping) else type(value).__name__


def _strings(value: Any) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _matches(pattern: str, name: str) -> bool:
    try:
        return re.search(pattern, name) is not None
    except re.error:
        return False
