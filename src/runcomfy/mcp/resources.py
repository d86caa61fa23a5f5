"""MCP resources: the model catalog and the recorded requests, readable by URI.

- ``runcomfy://models``: the catalog's first page (ids, names, categories);
- ``runcomfy://models/{id}``: one model (``id`` keeps its slashes) with its schema and a filled example input;
- ``runcomfy://requests``: the recorded requests, newest first, each with its own URI;
- ``runcomfy://requests/{id}``: one recorded request as the journal has it (status, output, saved files).

A resource that cannot be read raises, and the SDK answers with a protocol error; the token is masked in every
text returned. No ``from __future__ import annotations`` here: the SDK reads the hints at registration.
"""

import functools
import json
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec

import anyio.to_thread
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
from mcp.server.mcpserver.resources import ResourceSecurity

from runcomfy.mcp.workspace import Workspace

CATALOG_PAGE = 200
RECENT_REQUESTS = 100
P = ParamSpec("P")


def resource_errors(
    scrub: Callable[[Any], Any],
) -> Callable[[Callable[P, Awaitable[str]]], Callable[P, Awaitable[str]]]:
    """Turn a failed read into the SDK's ``ResourceError`` with the CLI's message and hint (token masked), so
    the client learns why; anything else would reach it as a bare "error reading" and be logged as a crash."""

    def decorate(fn: Callable[P, Awaitable[str]]) -> Callable[P, Awaitable[str]]:
        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> str:
            from runcomfy.cli.exit_codes import hint_for
            from runcomfy.errors import NotFoundError, RunComfyError

            try:
                return await fn(*args, **kwargs)
            except (RunComfyError, OSError, ValueError, _NotRecorded) as exc:
                hint = hint_for(exc)
                message = str(scrub(f"{exc}; {hint}" if hint else str(exc)))
                if isinstance(exc, NotFoundError | _NotRecorded):
                    raise ResourceNotFoundError(message) from None
                raise ResourceError(message) from None

        return wrapper

    return decorate


class _NotRecorded(LookupError):
    """A request id the journal does not hold."""


def register(server: MCPServer, ws: Workspace) -> None:
    """Add the resources to ``server``."""
    guard = resource_errors(ws.scrub)

    def as_json(value: Any) -> str:
        return json.dumps(ws.scrub(value), ensure_ascii=False, indent=1)

    @server.resource(
        "runcomfy://models",
        name="models",
        description="The RunComfy model catalog (first page): model ids, names, categories.",
        mime_type="application/json",
    )
    @guard
    async def catalog() -> str:
        page = await anyio.to_thread.run_sync(lambda: ws.client().list_models(limit=CATALOG_PAGE))
        models = [
            {
                "model_id": m.get("model_id"),
                "name": m.get("display_name"),
                "categories": m.get("categories"),
                "uri": f"runcomfy://models/{m.get('model_id')}",
            }
            for m in page.get("models") or []
            if isinstance(m, dict)
        ]
        return as_json({"models": models, "total": page.get("total")})

    @server.resource(
        "runcomfy://models/{+model_id}",
        name="model",
        description="One model of the catalog: description, price, input schema and a filled example input.",
        mime_type="application/json",
        security=ResourceSecurity(reject_path_traversal=True, reject_absolute_paths=False),
    )
    @guard
    async def model(model_id: str) -> str:
        from runcomfy.mcp.catalog_views import model_view

        view = await anyio.to_thread.run_sync(lambda: model_view(ws, model_id))
        return as_json(view.data)

    @server.resource(
        "runcomfy://requests",
        name="requests",
        description="The requests recorded on this machine (CLI and MCP), newest first, each with its URI.",
        mime_type="application/json",
    )
    @guard
    async def requests() -> str:
        def work() -> list[dict[str, Any]]:
            app = ws.app
            entries = app.journal().list(RECENT_REQUESTS, scope=app.journal_scope())
            return [
                {
                    "request_id": e.request_id,
                    "model_id": e.model_id,
                    "status": e.status,
                    "created_at": e.created_at,
                    "uri": f"runcomfy://requests/{e.request_id}",
                }
                for e in entries
            ]

        return as_json({"requests": await anyio.to_thread.run_sync(work)})

    @server.resource(
        "runcomfy://requests/{request_id}",
        name="request",
        description="One recorded request: model, status, output, saved files with sha256.",
        mime_type="application/json",
    )
    @guard
    async def request(request_id: str) -> str:
        def work() -> dict[str, Any]:
            app = ws.app
            entry = app.journal().get(request_id, scope=app.journal_scope())
            if entry is None:
                raise _NotRecorded(f"request {request_id} is not recorded here; list_requests shows what is")
            return {**entry.to_dict(), "output": entry.output}

        return as_json(await anyio.to_thread.run_sync(work))
