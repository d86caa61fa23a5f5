"""The Trainer API's state: datasets, their files and upload URLs, training jobs and their artifacts, the lock.

:class:`Trainer` puts the parts together (:mod:`~runcomfy.emulator.datasets` and
:mod:`~runcomfy.emulator.upload_urls` for the records, :mod:`~runcomfy.emulator.training_jobs` for the
timelines, :mod:`~runcomfy.emulator.dataset_storage` for the files) and owns what spans them: which dataset a
config's folder names, what a run writes as it passes its save and sample steps (checkpoints from
:mod:`~runcomfy.emulator.safetensors_file`, samples from :mod:`~runcomfy.emulator.training_media`), and
what it costs: the GPU seconds a run trained x ``gpu_count``, at the GPU type's price per second
(:data:`~runcomfy.emulator.billing.PRICES_USD_PER_S`), charged through :mod:`~runcomfy.emulator.billing` when
the run ends (queueing is free). New work (a submit or a resume) is refused while the balance is not above
zero, as for deployments: a run's cost is known only at its end.

:meth:`Trainer.advance` brings every job up to the clock (the routes call it before every read, the control
plane after the clock moves, and the billing before a balance is read). Everything holds :attr:`Trainer.lock`.
Nothing here knows HTTP; the routes check ownership before they call in.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runcomfy.emulator import ai_toolkit, safetensors_file, training_media
from runcomfy.emulator.billing import Billing, gpu_cost_usd
from runcomfy.emulator.clock import Clock
from runcomfy.emulator.dataset_storage import Storage
from runcomfy.emulator.datasets import READY, Dataset, Datasets, Lifecycle, lifecycle
from runcomfy.emulator.store import Store
from runcomfy.emulator.trainer_settings import TrainerSettings
from runcomfy.emulator.training_jobs import ACTIVE, TrainingJob, TrainingJobs, progress
from runcomfy.emulator.upload_urls import UploadUrls

JSON = dict[str, Any]
MAX_ARTIFACTS = 500  # checkpoints and samples one run may write: each is drawn on the request path
TRAINING_ERROR = "TRAINING_ERROR"


class Trainer:
    """Datasets and training jobs, written through to the store and the files' directory."""

    def __init__(
        self, store: Store, clock: Clock, billing: Billing, settings: TrainerSettings, storage: Storage
    ) -> None:
        self.lock = threading.RLock()
        self.clock, self.billing, self.storage = clock, billing, storage
        self.started_with = self.settings = settings
        self.datasets = Datasets(store)
        self.urls = UploadUrls(store)
        self.jobs = TrainingJobs(store)
        self._receiving: dict[str, int] = {}  # dataset id -> uploads arriving now

    def apply(self, settings: TrainerSettings) -> None:
        """Change the settings (runs started from now on use them)."""
        with self.lock:
            self.advance()
            self.settings = settings

    def reset(self) -> None:
        """Forget every dataset, URL, job and file; back to the settings started with (after the store is
        cleared)."""
        with self.lock:
            self.datasets.reset()
            self.urls.reset()
            self.jobs.reset()
            self._receiving = {}
            self.storage.clear()
            self.settings = self.started_with

    def close(self) -> None:
        """Remove the files, unless they are kept beside a database."""
        self.storage.close()

    # -- datasets --------------------------------------------------------------------------------------

    def dataset_lifecycle(self, dataset: Dataset) -> Lifecycle:
        """Where a dataset stands now."""
        urls = [(url.issued_at, url.expires_at, url.used_at) for url in self.urls.of_dataset(dataset.id)]
        return lifecycle(
            dataset,
            urls,
            self.clock.now(),
            self.settings.dataset_processing_s,
            receiving=self._receiving.get(dataset.id, 0) > 0,
        )

    def dataset_record(self, dataset: Dataset, iso: Callable[[float | None], str | None]) -> JSON:
        """A dataset as the service answers it."""
        now = self.dataset_lifecycle(dataset)
        return {
            "id": dataset.id,
            "name": dataset.name,
            "status": now.status,
            "created_at": iso(dataset.created_at),
            "updated_at": iso(now.updated_at),
            "error": now.error,
            "files": dataset.file_list(),
        }

    def create_dataset(self, owner: str, name: str | None) -> Dataset:
        """A new, empty dataset."""
        with self.lock:
            return self.datasets.create(owner, name, self.clock.now())

    def delete_dataset(self, dataset: Dataset) -> None:
        """Forget a dataset, its files and its upload URLs (jobs that trained on it keep their artifacts)."""
        with self.lock:
            self.urls.drop_dataset(dataset.id)
            self.datasets.delete(dataset)
            self.storage.remove(self.storage.dataset_dir(dataset.id))

    def file_path(self, dataset: Dataset, filename: str) -> Path:
        """Where a (checked) file name of a dataset is kept."""
        return self.storage.dataset_dir(dataset.id) / filename

    def receiving(self, dataset: Dataset, arriving: bool) -> None:
        """Note that an upload into ``dataset`` began (True) or ended, kept or not (False)."""
        with self.lock:
            count = self._receiving.get(dataset.id, 0) + (1 if arriving else -1)
            if count > 0:
                self._receiving[dataset.id] = count
            else:
                self._receiving.pop(dataset.id, None)

    def file_arrived(self, dataset: Dataset, filename: str, size: int, *, readable: bool) -> bool:
        """Record a complete file; False if the dataset was deleted meanwhile (the file is removed)."""
        with self.lock:
            if self.datasets.all.get(dataset.id) is not dataset:
                self.storage.remove(self.file_path(dataset, filename))
                return False
            self.datasets.add_file(dataset, filename, size, self.clock.now(), readable=readable)
            return True

    def issue_urls(self, owner: str, dataset: Dataset, sizes: dict[str, int]) -> dict[str, str]:
        """An upload URL token for each announced file."""
        with self.lock:
            now, ttl = self.clock.now(), self.settings.upload_url_ttl_s
            return {
                name: self.urls.issue(owner, dataset.id, name, size, now, ttl) for name, size in sizes.items()
            }

    def resolve_dataset(self, owner: str, ref: str) -> tuple[Dataset | None, str | None]:
        """The caller's READY dataset a config folder names (by id, else by name), or why there is none."""
        with self.lock:
            by_id = self.datasets.all.get(ref)
            if by_id is not None and by_id.owner == owner:
                found = [by_id]
            else:
                found = [d for d in self.datasets.owned_by(owner) if d.name == ref]
            if not found:
                return None, f"no dataset of yours is named (or has the id) {ref!r}"
            if len(found) > 1:
                return None, f"{len(found)} of your datasets are named {ref!r}: name it by its id"
            status = self.dataset_lifecycle(found[0]).status
            if status != READY:
                return None, f"dataset {ref!r} is {status}, not READY"
            return found[0], None

    # -- training jobs -----------------------------------------------------------------------------------

    def submit(
        self, owner: str, config_file: str, *, gpu_type: str, gpu_count: int, gpu_id: str | None
    ) -> TrainingJob:
        """Queue a checked config now."""
        with self.lock:
            self.advance()
            return self.jobs.submit(
                owner,
                config_file,
                gpu_type=gpu_type,
                gpu_count=gpu_count,
                gpu_id=gpu_id,
                now=self.clock.now(),
                queue_s=self.settings.training_queue_s,
                steps_per_s=self.settings.training_steps_per_s,
            )

    def get(self, job_id: str) -> TrainingJob | None:
        """A job, brought up to date."""
        with self.lock:
            self.advance()
            return self.jobs.all.get(job_id)

    def status_of(self, job: TrainingJob) -> str:
        """A job's status now (after :meth:`advance`)."""
        return progress(job, self.clock.now()).status

    def end(self, job: TrainingJob, status: str, error: str | None = None) -> None:
        """End a queued or running job now (cancel, stop, fail); the caller checked it is active."""
        with self.lock:
            self.advance()
            self.jobs.end(job, status, self.clock.now(), error)
            self._charge(job, len(job.runs) - 1)

    def resume(self, job: TrainingJob) -> None:
        """Start a new run of an ended job from its last checkpoint."""
        with self.lock:
            self.advance()
            self.jobs.resume(
                job,
                now=self.clock.now(),
                queue_s=self.settings.training_queue_s,
                steps_per_s=self.settings.training_steps_per_s,
            )

    def edit(self, job: TrainingJob, config_file: str) -> None:
        """Replace an ended job's config."""
        with self.lock:
            self.jobs.edit(job, config_file)

    def has_checkpoint(self, owner: str, filename: str) -> bool:
        """Whether ``owner`` has trained a checkpoint of this file name (a LoRA the Model API can apply)."""
        with self.lock:
            self.advance()
            return any(
                job.owner == owner and job.artifacts.get(filename, {}).get("kind") == "checkpoint"
                for job in self.jobs.all.values()
            )

    def artifact_path(self, job: TrainingJob, filename: str) -> Path | None:
        """The file of one of a job's artifacts, or None if it has written none of that name."""
        if filename not in job.artifacts:
            return None
        return self.storage.job_dir(job.id) / filename

    # -- time passing -------------------------------------------------------------------------------------

    def advance(self) -> None:
        """Bring every job up to the clock: write what its runs have passed, record and charge their ends."""
        with self.lock:
            now = self.clock.now()
            for job in self.jobs.all.values():
                run = job.last
                if run.ended_at is None and self.jobs.settle(job, now):
                    self._write_through(job, run.total_steps)
                    self._charge(job, len(job.runs) - 1)
                elif run.ended_at is None and now >= run.starts_at:
                    self._write_through(job, run.step_at(now))

    def _write_through(self, job: TrainingJob, step: int) -> None:
        """Write the checkpoints and samples of the steps the job's run passed up to ``step``."""
        run = job.last
        if step <= run.written_step:
            return
        plan = job.plan
        folder = self.storage.job_dir(job.id)
        for at, filename in ai_toolkit.checkpoint_names(plan):
            if run.written_step < at <= step:
                data = safetensors_file.lora_checkpoint(
                    plan.name, at, base_model=plan.base_model, trigger_word=plan.trigger_word, seed=plan.seed
                )
                self._record(
                    job, "checkpoint", filename, at, self.storage.write_bytes(folder / filename, data)
                )
        for at in ai_toolkit.sample_steps(plan):
            if not run.written_step < at <= step:
                continue
            for prompt, filename in ai_toolkit.sample_names(plan, at):
                data = training_media.sample_image(
                    prompt,
                    step=at,
                    total_steps=plan.steps,
                    lora_name=plan.name,
                    seed=plan.seed,
                    width=plan.sample_width,
                    height=plan.sample_height,
                )
                size = self.storage.write_bytes(folder / filename, data)
                self._record(job, "sample", filename, at, size, prompt=prompt)
        run.written_step = step
        self.jobs.save(job)

    def _record(self, job: TrainingJob, kind: str, filename: str, step: int, size: int, **extra: Any) -> None:
        job.artifacts[filename] = {
            "kind": kind,
            "filename": filename,
            "run_name": job.plan.name,
            "step": step,
            "size_bytes": size,
            **extra,
        }

    def _charge(self, job: TrainingJob, index: int) -> None:
        run = job.runs[index]
        seconds = run.trained_s()
        if seconds <= 0:
            return
        count = job.gpu_count
        self.billing.charge(
            job.owner,
            f"training:{job.id}:{index}",
            gpu_cost_usd(job.gpu_type, seconds * count),
            kind="training",
            description=f"{seconds:g} s on {count} x {job.gpu_type} (training job {job.id})",
            now=run.ended_at or self.clock.now(),
        )

    def active(self, job: TrainingJob) -> bool:
        """Whether a job is queued, resuming or running now."""
        return self.status_of(job) in ACTIVE


def artifact_count(plan: ai_toolkit.TrainingPlan) -> int:
    """How many files a full run of ``plan`` writes."""
    samples = len(ai_toolkit.sample_steps(plan)) * len(plan.sample_prompts)
    return len(ai_toolkit.checkpoint_names(plan)) + samples
