"""``status``, ``cancel`` and ``result`` (and their ``requests get|cancel|result`` aliases): one request by id."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

import click

from runcomfy.cli.context import app_context
from runcomfy.cli.signals import interrupts_raise
from runcomfy.errors import Interrupted, JournalError

if TYPE_CHECKING:
    from runcomfy.cli.context import AppContext
    from runcomfy.journal import Journal, JournalEntry, JournalScope
    from runcomfy.lifecycle.handle import RequestHandle

REQUEST_ID = click.argument("request_id")
# The groups of ``runcomfy.journal_statuses.STATUS_FILTERS``, named here so ``--help`` needs no other import.
STATUS_FILTER_NAMES = (
    "submitted",
    "in_queue",
    "in_progress",
    "completed",
    "failed",
    "cancelled",
    "timed_out",
    "interrupted",
    "download_failed",
)


@click.command("status")
@REQUEST_ID
def status_command(request_id: str) -> None:
    """Show a request's status (one call).

    \b
    Examples:
      runcomfy status 3f1c...-9a2e
      runcomfy --output json status 3f1c...-9a2e | jq -r .status
    """
    app = app_context()
    status = _handle(app, request_id).status()
    payload = status.payload
    record = {
        "request_id": payload.get("request_id", request_id),
        "status": payload.get("status"),
        "queue_position": payload.get("queue_position"),
        "status_url": payload.get("status_url"),
        "result_url": payload.get("result_url"),
    }
    position = record["queue_position"]
    app.output.record(
        record,
        [
            ("request_id", record["request_id"]),
            ("status", record["status"] or "(no status)"),
            ("queue", f"position {position}" if isinstance(position, int) else None),
            ("status_url", record["status_url"]),
            ("result_url", record["result_url"]),
        ],
    )


@click.command("cancel")
@REQUEST_ID
def cancel_command(request_id: str) -> None:
    """Cancel a request. Only queued requests can be cancelled; a running one answers not_cancellable.

    \b
    Examples:
      runcomfy cancel 3f1c...-9a2e
      runcomfy --output json cancel 3f1c...-9a2e
    """
    app = app_context()
    outcome = _handle(app, request_id).cancel()
    out = app.output
    record = {"request_id": outcome.request_id, "status": outcome.status, "outcome": outcome.outcome}
    if outcome.cancelled:
        out.progress("ok", f"Cancelled {outcome.request_id} (final status: {outcome.status or 'cancelled'})")
        out.record(record)
    elif outcome.outcome == "not_cancellable":
        out.progress(
            "info",
            f"{outcome.request_id} could not be cancelled (status: {outcome.status or 'unknown'}); "
            "only queued requests can be cancelled",
        )
        out.record(record)
    else:
        out.record(
            record,
            [
                ("request_id", outcome.request_id),
                ("outcome", outcome.outcome or "(no outcome)"),
                ("status", outcome.status or "(no status)"),
            ],
        )
    with contextlib.suppress(OSError):
        app.journal().update(request_id, status=outcome.status) if outcome.status else None


@click.command("result")
@REQUEST_ID
@click.option(
    "--output-dir",
    type=click.Path(),
    help="Where to save files (default: the directory recorded when the request was run, else '.').",
)
@click.option("--no-download", is_flag=True, help="Print the record without downloading files.")
@click.option(
    "--emit",
    type=click.Choice(["server", "record"]),
    default="server",
    show_default=True,
    help="Print the service's record (as the official CLI) or ours, with the saved files and their sha256.",
)
def result_command(request_id: str, output_dir: str | None, no_download: bool, emit: str) -> None:
    """Fetch a request's result record and download its files (resume a run that was interrupted).

    Prints the service's whole record first (every key it sent), then downloads the files of a finished
    request. A request that is not finished yet exits 75; a failed or cancelled one exits 1.

    \b
    Examples:
      runcomfy result 3f1c...-9a2e
      runcomfy result 3f1c...-9a2e --output-dir out/ --no-download
      runcomfy --output json result 3f1c...-9a2e --emit record | jq -r '.files[].path'
    """
    from runcomfy.cli.finish import finish
    from runcomfy.cli.refresh import handle_for

    app = app_context()
    client = app.require_client()
    entry = journal_entry(request_id)
    directory = (
        Path(output_dir) if output_dir else Path(entry.output_dir if entry and entry.output_dir else ".")
    )
    with interrupts_raise(), exclusive(app, request_id):
        try:
            result = handle_for(client, request_id, entry.model_id if entry else None).result()
            if not no_download and result.status.is_success:
                from runcomfy.downloads import check_output_directory

                check_output_directory(directory)
            finish(
                app,
                result,
                model_id=entry.model_id if entry else None,
                output_dir=directory,
                download=not no_download,
                emit=emit,
                known_files=entry.files if entry else (),
            )
        except KeyboardInterrupt:
            raise Interrupted("interrupted; no partial files were left", request_id=request_id) from None


def _handle(app: AppContext, request_id: str) -> RequestHandle:
    """A handle on the request: a deployment's when the journal recorded it as one, else a model's."""
    client = app.require_client()
    entry = journal_entry(request_id, quiet=True)
    from runcomfy.cli.refresh import handle_for  # the statuses' tables: not needed for --help

    return handle_for(client, request_id, entry.model_id if entry else None)


def exclusive(app: AppContext, request_id: str) -> contextlib.AbstractContextManager[None]:
    """Hold the request's lock while its files are fetched, so two processes never both download them."""
    try:
        return app.journal().locks.hold(f"request:{request_id}", what=f"request {request_id}")
    except JournalError:  # no journal, no lock: fetching the paid result matters more
        return contextlib.nullcontext()


def journal_entry(request_id: str, *, quiet: bool = False) -> JournalEntry | None:
    """What the journal knows of a request (its output directory, model and saved files), if this identity and
    API base recorded it: another token's record is never trusted."""
    app = app_context()
    try:
        return app.journal().get(request_id, scope=app.journal_scope())
    except JournalError as exc:  # a broken journal must not stand between the user and a paid result
        if quiet:
            return None
        app.output.warning(f"could not read the journal ({exc}); saving files to the current directory")
        return None


@click.command("list")
@click.option(
    "--limit", default=20, show_default=True, type=click.IntRange(1, 100_000), help="How many, newest first."
)
@click.option(
    "--status",
    "status_filter",
    type=click.Choice(list(STATUS_FILTER_NAMES), case_sensitive=False),
    help="Only this status.",
)
@click.option("--model", "model_filter", metavar="MODEL_ID", help="Only this model.")
@click.option(
    "--all", "all_identities", is_flag=True, help="Every identity and API base, not only the current."
)
@click.option(
    "--no-refresh", is_flag=True, help="Do not ask the service about requests that had not finished."
)
def list_command(
    limit: int, status_filter: str | None, model_filter: str | None, all_identities: bool, no_refresh: bool
) -> None:
    """List requests from the local journal (what this machine submitted), newest first.

    Only the requests of the current token and API base are shown (--all shows every one). Requests that had
    not finished when last seen (submitted with --no-wait, interrupted...) are refreshed with one status call
    each, a few at a time, and what is learnt is recorded (--no-refresh skips that).

    \b
    Examples:
      runcomfy requests list
      runcomfy requests list --status failed --limit 50
      runcomfy --output json requests list --model openai/gpt-image-2/text-to-image | jq -r '.[].request_id'
    """
    from runcomfy.cli.refresh import refresh_unfinished

    app = app_context()
    journal = app.journal()
    scope = None if all_identities else _current_scope(app)
    entries = journal.list(limit, status=status_filter, model=model_filter, scope=scope)
    if not no_refresh and entries:
        entries = refresh_unfinished(app, entries, scope)
        if status_filter is not None:  # a refreshed row may have left the status asked for
            from runcomfy.journal_statuses import STATUS_FILTERS

            wanted = {s.lower() for s in STATUS_FILTERS[status_filter.lower()]}
            entries = [e for e in entries if e.status.lower() in wanted]
    if app.output.json_mode:
        app.output.data([entry.to_dict() for entry in entries])
        return
    if not entries:
        app.output.progress("info", _nothing_listed(journal, scope, status_filter, model_filter))
        return
    rows = [
        (e.created_at[:19].replace("T", " "), e.request_id, e.model_id, e.status, len(e.files))
        for e in entries
    ]
    app.output.table(["TIME", "REQUEST_ID", "MODEL", "STATUS", "FILES"], rows)


def _current_scope(app: AppContext) -> JournalScope | None:
    """The current identity's scope; ``None`` (every row) when no token is set, saying so."""
    if not app.client().has_token:
        app.output.progress("info", "not signed in: showing the requests of every identity")
        return None
    return app.journal_scope()


def _nothing_listed(
    journal: Journal, scope: JournalScope | None, status: str | None, model: str | None
) -> str:
    """Why the list is empty: nothing recorded at all, nothing for this identity, or nothing matching."""
    if journal.count() == 0:
        return "No requests recorded yet."
    filters = [f"--{name} {value}" for name, value in (("status", status), ("model", model)) if value]
    if filters:
        return f"No requests match {' '.join(filters)}."
    return "No requests recorded for this token and API base (--all shows every identity)."


@click.group("requests")
def requests_group() -> None:
    """Requests by id (get, cancel, result: aliases) and the local history (list)."""


requests_group.add_command(status_command, "get")
requests_group.add_command(cancel_command, "cancel")
requests_group.add_command(result_command, "result")
requests_group.add_command(list_command, "list")
