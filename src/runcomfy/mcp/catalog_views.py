"""One model as an agent sees it: record, inputs table, input schema and a filled example input.

Shared by the ``get_model`` tool and the ``runcomfy://models/{id}`` resource. The record comes through the
CLI's schema cache (fresh records are not fetched again), and an unknown id gets the CLI's "did you mean".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runcomfy.errors import NotFoundError
from runcomfy.mcp.workspace import Workspace

__all__ = ["ModelView", "model_view"]


@dataclass(frozen=True)
class ModelView:
    text: str
    data: dict[str, Any]


def model_view(ws: Workspace, model_id: str) -> ModelView:
    """Fetch (or reuse) the model's record and describe it."""
    from runcomfy.catalog import input_rows
    from runcomfy.cli.inputs import check_model_id
    from runcomfy.cli.preflight import did_you_mean_model
    from runcomfy.input_examples import example_input

    model = check_model_id(model_id)
    app, client = ws.app, ws.client()
    try:
        record = client.get_model(model, cache=app.schema_cache(), cache_namespace=app.cache_namespace())
    except NotFoundError as exc:
        suggestion = did_you_mean_model(app, client, model)
        exc.message = f"{exc.message}{suggestion}"
        exc.args = (exc.message,)
        exc.hint = "find model ids with search_models"
        raise
    schema = record.get("input_schema")
    rows = [
        {
            "name": row.name,
            "type": row.type,
            "required": row.required,
            "default": row.default,
            "allowed": row.allowed,
            "description": row.description,
        }
        for row in input_rows(record)
    ]
    example = example_input(schema if isinstance(schema, dict) else None)
    data = {
        "model_id": record.get("model_id", model),
        "name": record.get("display_name"),
        "description": record.get("description"),
        "categories": record.get("categories"),
        "price": record.get("price"),
        "inputs": rows,
        "input_schema": schema,
        "example_input": example,
    }
    lines = [f"{data['model_id']} — {data['name'] or ''}".rstrip(" —")]
    if isinstance(data["description"], str):
        lines.append(data["description"])
    if rows:
        lines.append("Inputs:")
        for row in rows:
            required = " (required)" if row["required"] else ""
            allowed = f" one of {row['allowed']}" if row["allowed"] else ""
            lines.append(
                f"  {row['name']}: {row['type']}{required}{allowed} — {row['description'] or ''}".rstrip(" —")
            )
    else:
        lines.append("No declared inputs.")
    import json

    lines.append(f"Example input: {json.dumps(example, ensure_ascii=False)}")
    return ModelView("\n".join(lines), data)
