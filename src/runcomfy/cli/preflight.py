"""Before anything is sent: shorthand ``key=value`` arguments and the check against the model's schema.

The model's record comes from the schema cache when fresh, else from the catalog, within a time budget that
covers the whole fetch (each call's timeout and every retry): :data:`PREFLIGHT_RETRY_WINDOW_S`, or the user's
``RUNCOMFY_RETRY_WINDOW`` when that is shorter. A problem in the input ends the command with exit 65 listing
every problem, and nothing is submitted (nothing is billed). If the catalog cannot be reached in time, the run
goes ahead with a warning: the pre-flight check is a help, never a new way to fail. What the check had to skip
(a ``$ref`` outside the schema, a pattern that took too long) is a warning too. ``--no-validate`` skips the
check (shorthand values are still converted by the schema when it is at hand).

A model id the catalog does not know gets "did you mean" with the closest catalog ids, from a local index of
ids (see :mod:`runcomfy.model_index`) that ``models list`` also feeds.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from runcomfy.errors import (
    APIConnectionError,
    APIResponseError,
    InputProblems,
    InvalidInput,
    NotFoundError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
)
from runcomfy.safe_text import strip_controls

if TYPE_CHECKING:
    from runcomfy.batch import BatchInput
    from runcomfy.cli.context import AppContext
    from runcomfy.client import Client
    from runcomfy.model_index import ModelIndex
    from runcomfy.validation import InputChecker, PatternBudget

PREFLIGHT_RETRY_WINDOW_S = (
    10.0  # a catalog outage delays a run by seconds at most, then it goes ahead unchecked
)
# A user's retry window shorter than this still leaves one call a fair chance (0 means "do not ride out
# outages", not "do not look at the schema").
MIN_PREFLIGHT_BUDGET_S = 1.0
MAX_WARNINGS_SHOWN = 5
MAX_BAD_LINES_SHOWN = 5
_UNREACHABLE = (APIConnectionError, APIResponseError, ServerError, RateLimitError, RequestTimeoutError)


def model_schema(app: AppContext, client: Client, model: str) -> dict[str, Any] | None:
    """The model's input JSON Schema, or None (with a warning) when the catalog cannot be reached in time."""
    try:
        record = client.get_model(
            model,
            cache=app.schema_cache(),
            cache_namespace=app.cache_namespace(),
            retry_window_s=preflight_budget_s(client),
        )
    except NotFoundError:
        suggestion = did_you_mean_model(app, client, model)
        raise InvalidInput(
            f"model `{model}` is not in the catalog; find model ids with `runcomfy models list`{suggestion}"
        ) from None
    except _UNREACHABLE as exc:
        app.output.warning(
            f"could not fetch the schema of {model} ({exc}); submitting without a pre-flight check"
        )
        return None
    schema = record.get("input_schema")
    return schema if isinstance(schema, dict) else None


def preflight_budget_s(client: Client) -> float:
    """Seconds the schema fetch may take in all: :data:`PREFLIGHT_RETRY_WINDOW_S`, or the client's retry window
    (``RUNCOMFY_RETRY_WINDOW``) when shorter, but never under :data:`MIN_PREFLIGHT_BUDGET_S`."""
    window = client.retry_policy.outage_window_s
    return max(MIN_PREFLIGHT_BUDGET_S, min(PREFLIGHT_RETRY_WINDOW_S, window))


def did_you_mean_model(app: AppContext, client: Client, model: str) -> str:
    """``; did you mean "a/b/c"?`` naming the catalog ids closest to ``model``, or ``""``.

    For any message that says a model id is unknown. It takes two seconds at most (the index on disk answers
    at once when fresh) and never raises: a failed lookup only means no suggestion.
    """
    from runcomfy.model_index import suggest_model_ids

    try:
        ids = suggest_model_ids(client, model_index(app), app.cache_namespace(), model)
    except Exception:  # the namespace needs the client, which may fail to build; still no new error
        return ""
    if not ids:
        return ""
    quoted = [f'"{strip_controls(model_id, max_len=120)}"' for model_id in ids]
    listed = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
    return f"; did you mean {listed}?"


def remember_models_page(app: AppContext, page: dict[str, Any], *, whole_catalog: bool) -> None:
    """Keep the ids of a ``models list`` page for later suggestions; ``whole_catalog`` when the page is the
    entire unfiltered catalog, so it can stand for it. Never raises: this is bookkeeping on the side."""
    from runcomfy.model_index import ids_of_page

    try:
        index, namespace, ids = model_index(app), app.cache_namespace(), ids_of_page(page)
        if whole_catalog:
            index.put(namespace, ids, complete=True)
        else:
            index.add(namespace, ids)
    except Exception:
        return


def model_index(app: AppContext) -> ModelIndex:
    """The index of catalog model ids, in the schema cache's directory (clearing the cache clears it too)."""
    from runcomfy.model_index import ModelIndex

    return ModelIndex(app.schema_cache().directory)


def prepare_input(
    app: AppContext,
    client: Client,
    model: str,
    body: dict[str, Any],
    assignments: Sequence[str],
    *,
    validate: bool,
) -> dict[str, Any]:
    """The request body: ``body`` with the shorthand assignments over it, checked unless ``validate`` is off."""
    from runcomfy.shorthand import merge_input, parse_assignments

    if not assignments and not validate:
        return body
    schema = model_schema(app, client, model)
    if assignments:
        body = merge_input(body, parse_assignments(assignments, schema, stdin=sys.stdin.buffer))
    if validate and schema is not None:
        warnings: list[str] = []
        problems = _problems(schema, body, warnings)
        _show_warnings(app, warnings)
        if problems:
            raise InputProblems(
                f"the input does not match the schema of {model}; nothing was submitted",
                problems,
                hint=f"see its inputs with `runcomfy models get {model}`; --no-validate skips this check",
            )
    return body


def prepare_batch(
    app: AppContext,
    client: Client,
    model: str,
    inputs: list[BatchInput],
    assignments: Sequence[str],
    *,
    validate: bool,
) -> list[BatchInput]:
    """Every line with the shorthand defaults under it (the line wins), all checked before anything is sent."""
    from runcomfy.batch import BatchInput
    from runcomfy.shorthand import merge_input, parse_assignments

    if not assignments and not validate:
        return inputs
    schema = model_schema(app, client, model)
    defaults = parse_assignments(assignments, schema, stdin=sys.stdin.buffer) if assignments else {}
    merged = [BatchInput(item.line, merge_input(defaults, item.input)) for item in inputs]
    if validate and schema is not None:
        from runcomfy.validation import InputChecker, PatternBudget

        budget = PatternBudget()  # one for the whole batch: its patterns together stay within it
        checker = InputChecker(schema)  # the schema itself is checked once, not once per line
        warnings: list[str] = []
        found = {item.line: _problems(checker, item.input, warnings, budget) for item in merged}
        _show_warnings(app, warnings)
        bad_lines = [line for line, problems in found.items() if problems]
        if bad_lines:
            shown = bad_lines[:MAX_BAD_LINES_SHOWN]
            problems = [{"line": line, **problem} for line in shown for problem in found[line]]
            more = len(bad_lines) - len(shown)
            if more:
                problems.append(
                    {"field": "", "message": f"... and {plural(more, 'more line')}", "kind": "more"}
                )
            raise InputProblems(
                f"{plural(len(bad_lines), 'line')} of the batch do not match the schema of {model}; "
                "nothing was submitted",
                problems,
                hint=f"see its inputs with `runcomfy models get {model}`; --no-validate skips this check",
            )
    return merged


def plural(count: int, noun: str) -> str:
    """``1 line``, ``2 lines``, ``1 more line``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _problems(
    schema: dict[str, Any] | InputChecker,
    body: dict[str, Any],
    warnings: list[str],
    budget: PatternBudget | None = None,
) -> list[dict[str, Any]]:
    """The problems of ``body`` as JSON-ready dicts; what the check had to skip is added to ``warnings``.
    ``schema`` may be an :class:`~runcomfy.validation.InputChecker` already made for it (many inputs)."""
    from runcomfy.validation import InputChecker

    checker = schema if isinstance(schema, InputChecker) else InputChecker(schema)
    report = checker.report(body, budget=budget)
    warnings.extend(report.warnings)
    return [{"field": p.field, "message": p.message, "kind": p.kind} for p in report.problems]


def _show_warnings(app: AppContext, warnings: list[str]) -> None:
    """Each distinct warning once (a batch repeats them line after line), at most :data:`MAX_WARNINGS_SHOWN`."""
    distinct = list(dict.fromkeys(warnings))
    for warning in distinct[:MAX_WARNINGS_SHOWN]:
        app.output.warning(f"pre-flight check: {warning}; the server still validates")
    if len(distinct) > MAX_WARNINGS_SHOWN:
        app.output.warning(f"pre-flight check: {plural(len(distinct) - MAX_WARNINGS_SHOWN, 'more warning')}")
