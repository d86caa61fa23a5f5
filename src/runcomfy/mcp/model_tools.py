"""The Model API's tools: the catalog, run/submit/status/result/cancel, the local history, the balance.

Each tool is a thin async wrapper over the library and the CLI's own steps (pre-flight check, journal record,
downloads), run in a worker thread so the server keeps answering other calls. Argument schemas come from the
type hints (``Annotated`` descriptions are what the model reads). No ``from __future__ import annotations``
here: the SDK reads the hints at registration.
"""

from collections.abc import Callable
from typing import Annotated, Any

import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import Field

from runcomfy.mcp.outcomes import status_reply
from runcomfy.mcp.replies import reply, tool_call
from runcomfy.mcp.workspace import Workspace

READ_ONLY = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True
)
RUNS_A_JOB = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
)
FETCHES = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=True
)
DESTRUCTIVE = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=True
)
LOCAL_READ = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)

ModelId = Annotated[
    str,
    Field(
        description="A model id from search_models, slash-separated, e.g. 'openai/gpt-image-2/text-to-image'."
    ),
]
RequestId = Annotated[str, Field(description="The request_id returned by run_model or submit_request.")]
ModelInput = Annotated[
    dict[str, Any],
    Field(description="The model's input as a JSON object; get_model shows its schema and a filled example."),
]
TimeoutS = Annotated[
    float | None,
    Field(
        default=None,
        gt=0,
        description="Give up waiting (and cancel the request) after this many seconds; default: the server's.",
    ),
]
Subfolder = Annotated[
    str | None,
    Field(
        default=None, description="A folder inside the server's output directory for the files (relative)."
    ),
]
Download = Annotated[bool, Field(default=True, description="Download the result's files (default true).")]
Confirm = Annotated[
    bool, Field(default=False, description="Must be true: this action cannot be undone. Ask the user first.")
]


def register(server: MCPServer, ws: Workspace) -> None:
    """Add the Model API tools to ``server``."""
    guard = tool_call(ws.scrub)

    @guard
    async def search_models(
        text: Annotated[
            str | None,
            Field(default=None, description="Words to look for in model ids, names and descriptions."),
        ] = None,
        category: Annotated[
            str | None, Field(default=None, description="Only this category, e.g. 'text-to-image'.")
        ] = None,
        limit: Annotated[int, Field(default=20, ge=1, le=100, description="How many models to return.")] = 20,
        offset: Annotated[int, Field(default=0, ge=0, description="How many matches to skip (paging).")] = 0,
    ) -> CallToolResult:
        def work() -> dict[str, Any]:
            return ws.client().list_models(search=text, category=category, limit=limit, offset=offset)

        page = await anyio.to_thread.run_sync(work)
        models = [
            {
                "model_id": m.get("model_id"),
                "name": m.get("display_name"),
                "categories": m.get("categories"),
                "price": m.get("price"),
                "description": m.get("description"),
            }
            for m in page.get("models") or []
            if isinstance(m, dict)
        ]
        total = page.get("total")
        lines = [f"{len(models)} model(s) (of {total if isinstance(total, int) else '?'} matching):"]
        lines.extend(f"  {m['model_id']} — {m['name']}" for m in models)
        if not models:
            lines = ["No models matched; try fewer words, or list_model_categories for the categories."]
        return reply("\n".join(lines), {"models": models, "total": total, "offset": offset}, scrub=ws.scrub)

    @guard
    async def list_model_categories() -> CallToolResult:
        categories = await anyio.to_thread.run_sync(lambda: ws.client().model_categories())
        return reply(", ".join(categories) or "No categories.", {"categories": categories}, scrub=ws.scrub)

    @guard
    async def get_model(model_id: ModelId) -> CallToolResult:
        from runcomfy.mcp.catalog_views import model_view

        view = await anyio.to_thread.run_sync(lambda: model_view(ws, model_id))
        return reply(view.text, view.data, scrub=ws.scrub)

    @guard
    async def run_model(
        ctx: Context,
        model_id: ModelId,
        input: ModelInput,
        timeout_s: TimeoutS = None,
        subfolder: Subfolder = None,
        download: Download = True,
        validate: Annotated[
            bool, Field(default=True, description="Check the input against the model's schema first.")
        ] = True,
    ) -> CallToolResult:
        from runcomfy.mcp.model_requests import run_model_request

        return await run_model_request(
            ws,
            ctx,
            model_id,
            input,
            timeout_s=timeout_s,
            subfolder=subfolder,
            download=download,
            validate=validate,
        )

    @guard
    async def submit_request(
        model_id: ModelId,
        input: ModelInput,
        validate: Annotated[
            bool, Field(default=True, description="Check the input against the model's schema first.")
        ] = True,
    ) -> CallToolResult:
        from runcomfy.mcp.model_requests import submit_model_request

        handle = await anyio.to_thread.run_sync(lambda: submit_model_request(ws, model_id, input, validate))
        data = {"request_id": handle.request_id, "model_id": handle.model_id, "status": "submitted"}
        text = (
            f"Submitted request {handle.request_id} to {handle.model_id}. "
            "Check it with request_status; fetch it with request_result."
        )
        return reply(text, data, scrub=ws.scrub)

    @guard
    async def request_status(request_id: RequestId) -> CallToolResult:
        status = await anyio.to_thread.run_sync(lambda: ws.client().status(request_id))
        return status_reply(ws, request_id, status)

    @guard
    async def request_result(
        request_id: RequestId, subfolder: Subfolder = None, download: Download = True
    ) -> CallToolResult:
        from runcomfy.mcp.outcomes import finished_reply

        folder = ws.folder(subfolder)

        def work() -> CallToolResult:
            client = ws.client()
            result = client.result(request_id)
            entry = _journal_entry(ws, request_id)
            return finished_reply(
                ws,
                result,
                model_id=entry.model_id if entry else None,
                folder=folder,
                download=download,
                again="call request_result again",
            )

        return await anyio.to_thread.run_sync(work)

    @guard
    async def cancel_request(request_id: RequestId, confirm: Confirm = False) -> CallToolResult:
        require_confirmation(confirm, f"cancel request {request_id}")
        outcome = await anyio.to_thread.run_sync(lambda: ws.client().cancel(request_id))
        if outcome.status:
            ws.journal_update(
                request_id, status=outcome.status if not outcome.requested else "cancel_requested"
            )
        data = {"request_id": request_id, "outcome": outcome.outcome, "status": outcome.status}
        return reply(f"Request {request_id}: {outcome.describe()}.", data, scrub=ws.scrub)

    @guard
    async def list_requests(
        limit: Annotated[int, Field(default=20, ge=1, le=200, description="How many, newest first.")] = 20,
        status: Annotated[
            str | None,
            Field(default=None, description="Only this status: succeeded, failed, cancelled, running, ..."),
        ] = None,
        model_id: Annotated[
            str | None, Field(default=None, description="Only requests of this model.")
        ] = None,
    ) -> CallToolResult:
        def work() -> list[dict[str, Any]]:
            app = ws.app
            entries = app.journal().list(limit, status=status, model=model_id, scope=app.journal_scope())
            return [entry.to_dict() for entry in entries]

        rows = await anyio.to_thread.run_sync(work)
        lines = [f"{len(rows)} recorded request(s), newest first (statuses as last seen here):"]
        lines.extend(f"  {r['request_id']}  {r['status']}  {r['model_id']}  {r['created_at']}" for r in rows)
        return reply("\n".join(lines), {"requests": rows}, scrub=ws.scrub)

    @guard
    async def balance() -> CallToolResult:
        answer = await anyio.to_thread.run_sync(lambda: ws.client().balance())
        amount, currency = answer.get("balance_usd"), answer.get("currency") or "USD"
        return reply(f"Balance: {amount} {currency}", answer, scrub=ws.scrub)

    tools: list[tuple[Callable[..., Any], ToolAnnotations, str]] = [
        (
            search_models,
            READ_ONLY,
            "Search the RunComfy model catalog by words and/or category; returns model ids.",
        ),
        (list_model_categories, READ_ONLY, "List the catalog's model categories (for search_models)."),
        (
            get_model,
            READ_ONLY,
            "Get one model: its description, price, input JSON Schema, a table of its inputs and a filled "
            "example input you can adapt and pass to run_model.",
        ),
        (
            run_model,
            RUNS_A_JOB,
            "Run a model end to end: check the input against the model's schema, submit it (this costs money), "
            "wait with progress notifications, download the result's files into the server's output directory, "
            "and return the output with each file's path, size and sha256 (images also as thumbnails). "
            "Cancelling the tool call cancels the request.",
        ),
        (
            submit_request,
            RUNS_A_JOB,
            "Submit a model request without waiting (costs money); returns its request_id for request_status, "
            "request_result and cancel_request. Use for long jobs.",
        ),
        (
            request_status,
            READ_ONLY,
            "One status check of a Model API request (queued, in_progress, completed...).",
        ),
        (
            request_result,
            FETCHES,
            "Fetch a request's result and download its files into the output directory (files already saved "
            "are not fetched again); says so when it is not finished yet.",
        ),
        (
            cancel_request,
            DESTRUCTIVE,
            "Cancel a queued or running Model API request. Requires confirm: true.",
        ),
        (
            list_requests,
            LOCAL_READ,
            "List the requests recorded on this machine (by the CLI and this server), newest first.",
        ),
        (balance, READ_ONLY, "Show the account's balance (it pays for models, deployments and training)."),
    ]
    for fn, annotations, description in tools:
        server.add_tool(fn, description=description, annotations=annotations, structured_output=False)


def require_confirmation(confirm: bool, action: str) -> None:
    """Refuse a destructive action unless the call says ``confirm: true``."""
    if confirm is not True:
        from runcomfy.cli.exit_codes import ConfirmationRequired

        raise ConfirmationRequired(
            f"refusing to {action} without confirm: true",
            hint="ask the user, then call the tool again with confirm set to true",
        )


def _journal_entry(ws: Workspace, request_id: str) -> Any:
    import contextlib

    from runcomfy.errors import JournalError

    with contextlib.suppress(OSError, JournalError):
        return ws.app.journal().get(request_id)
    return None


__all__ = ["register", "require_confirmation"]
