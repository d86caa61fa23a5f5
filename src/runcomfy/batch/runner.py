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
import os
import queue
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runcomfy.batch.inputs import BatchInput
from runcomfy.batch.ledger import BatchLedger
from runcomfy.batch.limiter import RateGate
from runcomfy.batch.targets import BatchTarget, ModelTarget
from runcomfy.downloads import (
    Origin,
    SavedFile,
    download_outputs,
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
from runcomfy.journal import BatchItemState, Journal, JournalScope, input_digest
from runcomfy.journal_statuses import CANCELLED
from runcomfy.lifecycle.handle import CANCEL_ON_INTERRUPT_TIMEOUT_S
from runcomfy.records import SUCCESS, RequestRecord
from runcomfy.results import Result, describe_error, raise_for_outcome

if TYPE_CHECKING:
    import httpx

    from runcomfy.client import Client, RequestHandle

# Lines recorded in these states never ran (nothing was paid): a rerun submits them again.
NEVER_RAN = (*sorted(CANCELLED), "submit_failed")
# Lines that ended without a result worth keeping: ``retry_failed`` submits them again.
RETRYABLE_ENDINGS = ("failed", *sorted(CANCELLED), "timed_out")
MIN_LINE_DIGITS = 3  # file names start with 007-, 042-, 123-...: they sort by line up to 999 lines and beyond


class BatchStopped(Exception):
    """Raised inside a worker's sleep once the batch is told to stop (never escapes :class:`BatchRun`)."""


class BatchInterrupted(Interrupted):
    """The batch was stopped (Ctrl-C); ``records`` says what became of every line at that moment (``cancelled``,
    ``interrupted`` for a request left running, ``not_submitted`` for a line never sent)."""

    def __init__(self, message: str, records: list[RequestRecord]) -> None:
        super().__init__(message)
        self.records = records


ItemRecord = RequestRecord  # the record of one line: the library's one request record, with its line


@dataclass(frozen=True)
class BatchEvent:
    """Progress: ``submitted`` (a new request), ``resumed`` (an earlier one), ``finished`` (with its record),
    ``stopping`` (after Ctrl-C) and ``cancel: <outcome>`` (one per request in flight when stopping)."""

    kind: str
    line: int
    request_id: str | None = None
    record: RequestRecord | None = None


class BatchRun:
    """One batch: start workers, wait for them, or stop and cancel what is in flight."""

    def __init__(
        self,
        client: Client,
        target: str | BatchTarget,
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
        self.target: BatchTarget = ModelTarget(target) if isinstance(target, str) else target
        self.model_id, self.inputs = self.target.name, list(inputs)
        self.concurrency = max(1, concurrency)
        self.output_dir = None if output_dir is None else Path(output_dir)
        self.poll_interval_s, self.timeout = poll_interval_s, timeout
        self.retry_failed = retry_failed
        if trusted_origins is None:  # like Client.download: the client's own origins (an emulator's files)
            trusted_origins = tuple(
                dict.fromkeys(origin_of(base) for base in (client.model_api_base, client.serverless_api_base))
            )
        self.trusted_origins = tuple(trusted_origins)
        self.on_update = on_update or (lambda _event: None)
        if scope is None and journal is not None:
            scope = journal.scope_for(client)
        self.ledger = BatchLedger(
            journal,
            model_id=self.model_id,
            output_dir=self.output_dir,
            scope=scope,
            secrets=client.secrets,
            restart=restart,
        )
        self.records: list[RequestRecord | None] = [None] * len(self.inputs)
        self.stop = threading.Event()
        self.gate = RateGate(stop=self.stop)
        # The batch's own copy of the client: its sleeps end when the batch stops, and every call of every worker
        # passes the batch's rate gate, without slowing other users of ``client``. Each worker calls through a
        # copy of it on a connection pool of its own (see _worker).
        self.client = client.with_options(sleep=self._sleep_unless_stopped, rate_gate=self.gate)
        self._inflight: dict[int, tuple[RequestHandle, str]] = {}  # line -> (handle, input digest)
        self._pools: list[Client] = []  # each worker's client, with its own connection pool
        # Each worker's file client, made at its first file and kept for the rest (building one per file costs
        # more than downloading a small file; one shared by every worker makes them queue on its pool's lock).
        self._per_thread = threading.local()
        self._download_clients: list[httpx.Client] = []
        self._lock = threading.Lock()
        # Set when the last item has its record. An event rather than a semaphore released per item: waking the
        # waiting thread a thousand times cost the batch's workers a lock handoff each.
        self._unfinished = len(self.inputs)
        self._all_done = threading.Event()
        if not self._unfinished:
            self._all_done.set()
        self._width = max(MIN_LINE_DIGITS, len(str(max((item.line for item in self.inputs), default=1))))
        self._cancel_outcomes: dict[int, str] = {}

    def _sleep_unless_stopped(self, seconds: float) -> None:
        if self.stop.wait(seconds):
            raise BatchStopped

    # -- driving ---------------------------------------------------------------------------------------------

    def run(
        self,
        *,
        while_cancelling: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext,
    ) -> list[RequestRecord]:
        """Run to the end. On Ctrl-C (``KeyboardInterrupt``): stop submitting, send one cancel to each request
        in flight (inside ``while_cancelling()``, where the CLI makes a second Ctrl-C exit at once), record the
        outcomes and raise :class:`Interrupted`."""
        with self.ledger.hold(f"batch:{self.ledger.key}", "this batch"):
            try:
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
                self.close_pools()
            finally:
                with self._lock:
                    download_clients, self._download_clients = self._download_clients, []
                for download_client in download_clients:
                    download_client.close()
        return self.results()

    def close_pools(self) -> None:
        """Close the workers' connection pools once every line has its record (the workers make no more
        calls then). After a Ctrl-C they are left open, as the pool of a shared client was: a worker may still
        be finishing a call, and must not fail on a pool closed under it."""
        with self._lock:
            pools, self._pools = self._pools, []
        for pool in pools:
            pool.close()

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
        while not self._all_done.wait(timeout=poll_s):
            pass

    def results(self) -> list[RequestRecord]:
        """The records in input order (lines not reached are ``not_submitted``)."""
        return [
            rec or RequestRecord(line=item.line, status="not_submitted")
            for rec, item in zip(self.records, self.inputs, strict=True)
        ]

    def snapshot(self) -> list[RequestRecord]:
        """After a stop: every line's record, with what the cancels did to the requests that were in flight
        (``cancelled``, or ``interrupted`` for one that keeps running) and ``not_submitted`` for the rest."""
        records = []
        for record, item in zip(self.records, self.inputs, strict=True):
            outcome = self._cancel_outcomes.get(item.line)
            if outcome is not None and (
                record is None or record.status in ("interrupted", "pending", "error")
            ):
                status = "cancelled" if outcome == "cancelled" else "interrupted"
                record = RequestRecord(record.request_id if record else None, status, line=item.line)
            records.append(record or RequestRecord(line=item.line, status="not_submitted"))
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
                    self.ledger.save_line(line, handle.request_id, "cancelled", digest)
                    described = "cancelled"
            except RunComfyError as exc:
                described = f"not sent ({type(exc).__name__})"
            self._cancel_outcomes[line] = described
            outcomes.append((line, handle.request_id, described))
            self.on_update(BatchEvent(f"cancel: {described}", line, handle.request_id))
        return outcomes

    # -- one item --------------------------------------------------------------------------------------------

    def _worker(self, work: queue.SimpleQueue[tuple[int, BatchInput]]) -> None:
        # Each worker calls through a connection pool of its own (same token, settings, gate and sleep): workers
        # sharing one pool queue on its lock, and its bookkeeping grows with the connections in it. The pools
        # are closed when the batch ends, not when a worker does: a Ctrl-C may still cancel through them.
        try:
            client = self.client.with_own_pool()
        except Exception:  # a worker must never die without records: the batch's shared pool still works
            client = self.client
        else:
            with self._lock:
                self._pools.append(client)
        while True:
            try:
                index, item = work.get_nowait()
            except queue.Empty:
                return
            try:
                record = self._run_item(item, client)
            except BatchStopped:
                record = RequestRecord(line=item.line, status="interrupted")
            except BaseException as exc:  # a worker must always produce a record
                record = RequestRecord(line=item.line, status="error", error=str(exc), exception=exc)
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
                self._finished_one()

    def _finished_one(self) -> None:
        with self._lock:
            self._unfinished -= 1
            last = self._unfinished == 0
        if last:
            self._all_done.set()

    def _run_item(self, item: BatchInput, client: Client) -> RequestRecord:
        digest = input_digest(item.input)
        previous = self.ledger.previous.get(item.line)
        if previous is not None and (
            previous.input_digest != digest
            or previous.status in NEVER_RAN
            or (self.retry_failed and previous.status in RETRYABLE_ENDINGS)
        ):
            previous = None
        if previous is not None and previous.status in SUCCESS and self.ledger.files_intact(previous):
            files = [f for f in map(SavedFile.from_dict, previous.files) if f is not None]
            return RequestRecord(
                previous.request_id,
                previous.status,
                line=item.line,
                files=files,
                model_id=self.model_id,
                output=self.ledger.recorded_output(previous.request_id),
                reused=True,
            )
        if previous is not None and previous.status == "failed":
            return self._recorded_failure(item, previous)
        if previous is not None and previous.request_id:
            handle = self.target.handle(client, previous.request_id)
            self._track(item.line, handle, digest)
            self.on_update(BatchEvent("resumed", item.line, handle.request_id))
            return self._finish(item, handle, digest, resumed=True)
        if self.stop.is_set():
            return RequestRecord(line=item.line, status="not_submitted")
        ambiguous = previous is not None and previous.status == "submitting"
        self.ledger.save_line(item.line, None, "submitting", digest)
        try:
            handle = self.target.submit(client, item.input)
        except RunComfyError as exc:
            self.ledger.save_line(item.line, None, "submit_failed", digest)
            return RequestRecord(
                line=item.line, status="error", error=str(exc), exception=exc, ambiguous=ambiguous
            )
        self._track(item.line, handle, digest)
        with self.ledger.together():  # the line's id and its request's row: one commit
            self.ledger.save_line(item.line, handle.request_id, "submitted", digest)
            self.ledger.record_request(handle.request_id, item.input, model_api_base=client.model_api_base)
        self.on_update(BatchEvent("submitted", item.line, handle.request_id))
        record = self._finish(item, handle, digest, resumed=False)
        record.ambiguous = ambiguous
        return record

    def _recorded_failure(self, item: BatchInput, previous: BatchItemState) -> RequestRecord:
        """A line whose request already ended ``failed``: reported again from the journal, with no call."""
        error = self.ledger.recorded_error(previous.request_id)
        failure = RequestFailed(
            f"request failed: {describe_error(error)}", request_id=previous.request_id, error=error
        )
        return RequestRecord(
            previous.request_id,
            "failed",
            line=item.line,
            error=error,
            model_id=self.model_id,
            reused=True,
            exception=failure,
        )

    def _finish(
        self, item: BatchInput, handle: RequestHandle, digest: str, *, resumed: bool
    ) -> RequestRecord:
        try:
            with self.ledger.hold(f"request:{handle.request_id}", f"request {handle.request_id}"):
                return self._wait_and_save(item, handle, digest, resumed=resumed)
        except AlreadyRunning as exc:  # another process is fetching it: a rerun resumes it afterwards
            return RequestRecord(
                handle.request_id, "error", line=item.line, error=str(exc), exception=exc, resumed=resumed
            )

    def _wait_and_save(
        self, item: BatchInput, handle: RequestHandle, digest: str, *, resumed: bool
    ) -> RequestRecord:
        record = RequestRecord(handle.request_id, line=item.line, resumed=resumed, model_id=self.model_id)
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
            with self.ledger.together():
                self.ledger.save_line(item.line, handle.request_id, "timed_out", digest)
                self.ledger.update_request(handle.request_id, status="timed_out")
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
                client=self._downloads(),
                trusted_origins=self.trusted_origins,
                name_prefix=f"{item.line:0{self._width}d}-",
                should_abort=self.stop.is_set,
                hidden=self.client.secrets,
                sweep_stale=False,  # swept once when the batch started
            )
            record.add_downloads(report)
            if report.failed:
                url, error = report.failed[0]
                record.status, record.error, record.exception = "download_failed", f"{url}: {error}", error
            elif not report.complete:
                incomplete = DownloadError(
                    "the output is too large or too deeply nested to look through completely",
                    request_id=handle.request_id,
                )
                record.status, record.error, record.exception = "download_failed", str(incomplete), incomplete
        files = record.file_dicts()
        with self.ledger.together():  # the line's ending and its request's: one commit
            self.ledger.save_line(item.line, handle.request_id, record.status, digest, files=files)
            self.ledger.update_request(
                handle.request_id,
                status=record.status,
                output=result.output,
                error=result.error,
                files=files,
            )
        return record

    # -- bookkeeping -----------------------------------------------------------------------------------------

    def _downloads(self) -> httpx.Client:
        """This worker's file client (made at its first file)."""
        download_client: httpx.Client | None = getattr(self._per_thread, "downloads", None)
        if download_client is None:
            download_client = self._per_thread.downloads = make_download_client()
            with self._lock:
                self._download_clients.append(download_client)
        return download_client

    def _track(self, line: int, handle: RequestHandle, digest: str) -> None:
        with self._lock:
            self._inflight[line] = (handle, digest)


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
