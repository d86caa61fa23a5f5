"""``status``, ``cancel`` and ``result`` (and their ``requests get|cancel|result`` aliases): one request by id."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from runcomfy.cli.context import app_context
from runcomfy.cli.run import require_client
from runcomfy.cli.signals import interrupts_raise
from runcomfy.errors import Interrupted, JournalError

REQUEST_ID = click.argument("request_id")


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
    status = require_client(app).status(request_id)
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
    outcome = require_client(app).cancel(request_id)
    out = app.output
    record = {"request_id": outcome.request_id, "status": outcome.status, "outcome": outcome.outcome}
    cancelled = outcome.outcome == "cancelled" or (
        outcome.outcome is None and outcome.status in ("cancelled", "canceled")
    )
    if cancelled:
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
    type=click.Path(file_okay=False),
    help="Where to save files (default: the directory recorded when the request was run, else '.').",
)
@click.option("--no-download", is_flag=True, help="Print the record without downloading files.")
def result_command(request_id: str, output_dir: str | None, no_download: bool) -> None:
    """Fetch a request's result record and download its files (resume a run that was interrupted).

    \b
    Examples:
      runcomfy result 3f1c...-9a2e
      runcomfy result 3f1c...-9a2e --output-dir out/ --no-download
    """
    from runcomfy.cli.finish import finish

    app = app_context()
    client = require_client(app)
    directory = Path(output_dir) if output_dir else _recorded_dir(request_id)
    with interrupts_raise():
        try:
            result = client.result(request_id)
            finish(app, result, model_id=None, output_dir=directory, download=not no_download, emit="record")
        except KeyboardInterrupt:
            raise Interrupted("interrupted; no partial files were left", request_id=request_id) from None


def _recorded_dir(request_id: str) -> Path:
    app = app_context()
    try:
        entry = app.journal().get(request_id)
    except JournalError as exc:  # a broken journal must not stand between the user and a paid result
        app.output.warning(f"could not read the journal ({exc}); saving files to the current directory")
        return Path(".")
    return Path(entry.output_dir) if entry and entry.output_dir else Path(".")


@click.group("requests")
def requests_group() -> None:
    """Aliases: requests get|cancel|result ID."""


requests_group.add_command(status_command, "get")
requests_group.add_command(cancel_command, "cancel")
requests_group.add_command(result_command, "result")
