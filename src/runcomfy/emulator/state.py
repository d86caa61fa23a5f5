"""The emulator's whole state: one store and one clock shared by the accounts and each API's queue, plus the
settings the control plane may change until a reset.

:class:`EmulatorState` is what the routes and the control plane are handed. It puts the parts together
(:mod:`~runcomfy.emulator.accounts` for tokens and device codes, :mod:`~runcomfy.emulator.worker_queue` for the
Model API's requests, :mod:`~runcomfy.emulator.serverless` for deployments, :mod:`~runcomfy.emulator.trainer`
for datasets and training jobs, :mod:`~runcomfy.emulator.billing` for the one wallet every API charges) and owns what spans them: the settings, a reset, and the clock's
persisted offset. A new emulated API adds its own queue or records here next to ``requests``. This module
knows nothing of HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runcomfy.emulator.accounts import Accounts, TokenRecord
from runcomfy.emulator.billing import Billing
from runcomfy.emulator.catalog import CATALOG
from runcomfy.emulator.clock import Clock
from runcomfy.emulator.dataset_storage import Storage
from runcomfy.emulator.models import Model, Production
from runcomfy.emulator.serverless import Serverless
from runcomfy.emulator.serverless_settings import ServerlessSettings
from runcomfy.emulator.store import MemoryStore, Store
from runcomfy.emulator.trainer import Trainer
from runcomfy.emulator.trainer_settings import TrainerSettings
from runcomfy.emulator.worker_queue import Job, WorkerQueue

JSON = dict[str, Any]


@dataclass(frozen=True)
class Settings:
    """What the emulator was started with, and what a reset goes back to."""

    workers: int = 2
    durations: dict[str, float] = field(default_factory=dict)
    device_expires_s: int = 600
    device_poll_interval_s: int = 2


def _produce(job: Job) -> Production:
    return CATALOG[job.model_id].produce(job.request_id, job.input)


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
        serverless: ServerlessSettings | None = None,
        trainer: TrainerSettings | None = None,
        trainer_files: Path | None = None,
    ) -> None:
        """``serverless``: the Serverless API's settings (cold starts, run times, balance, webhooks);
        ``trainer``: the Trainer API's; ``trainer_files``: where datasets and artifacts are kept (None: a
        temporary directory, removed by :meth:`close`)."""
        self.store: Store = store or MemoryStore()
        self.clock = clock or Clock()
        self._started_with = Settings(
            max(1, workers), dict(durations or {}), device_expires_s, device_poll_interval_s
        )
        meta = self.store.load("meta")
        self.clock.offset = float(meta.get("clock_offset", self.clock.offset))
        self.accounts = Accounts(self.store, self.clock)
        self.requests = WorkerQueue(
            self.store, self.clock, produce=_produce, workers=self._started_with.workers
        )
        serverless = serverless or ServerlessSettings()
        self.billing = Billing(self.store, starting_usd=serverless.balance_usd)
        self.serverless = Serverless(self.store, self.clock, self.billing, serverless)
        self.trainer = Trainer(
            self.store, self.clock, self.billing, trainer or TrainerSettings(), Storage(trainer_files)
        )
        self.billing.before_read.append(self.trainer.advance)
        self._restore_settings()

    def _restore_settings(self) -> None:
        """The settings the emulator was started with (the control plane may change them until a reset)."""
        started = self._started_with
        self.workers, self.durations = started.workers, dict(started.durations)
        self.device_expires_s, self.device_poll_interval_s = (
            started.device_expires_s,
            started.device_poll_interval_s,
        )

    @property
    def workers(self) -> int:
        """How many Model API requests run at once."""
        return self.requests.workers

    @workers.setter
    def workers(self, count: int) -> None:
        self.requests.workers = count

    def save_clock(self) -> None:
        """Persist the clock offset (after a control-plane change)."""
        self.store.put("meta", "clock_offset", self.clock.offset)

    def reset(self) -> None:
        """Forget every request, deployment, balance, device code and minted token, and go back to the settings
        the emulator was started with; keep static tokens (and the example deployment, if it seeds one)."""
        with self.serverless.lock:  # the webhook worker must not write rows between the clear and the resets
            self.store.clear()
            self.accounts.reset()
            self.requests.reset()
            self._restore_settings()
            self.clock.offset = 0.0
            self.billing.reset(self.serverless.started_with.balance_usd)
            self.serverless.reset()
            self.trainer.reset()

    def advance(self) -> None:
        """Bring every queue up to the clock's time."""
        self.requests.advance()
        self.serverless.advance()
        self.trainer.advance()

    def close(self) -> None:
        """Close the store and remove the Trainer API's temporary files."""
        self.store.close()
        self.trainer.close()

    # -- the calls every API makes -----------------------------------------------------------------------

    def add_static_token(self, token: str) -> TokenRecord:
        """Register a token given on the command line (see :meth:`Accounts.add_static_token`)."""
        return self.accounts.add_static_token(token)

    def authenticate(self, token: str | None) -> TokenRecord | None:
        """The owner of ``token``, or None if it is unknown."""
        return self.accounts.authenticate(token)

    # -- Model API requests ------------------------------------------------------------------------------

    def duration_for(self, model: Model, input_data: JSON) -> float:
        """Configured run time: per-model override, then ``*``, then the model's own."""
        if model.model_id in self.durations:
            return self.durations[model.model_id]
        if "*" in self.durations:
            return self.durations["*"]
        return model.duration_s(input_data)

    def submit(self, owner: TokenRecord, model: Model, input_data: JSON) -> Job:
        """Queue a validated Model API request for ``owner`` (who can pay for it), and charge its price."""
        job = self.requests.submit(
            owner.user_id, model.model_id, input_data, self.duration_for(model, input_data)
        )
        self.billing.charge(
            owner.user_id,
            job.request_id,
            model.base_price_usd,
            kind="model",
            description=model.model_id,
            now=job.submitted_at,
        )
        return job

    def cancel(self, job: Job) -> str:
        """Cancel a Model API request (see :meth:`WorkerQueue.cancel`); one that never ran is refunded."""
        outcome = self.requests.cancel(job)
        if outcome == "cancelled":
            self.billing.refund(job.request_id)
        return outcome
