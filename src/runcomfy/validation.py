"""Pre-flight checks: an input compared with a model's JSON Schema before anything is sent.

Owns the translation of ``jsonschema`` errors into :class:`Problem` values a person can act on (one per field,
"did you mean" for a misspelt name, expected versus actual type, the allowed values) and their text form. The
checking itself is ``jsonschema``'s; this module only words its findings. ``format`` stays an annotation, as
JSON Schema 2020-12 says by default, so a ``"format": "uri"`` never blocks a data: URI the server accepts. For
the same reason an input the service takes on every model (``lora``) is left to the server when a model's
schema does not declare it.

A model's schema comes from the network; how far a hostile one can push the check (no ``$ref`` fetched, patterns
under a time limit) is :mod:`runcomfy.schema_guard`'s. Whatever it skips is the server's to judge: the
pre-flight check is a help, never the last word.

It must never do I/O, never raise for a schema it cannot use (a broken schema means "no check": the server
still validates), never wait without bound, and never put unbounded text or control characters from the input
or the schema into a message. :func:`check_input_report` returns the warnings; :func:`check_input` logs them on
the ``runcomfy.validation`` logger.
"""

from __future__ import annotations

import difflib
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence, Sized
from dataclasses import dataclass, field
from typing import Any, TypeVar

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import SchemaError
from jsonschema.exceptions import ValidationError as SchemaViolation
from referencing.exceptions import Unresolvable

from runcomfy.safe_text import strip_controls
from runcomfy.schema_guard import (
    ACTIVE_CHECK,
    NO_RETRIEVAL,
    Check,
    PatternBudget,
    PatternSkipped,
    bounded,
    has_keyword,
    may_match_any,
    reference_warning,
)

__all__ = [
    "InputChecker",
    "InputReport",
    "PatternBudget",
    "PatternSkipped",
    "Problem",
    "check_input",
    "check_input_report",
    "format_problems",
]

log = logging.getLogger("runcomfy.validation")
T = TypeVar("T")

SHOWN_VALUE_CHARS = 60
DID_YOU_MEAN_CUTOFF = 0.6
# Inputs the service takes on every base model (a LoRA: {"path": ..., "scale": ...}) though a model's published
# schema may leave them out. A pre-flight check must not refuse what the service accepts, so these are checked
# only where a schema declares them; otherwise the server has the last word.
SERVICE_WIDE_INPUTS = frozenset({"lora"})
# A sane pattern answers in microseconds, even over a 10 MiB data URI in well under this; a slower one is
# backtracking its way through an exponential number of paths.

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


@dataclass(frozen=True)
class InputReport:
    """What a check found: the problems of the input, and ``warnings`` naming the parts of the schema that
    were not checked (an outside ``$ref``, a pattern that ran out of time), each one line of plain text."""

    problems: list[Problem]
    warnings: list[str] = field(default_factory=list)


def check_input(schema: Mapping[str, Any], data: Mapping[str, Any]) -> list[Problem]:
    """Every problem of ``data`` against ``schema``, sorted by field; ``[]`` also when the schema is unusable.

    What could not be checked is logged as a warning on the ``runcomfy.validation`` logger.
    """
    report = check_input_report(schema, data)
    for warning in report.warnings:
        log.warning("pre-flight check: %s", warning)
    return report.problems


def check_input_report(
    schema: Mapping[str, Any], data: Mapping[str, Any], *, budget: PatternBudget | None = None
) -> InputReport:
    """:func:`check_input` with the warnings returned instead of logged; ``budget`` bounds the patterns."""
    return InputChecker(schema).report(data, budget=budget)


class InputChecker:
    """Checks inputs against one schema: :func:`check_input_report` for each, with the schema itself looked at
    once (its dialect, whether it is a valid schema, its validator) instead of once per input: a batch checks
    thousands of lines against one model's schema, and checking the schema costs more than checking a line.

    What the schema's own check warned about is repeated in the report of every input, as it would be if each
    input were checked on its own. Not meant to be shared between threads while it prepares (the first report).
    """

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.schema = dict(schema)
        self._has_pattern_properties = has_keyword(self.schema, "patternProperties")
        self._prepared = False
        self._validator: Any = None  # None once prepared: the schema is unusable, no input is checked
        self._schema_warnings: list[str] = []

    def report(self, data: Mapping[str, Any], *, budget: PatternBudget | None = None) -> InputReport:
        """The problems of ``data`` and the warnings of its check; ``budget`` bounds the patterns."""
        check = Check(budget or PatternBudget(), self._has_pattern_properties)
        active = ACTIVE_CHECK.set(check)
        try:
            data = _without_undeclared_service_inputs(self.schema, data, check)
            if not self._prepared:
                self._prepare(check)
            else:
                for warning in self._schema_warnings:
                    check.warn(warning)
            problems = self._problems_in(data, check)
        finally:
            ACTIVE_CHECK.reset(active)
        return InputReport(problems, list(check.warnings))

    def _prepare(self, check: Check) -> None:
        """Check the schema and build its validator (under ``check``, whose warnings are kept for the rest)."""
        schema = self.schema
        try:
            base = validators.validator_for(schema, default=Draft202012Validator)
        except Exception:  # a "$schema" that is not a string
            base = Draft202012Validator
        validator_class = bounded(base)
        before = len(check.warnings)
        self._validator = _usable(lambda: _built(validator_class, schema), check)
        self._schema_warnings = check.warnings[before:]
        self._prepared = True

    def _problems_in(self, data: Mapping[str, Any], check: Check) -> list[Problem]:
        validator = self._validator
        if validator is None:
            return []
        errors = _usable(lambda: list(validator.iter_errors(data)), check)
        if errors is None:
            return []
        found: set[Problem] = set()
        for error in errors:
            found.update(_problems_of(error, check))
        return sorted(found, key=lambda p: (p.field, p.kind, p.message))


def _built(validator_class: Any, schema: dict[str, Any]) -> Any:
    """The schema checked against its dialect, then its validator (SchemaError when it is not a schema)."""
    validator_class.check_schema(schema)
    return validator_class(schema, registry=NO_RETRIEVAL)


def _usable(step: Callable[[], T], check: Check) -> T | None:
    """``step()``, or None (with a warning saying why, where there is one to say) when the schema cannot be
    used for it: a broken schema means no check, never a crash."""
    try:
        return step()
    except SchemaError:
        return None
    except Unresolvable as exc:  # a reference reached outside the keywords that guard it
        check.warn(reference_warning(getattr(exc, "ref", ""), exc))
        return None
    except RecursionError:
        check.warn("the schema refers to itself without end; the input was not checked")
        return None
    except Exception as exc:  # a schema jsonschema accepts yet cannot apply: no check, never a crash
        check.warn(f"the schema could not be applied ({type(exc).__name__}); the input was not checked")
        return None


def _without_undeclared_service_inputs(
    schema: Mapping[str, Any], data: Mapping[str, Any], check: Check
) -> Mapping[str, Any]:
    """``data`` minus the :data:`SERVICE_WIDE_INPUTS` the schema does not declare at the top level (by name or
    by a pattern), so no rule of the schema (closed properties, a property count, ...) can refuse them. A
    pattern that cannot be applied declares nothing: the input is then left to the server."""
    if not isinstance(data, Mapping) or not SERVICE_WIDE_INPUTS.intersection(data):
        return data
    declared = schema.get("properties")
    declared = declared if isinstance(declared, Mapping) else {}
    by_pattern = schema.get("patternProperties")
    patterns = [p for p in by_pattern if isinstance(p, str)] if isinstance(by_pattern, Mapping) else []
    undeclared = {
        name
        for name in SERVICE_WIDE_INPUTS.intersection(data)
        if name not in declared and not any(check.search(pattern, name) for pattern in patterns)
    }
    return {key: value for key, value in data.items() if key not in undeclared} if undeclared else data


def format_problems(problems: Sequence[Problem]) -> str:
    """One line per problem, ``  <field>: <message>`` (``  <message>`` for the whole input)."""
    return "\n".join(f"  {p.field}: {p.message}" if p.field else f"  {p.message}" for p in problems)


def _problems_of(error: SchemaViolation, check: Check) -> list[Problem]:
    path = list(error.absolute_path)
    keyword = str(error.validator)
    if keyword == "additionalProperties" and isinstance(error.instance, dict):
        return _unknown_fields(path, error.instance, error.schema, check)
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


def _unknown_fields(path: list[Any], instance: dict[str, Any], schema: Any, check: Check) -> list[Problem]:
    schema = schema if isinstance(schema, Mapping) else {}
    known = [name for name in schema.get("properties") or {} if isinstance(name, str)]
    patterns = [p for p in schema.get("patternProperties") or {} if isinstance(p, str)]
    problems = []
    for name in instance:
        if name in known or may_match_any(check, patterns, name):
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
