"""``runcomfy run MODEL_ID --batch FILE``: many inputs, concurrently, resumable.

Presentation only; the batch itself is :class:`runcomfy.batch.runner.BatchRun`. On a terminal a live progress
bar (rich, imported only then); otherwise one ``[batch]`` line per finished item; with ``--output json`` one
JSON record per line (JSONL) on stdout as items finish. A summary closes the run. Files of each item are saved
under ``--output-dir`` with the input's line number as a prefix (``007-image-0.png``), so items never collide.

Exit: 0 when every item succeeded; when all failures share one exit class (e.g. all 401: 77), that class;
otherwise 1, with a hint that names what helps: ``--retry-failed`` for lines that ended failed, cancelled or
timed out, the same command for unfinished ones, ``runcomfy login`` when the token was refused. Ctrl-C: the first
stops submitting and cancels what is in flight (saying so); a second exits at once; rerunning the same command
resumes without submitting a line twice (``--restart`` starts over).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from runcomfy.cli.context import AppContext
from runcomfy.cli.exit_codes import BatchFailed, classify, hint_for
from runcomfy.cli.preflight import plural, prepare_batch
from runcomfy.cli.signals import exit_on_second_interrupt, interrupts_raise
from runcomfy.errors import InvalidInput
from runcomfy.journal_statuses import CANCELLED

if TYPE_CHECKING:
    from runcomfy.batch import BatchEvent, BatchInput, BatchTarget
    from runcomfy.records import RequestRecord


MAX_BATCH_FILE_BYTES = 256 * 1024 * 1024  # far more than any batch needs; /dev/zero must not fill the memory


def read_batch_file(path: str) -> list[BatchInput]:
    """The inputs of ``--batch FILE`` (``-`` for stdin), every line checked before anything is sent."""
    from runcomfy.batch import parse_jsonl
    from runcomfy.cli.inputs import read_source

    data = read_source(path, "--batch", MAX_BATCH_FILE_BYTES)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"--batch: {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return parse_jsonl(text.splitlines(), source="--batch -" if path == "-" else f"--batch {path}")


class Tally:
    """Counts for the progress display and the summary (updated from worker threads).

    Every line ends in exactly one bucket, so an interrupted batch says how many lines succeeded, failed, were
    cancelled, were left running, or were never sent, instead of calling all of them "done".
    """

    def __init__(self, total: int) -> None:
        self.total = total
        self.ok, self.failed, self.cancelled, self.stopped, self.never_sent = 0, 0, 0, 0, 0
        self.in_flight, self.reused = 0, 0
        self.files, self.bytes = 0, 0
        self.started = time.monotonic()
        self.lock = threading.Lock()

    def apply(self, event: BatchEvent) -> None:
        with self.lock:
            if event.kind in ("submitted", "resumed"):
                self.in_flight += 1
            elif event.kind == "finished" and event.record is not None:
                record = event.record
                if not record.reused and record.request_id is not None:
                    self.in_flight = max(self.in_flight - 1, 0)
                self._count(record)

    def _count(self, record: RequestRecord) -> None:
        if record.ok:
            self.ok += 1
        elif record.status == "not_submitted":
            self.never_sent += 1
        elif record.status in CANCELLED:
            self.cancelled += 1
        elif record.status == "interrupted":
            self.stopped += 1
        else:
            self.failed += 1
        self.reused += 1 if record.reused and record.ok else 0
        self.files += len(record.files)
        self.bytes += sum(saved.bytes for saved in record.files)

    def settle(self, records: Sequence[RequestRecord]) -> None:
        """Recount from the final records (after Ctrl-C, when some lines never reported back)."""
        with self.lock:
            self.ok = self.failed = self.cancelled = self.stopped = self.never_sent = 0
            self.reused = self.files = self.bytes = self.in_flight = 0
            for record in records:
                self._count(record)

    @property
    def done(self) -> int:
        return self.ok + self.failed + self.cancelled + self.stopped + self.never_sent

    @property
    def queued(self) -> int:
        return max(self.total - self.done - self.in_flight, 0)

    def counts(self) -> str:
        """``3 succeeded (1 already done), 1 failed, 2 cancelled, 1 left running, 2 never sent``."""
        parts = [f"{self.ok} succeeded" + (f" ({self.reused} already done)" if self.reused else "")]
        parts.append(f"{self.failed} failed")
        for count, label in (
            (self.cancelled, "cancelled"),
            (self.stopped, "left running"),
            (self.never_sent, "never sent"),
        ):
            if count:
                parts.append(f"{count} {label}")
        return ", ".join(parts)

    def line(self) -> str:
        elapsed = time.monotonic() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        return (
            f"{self.done}/{self.total}: {self.counts()}; {self.in_flight} in flight, {self.queued} queued, "
            f"{elapsed:.1f}s, {rate:.1f} items/s"
        )


def run_batch(
    app: AppContext,
    model: str,
    inputs: list[BatchInput],
    *,
    concurrency: int,
    restart: bool,
    output_dir: Path,
    download: bool,
    poll_secs: int,
    timeout: float | None,
    assignments: Sequence[str] = (),
    validate: bool = True,
    retry_failed: bool = False,
) -> None:
    """Run a model's batch (every line checked against its schema first) and present it; raise
    :class:`BatchFailed` unless every item succeeded."""
    client = app.require_client()
    inputs = prepare_batch(app, client, model, inputs, assignments, validate=validate)
    execute_batch(
        app,
        model,
        inputs,
        concurrency=concurrency,
        restart=restart,
        output_dir=output_dir,
        download=download,
        poll_secs=poll_secs,
        timeout=timeout,
        retry_failed=retry_failed,
    )


def execute_batch(
    app: AppContext,
    target: str | BatchTarget,
    inputs: list[BatchInput],
    *,
    concurrency: int,
    restart: bool,
    output_dir: Path,
    download: bool,
    poll_secs: int,
    timeout: float | None,
    retry_failed: bool = False,
) -> None:
    """Run checked inputs against a model id or a :class:`~runcomfy.batch.targets.BatchTarget` and present the
    batch; raise :class:`BatchFailed` unless every item succeeded."""
    from runcomfy.batch.runner import BatchInterrupted, BatchRun

    out = app.output
    client = app.require_client()
    if download:
        from runcomfy.downloads import check_output_directory

        check_output_directory(output_dir)  # before the first submit: files with nowhere to go cost money
    tally = Tally(len(inputs))
    show, finish_display = _display(app, tally)
    run = BatchRun(
        client,
        target,
        inputs,
        concurrency=concurrency,
        output_dir=output_dir if download else None,
        journal=app.journal(),
        restart=restart,
        retry_failed=retry_failed,
        poll_interval_s=max(poll_secs, 1),
        timeout=timeout,
        trusted_origins=app.trusted_origins(),
        on_update=show,
        scope=app.journal_scope(),
    )
    out.progress(
        "batch", f"{len(inputs)} item(s) of {run.model_id}, {concurrency} at a time, files to {output_dir}"
    )
    try:
        with interrupts_raise():
            records = run.run(while_cancelling=exit_on_second_interrupt)
    except BatchInterrupted as stopped:
        tally.settle(stopped.records)
        finish_display()
        _summarize(app, tally, interrupted=True)
        raise
    finally:
        finish_display()
    _summarize(app, tally)
    _raise_for_failures(records)


def _display(app: AppContext, tally: Tally) -> tuple[Callable[[BatchEvent], None], Callable[[], None]]:
    """The progress callback for this output mode, and what to call when the batch ends."""
    out = app.output
    write_lock = threading.Lock()
    bar = _ProgressBar(tally) if out.use_emoji and not out.quiet else None

    def show(event: BatchEvent) -> None:
        tally.apply(event)
        with write_lock:
            if event.kind == "stopping":
                out.progress(
                    "cancel",
                    "Interrupted: no more submits; cancelling the requests in flight "
                    "(Ctrl-C again to exit at once)",
                )
            elif event.kind.startswith("cancel: "):
                out.detail(f"line {event.line}: {event.request_id}: {event.kind.removeprefix('cancel: ')}")
            elif event.kind == "finished" and event.record is not None:
                if out.json_mode:
                    out.data(event.record.to_dict())
                elif bar is None:
                    out.progress("batch", _finished_line(event.record))
            if bar is not None:
                bar.update(tally)

    def finish() -> None:
        if bar is not None:
            bar.update(tally)  # the final counts (after Ctrl-C, settled from every line's record)
            bar.stop()

    return show, finish


def _finished_line(record: RequestRecord) -> str:
    from runcomfy.results import describe_error

    if record.reused:
        state = "already done" if record.ok else f"{record.status}, recorded earlier"
    else:
        state = record.status
    text = f"line {record.line}: {state}"
    if record.request_id:
        text += f" ({record.request_id})"
    if record.files:
        text += " -> " + ", ".join(_shown_path(saved.path) for saved in record.files)
    if not record.ok and record.error:
        text += f": {describe_error(record.error)}"
    return text


def _shown_path(path: object) -> str:
    """A saved file's path as the user gave the directory: relative to the working directory when under it
    (the journal keeps absolute paths, so a line reused from it would otherwise look different)."""
    from pathlib import Path

    shown = Path(str(path))
    if shown.is_absolute():
        try:
            return str(shown.relative_to(Path.cwd()))
        except ValueError:
            pass
    return str(shown)


class _ProgressBar:
    """A rich progress bar on stderr (only on a terminal)."""

    def __init__(self, tally: Tally) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("[bold]batch"),
            BarColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._task = self._progress.add_task(tally.line(), total=tally.total)
        self._stopped = False
        self._progress.start()

    def update(self, tally: Tally) -> None:
        self._progress.update(self._task, completed=tally.done, description=tally.line())

    def stop(self) -> None:
        if not self._stopped:  # stopped once the batch ends, whichever way it ends
            self._stopped = True
            self._progress.stop()


def _summarize(app: AppContext, tally: Tally, *, interrupted: bool = False) -> None:
    size = _human_bytes(tally.bytes)
    elapsed = time.monotonic() - tally.started
    tag = "cancel" if interrupted else "ok" if tally.ok == tally.total else "info"
    verb = "batch interrupted" if interrupted else "batch finished"
    app.output.progress(tag, f"{verb}: {tally.counts()}; {tally.files} file(s), {size}, {elapsed:.1f}s")


def _human_bytes(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"


def _raise_for_failures(records: list[RequestRecord]) -> None:
    """Raise :class:`BatchFailed` with the exit class the failures share and the command that helps."""
    failed = [r for r in records if not r.ok]
    if not failed:
        return
    errors = [r.exception for r in failed if r.exception is not None]
    codes = {classify(e) for e in errors} | ({1} if len(errors) < len(failed) else set())
    code = codes.pop() if len(codes) == 1 and len(failed) == len(records) else 1
    shared = errors[0] if code != 1 and errors and len({type(e) for e in errors}) == 1 else None
    hint = hint_for(shared) if shared is not None and code in (64, 65, 66, 77) else _next_steps(failed)
    raise BatchFailed(
        f"{len(failed)} of {len(records)} item(s) did not succeed ({_line_list(failed)})",
        exit_code=code,
        hint=hint,
    )


def _next_steps(failed: list[RequestRecord]) -> str:
    """What to run next: ``--retry-failed`` for lines that ended badly, the same command for unfinished ones."""
    from runcomfy.batch.runner import RETRYABLE_ENDINGS

    ended = [r for r in failed if r.status in RETRYABLE_ENDINGS]
    refused = [r for r in failed if r not in ended and _refused(r)]
    unfinished = [r for r in failed if r not in ended and r not in refused]
    steps = []
    if ended:
        steps.append(
            f"add --retry-failed to the same command to submit {plural(len(ended), 'line')} that ended "
            "failed, cancelled or timed out again"
        )
    if unfinished:
        steps.append(
            f"run the same command again to resume {plural(len(unfinished), 'unfinished line')} "
            "(nothing is submitted twice)"
        )
    if refused:
        steps.append(f"fix the input of {_line_list(refused)}: the service refused it")
    return "; ".join(steps)


def _refused(record: RequestRecord) -> bool:
    """A submit the service rejected for its input or the account (running it again would fail the same way)."""
    return (
        record.request_id is None and record.exception is not None and classify(record.exception) in (65, 77)
    )


def _line_list(records: Sequence[RequestRecord]) -> str:
    """``line 2``, ``lines 2, 5, 9``, ``lines 1, 2, ... (14 in all)``."""
    numbers = [str(r.line) for r in records]
    shown = ", ".join(numbers[:10]) + (f", ... ({len(numbers)} in all)" if len(numbers) > 10 else "")
    return f"line {shown}" if len(numbers) == 1 else f"lines {shown}"
