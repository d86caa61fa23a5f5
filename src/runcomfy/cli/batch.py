"""``runcomfy run MODEL_ID --batch FILE``: many inputs, concurrently, resumable.

Presentation only; the batch itself is :class:`runcomfy.batch.runner.BatchRun`. On a terminal a live progress
bar (rich, imported only then); otherwise one ``[batch]`` line per finished item; with ``--output json`` one
JSON record per line (JSONL) on stdout as items finish. A summary closes the run. Files of each item are saved
under ``--output-dir`` with the input's line number as a prefix (``007-image-0.png``), so items never collide.

Exit: 0 when every item succeeded; when all failures share one exit class (e.g. all 401: 77), that class;
otherwise 1. Ctrl-C: the first stops submitting and cancels what is in flight (saying so); a second exits at
once; rerunning the same command resumes without submitting a line twice (``--restart`` starts over).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from runcomfy.cli.context import AppContext
from runcomfy.cli.exit_codes import classify
from runcomfy.cli.preflight import prepare_batch
from runcomfy.cli.signals import exit_on_second_interrupt, interrupts_raise
from runcomfy.errors import BatchFailed, InputFileNotFound, InvalidInput

if TYPE_CHECKING:
    from runcomfy.batch import BatchEvent, BatchInput, ItemRecord


def read_batch_file(path: str) -> list[BatchInput]:
    """The inputs of ``--batch FILE`` (``-`` for stdin), every line checked before anything is sent."""
    from runcomfy.batch import parse_jsonl

    if path == "-":
        return parse_jsonl(sys.stdin.read().splitlines(), source="--batch -")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputFileNotFound(f"--batch: {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"--batch: cannot read {path}: {exc}") from None
    return parse_jsonl(text.splitlines(), source=f"--batch {path}")


class Tally:
    """Counts for the progress display and the summary (updated from worker threads)."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.failed, self.in_flight, self.reused = total, 0, 0, 0, 0
        self.files, self.bytes = 0, 0
        self.started = time.monotonic()
        self.lock = threading.Lock()

    def apply(self, event: BatchEvent) -> None:
        with self.lock:
            if event.kind in ("submitted", "resumed"):
                self.in_flight += 1
            elif event.kind == "finished" and event.record is not None:
                record = event.record
                self.in_flight -= 0 if record.reused or record.request_id is None else 1
                self.in_flight = max(self.in_flight, 0)
                self.done += 1
                self.failed += 0 if record.ok else 1
                self.reused += 1 if record.reused else 0
                self.files += len(record.files)
                self.bytes += sum(int(f.get("bytes") or 0) for f in record.files)

    @property
    def queued(self) -> int:
        return max(self.total - self.done - self.in_flight, 0)

    def line(self) -> str:
        elapsed = time.monotonic() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        return (
            f"{self.done}/{self.total} done ({self.failed} failed), {self.in_flight} in flight, "
            f"{self.queued} queued, {elapsed:.1f}s, {rate:.1f} items/s"
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
) -> None:
    """Run the batch and present it; raise :class:`BatchFailed` unless every item succeeded."""
    from runcomfy.batch.runner import BatchRun
    from runcomfy.cli.run import require_client

    out = app.output
    client = require_client(app)
    inputs = prepare_batch(app, client, model, inputs, assignments, validate=validate)
    tally = Tally(len(inputs))
    show, finish_display = _display(app, tally)
    run = BatchRun(
        client,
        model,
        inputs,
        concurrency=concurrency,
        output_dir=output_dir if download else None,
        journal=app.journal(),
        restart=restart,
        poll_interval_s=max(poll_secs, 1),
        timeout=timeout,
        trusted_origins=app.trusted_origins(),
        on_update=show,
    )
    out.progress("batch", f"{len(inputs)} item(s) of {model}, {concurrency} at a time, files to {output_dir}")
    try:
        with interrupts_raise():
            records = run.run(while_cancelling=exit_on_second_interrupt)
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

    return show, (bar.stop if bar is not None else lambda: None)


def _finished_line(record: ItemRecord) -> str:
    state = "already done" if record.reused else record.status
    text = f"line {record.line}: {state}"
    if record.request_id:
        text += f" ({record.request_id})"
    if record.files:
        text += " -> " + ", ".join(str(f.get("path")) for f in record.files)
    if not record.ok and record.error:
        text += f": {record.error}"
    return text


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
        self._progress.start()

    def update(self, tally: Tally) -> None:
        self._progress.update(self._task, completed=tally.done, description=tally.line())

    def stop(self) -> None:
        self._progress.stop()


def _summarize(app: AppContext, tally: Tally) -> None:
    ok = tally.done - tally.failed
    size = _human_bytes(tally.bytes)
    app.output.progress(
        "ok" if tally.failed == 0 else "info",
        f"batch finished: {ok} succeeded ({tally.reused} already done), {tally.failed} failed, "
        f"{tally.files} file(s), {size}, {time.monotonic() - tally.started:.1f}s",
    )


def _human_bytes(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"


def _raise_for_failures(records: list[ItemRecord]) -> None:
    failed = [r for r in records if not r.ok]
    if not failed:
        return
    codes = {classify(r.exception) if r.exception is not None else 1 for r in failed}
    code = codes.pop() if len(codes) == 1 and len(failed) == len(records) else 1
    lines = ", ".join(str(r.line) for r in failed[:10]) + (" ..." if len(failed) > 10 else "")
    raise BatchFailed(
        f"{len(failed)} of {len(records)} item(s) did not succeed (lines {lines}); running the same command again "
        "resumes unfinished items without submitting them twice (--restart submits everything again)",
        exit_code=code,
    )
