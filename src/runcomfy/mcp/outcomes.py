"""A request's result as a tool answer: shared by ``run_model``/``result`` and their deployment twins.

Mirrors what the CLI's ``run``/``result`` do with a finished request (record it in the journal, download its
trusted files, fail on a failed request or a file that could not be saved), but answers with the record an
agent needs: status, output, the files with their paths, sizes and sha256, and thumbnails of the images. A
request that is not finished yet is not an error here: the answer says so and how to look again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mcp_types import CallToolResult

from runcomfy.errors import AlreadyRunning, DownloadError, JournalError
from runcomfy.mcp.files import file_entries, save_result_files, thumbnails
from runcomfy.mcp.replies import as_json_text, reply
from runcomfy.mcp.workspace import Workspace
from runcomfy.results import Result, raise_for_outcome
from runcomfy.status import RequestStatus

__all__ = ["finished_reply", "known_files", "status_reply"]


def status_reply(ws: Workspace, request_id: str, status: RequestStatus, **ids: str) -> CallToolResult:
    """One status check as an answer (the journal row learns the status too); ``ids`` name where the request
    lives (``deployment_id``)."""
    ws.journal_update(request_id, status=status.name)
    data = {
        **ids,
        "request_id": request_id,
        "status": status.name,
        "finished": status.is_terminal,
        "succeeded": status.is_success,
        "reply": dict(status.payload),
    }
    return reply(f"Request {request_id}: {status.describe()}.", data, scrub=ws.scrub)


def known_files(ws: Workspace, request_id: str) -> list[Mapping[str, Any]]:
    """Files recorded earlier for this request (not fetched again while on disk with the same sha256)."""
    with contextlib.suppress(OSError, JournalError):
        entry = ws.app.journal().get(request_id)
        if entry is not None:
            return list(entry.files)
    return []


def finished_reply(
    ws: Workspace,
    result: Result,
    *,
    model_id: str | None,
    folder: Path,
    download: bool,
    again: str,
) -> CallToolResult:
    """The answer for ``result``; raises (for :func:`tool_call` to report) when it failed or files were lost.

    ``again`` names the tool call that looks at an unfinished request again.
    """
    status = result.status
    rid = result.request_id
    if not status.is_terminal:
        ws.journal_update(rid, status=status.name)
        pending = {"request_id": rid, "model_id": model_id, "status": status.name, "finished": False}
        return reply(
            f"Request {rid} is not finished yet ({status.describe()}); {again} later.",
            pending,
            scrub=ws.scrub,
        )
    if not status.is_success:
        ws.journal_update(rid, status=status.name, error=result.error)
        raise_for_outcome(result, secrets=ws.client().secrets)
    files: list[Any] = []
    skipped: list[str] = []
    reused_count = 0
    if download:
        report = _download(ws, result, folder)
        reused_count = len(report.reused)
        files = [*report.reused, *report.saved]
        skipped = [url for url, _reason in report.skipped]
        ws.journal_update(
            rid,
            status=status.name,
            output=result.output,
            files=[f.to_dict() for f in files],
            output_dir=folder,
        )
        if report.failed:
            url, error = report.failed[0]
            raise DownloadError(
                f"{len(report.failed)} file(s) could not be saved; first: {url}: {error}",
                url=url,
                request_id=rid,
                hint=error.hint,
            )
    else:
        ws.journal_update(rid, status=status.name, output=result.output)
    entries = file_entries(ws, files)
    for index, entry in enumerate(entries):
        entry["reused"] = index < reused_count
    data: dict[str, Any] = {
        "request_id": rid,
        "model_id": model_id,
        "status": status.name,
        "finished": True,
        "output": result.output,
        "files": entries,
        "skipped_urls": skipped,
        "output_dir": str(folder),
    }
    return reply(
        _summary(rid, status.name, entries, skipped, result.output, download),
        data,
        extra=thumbnails(files),
        scrub=ws.scrub,
    )


def _download(ws: Workspace, result: Result, folder: Path) -> Any:
    """Download under the request's lock, so a CLI ``result`` of the same id does not fetch the same files."""
    with contextlib.ExitStack() as held:
        with contextlib.suppress(OSError, JournalError, AlreadyRunning):
            held.enter_context(
                ws.app.journal().locks.hold(
                    f"request:{result.request_id}", what=f"request {result.request_id}"
                )
            )
        return save_result_files(ws, result, folder, known_files(ws, result.request_id))


def _summary(
    rid: str,
    status: str,
    entries: Sequence[Mapping[str, Any]],
    skipped: Sequence[str],
    output: Any,
    download: bool,
) -> str:
    lines = [f"Request {rid}: {status}."]
    if entries:
        lines.append(f"{len(entries)} file(s) saved:")
        lines.extend(
            f"  {e['relative_path']} ({e['bytes']} bytes, sha256 {e['sha256'][:12]}…)" for e in entries
        )
    elif download:
        lines.append("No files to download.")
    if skipped:
        lines.append(f"{len(skipped)} URL(s) outside trusted hosts were not downloaded.")
    lines.append(f"output: {as_json_text(output)}")
    return "\n".join(lines)
