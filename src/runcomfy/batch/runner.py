"""Running a batch: N workers, one shared rate gate, every step in the journal, resumable, never paying twice.

For each input line the worker first looks at what an earlier run recorded under the same batch key (model,
output directory) and the same input digest:

- completed and every saved file still on disk with its sha256: nothing to do (``reused``);
- a request id is known: wait on that request again (``resumed``), never submit it again;
- otherwise submit, after recording ``submitting`` and, the moment the id is back, ``submitted`` + the id.

A process killed in the instant between the service accepting a submit and the journal recording its id
cannot know the id; such a line (still ``submitting``) is submitted again on the next run and reported as
``ambiguous`` so the user can check. Every other interruption resumes without a second submit.

The workers are daemon threads: an interrupted batch never hangs the process on exit. This module never
prints; the caller hears about progress through ``on_update``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runcomfy.batch.inputs import BatchInput
from runcomfy.batch.limiter import RateGate
from runcomfy.downloads import (
    Origin,
    download_outputs,
    file_has_sha256,
    make_download_client,
    remove_stale_temp_files,
)
from runcomfy.errors import Interrupted, RunComfyError
from runcomfy.journal import BatchItemState, Journal, input_digest

if TYPE_CHECKING:
    from runcomfy.client import Client, RequestHandle

SUCCESS = ("completed", "succeeded")
# Lines recorded in these states never ran (nothing was paid): a rerun submits them again.
NEVER_RAN = ("cancelled", "canceled", "submit_failed")
CANCEL_TIMEOUT_S = 10.0


class BatchStopped(Exception):
    """Raised inside a worker's sleep once the batch is told to stop (never escapes :class:`BatchRun`)."""


@dataclass
class ItemRecord:
    """The outcome of one input line: the same shape as ``run --emit record`` plus the line number."""

    line: int
    request_id: str | None = None
    status: str = "pending"
    output: Any = None
    error: Any = None
    files: list[dict[str, Any]] = field(default_factory=list)
    model_id: str | None = None
    created_at: str | None = None
    finished_at: str | None = None
    skipped_urls: list[str] = field(default_factory=list)
    resumed: bool = False
    reused: bool = False
    ambiguous: bool = False
    exception: BaseException | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.status in SUCCESS

    def to_dict(self) -> dict[str, Any]:
        """The JSON record (one JSONL line of ``--output json``; ``run --emit record`` has the same keys)."""
        return {
            "line": self.line,
            "request_id": self.request_id,
            "model_id": self.model_id,
            "status": self.status,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "output": self.output,
            "error": self.error,
            "files": self.files,
            "skipped_urls": self.skipped_urls,
            "resumed": self.resumed,
            "reused": self.reused,
        }


@dataclass(frozen=True)
class BatchEvent:
    """Progress: ``submitted`` (a new request), ``resumed`` (an earlier one), ``finished`` (with its record),
    ``stopping`` (after Ctrl-C) and ``cancel: <outcome>`` (one per request in flight when stopping)."""

    kind: str
    line: int
    request_id: str | None = None
    record: ItemRecord | None = None


def batch_key(model_id: str, output_dir: str | os.PathLike[str] | None) -> str:
    """What identifies "the same batch" across runs: the model and the absolute output directory."""
    where = os.path.abspath(output_dir) if output_dir is not None else ""
    return hashlib.sha256(f"{model_id}\0{where}".encode()).hexdigest()


class BatchRun:
    """One batch: start workers, wait for them, or stop and cancel what is in flight."""

    def __init__(
        self,
        client: Client,
        model_id: str,
        inputs: Sequence[BatchInput],
        *,
        concurrency: int = 4,
        output_dir: str | os.PathLike[str] | None = None,
        journal: Journal | None = None,
        restart: bool = False,
        poll_interval_s: float = 2.0,
        timeout: float | None = None,
        trusted_origins: Iterable[Origin] = (),
        on_update: Callable[[BatchEvent], None] | None = None,
    ) -> None:
        self.client, self.model_id, self.inputs = client, model_id, list(inputs)
        self.concurrency = max(1, concurrency)
        self.output_dir = None if output_dir is None else Path(output_dir)
        self.journal, self.poll_interval_s, self.timeout = journal, poll_interval_s, timeout
        self.trusted_origins = tuple(trusted_origins)
        self.on_update = on_update or (lambda _event: None)
        self.key = batch_key(model_id, output_dir)
        if journal is not None and restart:
            journal.clear_batch(self.key)
        self.previous: dict[int, BatchItemState] = journal.batch_items(self.key) if journal else {}
        self.records: list[ItemRecord | None] = [None] * len(self.inputs)
        self.stop = threading.Event()
        self.gate = RateGate()
        # One file client for every worker: building an httpx client (TLS context, CA bundle) per file costs
        # more than downloading a small file.
        self._download_client = make_download_client()
        self._inflight: dict[int, tuple[RequestHandle, str]] = {}  # line -> (handle, input digest)
        self._lock = threading.Lock()
        self._done = threading.Semaphore(0)
        self._width = len(str(max((item.line for item in self.inputs), default=1)))

    # -- driving ---------------------------------------------------------------------------------------------

    def run(
        self,
        *,
        while_cancelling: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext,
    ) -> list[ItemRecord]:
        """Run to the end. On Ctrl-C (``KeyboardInterrupt``): stop submitting, send one cancel to each request
        in flight (inside ``while_cancelling()``, where the CLI makes a second Ctrl-C exit at once), record the
        outcomes and raise :class:`Interrupted`."""
        with self.client._batch_mode(self.stop, self.gate), self._download_client:
            self.start()
            try:
                self.join()
            except KeyboardInterrupt:
                with while_cancelling():
                    self.on_update(BatchEvent("stopping", 0))
                    outcomes = self.stop_and_cancel()
                raise Interrupted(
                    f"batch interrupted; {summarize_cancels(outcomes)}; run the same command again to resume"
                ) from None
        return self.results()

    def start(self) -> None:
        """Start the worker threads (after removing temp files a killed earlier run left in the output dir)."""
        if self.output_dir is not None:
            remove_stale_temp_files(self.output_dir)
        work: queue.SimpleQueue[tuple[int, BatchInput]] = queue.SimpleQueue()
        for index, item in enumerate(self.inputs):
            work.put((index, item))
        for number in range(min(self.concurrency, len(self.inputs))):
            threading.Thread(
                target=self._worker, args=(work,), name=f"runcomfy-batch-{number}", daemon=True
            ).start()

    def join(self, poll_s: float = 0.2) -> None:
        """Wait until every item has a record (Ctrl-C interrupts the wait)."""
        remaining = len(self.inputs)
        while remaining:
            if self._done.acquire(timeout=poll_s):
                remaining -= 1

    def results(self) -> list[ItemRecord]:
        """The records in input order (lines not reached are ``not_submitted``)."""
        return [
            rec or ItemRecord(item.line, status="not_submitted")
            for rec, item in zip(self.records, self.inputs, strict=True)
        ]

    def stop_and_cancel(self) -> list[tuple[int, str, str]]:
        """Stop submitting and send one cancel to each request in flight: ``(line, request_id, outcome)``."""
        self.stop.set()
        with self._lock:
            inflight = sorted(self._inflight.items())
        outcomes = []
        for line, (handle, digest) in inflight:
            try:
                outcome = handle.cancel(timeout_s=CANCEL_TIMEOUT_S, retry=False)
                described = outcome.outcome or outcome.status or "sent"
                if outcome.cancelled:
                    self._save(line, handle.request_id, "cancelled", digest)
            except RunComfyError as exc:
                described = f"not sent ({type(exc).__name__})"
            outcomes.append((line, handle.request_id, described))
            self.on_update(BatchEvent(f"cancel: {described}", line, handle.request_id))
        return outcomes

    # -- one item --------------------------------------------------------------------------------------------

    def _worker(self, work: queue.SimpleQueue[tuple[int, BatchInput]]) -> None:
        while True:
            try:
                index, item = work.get_nowait()
            except queue.Empty:
                return
            try:
                record = self._run_item(item)
            except BatchStopped:
                record = ItemRecord(item.line, status="interrupted")
            except BaseException as exc:  # a worker must always produce a record
                record = ItemRecord(item.line, status="error", error=str(exc), exception=exc)
            with self._lock:
                tracked = self._inflight.pop(item.line, None)
            if record.request_id is None and tracked is not None:
                record.request_id = tracked[0].request_id
            self.records[index] = record
            try:
                self.on_update(BatchEvent("finished", item.line, record.request_id, record))
            except Exception:
                pass
            finally:
                self._done.release()

    def _run_item(self, item: BatchInput) -> ItemRecord:
        digest = input_digest(item.input)
        previous = self.previous.get(item.line)
        if previous is not None and (previous.input_digest != digest or previous.status in NEVER_RAN):
            previous = None
        if previous is not None and previous.status in SUCCESS and self._files_intact(previous):
            return ItemRecord(
                item.line, previous.request_id, previous.status, files=previous.files, reused=True
            )
        if previous is not None and previous.request_id:
            handle = self.client.handle(previous.request_id)
            self._track(item.line, handle, digest)
            self.on_update(BatchEvent("resumed", item.line, handle.request_id))
            return self._finish(item, handle, digest, resumed=True)
        if self.stop.is_set():
            return ItemRecord(item.line, status="not_submitted")
        ambiguous = previous is not None and previous.status == "submitting"
        self._save(item.line, None, "submitting", digest)
        try:
            handle = self.client.submit(self.model_id, item.input)
        except RunComfyError as exc:
            self._save(item.line, None, "submit_failed", digest)
            return ItemRecord(item.line, status="error", error=str(exc), exception=exc, ambiguous=ambiguous)
        self._save(item.line, handle.request_id, "submitted", digest)
        self._track(item.line, handle, digest)
        self._journal_request(handle, item)
        self.on_update(BatchEvent("submitted", item.line, handle.request_id))
        record = self._finish(item, handle, digest, resumed=False)
        record.ambiguous = ambiguous
        return record

    def _finish(self, item: BatchInput, handle: RequestHandle, digest: str, *, resumed: bool) -> ItemRecord:
        record = ItemRecord(item.line, handle.request_id, resumed=resumed, model_id=self.model_id)
        try:
            result = handle.wait(
                timeout=self.timeout, poll_interval_s=self.poll_interval_s, raise_on_failure=False
            )
        except RunComfyError as exc:  # the request still exists: the journal keeps "submitted" for a rerun
            record.status, record.error, record.exception = "error", str(exc), exc
            return record
        record.status, record.output, record.error = result.status.name, result.output, result.error
        record.created_at, record.finished_at = result.created_at, result.finished_at
        if record.ok and self.output_dir is not None:
            report = download_outputs(
                result.output,
                self.output_dir,
                client=self._download_client,
                trusted_origins=self.trusted_origins,
                name_prefix=f"{item.line:0{self._width}d}-",
                should_abort=self.stop.is_set,
            )
            record.files = [
                {"url": f.url, "path": str(f.path), "bytes": f.bytes, "sha256": f.sha256}
                for f in report.saved
            ]
            record.skipped_urls = [url for url, _reason in report.skipped]
            if report.failed:
                url, error = report.failed[0]
                record.status, record.error, record.exception = "download_failed", f"{url}: {error}", error
        self._save(item.line, handle.request_id, record.status, digest, files=record.files)
        if self.journal is not None:
            self.journal.update(
                handle.request_id,
                status=record.status,
                output=result.output,
                error=result.error,
                files=record.files,
            )
        return record

    # -- bookkeeping -----------------------------------------------------------------------------------------

    def _track(self, line: int, handle: RequestHandle, digest: str) -> None:
        with self._lock:
            self._inflight[line] = (handle, digest)

    def _save(
        self,
        line: int,
        request_id: str | None,
        status: str,
        digest: str,
        files: Sequence[dict[str, Any]] = (),
    ) -> None:
        if self.journal is not None:
            self.journal.save_batch_item(
                self.key, line, digest, status=status, request_id=request_id, files=files
            )

    def _journal_request(self, handle: RequestHandle, item: BatchInput) -> None:
        if self.journal is not None:
            self.journal.record(
                handle.request_id,
                self.model_id,
                item.input,
                model_api_base=self.client.model_api_base,
                output_dir=self.output_dir,
            )

    def _files_intact(self, previous: BatchItemState) -> bool:
        if self.output_dir is None:
            return True
        return all(
            isinstance(f.get("path"), str)
            and isinstance(f.get("sha256"), str)
            and file_has_sha256(f["path"], f["sha256"])
            for f in previous.files
        )


def summarize_cancels(outcomes: Sequence[tuple[int, str, str]]) -> str:
    """``cancelled 3, not cancellable 2`` for the requests that were in flight."""
    if not outcomes:
        return "no request was in flight"
    counts: dict[str, int] = {}
    for _line, _rid, outcome in outcomes:
        counts[outcome] = counts.get(outcome, 0) + 1
    return "in flight: " + ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))


def run_many(
    client: Client, model_id: str, inputs: Iterable[dict[str, Any] | BatchInput], **options: Any
) -> list[ItemRecord]:
    """Run every input (dicts are numbered from 1) and return the records in input order."""
    items = [
        x if isinstance(x, BatchInput) else BatchInput(n, dict(x)) for n, x in enumerate(inputs, start=1)
    ]
    return BatchRun(client, model_id, items, **options).run()
