"""``runcomfy models list|categories|get``: the Model API catalog.

``models get`` shows a model's inputs as a table (name, type, required, default, allowed values, description) in
pretty mode and the raw record with ``--output json``. Records fetched here also fill the schema cache that
``run`` uses for its pre-flight check.
"""

from __future__ import annotations

from typing import Any

import click

from runcomfy.cli.context import app_context
from runcomfy.cli.run import require_client


@click.group("models")
def models_group() -> None:
    """Browse the model catalog: list, categories, get."""


@models_group.command("list")
@click.option("--search", metavar="TEXT", help="Only models whose id, name or description contains TEXT.")
@click.option("--category", metavar="C", help="Only models of this category (see `models categories`).")
@click.option("--kind", type=click.Choice(["model", "workflow", "inference"]), help="Only this kind.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 500), help="Page size.")
@click.option("--offset", default=0, show_default=True, type=click.IntRange(min=0), help="Skip this many.")
def list_models_command(
    search: str | None, category: str | None, kind: str | None, limit: int, offset: int
) -> None:
    """List models of the catalog.

    \b
    Examples:
      runcomfy models list --search flux
      runcomfy models list --category text-to-image --limit 20
      runcomfy --output json models list | jq -r '.models[].model_id'
    """
    app = app_context()
    page = require_client(app).list_models(
        search=search, category=category, kind=kind, limit=limit, offset=offset
    )
    models = [m for m in page.get("models") or [] if isinstance(m, dict)]
    if app.output.json_mode:
        app.output.data(page)
        return
    if not models:
        app.output.progress("info", "No models matched.")
        return
    rows = [(m.get("model_id"), m.get("display_name"), _categories(m), _price(m)) for m in models]
    app.output.table(["MODEL_ID", "NAME", "CATEGORY", "PRICE"], rows)
    total = page.get("total")
    app.output.detail(
        f"Showing {offset + 1}-{offset + len(models)} of {total if isinstance(total, int) else '?'}"
    )


@models_group.command("categories")
def categories_command() -> None:
    """List the catalog's categories, one per line.

    \b
    Examples:
      runcomfy models categories
    """
    app = app_context()
    categories = require_client(app).model_categories()
    if app.output.json_mode:
        app.output.data({"categories": categories})
        return
    for category in categories:
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
    from runcomfy.catalog import input_rows

    app = app_context()
    record = require_client(app).get_model(
        model_id, cache=app.schema_cache(), cache_namespace=app.cache_namespace()
    )
    out = app.output
    if out.json_mode:
        out.data(record)
        return
    name = record.get("display_name") or record.get("model_id") or model_id
    out.data(f"{record.get('model_id', model_id)} — {name} [{_categories(record)}] {_price(record)}")
    if isinstance(record.get("description"), str):
        out.data(record["description"])
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
    out.data("")
    out.table(["INPUT", "TYPE", "REQUIRED", "DEFAULT", "ALLOWED", "DESCRIPTION"], rows)


def _categories(record: dict[str, Any]) -> str:
    categories = record.get("categories")
    return ", ".join(str(c) for c in categories) if isinstance(categories, list) else ""


def _price(record: dict[str, Any]) -> str:
    price, unit = record.get("base_price_usd"), record.get("price_unit")
    if not isinstance(price, int | float):
        return ""
    return f"${price}/{unit}" if unit else f"${price}"


def _default(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
