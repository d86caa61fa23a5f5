"""The Trainer API's AI Toolkit jobs under ``/prod/v1/trainers/ai-toolkit/jobs``, and their artifact files.

| Route | Answer |
|---|---|
| ``POST .../jobs`` ``{config_file_format: "yaml", config_file, gpu_type?, gpu_count?, gpu_id?}`` | the job's status |
| ``GET .../jobs/{id}/status`` | ``{id, name, status, progress: {current_step, total_steps, percent}, error, created_at, started_at, finished_at, result_url, ...}`` |
| ``GET .../jobs/{id}/result`` | the status plus ``artifacts: {checkpoints, samples}`` (and ``result.error`` when it stopped on an error) |
| ``POST .../jobs/{id}/cancel`` | the status (``CANCELED``); 409 once it has ended |
| ``POST .../jobs/{id}/resume`` ``{}`` | the status (``RESUMING``); 409 unless it stopped short, failed or was cancelled |
| ``POST .../jobs/{id}/edit`` ``{config_file_format, config_file}`` | the status; 409 while it is queued or running |
| ``GET /trainer-files/{job id}/{file name}`` | an artifact (public like the other file URLs; ranges) |

A config is checked by :mod:`~runcomfy.emulator.ai_toolkit`; its dataset folders must name READY datasets of
the caller (by name or id). Every problem is a 422 whose ``detail`` names its place, including in the YAML
(``["body", "config_file", "config", "process", 0, ...]``). ``gpu_type`` is ``ADA_80_PLUS`` (the default) or
``HOPPER_141``, ``gpu_count`` 1 (the default) or 8. A submit or resume is refused with 402 (``10001``) while
the balance is not above zero; what a run costs is charged when it ends (:mod:`~runcomfy.emulator.trainer`).
Ownership answers as the other APIs (401, 404 ``404001``, 403 ``403003``). This module must never show one
user's job to another.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from runcomfy.emulator.ai_toolkit import TRAINING_FOLDER, ConfigProblem, TrainingPlan, parse_config
from runcomfy.emulator.bodies import read_json
from runcomfy.emulator.dataset_storage import Storage
from runcomfy.emulator.errors import ServiceError, insufficient_funds, not_found, validation_error
from runcomfy.emulator.files import serve_file
from runcomfy.emulator.models import RenderedFile
from runcomfy.emulator.routing import Endpoint, caller, iso, origin_of
from runcomfy.emulator.state import EmulatorState
from runcomfy.emulator.trainer import MAX_ARTIFACTS, TRAINING_ERROR, Trainer, artifact_count
from runcomfy.emulator.training_jobs import (
    CANCELED,
    FAILED,
    STOPPED,
    TrainingJob,
    last_checkpoint_step,
    progress,
)

ROUTE_NAMES = (
    "training-submit",
    "training-status",
    "training-result",
    "training-cancel",
    "training-resume",
    "training-edit",
    "trainer-file",
)
PREFIX = "/prod/v1/trainers/ai-toolkit/jobs"
FILES_PREFIX = "/trainer-files"
GPU_TYPES = ("ADA_80_PLUS", "HOPPER_141")
GPU_COUNTS = (1, 8)
JOB_BODY_LIMIT = 2 * 1024 * 1024  # a config of up to 1 MiB, JSON-escaped
MAX_GPU_ID_CHARS = 128
NOT_OWNED = 403003
_DATASETS_LOC = ["body", "config_file", "config", "process", 0, "datasets"]


def owned_job(trainer: Trainer, user_id: str, job_id: str) -> TrainingJob:
    """The job named in a path if ``user_id`` owns it (brought up to date); else the service's 404 or 403."""
    job = trainer.get(job_id)
    if job is None:
        raise not_found(f"Training job {job_id} not found", "The job id does not exist.")
    if job.owner != user_id:
        raise ServiceError(
            403,
            "Permission denied: the training job belongs to another user",
            f"Training job {job_id} is not owned by this token's user.",
            error_code=NOT_OWNED,
        )
    return job


def _problem(loc: list[Any], msg: str, kind: str = "value_error") -> dict[str, Any]:
    return {"loc": loc, "msg": msg, "type": kind}


def checked_config(
    trainer: Trainer, owner: str, body: dict[str, Any]
) -> tuple[TrainingPlan | None, list[dict[str, Any]]]:
    """The plan of a body's config, and every problem with it (format, YAML, datasets, size of the run)."""
    problems: list[dict[str, Any]] = []
    if body.get("config_file_format") != "yaml":
        problems.append(_problem(["body", "config_file_format"], "config_file_format must be 'yaml'", "enum"))
    config_file = body.get("config_file")
    if not isinstance(config_file, str) or not config_file.strip():
        kind = "missing" if config_file is None else "string_type"
        problems.append(_problem(["body", "config_file"], "config_file must be the config's YAML text", kind))
        return None, problems
    try:
        plan = parse_config(config_file)
    except ConfigProblem as bad:
        return None, problems + bad.problems
    for index, ref in enumerate(plan.dataset_refs):
        _dataset, why = trainer.resolve_dataset(owner, ref)
        if why is not None:
            problems.append(_problem([*_DATASETS_LOC, index, "folder_path"], why, "dataset_not_ready"))
    files = artifact_count(plan)
    if files > MAX_ARTIFACTS:
        message = (
            f"the run would write {files} checkpoints and samples; the emulator writes at most {MAX_ARTIFACTS} "
            "(raise save_every or sample_every, or use fewer prompts)"
        )
        problems.append(_problem(["body", "config_file"], message, "too_many_artifacts"))
    return plan, problems


def _gpu_fields(body: dict[str, Any]) -> tuple[str, int, str | None, list[dict[str, Any]]]:
    problems = []
    gpu_type = body.get("gpu_type")
    gpu_type = GPU_TYPES[0] if gpu_type is None else gpu_type
    if gpu_type not in GPU_TYPES:
        problems.append(
            _problem(["body", "gpu_type"], f"gpu_type must be one of {', '.join(GPU_TYPES)}", "enum")
        )
    gpu_count = body.get("gpu_count")
    gpu_count = 1 if gpu_count is None else gpu_count
    if isinstance(gpu_count, bool) or gpu_count not in GPU_COUNTS:
        problems.append(_problem(["body", "gpu_count"], "gpu_count must be 1 or 8", "enum"))
    gpu_id = body.get("gpu_id")
    if gpu_id is not None and (not isinstance(gpu_id, str) or not 0 < len(gpu_id) <= MAX_GPU_ID_CHARS):
        problems.append(_problem(["body", "gpu_id"], f"gpu_id must be 1 to {MAX_GPU_ID_CHARS} characters"))
    return str(gpu_type), int(gpu_count) if not problems else 1, gpu_id, problems


class TrainingApi:
    """The handlers, bound to one state."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.trainer = state.trainer

    async def _object_body(self, request: Request) -> dict[str, Any]:
        body = await read_json(request, JOB_BODY_LIMIT)
        if not isinstance(body, dict):
            raise validation_error(
                "the body must be an object", [_problem(["body"], "Input should be an object")]
            )
        return body

    def _refuse_unaffordable(self, user_id: str) -> None:
        billing = self.state.billing
        if not billing.can_pay(user_id, 0.0):
            raise insufficient_funds(billing.balance(user_id))

    async def submit(self, request: Request) -> Response:
        user = caller(self.state, request)
        body = await self._object_body(request)
        with self.trainer.lock:
            _plan, problems = checked_config(self.trainer, user.user_id, body)
            gpu_type, gpu_count, gpu_id, gpu_problems = _gpu_fields(body)
            if problems or gpu_problems:
                raise validation_error("the training job is not valid", problems + gpu_problems)
            self._refuse_unaffordable(user.user_id)
            job = self.trainer.submit(
                user.user_id, body["config_file"], gpu_type=gpu_type, gpu_count=gpu_count, gpu_id=gpu_id
            )
            return JSONResponse(job_status(self.trainer, job, origin_of(request)))

    async def status(self, request: Request) -> Response:
        user = caller(self.state, request)
        with self.trainer.lock:
            job = owned_job(self.trainer, user.user_id, request.path_params["job_id"])
            return JSONResponse(job_status(self.trainer, job, origin_of(request)))

    async def result(self, request: Request) -> Response:
        user = caller(self.state, request)
        with self.trainer.lock:
            job = owned_job(self.trainer, user.user_id, request.path_params["job_id"])
            return JSONResponse(job_result(self.trainer, job, origin_of(request)))

    async def cancel(self, request: Request) -> Response:
        user = caller(self.state, request)
        with self.trainer.lock:
            job = owned_job(self.trainer, user.user_id, request.path_params["job_id"])
            if not self.trainer.active(job):
                raise _wrong_state(
                    job, self.trainer, "only a queued, resuming or running job can be cancelled"
                )
            self.trainer.end(job, CANCELED)
            return JSONResponse(job_status(self.trainer, job, origin_of(request)))

    async def resume(self, request: Request) -> Response:
        user = caller(self.state, request)
        await read_json(request, JOB_BODY_LIMIT)  # ``{}``; read so a malformed one is a 422
        with self.trainer.lock:
            job = owned_job(self.trainer, user.user_id, request.path_params["job_id"])
            now = progress(job, self.trainer.clock.now())
            if not (now.status in (FAILED, CANCELED) or (now.status == STOPPED and now.stopped_short)):
                reason = (
                    f"it finished all {now.total_steps} steps; edit its config to train more"
                    if now.status == STOPPED
                    else "it has not ended"
                )
                raise _wrong_state(
                    job, self.trainer, f"only a stopped-short, failed or cancelled job resumes: {reason}"
                )
            self._refuse_unaffordable(user.user_id)
            self.trainer.resume(job)
            return JSONResponse(job_status(self.trainer, job, origin_of(request)))

    async def edit(self, request: Request) -> Response:
        user = caller(self.state, request)
        body = await self._object_body(request)
        with self.trainer.lock:
            job = owned_job(self.trainer, user.user_id, request.path_params["job_id"])
            if self.trainer.active(job):
                raise _wrong_state(job, self.trainer, "a job's config can be edited only once it has stopped")
            _plan, problems = checked_config(self.trainer, user.user_id, body)
            if problems:
                raise validation_error("the training config is not valid", problems)
            self.trainer.edit(job, body["config_file"])
            return JSONResponse(job_status(self.trainer, job, origin_of(request)))

    async def file(self, request: Request) -> Response:
        """An artifact; public like the service's file URLs, which carry no token."""
        job_id, filename = request.path_params["job_id"], request.path_params["filename"]
        with self.trainer.lock:
            job = self.trainer.get(job_id)
            path = self.trainer.artifact_path(job, filename) if job is not None else None
            entry = job.artifacts.get(filename) if job is not None else None
        if path is None or entry is None or not path.is_file():
            raise not_found("File not found", f"No file {filename} for training job {job_id}.")
        kind = "image/png" if entry["kind"] == "sample" else "application/octet-stream"
        size = path.stat().st_size
        rendered = RenderedFile(kind, size, lambda start, end: Storage.read_range(path, start, end))
        return serve_file(request, rendered)


def _wrong_state(job: TrainingJob, trainer: Trainer, why: str) -> ServiceError:
    status = trainer.status_of(job)
    return ServiceError(409, f"Training job is {status}: {why}", f"Training job {job.id} is {status}.")


def job_status(trainer: Trainer, job: TrainingJob, origin: str) -> dict[str, Any]:
    """A job as ``status`` answers it (call within the lock, after :meth:`Trainer.advance`)."""
    now = progress(job, trainer.clock.now())
    return {
        "id": job.id,
        "name": job.plan.name,
        "status": now.status,
        "progress": {
            "current_step": min(now.current_step, now.total_steps),
            "total_steps": now.total_steps,
            "percent": now.percent,
        },
        "error": now.error,
        "created_at": iso(job.created_at),
        "started_at": iso(now.started_at),
        "finished_at": iso(now.finished_at),
        "result_url": f"{origin}{PREFIX}/{job.id}/result",
        "gpu_type": job.gpu_type,
        "gpu_count": job.gpu_count,
        "gpu_id": job.gpu_id,
        "resume_from_step": last_checkpoint_step(job) if now.stopped_short else None,
    }


def job_result(trainer: Trainer, job: TrainingJob, origin: str) -> dict[str, Any]:
    """A job as ``result`` answers it: the status, its artifacts, and the error it stopped on."""
    answer = job_status(trainer, job, origin)
    entries = sorted(job.artifacts.values(), key=lambda e: (e["step"], e["filename"]))
    answer["artifacts"] = {
        "checkpoints": [_artifact(job, e, origin) for e in entries if e["kind"] == "checkpoint"],
        "samples": [_artifact(job, e, origin) for e in entries if e["kind"] == "sample"],
    }
    if answer["error"] is not None:
        answer["result"] = {"error": {"message": answer["error"], "code": TRAINING_ERROR}}
    return answer


def _artifact(job: TrainingJob, entry: dict[str, Any], origin: str) -> dict[str, Any]:
    filename = entry["filename"]
    rendered = {
        "filename": filename,
        "path": f"{TRAINING_FOLDER}/{entry['run_name']}/{filename}",
        "url": f"{origin}{FILES_PREFIX}/{job.id}/{filename}",
        "step": entry["step"],
        "size_bytes": entry["size_bytes"],
    }
    if "prompt" in entry:
        rendered["prompt"] = entry["prompt"]
    return rendered


def endpoints(state: EmulatorState) -> list[Endpoint]:
    """The training job routes and the artifact files."""
    api = TrainingApi(state)
    return [
        Endpoint(PREFIX, "training-submit", api.submit, ("POST",)),
        Endpoint(f"{PREFIX}/{{job_id}}/status", "training-status", api.status, ("GET",)),
        Endpoint(f"{PREFIX}/{{job_id}}/result", "training-result", api.result, ("GET",)),
        Endpoint(f"{PREFIX}/{{job_id}}/cancel", "training-cancel", api.cancel, ("POST",)),
        Endpoint(f"{PREFIX}/{{job_id}}/resume", "training-resume", api.resume, ("POST",)),
        Endpoint(f"{PREFIX}/{{job_id}}/edit", "training-edit", api.edit, ("POST",)),
        Endpoint(f"{FILES_PREFIX}/{{job_id}}/{{filename}}", "trainer-file", api.file, ("GET", "HEAD")),
    ]
