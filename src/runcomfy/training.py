"""RunComfy's Trainer API, training jobs: :class:`Training` (``Client.training``).

A job trains a LoRA with AI Toolkit from a YAML config (:mod:`runcomfy.ai_toolkit_template` writes one). Its
lifecycle is a queue request's (submit, status, result, cancel), so waiting reuses the shared handle, wait loop
and retries (:mod:`runcomfy.lifecycle`, with :data:`~runcomfy.lifecycle.apis.TRAINING_API`): a status call that
fails during an outage is retried for the policy's window, where the official CLI ends an hours-long wait at the
first error. What is particular to training lives here: the job's own calls (``resume``, ``edit``), the progress
line (``RUNNING 16% (320/2000)``) and the one judgement the API leaves to its client: a job ``STOPPED`` short of
its last step (or with an error) did not finish and can be resumed from its latest checkpoint
(:func:`stopped_short`, :func:`raise_for_job`). Artifacts are downloaded by :mod:`runcomfy.training_artifacts`.

A wait never cancels a job: a training job is long and paid by the hour, and only an explicit ``cancel`` stops
it. Nothing here prints, prompts or exits.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from runcomfy.api_urls import join_url, quote_request_id
from runcomfy.errors import (
    APIResponseError,
    DownloadError,
    InvalidInput,
    RequestCancelled,
    RequestFailed,
    TrainingIncomplete,
    WaitTimeout,
)
from runcomfy.lifecycle.apis import TRAINING_API
from runcomfy.lifecycle.context import CallContext
from runcomfy.lifecycle.handle import RequestHandle
from runcomfy.retry import should_retry_submit
from runcomfy.safe_text import redact, strip_controls
from runcomfy.status import Progress, RequestStatus

if TYPE_CHECKING:
    from runcomfy.downloads import Origin, SavedFile

__all__ = [
    "DEFAULT_GPU_TYPE",
    "DEFAULT_POLL_INTERVAL_S",
    "GPU_COUNTS",
    "GPU_TYPES",
    "TRAINING_PREFIX",
    "JobOutcome",
    "Training",
    "job_line",
    "job_outcome",
    "job_progress",
    "raise_for_job",
    "stopped_short",
    "training_of",
]

#: How a training job is named where a model id would stand (the journal): ``training/<job name>``.
TRAINING_PREFIX = "training/"
JOBS_PATH = ("trainers", "ai-toolkit", "jobs")
GPU_TYPES = ("ADA_80_PLUS", "HOPPER_141")
DEFAULT_GPU_TYPE = "ADA_80_PLUS"
GPU_COUNTS = (1, 8)
DEFAULT_POLL_INTERVAL_S = 10.0

ProgressHook = Callable[[RequestStatus], None]
JobOutcome = Literal["finished", "incomplete", "failed", "cancelled", "unfinished"]


class Training:
    """The training-job calls of one client (they share its session, retries and clock).

    ``api_bases`` are the client's configured API bases: their origins are trusted for artifact downloads
    beside RunComfy's own hosts (an emulator serves its files from its own origin).
    """

    def __init__(self, ctx: CallContext, *, api_bases: Iterable[str] = ()) -> None:
        self.ctx = ctx
        self.api_bases = tuple(api_bases)

    def __repr__(self) -> str:
        return f"Training(base={self.ctx.base!r})"

    # --- calls ---------------------------------------------------------------------------------------------

    def submit(
        self,
        config_yaml: str,
        *,
        gpu_type: str = DEFAULT_GPU_TYPE,
        gpu_count: int | None = None,
        gpu_id: str | None = None,
    ) -> dict[str, Any]:
        """``POST /trainers/ai-toolkit/jobs``: start a job with an AI Toolkit YAML config; the new job
        (``id``, ``name``, ``status``...). Retried only on 429 or when nothing was sent (a job is paid)."""
        body = _config_body(config_yaml)
        body["gpu_type"] = gpu_type
        if gpu_count is not None:
            body["gpu_count"] = gpu_count
        if gpu_id is not None:
            body["gpu_id"] = gpu_id
        url = join_url(self.ctx.base, *JOBS_PATH)
        payload = self.ctx.retrying(
            lambda: self.ctx.request_json("POST", url, json_body=body), retry_if=should_retry_submit
        )
        job_id = payload.get("id")
        if not isinstance(job_id, str) or not job_id:
            raise APIResponseError(f"POST {url}: the reply has no job id")
        try:
            quote_request_id(job_id)
        except InvalidInput as exc:
            raise APIResponseError(f"POST {url}: the service returned an unusable job id ({exc})") from None
        return payload

    def handle(self, job_id: str) -> RequestHandle:
        """A handle on a job, as on any queue request (status, result, wait; its cancel is :meth:`cancel`)."""
        quote_request_id(job_id)
        return RequestHandle(self.ctx, job_id, api=TRAINING_API)

    def status(self, job_id: str) -> dict[str, Any]:
        """``GET .../jobs/{id}/status``: ``{id, name, status, progress, error, created_at, ...}``."""
        return dict(self.handle(job_id).status().payload)

    def result(self, job_id: str) -> dict[str, Any]:
        """``GET .../jobs/{id}/result``: the status fields plus ``artifacts`` (``checkpoints``, ``samples``)."""
        return dict(self.handle(job_id).result().raw)

    def cancel(self, job_id: str) -> dict[str, Any]:
        """``POST .../jobs/{id}/cancel`` (no body); the service's answer (``{}`` when it sent none)."""
        return self._post(job_id, "cancel", None, idempotent=True)

    def resume(self, job_id: str) -> dict[str, Any]:
        """``POST .../jobs/{id}/resume``: continue a stopped job from its latest checkpoint."""
        return self._post(job_id, "resume", {}, idempotent=False)

    def edit(self, job_id: str, config_yaml: str) -> dict[str, Any]:
        """``POST .../jobs/{id}/edit``: replace a stopped, failed or cancelled job's config (then resume it)."""
        return self._post(job_id, "edit", _config_body(config_yaml), idempotent=False)

    def wait(
        self,
        job_id: str,
        *,
        poll_interval_s: float = DEFAULT_POLL_INTERVAL_S,
        timeout: float | None = None,
        on_progress: ProgressHook | None = None,
    ) -> dict[str, Any]:
        """Poll until the job is ``STOPPED``, ``FAILED`` or ``CANCELED`` and return its result record.

        ``on_progress`` sees each status that differs from the last (its ``payload`` is the service's reply;
        :func:`job_line` renders it). Status calls are retried through outages. The job is never cancelled:
        after ``timeout`` seconds :class:`WaitTimeout` says it keeps running. Whether it finished is
        :func:`job_outcome`'s (or :func:`raise_for_job`'s) to say: a job stopped short is not an error here.
        """
        seen: list[RequestStatus] = []

        def update(status: RequestStatus) -> None:
            seen.append(status)
            if on_progress is not None:
                on_progress(status)

        try:
            result = self.handle(job_id).wait(
                timeout=timeout,
                on_update=update,
                poll_interval_s=poll_interval_s,
                cancel_on_timeout=False,
                raise_on_failure=False,
            )
        except WaitTimeout as exc:
            last = job_line(seen[-1].payload) if seen else "none yet"
            if seen and seen[-1].is_terminal:
                message = (
                    f"training job {job_id} ended ({last}) but its result is not ready yet; fetch it later "
                    f"with `runcomfy train result {job_id}`"
                )
            else:
                waited = f" after {timeout:g}s" if timeout is not None else ""
                message = f"stopped waiting for training job {job_id}{waited}; it keeps running (last status: {last})"
            raise WaitTimeout(
                message,
                request_id=job_id,
                hint=f"check with `runcomfy train status {job_id}`; stop it with `runcomfy train cancel {job_id}`",
            ) from exc
        record = dict(result.raw)
        if seen and not isinstance(record.get("progress"), Mapping):
            progress = seen[-1].payload.get("progress")
            if isinstance(progress, Mapping):  # a result without progress: the last status had it
                record["progress"] = dict(progress)
        return record

    def download(
        self,
        result: Mapping[str, Any],
        output_dir: str | os.PathLike[str],
        *,
        manifest: bool = True,
    ) -> list[SavedFile]:
        """Save every artifact of a job's result record (checkpoints, samples) into ``output_dir``; the files
        (:class:`~runcomfy.downloads.SavedFile`), saved now or found there already.

        Through the download allow-list (RunComfy's hosts and this client's API origins), never a partial
        file. With ``manifest``, ``runcomfy-manifest.json`` in the directory lists each file (``file``,
        ``size``, ``sha256``, ``url``, ``step``) and a file listed there with the same sha256 is not fetched
        again. Raises :class:`DownloadError` when a trusted file cannot be saved.
        """
        from runcomfy.training_artifacts import download_artifacts

        job_id = result.get("id") if isinstance(result.get("id"), str) else None
        report = download_artifacts(
            result,
            output_dir,
            trusted_origins=self.trusted_origins(),
            manifest=manifest,
            hidden=self.ctx.secrets,
        )
        downloads = report.downloads
        if downloads.failed:
            url, error = downloads.failed[0]
            raise DownloadError(
                f"{len(downloads.failed)} file(s) could not be saved; first: {error}",
                url=url,
                request_id=job_id,
                hint=error.hint,
            )
        return report.files

    def trusted_origins(self) -> list[Origin]:
        """The origins artifacts may come from beside RunComfy's hosts: this client's API bases'."""
        from runcomfy.downloads import origin_of

        origins: list[Origin] = []
        for base in (self.ctx.base, *self.api_bases):
            try:
                origin = origin_of(base)
            except ValueError:
                continue
            if origin not in origins:
                origins.append(origin)
        return origins

    # --- plumbing ------------------------------------------------------------------------------------------

    def _post(self, job_id: str, action: str, body: Any, *, idempotent: bool) -> dict[str, Any]:
        url = join_url(self.ctx.base, *JOBS_PATH, quote_request_id(job_id), action)

        def once() -> dict[str, Any]:
            return self.ctx.request_json("POST", url, json_body=body, request_id=job_id, allow_empty=True)

        if idempotent:
            return self.ctx.retrying(once, request_id=job_id)
        return self.ctx.retrying(once, request_id=job_id, retry_if=should_retry_submit)


def _config_body(config_yaml: str) -> dict[str, Any]:
    if not isinstance(config_yaml, str) or not config_yaml.strip():
        raise InvalidInput("the training config is empty")
    return {"config_file_format": "yaml", "config_file": config_yaml}


# --- reading a job -----------------------------------------------------------------------------------------------


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return None
    return value


def _shown(value: int | float) -> str:
    """A number as the official CLI shows it: ``50``, ``33.5`` (no ``.0`` on a whole float)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value) if isinstance(value, float) else str(value)


def job_progress(payload: Mapping[str, Any] | None) -> Progress | None:
    """The job's ``progress`` (``current_step``, ``total_steps``, ``percent``), or None when it sent none."""
    progress = payload.get("progress") if isinstance(payload, Mapping) else None
    if not isinstance(progress, Mapping):
        return None
    current, total, percent = (
        _number(progress.get(key)) for key in ("current_step", "total_steps", "percent")
    )
    if current is None and total is None and percent is None:
        return None
    return Progress(
        int(current) if current is not None else None, int(total) if total is not None else None, percent
    )


def job_status(payload: Mapping[str, Any] | None) -> str:
    """The job's status as the service spelled it (control characters removed), or ``""``."""
    status = payload.get("status") if isinstance(payload, Mapping) else None
    return strip_controls(status.strip(), max_len=64) if isinstance(status, str) else ""


def job_line(payload: Mapping[str, Any] | None) -> str:
    """One line for a job's status, as the official CLI prints it while waiting: ``RUNNING 16% (320/2000)``."""
    line = job_status(payload) or "(no status)"
    progress = job_progress(payload)
    if progress is None:
        return line
    if progress.percent is not None:
        line += f" {_shown(progress.percent)}%"
    if progress.current is not None and progress.total is not None:
        line += f" ({progress.current}/{progress.total})"
    return line


def _error_of(record: Mapping[str, Any] | None) -> Any:
    """A run's error: the record's ``error``, or ``result.error`` (where the Trainer API puts a run's)."""
    if not isinstance(record, Mapping):
        return None
    error = record.get("error")
    if error not in (None, "", {}):
        return error
    nested = record.get("result")
    if isinstance(nested, Mapping) and nested.get("error") not in (None, "", {}):
        return nested.get("error")
    return None


def error_text(error: Any, secrets: Iterable[str] = ()) -> str:
    """An error object as one line: its ``message`` when it has one, else compact JSON."""
    if isinstance(error, Mapping) and isinstance(error.get("message"), str):
        text = error["message"]
    elif isinstance(error, str):
        text = error
    else:
        text = json.dumps(error, sort_keys=True, ensure_ascii=False, default=str)
    return redact(strip_controls(text, max_len=500), secrets)


def stopped_short(status: Mapping[str, Any] | None, result: Mapping[str, Any] | None = None) -> str | None:
    """Why a ``STOPPED`` job did not finish, or None when it reached its last step without an error.

    The API says ``STOPPED`` both for a job that ran to its last step and for one the platform stopped early
    (a reclaimed server): an error in the result (or the status) or a step short of the total tells them apart.
    Without progress information a job counts as finished, as the official CLI has it.
    """
    for source in (result, status):
        error = _error_of(source)
        if error is not None:
            return f"the result carries an error: {error_text(error)}"
    progress = job_progress(status) or job_progress(result)
    if (
        progress is not None
        and progress.total
        and progress.current is not None
        and progress.current < progress.total
    ):
        return (
            f"training stopped at step {progress.current}/{progress.total} before completing "
            "(preempted or reclaimed by the platform)"
        )
    return None


def job_outcome(record: Mapping[str, Any], status: Mapping[str, Any] | None = None) -> JobOutcome:
    """``finished`` (STOPPED at its last step), ``incomplete`` (stopped short: resumable), ``failed``,
    ``cancelled``, or ``unfinished`` (still queued or running, or a status this library does not know)."""
    parsed = TRAINING_API.parse_status(record)
    if not parsed.raw and status is not None:
        parsed = TRAINING_API.parse_status(status)
    if not parsed.is_terminal:
        return "unfinished"
    word = parsed.name
    if word in TRAINING_API.vocabulary.failed:
        return "failed"
    if word in TRAINING_API.vocabulary.cancelled:
        return "cancelled"
    return "incomplete" if stopped_short(status or record, record) else "finished"


def raise_for_job(
    job_id: str,
    record: Mapping[str, Any],
    status: Mapping[str, Any] | None = None,
    *,
    secrets: Iterable[str] = (),
) -> None:
    """Raise unless the job ran to its last step: :class:`TrainingIncomplete` for a job stopped short (resume
    it), :class:`RequestFailed`, :class:`RequestCancelled`, or :class:`WaitTimeout` for one not finished yet."""
    outcome = job_outcome(record, status)
    if outcome == "finished":
        return
    if outcome == "incomplete":
        why = stopped_short(status or record, record)
        raise TrainingIncomplete(
            f"training job {job_id} did not finish: {why}; resume from the latest checkpoint with "
            f"`runcomfy train resume {job_id}`",
            request_id=job_id,
            record=dict(record),
        )
    if outcome == "failed":
        error = _error_of(record) or _error_of(status)
        shown = (
            json.dumps(error, sort_keys=True, ensure_ascii=False, default=str)
            if error is not None
            else "(no detail)"
        )
        raise RequestFailed(
            redact(f"training job {job_id} FAILED: {strip_controls(shown, max_len=2000)}", secrets),
            request_id=job_id,
            error=error,
        )
    if outcome == "cancelled":
        raise RequestCancelled(f"training job {job_id} was cancelled", request_id=job_id)
    raise WaitTimeout(
        f"training job {job_id} is not finished yet (status: {job_line(record)})",
        request_id=job_id,
        hint=f"check with `runcomfy train status {job_id}`",
    )


def training_of(recorded_as: str | None) -> str | None:
    """The job name in a journal name like ``training/<name>``, or None for anything else."""
    if recorded_as and recorded_as.startswith(TRAINING_PREFIX):
        return recorded_as[len(TRAINING_PREFIX) :] or None
    return None
