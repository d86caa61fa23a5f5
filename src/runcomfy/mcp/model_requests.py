"""Submitting and running a Model API request from a tool: the CLI's ``run`` steps, in the same order.

Check the model id, check the input against the model's schema (the CLI's pre-flight, so the same problems are
reported the same way and nothing is billed for a bad input), make sure the files can be saved, submit, record
the request in the journal before waiting, wait (progress, cancellation: :mod:`runcomfy.mcp.waiting`), then
present the result (:mod:`runcomfy.mcp.outcomes`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio.to_thread

from runcomfy.errors import (
    BadRequestError,
    InputProblems,
    NotFoundError,
    UnprocessableEntityError,
    WaitTimeout,
)
from runcomfy.mcp.outcomes import finished_reply
from runcomfy.mcp.waiting import wait_for_result
from runcomfy.mcp.workspace import Workspace

if TYPE_CHECKING:
    from mcp.server.mcpserver import Context
    from mcp_types import CallToolResult

    from runcomfy.lifecycle.handle import RequestHandle

__all__ = ["run_model_request", "submit_and_follow", "submit_model_request", "wait_and_finish"]


def submit_model_request(
    ws: Workspace, model_id: str, body: Mapping[str, Any], validate: bool, folder: Path | None = None
) -> RequestHandle:
    """Check and submit; the request is in the journal when this returns. ``folder``: where its files will go
    (checked to be writable first, so nothing is paid for that could not be saved)."""
    from runcomfy.cli.follow import record_submitted
    from runcomfy.cli.inputs import check_model_id
    from runcomfy.cli.preflight import prepare_input
    from runcomfy.cli.run import _explain_rejection

    model = check_model_id(model_id)
    app = ws.app
    client = ws.client()
    try:
        checked = prepare_input(app, client, model, dict(body), (), validate=validate)
    except InputProblems as exc:
        exc.hint = f"see its inputs with get_model {model}; validate: false skips this check"
        raise
    if folder is not None:
        from runcomfy.downloads import check_output_directory

        check_output_directory(folder)
    try:
        handle = client.submit(model, checked)
    except (BadRequestError, NotFoundError, UnprocessableEntityError) as exc:
        raise _explain_rejection(app, client, model, exc) from None
    record_submitted(app, handle, model, checked, folder or ws.output_dir)
    return handle


async def run_model_request(
    ws: Workspace,
    ctx: Context,
    model_id: str,
    body: Mapping[str, Any],
    *,
    timeout_s: float | None,
    subfolder: str | None,
    download: bool,
    validate: bool,
) -> CallToolResult:
    """``run_model``: submit, wait with progress, download, answer."""
    folder = ws.folder(subfolder)
    return await submit_and_follow(
        ws,
        ctx,
        lambda: submit_model_request(ws, model_id, body, validate, folder if download else None),
        folder=folder,
        download=download,
        timeout_s=timeout_s,
        result_tool="request_result",
    )


async def submit_and_follow(
    ws: Workspace,
    ctx: Context,
    submit: Callable[[], RequestHandle],
    *,
    folder: Path,
    download: bool,
    timeout_s: float | None,
    result_tool: str,
) -> CallToolResult:
    """Submit (in a worker thread), then wait and answer.

    The submit is shielded from cancellation: a cancel that arrives while it is on the wire must not lose the
    request it creates. The wait that follows sees the pending cancellation at once and cancels the request.
    """
    with anyio.CancelScope(shield=True):
        handle = await anyio.to_thread.run_sync(submit)
        with contextlib.suppress(Exception):  # the client may have gone; the wait below finds out
            await ctx.report_progress(0, None, f"submitted request {handle.request_id}")
    return await wait_and_finish(
        ws,
        ctx,
        handle,
        model_id=handle.model_id,
        folder=folder,
        download=download,
        timeout_s=timeout_s,
        again=f"call {result_tool} with request_id {handle.request_id}",
    )


async def wait_and_finish(
    ws: Workspace,
    ctx: Context,
    handle: RequestHandle,
    *,
    model_id: str | None,
    folder: Path,
    download: bool,
    timeout_s: float | None,
    again: str,
) -> CallToolResult:
    """Wait for a submitted request (its journal row is updated however the wait ends) and answer."""
    rid = handle.request_id
    try:
        result = await wait_for_result(
            handle,
            progress=ctx.report_progress,
            poll_interval_s=ws.poll_interval_s,
            timeout_s=timeout_s or ws.wait_timeout_s,
            on_cancelled=lambda status: ws.journal_update(rid, status=status),
        )
    except WaitTimeout as exc:
        ws.journal_update(rid, status="timed_out")
        exc.request_id = rid
        exc.hint = f"the request was cancelled; {again} to see how it ended"
        raise
    return await anyio.to_thread.run_sync(
        lambda: finished_reply(ws, result, model_id=model_id, folder=folder, download=download, again=again)
    )
