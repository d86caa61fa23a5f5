"""The control plane's part for the Trainer API (mounted by :mod:`~runcomfy.emulator.control_routes`, under the
same rules: no authentication, loopback only, checked bodies, never logged or faulted).

| Method and path                              | Body                     | Effect |
|----------------------------------------------|--------------------------|--------|
| ``GET /_emulator/training``                  |                          | every dataset and training job, with each job's runs and artifacts |
| ``POST /_emulator/training/{job_id}/stop``   | ``{"error"?: "message"}``| stop a queued or running job now, short of its last step (``STOPPED``, with ``result.error`` when a message is given) |
| ``POST /_emulator/training/{job_id}/fail``   | ``{"message"?: "..."}``  | end a queued or running job ``FAILED`` now |

The settings (``dataset_processing_s``, ``training_steps_per_s``, ``training_queue_s``, ``upload_url_ttl_s``)
are changed through ``/_emulator/config`` (see :mod:`~runcomfy.emulator.trainer_settings`). A job that has
ended is a 409; an unknown id a 404.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from runcomfy.emulator.bodies import CONTROL_BODY_LIMIT, read_json
from runcomfy.emulator.clock import iso
from runcomfy.emulator.errors import ServiceError, bad_request, not_found
from runcomfy.emulator.state import EmulatorState
from runcomfy.emulator.training_jobs import FAILED, STOPPED, TrainingJob, progress

MAX_MESSAGE_CHARS = 2000
DEFAULT_FAILURE = "forced failure (emulator control plane)"


class TrainerControl:
    """The handlers, bound to one state."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.trainer = state.trainer

    def routes(self) -> list[BaseRoute]:
        """The Trainer API's ``/_emulator`` routes."""
        return [
            Route("/_emulator/training", self.view, methods=["GET"]),
            Route("/_emulator/training/{job_id}/stop", self.stop, methods=["POST"]),
            Route("/_emulator/training/{job_id}/fail", self.fail, methods=["POST"]),
        ]

    async def view(self, request: Request) -> Response:
        trainer = self.trainer
        with trainer.lock:
            trainer.advance()
            datasets = [
                {**trainer.dataset_record(d, iso), "owner": d.owner}
                for d in sorted(trainer.datasets.all.values(), key=lambda d: d.seq)
            ]
            jobs = [
                self._job_view(job)
                for job in sorted(trainer.jobs.all.values(), key=lambda j: (j.created_at, j.id))
            ]
        return JSONResponse({"datasets": datasets, "jobs": jobs})

    def _job_view(self, job: TrainingJob) -> dict[str, Any]:
        now = progress(job, self.trainer.clock.now())
        view = asdict(job)
        view.update(
            status=now.status, current_step=now.current_step, total_steps=now.total_steps, error=now.error
        )
        return view

    async def stop(self, request: Request) -> Response:
        data = await _object(request)
        error = data.get("error")
        if error is not None and not _message_ok(error):
            raise bad_request(f"error must be a message of 1 to {MAX_MESSAGE_CHARS} characters (or absent)")
        return self._end(request.path_params["job_id"], STOPPED, error)

    async def fail(self, request: Request) -> Response:
        data = await _object(request)
        message = data.get("message", DEFAULT_FAILURE)
        if not _message_ok(message):
            raise bad_request(f"message must be 1 to {MAX_MESSAGE_CHARS} characters")
        return self._end(request.path_params["job_id"], FAILED, message)

    def _end(self, job_id: str, status: str, error: str | None) -> Response:
        trainer = self.trainer
        with trainer.lock:
            job = trainer.get(job_id)
            if job is None:
                raise not_found("no such training job")
            if not trainer.active(job):
                raise ServiceError(409, f"training job is already {trainer.status_of(job)}")
            trainer.end(job, status, error)
            return JSONResponse(self._job_view(job))


async def _object(request: Request) -> dict[str, Any]:
    data = await read_json(request, CONTROL_BODY_LIMIT)
    if not isinstance(data, dict):
        raise bad_request("body must be a JSON object")
    return data


def _message_ok(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip()) and len(value) <= MAX_MESSAGE_CHARS
