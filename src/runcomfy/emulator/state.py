"""The emulator's model of the service: tokens, device codes, requests and the worker queue.

Progress is a pure function of time. Nothing runs in the background: every read first calls :meth:`advance`,
which replays what N workers would have done since the last read (start queued requests in FIFO order as
workers free up, finish running ones whose time has come). So tests move a :class:`Clock` instead of
sleeping, a zero duration finishes at once, and a request survives a restart or a short-lived process
(the CLI's ``--local`` mode) because its timeline is recorded, not executed.

This module knows nothing of HTTP; it never fetches anything from the network.
"""

from __future__ import annotations

import hashlib
import heapq
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from runcomfy.emulator.models import CATALOG, Model
from runcomfy.emulator.store import MemoryStore, Store

JSON = dict[str, Any]
NAMESPACE = uuid.UUID("5b0e7c1e-6a4f-4d0a-9a57-2f1f3c7e8d10")
USER_CODE_LETTERS = "BCDFGHJKLMNPQRSTVWXZ"
WEB_USER_EMAIL = "you@emulator.local"


def token_digest(token: str) -> str:
    """The only form in which a token is kept."""
    return hashlib.sha256(token.encode()).hexdigest()


class Clock:
    """Wall-clock seconds plus an adjustable offset, so tests and users can fast-forward time."""

    def __init__(self, base: Callable[[], float] = time.time, offset: float = 0.0) -> None:
        self._base = base
        self.offset = offset

    def now(self) -> float:
        """The emulator's current time in Unix seconds."""
        return self._base() + self.offset

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``."""
        self.offset += seconds


@dataclass
class TokenRecord:
    """Who a token belongs to."""

    user_id: str
    email: str
    token_type: str
    created_at: float


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


@dataclass
class DeviceCode:
    """One device-code login session."""

    user_code: str
    created_at: float
    expires_at: float
    poll_interval: int
    status: str = "pending"
    access_token: str | None = None  # held only between approval and the poll that delivers it
    polls: int = field(default=0)


class EmulatorState:
    """Everything the routes read and change, with write-through persistence."""

    def __init__(
        self,
        *,
        store: Store | None = None,
        clock: Clock | None = None,
        workers: int = 2,
        durations: dict[str, float] | None = None,
        device_expires_s: int = 600,
        device_poll_interval_s: int = 2,
    ) -> None:
        self.store: Store = store or MemoryStore()
        self.clock = clock or Clock()
        self._started_with = (
            max(1, workers),
            dict(durations or {}),
            device_expires_s,
            device_poll_interval_s,
        )
        self._restore_settings()
        self._load()

    def _restore_settings(self) -> None:
        """The settings the emulator was started with (the control plane may change them until a reset)."""
        workers, durations, expires, interval = self._started_with
        self.workers, self.durations = workers, dict(durations)
        self.device_expires_s, self.device_poll_interval_s = expires, interval

    # -- persistence -------------------------------------------------------------------------------------

    def _load(self) -> None:
        self.tokens = {k: TokenRecord(**v) for k, v in self.store.load("tokens").items()}
        self.devices = {k: DeviceCode(**v) for k, v in self.store.load("devices").items()}
        self.jobs = {k: Job(**v) for k, v in self.store.load("jobs").items()}
        meta = self.store.load("meta")
        self.clock.offset = float(meta.get("clock_offset", self.clock.offset))
        self._seq = max((job.seq for job in self.jobs.values()), default=0)
        ordered = sorted(self.jobs.values(), key=lambda job: job.seq)
        self._queue = [job.request_id for job in ordered if job.status == "in_queue"]
        self._running = {job.request_id for job in ordered if job.status == "in_progress"}
        self._not_before = float("-inf")  # a worker freed early (forced failure) starts nothing in the past

    def _save_job(self, job: Job) -> None:
        self.store.put("jobs", job.request_id, asdict(job))

    def save_clock(self) -> None:
        """Persist the clock offset (after a control-plane change)."""
        self.store.put("meta", "clock_offset", self.clock.offset)

    def reset(self) -> None:
        """Forget every request, device code and minted token, and go back to the settings the emulator was
        started with; keep static tokens."""
        static = {k: v for k, v in self.tokens.items() if v.token_type == "api"}
        self._restore_settings()
        self.store.clear()
        self.jobs, self.devices, self.tokens = {}, {}, {}
        self._queue, self._running, self._seq = [], set(), 0
        self._not_before = float("-inf")
        self.clock.offset = 0.0
        for digest, record in static.items():
            self._put_token(digest, record)

    # -- tokens ------------------------------------------------------------------------------------------

    def _put_token(self, digest: str, record: TokenRecord) -> None:
        self.tokens[digest] = record
        self.store.put("tokens", digest, asdict(record))

    def add_static_token(self, token: str) -> TokenRecord:
        """Register a token given on the command line; each static token is its own user."""
        digest = token_digest(token)
        if digest not in self.tokens:
            user = uuid.uuid5(NAMESPACE, digest)
            record = TokenRecord(str(user), f"user-{digest[:8]}@emulator.local", "api", self.clock.now())
            self._put_token(digest, record)
        return self.tokens[digest]

    def authenticate(self, token: str | None) -> TokenRecord | None:
        """The owner of ``token``, or None if it is unknown."""
        if not token:
            return None
        return self.tokens.get(token_digest(token))

    # -- device-code login -------------------------------------------------------------------------------

    def start_device(self) -> tuple[str, DeviceCode]:
        """A new device session: ``(device_code, record)``; the device code is returned once, never stored."""
        device_code = secrets.token_urlsafe(32)
        letters = "".join(secrets.choice(USER_CODE_LETTERS) for _ in range(4))
        digits = "".join(secrets.choice("0123456789") for _ in range(4))
        now = self.clock.now()
        record = DeviceCode(
            f"{letters}-{digits}", now, now + self.device_expires_s, self.device_poll_interval_s
        )
        self._put_device(token_digest(device_code), record)
        return device_code, record

    def _put_device(self, digest: str, record: DeviceCode) -> None:
        self.devices[digest] = record
        self.store.put("devices", digest, asdict(record))

    def poll_device(self, device_code: str) -> tuple[str, str | None]:
        """``(status, access_token)`` for a poll; the token is handed out exactly once."""
        digest = token_digest(device_code)
        record = self.devices.get(digest)
        if record is None:
            return "expired", None
        record.polls += 1
        if record.status == "pending" and self.clock.now() >= record.expires_at:
            record.status = "expired"
        token = None
        if record.status == "authorized":
            token, record.access_token = record.access_token, None
            if token is None:
                record.status = "expired"
        self._put_device(digest, record)
        return ("authorized", token) if token else (record.status, None)

    def find_device(self, user_code: str) -> tuple[str, DeviceCode] | None:
        """The pending session a typed user code belongs to (case and dash insensitive)."""
        wanted = "".join(ch for ch in user_code.upper() if ch.isalnum())
        now = self.clock.now()
        for digest, record in self.devices.items():
            if (
                record.user_code.replace("-", "") == wanted
                and record.status == "pending"
                and now < record.expires_at
            ):
                return digest, record
        return None

    def decide_device(self, digest: str, approve: bool) -> None:
        """Authorize (minting a CLI token for the web user) or deny a pending session."""
        record = self.devices[digest]
        if approve:
            token = "rcemu_" + secrets.token_urlsafe(32)
            user = uuid.uuid5(NAMESPACE, WEB_USER_EMAIL)
            self._put_token(
                token_digest(token), TokenRecord(str(user), WEB_USER_EMAIL, "cli", self.clock.now())
            )
            record.status, record.access_token = "authorized", token
        else:
            record.status = "denied"
        self._put_device(digest, record)

    # -- requests ----------------------------------------------------------------------------------------

    def duration_for(self, model: Model, input_data: JSON) -> float:
        """Configured run time: per-model override, then ``*``, then the model's own."""
        if model.model_id in self.durations:
            return self.durations[model.model_id]
        if "*" in self.durations:
            return self.durations["*"]
        return model.duration_s(input_data)

    def submit(self, owner: TokenRecord, model: Model, input_data: JSON) -> Job:
        """Queue a validated request."""
        self._seq += 1
        job = Job(
            request_id=str(uuid.uuid4()),
            owner=owner.user_id,
            model_id=model.model_id,
            input=input_data,
            seq=self._seq,
            submitted_at=self.clock.now(),
            duration_s=self.duration_for(model, input_data),
        )
        self.jobs[job.request_id] = job
        self._queue.append(job.request_id)
        self._save_job(job)
        self.advance()
        return job

    def advance(self) -> None:
        """Replay the workers up to now: start what could start, finish what is due."""
        now = self.clock.now()
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
            self._save_job(job)
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
            production = CATALOG[job.model_id].produce(job.request_id, job.input)
            if production.error is not None:
                job.status, job.error = "failed", production.error
            else:
                job.status, job.output = "completed", production.output
        self._save_job(job)

    def get(self, request_id: str) -> Job | None:
        """A request, brought up to date."""
        self.advance()
        return self.jobs.get(request_id)

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
        job.status, job.finished_at = "cancelled", self.clock.now()
        self._save_job(job)
        return "cancelled"

    def force_fail(self, job: Job, error: JSON) -> bool:
        """Make a queued or running request end ``failed`` now; False if it had already finished."""
        self.advance()
        if job.status not in ("in_queue", "in_progress"):
            return False
        now = self.clock.now()
        job.forced_error = error
        if job.status == "in_queue":
            self._queue.remove(job.request_id)
            job.status, job.error, job.finished_at = "failed", error, now
            self._save_job(job)
        else:
            job.finishes_at = now
            self._finish(job)
            self._not_before = now
        self.advance()
        return True
