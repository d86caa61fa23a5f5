"""Before anything is sent: shorthand ``key=value`` arguments and the check against the model's schema.

The model's record comes from the schema cache when fresh, else from the catalog. A problem in the input ends
the command with exit 65 listing every problem, and nothing is submitted (nothing is billed). If the catalog
cannot be reached, the run goes ahead with a warning: the pre-flight check is a help, never a new way to fail.
``--no-validate`` skips the check (shorthand values are still converted by the schema when it is at hand).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from runcomfy.errors import (
    APIConnectionError,
    APIResponseError,
    InvalidInput,
    NotFoundError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
)

if TYPE_CHECKING:
    from runcomfy.batch import BatchInput
    from runcomfy.cli.context import AppContext
    from runcomfy.client import Client

PREFLIGHT_RETRY_WINDOW_S = (
    10.0  # a catalog outage delays a run by seconds at most, then it goes ahead unchecked
)
_UNREACHABLE = (APIConnectionError, APIResponseError, ServerError, RateLimitError, RequestTimeoutError)


def model_schema(app: AppContext, client: Client, model: str) -> dict[str, Any] | None:
    """The model's input JSON Schema, or None (with a warning) when the catalog cannot be reached."""
    try:
        record = client.get_model(
            model,
            cache=app.schema_cache(),
            cache_namespace=app.cache_namespace(),
            retry_window_s=PREFLIGHT_RETRY_WINDOW_S,
        )
    except NotFoundError:
        raise InvalidInput(
            f"model `{model}` is not in the catalog; find model ids with `runcomfy models list`"
        ) from None
    except _UNREACHABLE as exc:
        app.output.warning(
            f"could not fetch the schema of {model} ({exc}); submitting without a pre-flight check"
        )
        return None
    schema = record.get("input_schema")
    return schema if isinstance(schema, dict) else None


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
        problems = _problems(schema, body)
        if problems:
            raise InvalidInput(
                f"the input does not match the schema of {model}; nothing was submitted: {problems}"
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
        found = [(item.line, _problems(schema, item.input)) for item in merged]
        bad = [f"line {line}: {problems}" for line, problems in found if problems]
        if bad:
            shown = "; ".join(bad[:5]) + (f" (and {len(bad) - 5} more lines)" if len(bad) > 5 else "")
            raise InvalidInput(
                f"{len(bad)} line(s) do not match the schema of {model}; nothing was submitted: {shown}"
            )
    return merged


def _problems(schema: dict[str, Any], body: dict[str, Any]) -> str:
    from runcomfy.validation import check_input

    return " | ".join(f"{p.field or 'input'}: {p.message}" for p in check_input(schema, body))
