"""Once a request has a result: print it, download its files, record it in the journal, decide the outcome.

Shared by ``run`` and ``result`` so both present a finished request the same way. What is printed on stdout is
always exactly one JSON document (a bare-string output is printed as a JSON string, so ``| jq -r .`` works):

- ``output`` (``run``'s default): the result's ``output`` value, printed before downloading, as the official CLI;
- ``server`` (``result``'s default): the service's whole result record, every key kept, before downloading;
- ``record`` (``--emit record``): the server's record plus what happened here (``model_id``, ``files`` saved
  with their sha256, ``skipped_urls``), printed after the downloads so it can list them.

Failed downloads and untrusted URLs are reported (unlike the official CLI, a trusted file that cannot be
saved makes the command exit 74). A result that is not finished yet is printed and ends with exit 75.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from runcomfy.cli.context import AppContext
from runcomfy.downloads import (
    DownloadFailed,
    DownloadReport,
    Planned,
    Saved,
    Skipped,
    download_outputs,
    saved_earlier,
)
from runcomfy.errors import DownloadError, JournalError, WaitTimeout
from runcomfy.records import RequestRecord
from runcomfy.results import Result, raise_for_outcome


def result_record(result: Result, model_id: str | None, report: DownloadReport | None) -> dict[str, Any]:
    """The whole record of a request as one JSON document: every key the service sent, plus ours."""
    record = RequestRecord.from_result(result, model_id=model_id)
    if report is not None:
        record.add_downloads(report)
    return record.to_dict()


def download_files(
    app: AppContext, result: Result, output_dir: Path, known_files: Sequence[Mapping[str, Any]] = ()
) -> DownloadReport:
    """Download the result's trusted files, telling the user what happens.

    ``known_files`` are files recorded earlier for this request: one still on disk with the recorded sha256 is
    not fetched again (``runcomfy result`` run twice downloads nothing the second time).
    """
    out = app.output
    skipped: list[Skipped] = []
    already_saved = saved_earlier(known_files)

    def on_event(event: object) -> None:
        if isinstance(event, Planned):
            out.progress("download", f"Downloading {len(event.urls)} file(s) to {output_dir}")
        elif isinstance(event, Saved):
            out.detail(str(event.file.path))
        elif isinstance(event, DownloadFailed):
            out.detail(f"failed: {event.url}: {event.error}")
        elif isinstance(event, Skipped):
            skipped.append(event)

    try:
        report = download_outputs(
            result.output,
            output_dir,
            trusted_origins=app.trusted_origins(),
            on_event=on_event,
            already_saved=already_saved,
            hidden=app.output.secrets,
        )
    except DownloadError as exc:  # e.g. the output directory cannot be created: say how to fetch it again
        if exc.request_id is None:
            exc.request_id = result.request_id
        raise
    for file in report.reused:
        out.detail(f"{file.path} (already saved, sha256 matches)")
    if skipped:
        out.progress("skip", f"Skipped {len(skipped)} URL(s) outside trusted hosts (not downloaded)")
        for item in skipped:
            out.detail(f"(not downloaded) {item.url}: {item.reason}")
    return report


def finish(
    app: AppContext,
    result: Result,
    *,
    model_id: str | None,
    output_dir: Path,
    download: bool,
    emit: str,
    known_files: Sequence[Mapping[str, Any]] = (),
    resume_command: str | None = None,
) -> None:
    """Present a result; raise for a failed, cancelled or unfinished request or for files that could not be saved.

    ``emit`` is ``output`` (the output value, as the official ``run``), ``server`` (the service's whole record,
    as the official ``result``) or ``record`` (the server's record with the saved files). ``resume_command``
    fetches the request later (default ``runcomfy result ID``).
    """
    out = app.output
    status = result.status
    if emit == "server":
        out.document(dict(result.raw))
    if not status.is_terminal:
        if emit == "record":
            out.document(result_record(result, model_id, None))
        _journal_update(app, result.request_id, status=status.name)
        raise WaitTimeout(
            f"request {result.request_id} is not finished yet (status: {status.describe()})",
            request_id=result.request_id,
            hint=f"fetch it again later with `{resume_command or f'runcomfy result {result.request_id}'}`",
        )
    if not status.is_success:
        _journal_update(app, result.request_id, status=status.name, error=result.error)
        if emit == "record":
            out.document(result_record(result, model_id, None))
        raise_for_outcome(result)
    out.progress("ok", status.name)
    if emit == "output":
        out.document(result.output if result.output is not None else {})
    report = download_files(app, result, output_dir, known_files) if download else None
    _journal_update(
        app,
        result.request_id,
        status=status.name,
        output=result.output,
        files=_journal_files(report),
        output_dir=output_dir if download else None,
    )
    if emit == "record":
        out.document(result_record(result, model_id, report))
    if report is not None and report.failed:
        url, error = report.failed[0]
        raise DownloadError(
            f"{len(report.failed)} file(s) could not be saved; first: {url}: {error}",
            url=url,
            request_id=result.request_id,
            hint=error.hint,
        )
    if report is not None and not report.complete:
        raise DownloadError(
            "the output is too large or too deeply nested to look through completely; files in the part "
            "not looked at were neither downloaded nor listed",
            request_id=result.request_id,
        )


def _journal_update(app: AppContext, request_id: str, **fields: Any) -> None:
    """Record what is now known, secrets masked; a journal that cannot be written is a warning, never the
    command's outcome (the result is on screen and on disk already, as when ``run`` records the submit)."""
    for key in ("output", "error"):
        if key in fields:
            fields[key] = app.output.scrub(fields[key])
    if fields.get("files"):  # a path names a real file and is kept as it is (names never hold the token)
        fields["files"] = [{**f, "url": app.output.scrub(f.get("url"))} for f in fields["files"]]
    try:
        app.journal().update(request_id, **fields)
    except (OSError, JournalError) as exc:
        app.output.warning(f"could not update request {request_id} in the journal: {exc}")


def _journal_files(report: DownloadReport | None) -> list[dict[str, Any]] | None:
    if report is None:
        return None
    return [saved.to_dict() for saved in (*report.reused, *report.saved)]
