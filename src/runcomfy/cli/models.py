"""``runcomfy models list|categories|get``: the Model API catalog.

``models get`` shows a model's inputs as a table (name, type, required, default, allowed values, description) in
pretty mode and the raw record with ``--output json``; ``--output json`` and ``models list --include-schema``
print what the service sent, every key kept. Records fetched here also fill the schema cache that ``run`` uses
for its pre-flight check, and the model ids listed fill the index behind "did you mean" for a mistyped id.
"""

from __future__ import annotations

from typing import Any

import click

from runcomfy.cli.context import app_context
from runcomfy.cli.preflight import did_you_mean_model, remember_models_page
from runcomfy.errors import NotFoundError


@click.group("models")
def models_group() -> None:
    """Browse the model catalog: list, categories, get."""


@models_group.command("list")
@click.option("--search", metavar="TEXT", help="Only models whose id, name or description contains TEXT.")
@click.option("--category", metavar="C", help="Only models of this category (see `models categories`).")
@click.option("--kind", type=click.Choice(["model", "workflow", "inference"]), help="Only this kind.")
@click.option(
    "--include-schema",
    is_flag=True,
    help="Print the raw page as JSON, each model with its input_schema, instead of the table.",
)
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 500), help="Page size.")
@click.option("--offset", default=0, show_default=True, type=click.IntRange(min=0), help="Skip this many.")
def list_models_command(
    search: str | None,
    category: str | None,
    kind: str | None,
    include_schema: bool,
    limit: int,
    offset: int,
) -> None:
    """List models of the catalog.

    \b
    Examples:
      runcomfy models list --search flux
      runcomfy models list --category text-to-image --limit 20
      runcomfy models list --include-schema --search kontext
      runcomfy --output json models list | jq -r '.models[].model_id'
    """
    app = app_context()
    page = app.require_client().list_models(
        search=search, category=category, kind=kind, limit=limit, offset=offset, include_schema=include_schema
    )
    models = [m for m in page.get("models") or [] if isinstance(m, dict)]
    total = page.get("total")
    total = total if isinstance(total, int) and not isinstance(total, bool) else None
    unfiltered = not (search or category or kind)
    whole_catalog = unfiltered and offset == 0 and total is not None and len(models) >= total
    remember_models_page(app, page, whole_catalog=whole_catalog)
    out = app.output
    if include_schema or out.json_mode:
        out.document(page)
        return
    if not models:
        out.progress("info", _empty_page_text(offset, total))
        return
    from runcomfy.catalog import price_label  # here: the catalog module (tempfile, decimal) is not for --help

    rows = [(m.get("model_id"), m.get("display_name"), _categories(m), price_label(m)) for m in models]
    out.table(["MODEL_ID", "NAME", "CATEGORY", "PRICE"], rows)
    out.detail(f"Showing {offset + 1}-{offset + len(models)} of {total if total is not None else '?'}")


def _empty_page_text(offset: int, total: int | None) -> str:
    """Why a page is empty: nothing matches, or the offset skipped every match (then say how many there are)."""
    if offset == 0 or total == 0:
        return "No models matched."
    if total is None:
        return f"Offset {offset} is past the end."
    matches = "1 model matches" if total == 1 else f"{total} models match"
    return f"Offset {offset} is past the end: {matches}."


@models_group.command("categories")
def categories_command() -> None:
    """List the catalog's categories, one per line.

    \b
    Examples:
      runcomfy models categories
    """
    app = app_context()
    client = app.require_client()
    if app.output.json_mode:
        app.output.data(client.catalog_categories())  # as the service sent it, every key kept
        return
    for category in client.model_categories():
        app.output.data(category)


@models_group.command("get")
@click.argument("model_id")
def get_model_command(model_id: str) -> None:
    """Show a model: its price, categories and a table of its inputs.

    \b
    Examples:
      runcomfy models get blackforestlabs/flux-1-kontext/pro/edit
      runcomfy --output json models get openai/gpt-image-2/text-to-image | jq .input_schema
    """
    app = app_context()
    client = app.require_client()
    try:
        record = client.get_model(model_id, cache=app.schema_cache(), cache_namespace=app.cache_namespace())
    except NotFoundError as exc:
        suggestion = did_you_mean_model(app, client, model_id)
        if suggestion:  # the same error (its status, code and exit code), only with the suggestion added
            exc.message = f"{exc.message}{suggestion}"
            exc.args = (exc.message,)
        raise
    out = app.output
    if out.json_mode:
        out.data(record)
        return
    from runcomfy.catalog import input_rows, price_label

    name = record.get("display_name") or record.get("model_id") or model_id
    out.data(f"{record.get('model_id', model_id)} — {name} [{_categories(record)}] {price_label(record)}")
    if isinstance(record.get("description"), str):
        out.data(record["description"])
    out.data("")
    schema = record.get("input_schema")
    if not isinstance(schema, dict):
        out.data("This model publishes no input schema; the service checks the input when you run it.")
        return
    rows = [
        (
            row.name,
            row.type,
            "yes" if row.required else "",
            _default(row.default),
            row.allowed,
            row.description,
        )
        for row in input_rows(record)
    ]
    if not rows:
        out.data(
            "This model has no inputs."
            if schema.get("additionalProperties") is False
            else "This model declares no inputs; it accepts any JSON object."
        )
        return
    out.table(["INPUT", "TYPE", "REQUIRED", "DEFAULT", "ALLOWED", "DESCRIPTION"], rows)


def _categories(record: dict[str, Any]) -> str:
    categories = record.get("categories")
    return ", ".join(str(c) for c in categories) if isinstance(categories, list) else ""


def _default(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
