"""The Trainer API's tools: datasets (list, status) and LoRA training jobs (status, result with artifacts).

Read and fetch only: creating datasets and submitting training (uploads of local files, an AI Toolkit config)
stay with the CLI (``runcomfy datasets``/``runcomfy train``), where a person sees what is sent and paid for.
No ``from __future__ import annotations`` here: the SDK reads the hints at registration.
"""

from collections.abc import Callable
from typing import Annotated, Any

import anyio.to_thread
from mcp.server.mcpserver import MCPServer
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import Field

from runcomfy.lifecycle.apis import TRAINING_API
from runcomfy.mcp.model_tools import FETCHES, READ_ONLY, Download, Subfolder
from runcomfy.mcp.replies import reply, tool_call
from runcomfy.mcp.workspace import Workspace

DatasetId = Annotated[str, Field(description="A dataset id from list_datasets.")]
JobId = Annotated[
    str, Field(description="A training job id (from `runcomfy train submit` or list_requests).")
]


def register(server: MCPServer, ws: Workspace) -> None:
    """Add the training tools to ``server``."""
    guard = tool_call(ws.scrub)

    @guard
    async def list_datasets() -> CallToolResult:
        items = await anyio.to_thread.run_sync(lambda: ws.client().datasets.list())
        rows = [{k: d.get(k) for k in ("id", "name", "status", "created_at")} for d in items]
        lines = [f"{len(rows)} dataset(s):"]
        lines.extend(f"  {r['id']}  {r['name']}  {r['status']}" for r in rows)
        return reply("\n".join(lines), {"datasets": rows}, scrub=ws.scrub)

    @guard
    async def dataset_status(dataset_id: DatasetId) -> CallToolResult:
        answer = await anyio.to_thread.run_sync(lambda: ws.client().datasets.status(dataset_id))
        files = answer.get("files")
        count = len(files) if isinstance(files, list) else 0
        text = f"Dataset {dataset_id}: {answer.get('status')} ({count} file(s))."
        return reply(text, answer, scrub=ws.scrub)

    @guard
    async def training_status(job_id: JobId) -> CallToolResult:
        answer = await anyio.to_thread.run_sync(lambda: ws.client().training.status(job_id))
        status = str(answer.get("status") or "").lower()
        ws.journal_update(job_id, status=status or None)
        progress = answer.get("progress")
        text = f"Training job {job_id}: {status or '(no status)'}" + (
            f", progress {progress}" if progress else ""
        )
        return reply(text + ".", answer, scrub=ws.scrub)

    @guard
    async def training_result(
        job_id: JobId, subfolder: Subfolder = None, download: Download = True
    ) -> CallToolResult:
        from runcomfy.mcp.files import file_entries

        folder = ws.folder(subfolder)

        def work() -> CallToolResult:
            training = ws.client().training
            record = training.result(job_id)
            parsed = TRAINING_API.parse_status(record)
            status = parsed.name
            data: dict[str, Any] = {"job_id": job_id, "status": status, "artifacts": record.get("artifacts")}
            if not parsed.is_success:
                data["finished"] = parsed.is_terminal
                return reply(
                    f"Training job {job_id} is {status or 'in an unknown state'}; no final artifacts to fetch "
                    "(training_status shows its progress).",
                    data,
                    scrub=ws.scrub,
                )
            data["finished"] = True
            files = training.download(record, folder) if download else []
            data["files"] = file_entries(ws, files)
            data["output_dir"] = str(folder)
            ws.journal_update(job_id, status=status, files=[f.to_dict() for f in files], output_dir=folder)
            lines = [f"Training job {job_id}: {status}; {len(files)} artifact file(s) saved:"]
            lines.extend(f"  {e['relative_path']} ({e['bytes']} bytes)" for e in data["files"])
            return reply("\n".join(lines), data, scrub=ws.scrub)

        return await anyio.to_thread.run_sync(work)

    tools: list[tuple[Callable[..., Any], ToolAnnotations, str]] = [
        (list_datasets, READ_ONLY, "List the account's training datasets (Trainer API) and their status."),
        (dataset_status, READ_ONLY, "One dataset's status and files (DRAFT, UPLOADING, READY, FAILED)."),
        (training_status, READ_ONLY, "One LoRA training job's status and progress."),
        (
            training_result,
            FETCHES,
            "A finished training job's result; downloads its artifacts (LoRA checkpoints, sample images) into "
            "the output directory with a manifest of sizes and sha256.",
        ),
    ]
    for fn, annotations, description in tools:
        server.add_tool(fn, description=description, annotations=annotations, structured_output=False)
