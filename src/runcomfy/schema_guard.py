"""The bounded checker: ``jsonschema`` made safe to run on a schema that came from the network.

A model's schema is the service's to write, and a hostile or broken one must not make the pre-flight check
fetch, read or wait. This module owns the limits (:mod:`runcomfy.validation` words the findings):

- ``$ref`` is resolved only inside the schema document (and the JSON Schema meta-schemas bundled with the
  library). A reference to anything else (``https://...``, ``file:///...``, a relative name) is never fetched or
  read: that part of the schema is skipped with a warning. ``jsonschema`` would otherwise fetch it, with no
  timeout, from wherever the schema points.
- Regular expressions (``pattern``, ``patternProperties``, and the property names ``additionalProperties``
  tests against them) run on the ``regex`` package under a time limit per match and in all
  (:class:`PatternBudget`); one that runs out is skipped with a warning. A pattern like ``^(a|aa)+$`` otherwise
  backtracks for longer than anyone waits, and Python's ``re`` cannot be interrupted. ``unevaluatedProperties``
  is skipped (with a warning) in a schema that also has ``patternProperties``, since ``jsonschema`` matches those
  with ``re`` inside it where no limit can reach.

jsonschema calls keyword functions with its own arguments only, so the check under way (its budget and its
warnings) travels in a context variable, :data:`ACTIVE_CHECK`. This module never does I/O and never prints.
"""

from __future__ import annotations

import contextvars
import functools
import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, cast

import attrs
import referencing
import regex
from jsonschema import validators
from jsonschema.exceptions import ValidationError as SchemaViolation
from jsonschema.protocols import Validator
from referencing.exceptions import Unresolvable

from runcomfy.safe_text import strip_controls

__all__ = [
    "ACTIVE_CHECK",
    "NO_RETRIEVAL",
    "Check",
    "PatternBudget",
    "PatternSkipped",
    "bounded",
    "has_keyword",
    "may_match_any",
    "reference_warning",
]

PATTERN_TIMEOUT_S = 0.2
PATTERN_BUDGET_S = 1.0  # all the patterns of one check (or of a whole batch sharing a budget) together
MAX_WARNINGS = 20  # a schema of a thousand slow patterns still makes a short list
MAX_SCHEMA_NODES_WALKED = 100_000
SHOWN_SCHEMA_TEXT_CHARS = 200
SHOWN_VALUE_CHARS = 60


class PatternBudget:
    """The time regular expressions may take: ``per_pattern_s`` for one match, ``total_s`` for all of them.

    One budget per check by default; a caller checking many inputs against one schema (a batch) passes the same
    budget to each, so the whole lot is bounded, and a pattern that ran out of time on a text is not tried on
    that text again. ``clock`` measures the time spent (the match itself is stopped by the ``regex`` package's
    own timer). Not meant to be shared between threads.
    """

    def __init__(
        self,
        *,
        per_pattern_s: float = PATTERN_TIMEOUT_S,
        total_s: float = PATTERN_BUDGET_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_pattern_s = per_pattern_s
        self.total_s = total_s
        self.spent_s = 0.0
        self._clock = clock
        self._too_slow: set[tuple[str, str]] = set()

    def __repr__(self) -> str:
        return f"PatternBudget(per_pattern_s={self.per_pattern_s!r}, total_s={self.total_s!r})"

    def search(self, pattern: str, text: str) -> bool:
        """Whether ``pattern`` matches somewhere in ``text`` (``re.search``, as ``jsonschema`` does).

        Raises :class:`PatternSkipped` when it cannot tell in time or cannot use the pattern.
        """
        if (pattern, text) in self._too_slow:
            raise PatternSkipped(_slow_pattern(pattern, self.per_pattern_s))
        left = self.total_s - self.spent_s
        if left <= 0:
            raise PatternSkipped(self._used_up())
        timeout = min(self.per_pattern_s, left)
        started = self._clock()
        try:
            return regex.search(pattern, text, timeout=timeout) is not None
        except TimeoutError:
            if timeout < self.per_pattern_s:
                raise PatternSkipped(self._used_up()) from None
            self._too_slow.add((pattern, text))
            raise PatternSkipped(_slow_pattern(pattern, self.per_pattern_s)) from None
        except Exception:  # the regex package refuses something re accepted: no check beats a crash
            raise PatternSkipped(f"the pattern {_shown_schema_text(pattern)} cannot be used") from None
        finally:
            self.spent_s += max(0.0, self._clock() - started)

    def _used_up(self) -> str:
        return f"pattern checks used up their {self.total_s:g} s; the others were skipped"


class PatternSkipped(Exception):
    """A regular expression of the schema was not applied; the message says why, for a warning."""


class Check:
    """One check under way: its pattern budget, whether the schema has ``patternProperties`` anywhere, and the
    warnings so far (each once, at most :data:`MAX_WARNINGS`)."""

    def __init__(self, budget: PatternBudget, has_pattern_properties: bool) -> None:
        self.budget = budget
        self.has_pattern_properties = has_pattern_properties
        self.warnings: list[str] = []

    def warn(self, message: str) -> None:
        if message not in self.warnings and len(self.warnings) < MAX_WARNINGS:
            self.warnings.append(message)

    def search(self, pattern: str, text: str) -> bool | None:
        """Whether ``pattern`` matches in ``text``; ``None`` (and a warning) when that cannot be told."""
        try:
            return self.budget.search(pattern, text)
        except PatternSkipped as skipped:
            self.warn(str(skipped))
            return None


# The check under way, for the keyword functions below: jsonschema calls them with its own arguments only.
# A context variable keeps concurrent checks (threads, tasks) apart.
ACTIVE_CHECK: contextvars.ContextVar[Check | None] = contextvars.ContextVar(
    "runcomfy_validation_check", default=None
)


def _active() -> Check:
    check = ACTIVE_CHECK.get()
    return check if check is not None else Check(PatternBudget(), has_pattern_properties=True)


class _OutsideReference(Exception):
    """A ``$ref`` to a document other than the schema: refused, never fetched."""


def _refuse_retrieval(uri: str) -> referencing.Resource[Any]:
    raise _OutsideReference(uri)


# Resolution stays inside the schema itself (and the meta-schemas jsonschema bundles): nothing is ever retrieved.
# (``retrieve`` is an attrs field the type stubs do not show; jsonschema passes it the same way.)
NO_RETRIEVAL: referencing.Registry[Any] = referencing.Registry(retrieve=_refuse_retrieval)  # type: ignore[call-arg]


def reference_warning(ref: object, exc: BaseException) -> str:
    shown = _shown_schema_text(ref if isinstance(ref, str) else getattr(exc, "ref", "") or "?")
    cause: BaseException | None = exc
    for _ in range(8):
        if cause is None:
            break
        if isinstance(cause, _OutsideReference):
            return f"the schema refers to {shown}, outside itself; that part was not checked (nothing is fetched)"
        cause = cause.__cause__ or cause.__context__
    return f"the schema's reference {shown} leads nowhere; that part was not checked"


def _slow_pattern(pattern: str, seconds: float) -> str:
    return f"the pattern {_shown_schema_text(pattern)} took longer than {seconds:g} s; that check was skipped"


def _shown_schema_text(text: str) -> str:
    return strip_controls(json.dumps(text, ensure_ascii=False), max_len=SHOWN_SCHEMA_TEXT_CHARS)


def may_match_any(check: Check, patterns: Iterable[str], name: str) -> bool:
    """Whether ``name`` matches one of ``patterns``, counting a pattern that cannot be applied as a match (so no
    property is called unknown on the strength of a check that did not happen)."""
    return any(check.search(pattern, name) is not False for pattern in patterns)


def has_keyword(schema: Any, keyword: str) -> bool:
    """Whether ``keyword`` is a key anywhere in ``schema`` (a schema too large to walk counts as yes)."""
    pending, walked = [schema], 0
    while pending:
        node = pending.pop()
        walked += 1
        if walked > MAX_SCHEMA_NODES_WALKED:
            return True
        if isinstance(node, Mapping):
            if keyword in node:
                return True
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return False


_Keyword = Callable[[Any, Any, Any, Any], Iterable[SchemaViolation] | None]


def _pattern(validator: Any, pattern: Any, instance: Any, schema: Any) -> Iterator[SchemaViolation]:
    if validator.is_type(instance, "string") and _active().search(pattern, instance) is False:
        yield SchemaViolation(f"{_shown(instance)} does not match {_shown(pattern)}")


def _pattern_properties(
    validator: Any, patterns: Any, instance: Any, schema: Any
) -> Iterator[SchemaViolation]:
    if not validator.is_type(instance, "object"):
        return
    check = _active()
    for pattern, subschema in patterns.items():
        for name, value in instance.items():
            if check.search(pattern, name):
                yield from validator.descend(value, subschema, path=name, schema_path=pattern)


def _additional_properties(
    validator: Any, additional: Any, instance: Any, schema: Any
) -> Iterator[SchemaViolation]:
    if not validator.is_type(instance, "object"):
        return
    declared = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    check = _active()
    extras = [name for name in instance if name not in declared and not may_match_any(check, patterns, name)]
    if validator.is_type(additional, "object"):
        for name in extras:
            yield from validator.descend(instance[name], additional, path=name)
    elif not additional and extras:
        names = ", ".join(_shown(name) for name in sorted(extras, key=str))
        yield SchemaViolation(f"additional properties are not allowed ({names})")


def _guard_reference(keyword: _Keyword) -> _Keyword:
    """``keyword`` (``$ref`` and kin) with a reference that cannot be followed skipped, with a warning."""

    def guarded(validator: Any, ref: Any, instance: Any, schema: Any) -> Iterator[SchemaViolation]:
        try:
            errors = list(keyword(validator, ref, instance, schema) or ())
        except Unresolvable as exc:
            _active().warn(reference_warning(ref, exc))
            return
        yield from errors

    return guarded


def _guard_unevaluated(keyword: _Keyword, name: str, *, matches_patterns: bool) -> _Keyword:
    """``keyword`` (``unevaluated*``) skipped where jsonschema would run the schema's patterns with ``re``, and
    with a reference that cannot be followed skipped; a warning either way."""

    def guarded(validator: Any, value: Any, instance: Any, schema: Any) -> Iterator[SchemaViolation]:
        check = _active()
        if matches_patterns and check.has_pattern_properties and validator.is_type(instance, "object"):
            check.warn(f"{name} is not checked in a schema with patternProperties")
            return
        try:
            errors = list(keyword(validator, value, instance, schema) or ())
        except Unresolvable as exc:
            check.warn(reference_warning(getattr(exc, "ref", ""), exc))
            return
        yield from errors

    return guarded


@functools.cache
def bounded(base: type[Validator]) -> type[Validator]:
    """``base`` with every keyword that runs a regular expression or follows a reference made safe.

    jsonschema picks a new validator class whenever a subschema names its own ``$schema``; the bounded class
    maps that choice to the bounded version of the named dialect, so no subschema escapes the limits.
    """
    original = base.VALIDATORS
    replaced: dict[str, _Keyword] = {}
    for name, keyword in (
        ("pattern", _pattern),
        ("patternProperties", _pattern_properties),
        ("additionalProperties", _additional_properties),
    ):
        if name in original:
            replaced[name] = keyword
    for name in ("$ref", "$dynamicRef", "$recursiveRef"):
        if name in original:
            replaced[name] = _guard_reference(original[name])
    for name in ("unevaluatedProperties", "unevaluatedItems"):
        if name in original:
            replaced[name] = _guard_unevaluated(
                original[name], name, matches_patterns=name == "unevaluatedProperties"
            )
    extend: Callable[..., type[Validator]] = validators.extend  # untyped in the stubs
    bounded_class = extend(base, replaced)
    setattr(bounded_class, "evolve", _evolve_bounded)  # noqa: B010 (mypy refuses to assign a method)
    return bounded_class


def _evolve_bounded(self: Validator, **changes: Any) -> Validator:
    """``Validator.evolve`` that stays bounded: the dialect a subschema names, in its bounded version."""
    schema = changes.setdefault("schema", self.schema)
    current = type(self)
    try:
        dialect = validators.validator_for(schema, default=current)
    except Exception:  # a "$schema" that is not a string: keep the current dialect
        dialect = current
    target = current if dialect is current else bounded(dialect)
    for attribute in attrs.fields(cast(Any, current)):  # validator classes are attrs classes
        if attribute.init and attribute.alias not in changes:
            changes[attribute.alias] = getattr(self, attribute.name)
    return target(**changes)


def _shown(value: Any) -> str:
    """A value as JSON, control characters removed and the length bounded."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return strip_controls(text, max_len=SHOWN_VALUE_CHARS)
