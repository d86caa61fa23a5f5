"""The queue model: submitted requests waiting for one of N workers, running, then finished.

Progress is a pure function of time. Nothing runs in the background: every read first calls
:meth:`WorkerQueue.advance`, which replays what N workers would have done since the last read (start queued
requests in FIFO order as workers free up, finish running ones whose time has come). So tests move a
:class:`~runcomfy.emulator.clock.Clock` instead of sleeping, a zero duration finishes at once, and a request
survives a restart or a short-lived process (the CLI's ``--local`` mode) because its timeline is recorded, not
executed.

The queue does not know what a request produces: it asks the ``produce`` function it was given when a run
ends, so each emulated API (Model API requests today; deployment requests and training jobs next) can keep
its own queue of the same kind. This module knows nothing of HTTP and never fetches anything.
"""

from __future__ import annotations

import heapq
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from runcomfy.emulator.clock import Clock
from runcomfy.emulator.models import Production
from runcomfy.emulator.store import Store

JSON = dict[str, Any]


@dataclass
class Job:
    """One submitted request and its timeline."""

    request_id: str
    owner: str
    model_id: str
    input: Any
    seq: int
    submitted_at: float
    duration_s: float
    status: str = "in_queue"
    started_at: float | None = None
    finishes_at: float | None = None
    finished_at: float | None = None
    output: Any = None
    error: JSON | None = None
    forced_error: JSON | None = None


class WorkerQueue:
    """Requests of one kind and the workers that run them, written through to one table of the store."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        produce: Callable[[Job], Production],
        workers: int,
        table: str = "jobs",
    ) -> None:
        self._store, self._clock, self._produce, self._table = store, clock, produce, table
        self.workers = workers
        self.jobs = {k: Job(**v) for k, v in store.load(table).items()}
        self._seq = max((job.seq for job in self.jobs.values()), default=0)
        ordered = sorted(self.jobs.values(), key=lambda job: job.seq)
        self._queue = [job.request_id for job in ordered if job.status == "in_queue"]
        self._running = {job.request_id for job in ordered if job.status == "in_progress"}
        self._not_before = float("-inf")  # a worker freed early (forced failure) starts nothing in the past

    def reset(self) -> None:
        """Forget every request (call after the store is cleared)."""
        self.jobs = {}
        self._queue, self._running, self._seq = [], set(), 0
        self._not_before = float("-inf")

    def _save(self, job: Job) -> None:
        self._store.put(self._table, job.request_id, asdict(job))

    def submit(self, owner: str, model_id: str, input_data: Any, duration_s: float) -> Job:
        """Queue a validated request that will run for ``duration_s`` seconds once a worker takes it."""
        self._seq += 1
        job = Job(
            request_id=str(uuid.uuid4()),
            owner=owner,
            model_id=model_id,
            input=input_data,
            seq=self._seq,
            submitted_at=self._clock.now(),
            duration_s=duration_s,
        )
        self.jobs[job.request_id] = job
        self._queue.append(job.request_id)
        self._save(job)
        self.advance()
        return job

    def advance(self) -> None:
        """Replay the workers up to now: start what could start, finish what is due."""
        if not self._queue and not self._running:  # nothing to replay (every status call comes here)
            return
        now = self._clock.now()
        free = [self.jobs[rid].finishes_at or 0.0 for rid in self._running]
        free += [float("-inf")] * (self.workers - len(free))
        heapq.heapify(free)
        while self._queue and free:
            job = self.jobs[self._queue[0]]
            start = max(free[0], job.submitted_at, self._not_before)
            if start > now:
                break
            heapq.heappop(free)
            self._queue.pop(0)
            job.status, job.started_at, job.finishes_at = "in_progress", start, start + job.duration_s
            heapq.heappush(free, job.finishes_at)
            self._running.add(job.request_id)
            self._save(job)
        for rid in sorted(self._running, key=lambda r: self.jobs[r].finishes_at or 0.0):
            job = self.jobs[rid]
            if job.finishes_at is not None and job.finishes_at <= now:
                self._finish(job)

    def _finish(self, job: Job) -> None:
        self._running.discard(job.request_id)
        job.finished_at = job.finishes_at
        if job.forced_error is not None:
            job.status, job.error = "failed", job.forced_error
        else:
            production = self._produce(job)
            if production.error is not None:
                job.status, job.error = "failed", production.error
            else:
                job.status, job.output = "completed", production.output
        self._save(job)

    def get(self, request_id: str) -> Job | None:
        """A request, brought up to date."""
        self.advance()
        return self.jobs.get(request_id)

    def in_order(self) -> list[Job]:
        """Every request, brought up to date, in the order they were submitted."""
        self.advance()
        return sorted(self.jobs.values(), key=lambda job: job.seq)

    def queue_position(self, job: Job) -> int | None:
        """How many queued requests are ahead of ``job`` (0 = next to start), or None if not queued."""
        if job.status != "in_queue":
            return None
        return self._queue.index(job.request_id)

    def cancel(self, job: Job) -> str:
        """``cancelled`` for a queued request; ``not_cancellable`` once it runs or has finished."""
        self.advance()
        if job.status != "in_queue":
            return "not_cancellable"
        self._queue.remove(job.request_id)
        job.status, job.finished_at = "cancelled", self._clock.now()
        self._save(job)
        return "cancelled"

    def force_fail(self, job: Job, error: JSON) -> bool:
        """Make a queued or running request end ``failed`` now; False if it had already finished."""
        self.advance()
        if job.status not in ("in_queue", "in_progress"):
            return False
        now = self._clock.now()
        job.forced_error = error
        if job.status == "in_queue":
            self._queue.remove(job.request_id)
            job.status, job.error, job.finished_at = "failed", error, now
            self._save(job)
        else:
            job.finishes_at = now
            self._finish(job)
            self._not_before = now
        self.advance()
        return True
