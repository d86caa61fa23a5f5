"""Running a batch: N workers, one shared rate gate, every step in the journal, resumable, never paying twice.

For each input line the worker first looks at what an earlier run recorded under the same batch key (model,
output directory) and the same input digest:

- completed and every saved file still on disk with its sha256: nothing to do (``reused``);
- ended ``failed`` (the model ran and failed): reported from the journal without calling the service, unless
  ``retry_failed`` asks for a new request; ended ``timed_out``: waited on again, unless ``retry_failed``;
- a request id is known: wait on that request again (``resumed``), never submit it again;
- otherwise submit, after recording ``submitting`` and, the moment the id is back, ``submitted`` + the id.
  Lines whose request was cancelled before it ran, or whose submit failed, count as never sent.

A process killed in the instant between the service accepting a submit and the journal recording its id
cannot know the id; such a line (still ``submitting``) is submitted again on the next run and reported as
``ambiguous`` so the user can check. Every other interruption resumes without a second submit.

The workers are daemon threads: an interrupted batch never hangs the process on exit. This module never
prints; the caller hears about progress through ``on_update``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
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
    origin_of,
    remove_stale_temp_files,
)
from runcomfy.errors import (
    AlreadyRunning,
    DownloadError,
    Interrupted,
    RequestCancelled,
    RequestFailed,
    RunComfyError,
    WaitTimeout,
)
from runcomfy.handle import CANCEL_ON_INTERRUPT_TIMEOUT_S
from runcomfy.journal import BatchItemState, Journal, JournalScope, input_digest
from runcomfy.results import Result, describe_error, raise_for_outcome
from runcomfy.safe_text import redact

if TYPE_CHECKING:
    from runcomfy.client import Client, RequestHandle

SUCCESS = ("completed", "succeeded")
# Lines recorded in these states never ran (nothing was paid): a rerun submits them again.
NEVER_RAN = ("cancelled", "canceled", "submit_failed")
# Lines that ended without a result worth keeping: ``retry_failed`` submits them again.
RETRYABLE_ENDINGS = ("failed", "cancelled", "canceled", "timed_out")
MIN_LINE_DIGITS = 3  # file names start with 007-, 042-, 123-...: they sort by line up to 999 lines and beyond


class BatchStopped(Exception):
    """Raised inside a worker's sleep once the batch is told to stop (never escapes :class:`BatchRun`)."""


class BatchInterrupted(Interrupted):
    """The batch was stopped (Ctrl-C); ``records`` says what became of every line at that moment (``cancelled``,
    ``interrupted`` for a request left running, ``not_submitted`` for a line never sent)."""

    def __init__(self, message: str, records: list[ItemRecord]) -> None:
        super().__init__(message)
        self.records = records


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
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.status in SUCCESS

    def to_dict(self) -> dict[str, Any]:
        """The JSON record (one JSONL line of ``--output json``; ``run --emit record`` has the same keys):
        every key of the service's result record, then ours."""
        return {
            **self.raw,
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


def batch_key(
    model_id: str, output_dir: str | os.PathLike[str] | None, scope: JournalScope | None = None
) -> str:
    """What identifies "the same batch" across runs: the API base and identity that run it, the model and the
    absolute output directory (so another account's progress is never taken for this one's)."""
    where = os.path.abspath(output_dir) if output_dir is not None else ""
    who = f"{scope.model_api_base}\0{scope.identity or ''}" if scope is not None else ""
    return hashlib.sha256(f"{who}\0{model_id}\0{where}".encode()).hexdigest()


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
        retry_failed: bool = False,
        poll_interval_s: float = 2.0,
        timeout: float | None = None,
        trusted_origins: Iterable[Origin] | None = None,
        on_update: Callable[[BatchEvent], None] | None = None,
        scope: JournalScope | None = None,
    ) -> None:
        self.client, self.model_id, self.inputs = client, model_id, list(inputs)
        self.concurrency = max(1, concurrency)
        self.output_dir = None if output_dir is None else Path(output_dir)
        self.journal, self.poll_interval_s, self.timeout = journal, poll_interval_s, timeout
        self.retry_failed = retry_failed
        if trusted_origins is None:  # like Client.download: the client's own origin (an emulator's files)
            trusted_origins = (origin_of(client.model_api_base),)
        self.trusted_origins = tuple(trusted_origins)
        self.on_update = on_update or (lambda _event: None)
        if scope is None and journal is not None:
            scope = journal.scope_for(client)
        self.scope = scope
        self.key = batch_key(model_id, output_dir, self.scope)
        if journal is not None and restart:
            journal.clear_batch(self.key)
        self.previous: dict[int, BatchItemState] = journal.batch_items(self.key) if journal else {}
        self.records: list[ItemRecord | None] = [None] * len(self.inputs)
        self.stop = threading.Event()
        self.gate = RateGate(stop=self.stop)
        # One file client for every worker: building an httpx client (TLS context, CA bundle) per file costs
        # more than downloading a small file.
        self._download_client = make_download_client()
        self._inflight: dict[int, tuple[RequestHandle, str]] = {}  # line -> (handle, input digest)
        self._lock = threading.Lock()
        self._done = threading.Semaphore(0)
        self._width = max(MIN_LINE_DIGITS, len(str(max((item.line for item in self.inputs), default=1))))
        self._cancel_outcomes: dict[int, str] = {}

    # -- driving ---------------------------------------------------------------------------------------------

    def run(
        self,
        *,
        while_cancelling: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext,
    ) -> list[ItemRecord]:
        """Run to the end. On Ctrl-C (``KeyboardInterrupt``): stop submitting, send one cancel to each request
        in flight (inside ``while_cancelling()``, where the CLI makes a second Ctrl-C exit at once), record the
        outcomes and raise :class:`Interrupted`."""
        with (
            self._exclusive(f"batch:{self.key}", "this batch"),
            self.client._batch_mode(self.stop, self.gate),
            self._download_client,
        ):
            self.start()
            try:
                self.join()
            except KeyboardInterrupt:
                with while_cancelling():
                    self.on_update(BatchEvent("stopping", 0))
                    outcomes = self.stop_and_cancel()
                raise BatchInterrupted(
                    f"batch interrupted; {summarize_cancels(outcomes)}; run the same command again to resume",
                    self.snapshot(),
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

    def snapshot(self) -> list[ItemRecord]:
        """After a stop: every line's record, with what the cancels did to the requests that were in flight
        (``cancelled``, or ``interrupted`` for one that keeps running) and ``not_submitted`` for the rest."""
        records = []
        for record, item in zip(self.records, self.inputs, strict=True):
            outcome = self._cancel_outcomes.get(item.line)
            if outcome is not None and (
                record is None or record.status in ("interrupted", "pending", "error")
            ):
                status = "cancelled" if outcome == "cancelled" else "interrupted"
                record = ItemRecord(item.line, record.request_id if record else None, status)
            records.append(record or ItemRecord(item.line, status="not_submitted"))
        return records

    def stop_and_cancel(self) -> list[tuple[int, str, str]]:
        """Stop submitting and send one cancel to each request in flight: ``(line, request_id, outcome)``."""
        self.stop.set()
        with self._lock:
            inflight = sorted(self._inflight.items())
        outcomes = []
        for line, (handle, digest) in inflight:
            try:
                outcome = handle.cancel(timeout_s=CANCEL_ON_INTERRUPT_TIMEOUT_S, retry=False)
                described = outcome.outcome or outcome.status or "sent"
                if outcome.cancelled:
                    self._save(line, handle.request_id, "cancelled", digest)
                    described = "cancelled"
            except RunComfyError as exc:
                described = f"not sent ({type(exc).__name__})"
            self._cancel_outcomes[line] = described
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
        if previous is not None and (
            previous.input_digest != digest
            or previous.status in NEVER_RAN
            or (self.retry_failed and previous.status in RETRYABLE_ENDINGS)
        ):
            previous = None
        if previous is not None and previous.status in SUCCESS and self._files_intact(previous):
            return ItemRecord(
                item.line, previous.request_id, previous.status, files=previous.files, reused=True
            )
        if previous is not None and previous.status == "failed":
            return self._recorded_failure(item, previous)
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

    def _recorded_failure(self, item: BatchInput, previous: BatchItemState) -> ItemRecord:
        """A line whose request already ended ``failed``: reported again from the journal, with no call."""
        entry = self.journal.get(previous.request_id) if self.journal and previous.request_id else None
        error = entry.error if entry is not None else None
        failure = RequestFailed(
            f"request failed: {describe_error(error)}", request_id=previous.request_id, error=error
        )
        return ItemRecord(
            item.line,
            previous.request_id,
            "failed",
            error=error,
            model_id=self.model_id,
            reused=True,
            exception=failure,
        )

    def _finish(self, item: BatchInput, handle: RequestHandle, digest: str, *, resumed: bool) -> ItemRecord:
        try:
            with self._exclusive(f"request:{handle.request_id}", f"request {handle.request_id}"):
                return self._wait_and_save(item, handle, digest, resumed=resumed)
        except AlreadyRunning as exc:  # another process is fetching it: a rerun resumes it afterwards
            return ItemRecord(
                item.line, handle.request_id, "error", error=str(exc), exception=exc, resumed=resumed
            )

    def _exclusive(self, name: str, what: str) -> contextlib.AbstractContextManager[None]:
        """Hold an inter-process lock on ``name`` (nothing without a journal, which owns the lock file)."""
        if self.journal is None:
            return contextlib.nullcontext()
        return self.journal.locks.hold(name, what=what)

    def _wait_and_save(
        self, item: BatchInput, handle: RequestHandle, digest: str, *, resumed: bool
    ) -> ItemRecord:
        record = ItemRecord(item.line, handle.request_id, resumed=resumed, model_id=self.model_id)
        try:
            result = handle.wait(
                timeout=self.timeout,
                poll_interval_s=self.poll_interval_s,
                raise_on_failure=False,
                cancel_on_timeout=True,
            )
        except (
            WaitTimeout
        ) as exc:  # cancelled (best effort) like a single run; --retry-failed submits it again
            record.status, record.error, record.exception = "timed_out", str(exc), exc
            self._save(item.line, handle.request_id, "timed_out", digest)
            if self.journal is not None:
                self.journal.update(handle.request_id, status="timed_out")
            return record
        except RunComfyError as exc:  # the request still exists: the journal keeps "submitted" for a rerun
            record.status, record.error, record.exception = "error", str(exc), exc
            return record
        record.status, record.output, record.error = result.status.name, result.output, result.error
        record.created_at, record.finished_at = result.created_at, result.finished_at
        record.raw = result.raw
        if not result.ok and result.status.is_terminal:
            record.exception = _outcome_error(result)
        if record.ok and self.output_dir is not None:
            report = download_outputs(
                result.output,
                self.output_dir,
                client=self._download_client,
                trusted_origins=self.trusted_origins,
                name_prefix=f"{item.line:0{self._width}d}-",
                should_abort=self.stop.is_set,
                hidden=self.client.secrets,
            )
            record.files = [
                {"url": f.url, "path": str(f.path), "bytes": f.bytes, "sha256": f.sha256}
                for f in report.saved
            ]
            record.skipped_urls = [url for url, _reason in report.skipped]
            if report.failed:
                url, error = report.failed[0]
                record.status, record.error, record.exception = "download_failed", f"{url}: {error}", error
            elif not report.complete:
                incomplete = DownloadError(
                    "the output is too large or too deeply nested to look through completely",
                    request_id=handle.request_id,
                )
                record.status, record.error, record.exception = "download_failed", str(incomplete), incomplete
        self._save(item.line, handle.request_id, record.status, digest, files=record.files)
        if self.journal is not None:
            self.journal.update(
                handle.request_id,
                status=record.status,
                output=self._scrubbed(result.output),
                error=self._scrubbed(result.error),
                files=[{**f, "url": redact(str(f["url"]), self.client.secrets)} for f in record.files],
            )
        return record

    def _scrubbed(self, value: Any) -> Any:
        """``value`` with the token masked, for the journal (a server may have echoed it in an output)."""
        if value is None or not self.client.secrets:
            return value
        return json.loads(redact(json.dumps(value, ensure_ascii=False), self.client.secrets))

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
                model_api_base=self.scope.model_api_base if self.scope else self.client.model_api_base,
                output_dir=self.output_dir,
                identity=self.scope.identity if self.scope else None,
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


def _outcome_error(result: Result) -> RunComfyError | None:
    """The error a failed or cancelled result stands for (what a single run would have raised)."""
    try:
        raise_for_outcome(result)
    except (RequestFailed, RequestCancelled) as exc:
        return exc
    return None


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
