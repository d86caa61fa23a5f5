"""The Serverless API's tools: ComfyUI deployments (list, get with the workflow summarised, delete) and their
requests (run, status, result, cancel).

A run's ``overrides`` are checked against the deployment's workflow before anything is sent (the CLI's check:
an unknown node or input is a mistake the service would report late, after billing), then the request follows
the same path as a Model API run: journal row, wait with progress and cancellation, downloads, thumbnails.
No ``from __future__ import annotations`` here: the SDK reads the hints at registration.
"""

from collections.abc import Callable
from typing import Annotated, Any

import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import Field

from runcomfy.mcp.model_tools import (
    DESTRUCTIVE,
    FETCHES,
    READ_ONLY,
    RUNS_A_JOB,
    Confirm,
    Download,
    Subfolder,
    TimeoutS,
    require_confirmation,
)
from runcomfy.mcp.outcomes import status_reply
from runcomfy.mcp.replies import reply, tool_call
from runcomfy.mcp.workspace import Workspace

DeploymentId = Annotated[str, Field(description="A deployment id from list_deployments.")]
DeploymentRequestId = Annotated[str, Field(description="The request_id returned by run_deployment.")]
MAX_NODES_SHOWN = 60


def register(server: MCPServer, ws: Workspace) -> None:
    """Add the deployment tools to ``server``."""
    guard = tool_call(ws.scrub)

    @guard
    async def list_deployments() -> CallToolResult:
        items = await anyio.to_thread.run_sync(lambda: ws.client().deployments.list())
        rows = [_deployment_row(d) for d in items]
        lines = [f"{len(rows)} deployment(s):"]
        lines.extend(f"  {r['id']}  {r['name']}  {r['status']}  enabled={r['is_enabled']}" for r in rows)
        return reply("\n".join(lines), {"deployments": rows}, scrub=ws.scrub)

    @guard
    async def get_deployment(deployment_id: DeploymentId) -> CallToolResult:
        from runcomfy.workflow_overrides import workflow_of

        deployment = await anyio.to_thread.run_sync(
            lambda: ws.client().deployments.get(deployment_id, include_payload=True)
        )
        graph = workflow_of(deployment)
        nodes = summarise_workflow(graph) if graph else []
        data = {**_deployment_row(deployment), "nodes": nodes, "has_workflow": graph is not None}
        lines = [f"Deployment {data['id']} ({data['name']}): {data['status']}, enabled={data['is_enabled']}"]
        if nodes:
            lines.append("Workflow nodes (override inputs as {node_id: {inputs: {name: value}}}):")
            for node in nodes[:MAX_NODES_SHOWN]:
                inputs = ", ".join(f"{k}={v!r}" for k, v in node["inputs"].items())
                lines.append(f"  {node['id']} {node['class_type']} “{node['title']}”: {inputs}")
        else:
            lines.append("The service sent no workflow with this deployment.")
        return reply("\n".join(lines), data, scrub=ws.scrub)

    @guard
    async def delete_deployment(deployment_id: DeploymentId, confirm: Confirm = False) -> CallToolResult:
        require_confirmation(confirm, f"delete deployment {deployment_id}")
        answer = await anyio.to_thread.run_sync(lambda: ws.client().deployments.delete(deployment_id))
        return reply(
            f"Deployment {deployment_id} deleted.", {"deployment_id": deployment_id, "reply": answer}
        )

    @guard
    async def run_deployment(
        ctx: Context,
        deployment_id: DeploymentId,
        overrides: Annotated[
            dict[str, Any] | None,
            Field(
                default=None,
                description='Node inputs to change: {node_id: {"inputs": {input_name: value}}}; '
                "get_deployment lists the nodes and their inputs.",
            ),
        ] = None,
        timeout_s: TimeoutS = None,
        subfolder: Subfolder = None,
        download: Download = True,
        validate: Annotated[
            bool, Field(default=True, description="Check the overrides against the workflow first.")
        ] = True,
    ) -> CallToolResult:
        from runcomfy.mcp.model_requests import submit_and_follow

        folder = ws.folder(subfolder)
        return await submit_and_follow(
            ws,
            ctx,
            lambda: _submit(ws, deployment_id, overrides or {}, validate, folder if download else None),
            folder=folder,
            download=download,
            timeout_s=timeout_s,
            result_tool="deployment_result",
        )

    @guard
    async def deployment_status(
        deployment_id: DeploymentId, request_id: DeploymentRequestId
    ) -> CallToolResult:
        status = await anyio.to_thread.run_sync(
            lambda: ws.client().deployments.status(deployment_id, request_id)
        )
        return status_reply(ws, request_id, status, deployment_id=deployment_id)

    @guard
    async def deployment_result(
        deployment_id: DeploymentId,
        request_id: DeploymentRequestId,
        subfolder: Subfolder = None,
        download: Download = True,
    ) -> CallToolResult:
        from runcomfy.mcp.outcomes import finished_reply

        folder = ws.folder(subfolder)

        def work() -> CallToolResult:
            result = ws.client().deployments.result(deployment_id, request_id)
            return finished_reply(
                ws,
                result,
                model_id=f"deployment/{deployment_id}",
                folder=folder,
                download=download,
                again="call deployment_result again",
            )

        return await anyio.to_thread.run_sync(work)

    @guard
    async def cancel_deployment_request(
        deployment_id: DeploymentId, request_id: DeploymentRequestId, confirm: Confirm = False
    ) -> CallToolResult:
        require_confirmation(confirm, f"cancel request {request_id} of deployment {deployment_id}")
        outcome = await anyio.to_thread.run_sync(
            lambda: ws.client().deployments.cancel(deployment_id, request_id)
        )
        if outcome.status:
            ws.journal_update(
                request_id, status=outcome.status if not outcome.requested else "cancel_requested"
            )
        data = {"deployment_id": deployment_id, "request_id": request_id, "outcome": outcome.outcome}
        return reply(f"Request {request_id}: {outcome.describe()}.", data, scrub=ws.scrub)

    tools: list[tuple[Callable[..., Any], ToolAnnotations, str]] = [
        (list_deployments, READ_ONLY, "List the account's ComfyUI deployments (Serverless API)."),
        (
            get_deployment,
            READ_ONLY,
            "Get one deployment with its ComfyUI workflow summarised: each node's id, class, title and inputs "
            "(what run_deployment's overrides can change).",
        ),
        (
            run_deployment,
            RUNS_A_JOB,
            "Run a deployment's workflow once (costs money), with optional overrides checked against the "
            "workflow; waits with progress notifications, downloads the outputs into the output directory and "
            "returns paths, sizes and sha256 (images also as thumbnails). Cancelling the tool call cancels the "
            "request.",
        ),
        (deployment_status, READ_ONLY, "One status check of a deployment request."),
        (
            deployment_result,
            FETCHES,
            "Fetch a deployment request's result and download its files into the output directory.",
        ),
        (
            cancel_deployment_request,
            DESTRUCTIVE,
            "Cancel a queued or running deployment request. Requires confirm: true.",
        ),
        (
            delete_deployment,
            DESTRUCTIVE,
            "Delete a deployment for good. Requires confirm: true; ask the user first.",
        ),
    ]
    for fn, annotations, description in tools:
        server.add_tool(fn, description=description, annotations=annotations, structured_output=False)


def _submit(ws: Workspace, deployment_id: str, overrides: dict[str, Any], validate: bool, folder: Any) -> Any:
    """The CLI's ``deployments run`` steps up to the journal row (overrides checked, output folder writable)."""
    from pathlib import Path

    from runcomfy.cli.deployment_requests import _prepare
    from runcomfy.cli.deployments import serverless_hints
    from runcomfy.cli.follow import record_submitted
    from runcomfy.errors import InputProblems

    app, client = ws.app, ws.client()
    try:
        checked, _ = _prepare(app, client, deployment_id, overrides, None, (), validate)
    except InputProblems as exc:
        exc.hint = f"see its nodes with get_deployment {deployment_id}; validate: false skips this check"
        raise
    if folder is not None:
        from runcomfy.downloads import check_output_directory

        check_output_directory(folder)
    with serverless_hints(deployment_id):
        handle = client.deployments.submit(deployment_id, overrides=checked)
    record_submitted(
        app, handle, f"deployment/{deployment_id}", {"overrides": checked}, Path(folder or ws.output_dir)
    )
    return handle


def summarise_workflow(graph: dict[str, Any]) -> list[dict[str, Any]]:
    """Each node of a ComfyUI API-format graph: id, class type, title, and its literal inputs (links to other
    nodes, ``[node_id, slot]``, are left out: they are wiring, not values to override)."""
    nodes = []
    for node_id, node in graph.items():
        if not isinstance(node, dict):
            continue
        given_inputs, given_meta = node.get("inputs"), node.get("_meta")
        inputs: dict[str, Any] = given_inputs if isinstance(given_inputs, dict) else {}
        meta: dict[str, Any] = given_meta if isinstance(given_meta, dict) else {}
        literal = {
            name: value
            for name, value in inputs.items()
            if not (isinstance(value, list) and len(value) == 2 and isinstance(value[1], int))
        }
        nodes.append(
            {
                "id": str(node_id),
                "class_type": node.get("class_type"),
                "title": meta.get("title") or node.get("class_type"),
                "inputs": literal,
            }
        )
    return nodes


def _deployment_row(deployment: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "name", "status", "is_enabled", "min_instances", "max_instances", "hardware", "created_at")
    return {key: deployment.get(key) for key in keys}
