"""``runcomfy datasets``: training datasets on RunComfy's Trainer API (create, list, status, delete, upload), as
the official CLI has them, plus our hardening.

The library (:mod:`runcomfy.datasets`) does the calls and the upload; this module owns what the user sees:
the official tables and key/value lines, the upload's progress (a rich bar with bytes on a terminal, one
``[upload] name (N bytes)`` line per file otherwise, ``[skip] name (already uploaded)`` for files the dataset
already holds), the ``--wait`` lines ``<status> (<n> file(s) visible)``, and the journal rows that keep every
dataset created or uploaded to (``dataset/<name>``, its id as the request id), so a lost terminal never loses a
dataset id.

Decisions: ``--wait`` prints a status line when the status or the file count changes, not at every poll;
Ctrl-C while waiting only stops watching (the dataset keeps processing; exit 130 with the command that checks
on it), and Ctrl-C while uploading says the same command resumes (files already there are skipped). A
``FAILED`` dataset exits 1 with its error, after the json record. ``delete`` asks as ``deployments delete``
does. The library is imported only inside the commands, so ``runcomfy --help`` does not load httpx.
"""

from __future__ import annotations

import contextlib
from types import TracebackType
from typing import TYPE_CHECKING, Any

import click

from runcomfy.cli.confirm import confirm
from runcomfy.cli.context import app_context
from runcomfy.cli.deployments import cell

if TYPE_CHECKING:
    from runcomfy.cli.context import AppContext
    from runcomfy.cli.output import Output
    from runcomfy.datasets import UploadEvent

LIST_HEADERS = ("ID", "NAME", "STATUS", "UPDATED")
FILE_HEADERS = ("FILENAME", "SIZE_BYTES")
STATUS_FIELDS = ("id", "name", "status", "created_at", "updated_at", "error")
DEFAULT_POLL_SECS = 5

DATASET_ID = click.argument("dataset_id")


def _not_blank(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise click.BadParameter("must not be empty")
    return value


# --- the journal ---------------------------------------------------------------------------------------------


def record_dataset(app: AppContext, dataset: dict[str, Any]) -> None:
    """Keep the dataset in the journal (``dataset/<name>``, its id as the request id), or bring its status up
    to date; a journal that cannot be written is a warning: the upload matters more than the record."""
    from runcomfy.datasets import DATASET_PREFIX, dataset_status
    from runcomfy.errors import RunComfyError

    dataset_id = dataset.get("id")
    if not isinstance(dataset_id, str) or not dataset_id:
        return
    status = dataset_status(dataset) or "UNKNOWN"
    try:
        journal = app.journal()
        if journal.get(dataset_id) is not None:
            journal.update(dataset_id, status=status)
            return
        name = dataset.get("name")
        label = name if isinstance(name, str) and name.strip() else dataset_id
        scope = app.journal_scope()
        journal.record(
            dataset_id,
            DATASET_PREFIX + label,
            {"dataset_id": dataset_id},
            model_api_base=scope.model_api_base,
            status=status,
            identity=scope.identity,
        )
    except (OSError, RunComfyError) as exc:
        app.output.warning(f"could not record dataset {dataset_id} in the journal: {exc}")


def _journal_status(app: AppContext, dataset_id: str, status: str) -> None:
    """Update a dataset's recorded status if the journal has it (quietly: a by-product of the command)."""
    from runcomfy.errors import RunComfyError

    with contextlib.suppress(OSError, RunComfyError):
        app.journal().update(dataset_id, status=status)


# --- the commands --------------------------------------------------------------------------------------------


@click.group("datasets")
def datasets_group() -> None:
    """Training datasets (Trainer API): images or videos with same-stem .txt captions.

    \b
    Examples:
      runcomfy datasets create --name my-dataset
      runcomfy datasets upload 3f2a...-9c1d ./my-dataset --wait
      runcomfy datasets status 3f2a...-9c1d
    """


@datasets_group.command("create")
@click.option("--name", callback=_not_blank, help="The dataset's name (a training config refers to it).")
def create_command(name: str | None) -> None:
    """Create an empty dataset and print it, with the next step.

    \b
    Examples:
      runcomfy datasets create --name my-dataset
      runcomfy --output json datasets create --name my-dataset | jq -r .id
    """
    app = app_context()
    client = app.require_client()
    out = app.output
    out.progress("create", f"Creating dataset `{name}`" if name else "Creating dataset")
    dataset = client.datasets.create(name)
    record_dataset(app, dataset)
    dataset_id = dataset.get("id")
    if isinstance(dataset_id, str) and dataset_id:
        out.progress("ok", f"Created dataset {dataset_id}")
    out.record(dataset, [(key, cell(dataset.get(key))) for key in STATUS_FIELDS if key in dataset])
    shown = dataset_id if isinstance(dataset_id, str) and dataset_id else "<id>"
    out.progress("info", f"Next: runcomfy datasets upload {shown} <files...> --wait")


@datasets_group.command("list")
def list_command() -> None:
    """List the account's datasets.

    \b
    Examples:
      runcomfy datasets list
      runcomfy --output json datasets list | jq -r '.[] | select(.status == "READY") | .id'
    """
    app = app_context()
    items = app.require_client().datasets.list()
    out = app.output
    if out.json_mode:
        out.document(items)
        return
    if not items:
        out.progress("info", "No datasets found.")
        return
    rows = [
        (cell(item.get("id")), cell(item.get("name")), cell(item.get("status")), cell(item.get("updated_at")))
        for item in items
    ]
    out.table(LIST_HEADERS, rows)


@datasets_group.command("status")
@DATASET_ID
def status_command(dataset_id: str) -> None:
    """Show a dataset: its status, its error, and the files it holds.

    \b
    Examples:
      runcomfy datasets status 3f2a...-9c1d
      runcomfy --output json datasets status 3f2a...-9c1d | jq '.files | length'
    """
    from runcomfy.datasets import dataset_status

    app = app_context()
    dataset = app.require_client().datasets.status(dataset_id)
    if dataset_status(dataset):
        _journal_status(app, dataset_id, dataset_status(dataset))
    show_status(app.output, dataset)


def show_status(out: Output, dataset: dict[str, Any]) -> None:
    """Json: the service's object. Pretty: key/value lines, then the files (or ``(no files uploaded yet)``)."""
    if out.json_mode:
        out.document(dataset)
        return
    out.kv([(key, cell(dataset.get(key))) for key in STATUS_FIELDS])
    files = dataset.get("files")
    rows = [
        (cell(item.get("filename")), cell(item.get("size_bytes")))
        for item in (files if isinstance(files, list) else [])
        if isinstance(item, dict)
    ]
    if rows:
        out.data("")
        out.table(FILE_HEADERS, rows)
    else:
        out.data("(no files uploaded yet)")


@datasets_group.command("delete")
@DATASET_ID
@click.option("-y", "--yes", is_flag=True, help="Delete without asking (needed when not on a terminal).")
def delete_command(dataset_id: str, yes: bool) -> None:
    """Delete a dataset for good (asks first on a terminal).

    \b
    Examples:
      runcomfy datasets delete 3f2a...-9c1d
      runcomfy --output json datasets delete 3f2a...-9c1d -y | jq .deleted
    """
    app = app_context()
    confirm(
        app.output,
        f"permanently delete dataset {dataset_id}?",
        yes=yes,
        refused=f"refusing to delete dataset {dataset_id} without confirmation: no terminal to ask on",
        declined=f"dataset {dataset_id} was not deleted",
    )
    response = app.require_client().datasets.delete(dataset_id)
    _journal_status(app, dataset_id, "DELETED")
    app.output.progress("ok", f"Deleted dataset {dataset_id}")
    app.output.record({"deleted": True, "dataset_id": dataset_id, "response": response})


@datasets_group.command("upload")
@DATASET_ID
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option("--from-url", metavar="URL", help="Also upload the file at this http(s) URL (at most 150 MB).")
@click.option("--filename", metavar="NAME", callback=_not_blank, help="The name of the --from-url file.")
@click.option(
    "--allow-any-host",
    is_flag=True,
    help="Fetch --from-url from any host (default: RunComfy's hosts and the configured API origins only).",
)
@click.option("--wait", is_flag=True, help="Wait until the dataset is READY or FAILED.")
@click.option(
    "--poll-secs",
    type=click.IntRange(min=1),
    default=DEFAULT_POLL_SECS,
    show_default=True,
    help="Seconds between status checks with --wait.",
)
def upload_command(
    dataset_id: str,
    paths: tuple[str, ...],
    from_url: str | None,
    filename: str | None,
    allow_any_host: bool,
    wait: bool,
    poll_secs: int,
) -> None:
    """Upload files and directories (their top-level files) to a dataset.

    Every image (.png .jpg .jpeg .webp) and video (.mp4 .mov .webm) needs a caption with the same stem and
    .txt; the files are checked first and nothing is uploaded while one is missing. Files the dataset already
    holds with the same name and size are skipped, so an interrupted upload is resumed by running it again.
    Files over 150,000,000 bytes go through a signed upload URL.

    \b
    Examples:
      runcomfy datasets upload 3f2a...-9c1d ./my-dataset --wait
      runcomfy datasets upload 3f2a...-9c1d a.png a.txt b.png b.txt
      runcomfy datasets upload 3f2a...-9c1d --from-url https://cdn.runcomfy.net/x/c.png --filename c.png
      runcomfy --output json datasets upload 3f2a...-9c1d ./my-dataset --wait | jq .status
    """
    from runcomfy.datasets import dataset_status
    from runcomfy.errors import Interrupted, RequestFailed

    if filename is not None and from_url is None:
        raise click.UsageError("--filename is only used with --from-url")
    if allow_any_host and from_url is None:
        raise click.UsageError("--allow-any-host is only used with --from-url")
    app = app_context()
    client = app.require_client()
    out = app.output
    app.announce_retries = True
    try:
        with UploadDisplay(out) as display:
            report = client.datasets.upload(
                dataset_id,
                paths,
                from_url=from_url,
                filename=filename,
                allow_any_host=allow_any_host,
                on_progress=display.event,
                on_status=lambda dataset: record_dataset(app, {"id": dataset_id, **dataset}),
            )
    except KeyboardInterrupt:
        raise Interrupted(
            f"upload to dataset {dataset_id} interrupted",
            hint="run the same command again: files already in the dataset are skipped",
        ) from None
    count = len(report.uploaded)
    skipped = f", {len(report.skipped)} already there" if report.skipped else ""
    out.progress("ok", f"Uploaded {count} file(s) to dataset {dataset_id}{skipped}")
    dataset = report.dataset
    if dataset_status(dataset):
        _journal_status(app, dataset_id, dataset_status(dataset))
    if wait:
        dataset = _wait(app, dataset_id, poll_secs)
        report.dataset = dataset
    document = report.to_dict()
    out.record(
        document,
        [
            ("dataset_id", dataset_id),
            ("uploaded", count),
            ("skipped", len(report.skipped)),
            ("status", report.status or "-"),
        ],
    )
    if wait and dataset_status(dataset) == "FAILED":
        error = dataset.get("error")
        reason = error if isinstance(error, str) and error else cell(error)
        raise RequestFailed(f"dataset {dataset_id} FAILED: {reason}", request_id=dataset_id, error=error)
    if not wait and dataset_status(dataset) != "READY":
        out.detail(f"check on it with `runcomfy datasets status {dataset_id}` (or upload with --wait)")


def _wait(app: AppContext, dataset_id: str, poll_secs: int) -> dict[str, Any]:
    """Poll until READY or FAILED, one line per change; Ctrl-C stops watching only."""
    from runcomfy.datasets import dataset_files, dataset_status
    from runcomfy.errors import Interrupted

    out = app.output
    seen: list[tuple[str, int]] = []

    def update(dataset: dict[str, Any]) -> None:
        now = (dataset_status(dataset) or "UNKNOWN", len(dataset_files(dataset)))
        if seen and seen[-1] == now:
            return
        seen.append(now)
        out.progress("wait", f"{now[0]} ({now[1]} file(s) visible)")
        _journal_status(app, dataset_id, now[0])

    try:
        return app.require_client().datasets.wait(dataset_id, poll_interval_s=poll_secs, on_update=update)
    except KeyboardInterrupt:
        raise Interrupted(
            f"stopped watching dataset {dataset_id}; it keeps processing on the service",
            hint=f"check on it with `runcomfy datasets status {dataset_id}`",
        ) from None


class UploadDisplay:
    """The upload's progress: a rich bar with bytes on a terminal (where progress lines carry emoji), else one
    line per file; nothing in json mode or with ``-q``."""

    def __init__(self, out: Output) -> None:
        self._out = out
        self._bar = out.use_emoji and out.chatty
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> UploadDisplay:
        if not self._bar:
            return self
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
            redirect_stdout=False,
            redirect_stderr=True,
        )
        self._progress.start()
        return self

    def event(self, event: UploadEvent) -> None:
        from runcomfy.cli.output import escape_control

        out = self._out
        if event.kind == "skip":
            out.progress("skip", f"{event.filename} (already uploaded)")
        elif event.kind == "fetch":
            out.progress("download", f"Fetching {event.filename} from --from-url")
        elif event.kind == "start":
            if self._progress is None:
                out.progress("upload", f"{event.filename} ({event.total} bytes)")
                return
            from rich.markup import escape

            description = escape(escape_control(event.filename))
            self._tasks[event.filename] = self._progress.add_task(description, total=event.total)
        elif event.kind in ("progress", "done") and self._progress is not None:
            task = self._tasks.get(event.filename)
            if task is not None:
                self._progress.update(task, completed=event.sent)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
