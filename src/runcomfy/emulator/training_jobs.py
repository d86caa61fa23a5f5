"""Training jobs and their timelines: how an AI Toolkit job queues, runs, saves, ends, and starts again.

A job is a list of runs: the first when it is submitted, one more each time it is resumed. A run waits its
queue time (``IN_QUEUE``, or ``RESUMING`` for a resumed run), then is ``RUNNING`` from its start step at a
steady number of steps per second, and ends ``STOPPED`` at the config's last step. It can end earlier:
cancelled (``CANCELED``), stopped short by the control plane (``STOPPED``, with an error when one is given)
or failed (``FAILED``). A resumed run starts from the step of the last checkpoint written (0 when there is
none). Each run keeps the speed, queue time and step count it started with, so a later settings change or
config edit never rewrites what already happened.

As in the other queues, progress is a pure function of time (:func:`progress`): nothing runs in the
background, and :meth:`TrainingJobs.settle` (called before every read) records the end of a run that has
reached its last step. Reading more or less often gives the same timeline, and a restart with ``--db`` loses
nothing. What a run produces on the way (checkpoint and sample files) and what it costs are the
:mod:`~runcomfy.emulator.trainer`'s to write; this module only says which steps a run has passed.

This module knows nothing of HTTP, money or files.
"""

from __future__ import annotations

import functools
import math
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from runcomfy.emulator.ai_toolkit import TrainingPlan, parse_config
from runcomfy.emulator.store import Store

IN_QUEUE, RUNNING, RESUMING = "IN_QUEUE", "RUNNING", "RESUMING"
STOPPED, FAILED, CANCELED = "STOPPED", "FAILED", "CANCELED"
ACTIVE = frozenset({IN_QUEUE, RUNNING, RESUMING})
TERMINAL = frozenset({STOPPED, FAILED, CANCELED})
_EPSILON = 1e-9  # float slack, so 1.0 s at 50 steps/s is step 50, not 49


@dataclass
class Run:
    """One run of a job: from ``queued_at`` it waits ``queue_s``, then trains from ``start_step`` to
    ``total_steps`` at ``steps_per_s``. ``ended_at`` / ``end_status`` / ``end_step`` are set when it ends;
    ``error`` is the message of a run stopped with one, or failed; ``written_step`` is how far its artifacts
    have been written."""

    queued_at: float
    start_step: int
    total_steps: int
    queue_s: float
    steps_per_s: float
    resumed: bool = False
    ended_at: float | None = None
    end_status: str | None = None
    end_step: int | None = None
    error: str | None = None
    written_step: int = 0

    @property
    def starts_at(self) -> float:
        """When it leaves the queue and starts training."""
        return self.queued_at + self.queue_s

    @property
    def natural_end(self) -> float:
        """When it reaches its last step, if nothing ends it earlier."""
        return self.starts_at + max(self.total_steps - self.start_step, 0) / self.steps_per_s

    def step_at(self, when: float) -> int:
        """The last step completed at ``when`` (as long as it has not ended)."""
        if when < self.starts_at:
            return self.start_step
        done = math.floor((when - self.starts_at) * self.steps_per_s + _EPSILON)
        return min(self.total_steps, self.start_step + done)

    def trained_s(self) -> float:
        """GPU seconds it trained (0 until it has ended, and for one that ended in the queue)."""
        if self.ended_at is None:
            return 0.0
        return max(0.0, self.ended_at - self.starts_at)


@dataclass
class TrainingJob:
    """One job. ``artifacts`` maps each written file name to ``{kind, filename, step, size_bytes[, prompt]}``."""

    id: str
    owner: str
    config_file: str
    gpu_type: str
    gpu_count: int
    gpu_id: str | None
    created_at: float
    runs: list[Run] = field(default_factory=list)
    artifacts: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def plan(self) -> TrainingPlan:
        """What its current config asks for."""
        return plan_of(self.config_file)

    @property
    def last(self) -> Run:
        """The run it is in, or ended with."""
        return self.runs[-1]


@functools.lru_cache(maxsize=256)
def plan_of(config_file: str) -> TrainingPlan:
    """The plan of a config already accepted once (parsed again only when not cached)."""
    return parse_config(config_file)


@dataclass(frozen=True)
class Progress:
    """Where a job stands at one moment."""

    status: str
    current_step: int
    total_steps: int
    started_at: float | None
    finished_at: float | None
    error: str | None

    @property
    def percent(self) -> float:
        """The share of its steps done, in percent (one decimal)."""
        return round(100 * min(self.current_step, self.total_steps) / max(self.total_steps, 1), 1)

    @property
    def stopped_short(self) -> bool:
        """Ended before its last step, or with an error: a resume can go on."""
        return self.status in TERMINAL and (self.current_step < self.total_steps or self.error is not None)


def progress(job: TrainingJob, now: float) -> Progress:
    """The job at ``now`` (call :meth:`TrainingJobs.settle` first, so a run past its end is recorded)."""
    run = job.last
    started = [
        r.starts_at
        for r in job.runs
        if now >= r.starts_at and (r.ended_at is None or r.ended_at > r.starts_at)
    ]
    started_at = started[-1] if started else None  # the latest run that got to train
    total = job.plan.steps
    if run.ended_at is not None:
        assert run.end_status is not None and run.end_step is not None
        return Progress(run.end_status, run.end_step, total, started_at, run.ended_at, run.error)
    if now < run.starts_at:
        status = RESUMING if run.resumed else IN_QUEUE
        return Progress(status, run.start_step, total, started_at, None, None)
    return Progress(RUNNING, run.step_at(now), total, started_at, None, None)


def last_checkpoint_step(job: TrainingJob) -> int:
    """The step of the last checkpoint written that the current config still reaches (0 if none)."""
    steps = [
        entry["step"]
        for entry in job.artifacts.values()
        if entry["kind"] == "checkpoint" and entry["step"] <= job.plan.steps
    ]
    return max(steps, default=0)


class TrainingJobs:
    """Every training job, written through to the store (table ``training_jobs``)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.all = {key: _load(value) for key, value in store.load("training_jobs").items()}

    def reset(self) -> None:
        """Forget every job (call after the store is cleared)."""
        self.all = {}

    def save(self, job: TrainingJob) -> None:
        """Write a changed job through."""
        self._store.put("training_jobs", job.id, asdict(job))

    def submit(
        self,
        owner: str,
        config_file: str,
        *,
        gpu_type: str,
        gpu_count: int,
        gpu_id: str | None,
        now: float,
        queue_s: float,
        steps_per_s: float,
    ) -> TrainingJob:
        """A new job of an accepted config, queued now."""
        job = TrainingJob(str(uuid.uuid4()), owner, config_file, gpu_type, gpu_count, gpu_id, now)
        job.runs.append(Run(now, 0, job.plan.steps, queue_s, steps_per_s))
        self.all[job.id] = job
        self.save(job)
        return job

    def resume(self, job: TrainingJob, *, now: float, queue_s: float, steps_per_s: float) -> None:
        """Start a new run of an ended job, from its last checkpoint's step."""
        start = last_checkpoint_step(job)
        job.runs.append(
            Run(now, start, job.plan.steps, queue_s, steps_per_s, resumed=True, written_step=start)
        )
        self.save(job)

    def end(self, job: TrainingJob, status: str, now: float, error: str | None = None) -> None:
        """End the running (or queued) run now with ``status``."""
        run = job.last
        run.ended_at, run.end_status, run.end_step, run.error = now, status, run.step_at(now), error
        self.save(job)

    def edit(self, job: TrainingJob, config_file: str) -> None:
        """Replace an ended job's config (its next run follows it)."""
        job.config_file = config_file
        self.save(job)

    def settle(self, job: TrainingJob, now: float) -> bool:
        """Record the end of a run that reached its last step by ``now``; whether it ended just now."""
        run = job.last
        if run.ended_at is not None or now < run.natural_end:
            return False
        run.ended_at, run.end_status, run.end_step = run.natural_end, STOPPED, run.total_steps
        self.save(job)
        return True


def _load(value: dict[str, Any]) -> TrainingJob:
    runs = [Run(**run) for run in value.pop("runs")]
    return TrainingJob(**value, runs=runs)
