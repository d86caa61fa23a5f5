"""``runcomfy train``: LoRA training jobs on RunComfy's Trainer API (AI Toolkit), as the official CLI has them,
plus ``train init`` (a commented config that works as it stands) and ``submit --dataset`` (the dataset's
folder filled in).

Messages, payloads and exit codes are the official CLI's: ``submit`` prints ``[submit] Submitting training job
(TYPE[ xN])``; with ``--wait`` a line ``STATUS P% (c/t)`` each time the status changes (and a progress bar on a
terminal); a job ``STOPPED`` at its last step ends ``[ok] Training job <id> finished`` (0), one stopped short of
it or with an error prints the record and "did not finish ... `runcomfy train resume <id>`" (75), ``FAILED`` and
cancelled exit 1. Ctrl-C while waiting only stops watching (130): a training job is long and paid by the hour,
and it is never cancelled but by ``train cancel``.

Our hardening: the config is checked locally first (YAML, ``config.process``: exit 65 listing the problems,
nothing sent); the job is written to the journal (``training/<name>``) before the wait, so ``requests list``
keeps its id whatever happens to the terminal; status calls are retried through outages; ``result --download``
fetches through the download allow-list with no partial file and keeps a manifest that makes a rerun skip what
is already there. The library is imported only inside the commands, so ``runcomfy --help`` stays fast.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import click

from runcomfy.cli.context import app_context
from runcomfy.cli.deployments import cell
from runcomfy.errors import InvalidInput

if TYPE_CHECKING:
    from runcomfy.cli.context import AppContext
    from runcomfy.cli.output import Output
    from runcomfy.client import Client
    from runcomfy.status import RequestStatus

#: ``runcomfy.training.GPU_TYPES``, named here so ``--help`` needs no httpx.
GPU_TYPES = ("ADA_80_PLUS", "HOPPER_141")
MAX_CONFIG_BYTES = 4 * 1024 * 1024
INSUFFICIENT_FUNDS = "10001"

JOB_ID = click.argument("job_id")


# --- shared pieces -------------------------------------------------------------------------------------------


def read_config(source: str) -> str:
    """The YAML text of ``--config`` (a file, or ``-`` for stdin); an empty one exits 65 (nothing sent)."""
    from runcomfy.cli.inputs import read_source
    from runcomfy.safe_text import strip_controls

    data = read_source(source, "--config", MAX_CONFIG_BYTES)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(f"--config: {strip_controls(source, max_len=200)} is not UTF-8 text") from None
    if not text.strip():
        where = "stdin" if source == "-" else strip_controls(source, max_len=200)
        raise InvalidInput(f"config file {where} is empty")
    return text


def check_config(text: str) -> None:
    """Refuse a config the service would refuse for its shape (exit 65, every problem listed, nothing sent)."""
    from runcomfy.ai_toolkit_template import config_problems
    from runcomfy.errors import InputProblems

    problems = config_problems(text)
    if problems:
        raise InputProblems(
            "the config is not an AI Toolkit config; nothing was submitted",
            problems,
            hint="`runcomfy train init --dataset NAME > config.yaml` writes one that works",
        )


CONFLICT_HINTS = {
    "cancel": "the job has already ended; `runcomfy train status {id}` shows how",
    "resume": "only a job that stopped short, failed or was cancelled resumes (a finished one: `train edit` its "
    "config to train more); `runcomfy train status {id}` shows it",
    "edit": "a config can be edited only while the job is STOPPED, FAILED or CANCELED; `runcomfy train status "
    "{id}` shows it",
}


def trainer_hint(exc: BaseException, job_id: str | None = None, action: str | None = None) -> str | None:
    """The next step after a Trainer API failure of ``action`` (``submit``, ``cancel``, ``resume``, ``edit``...),
    decided by typed fields (status, ``error_code``, the places a 422's ``detail`` names), never message text."""
    from runcomfy.errors import APIConnectionError, APIStatusError, APITimeoutError

    target = job_id or "ID"
    if isinstance(exc, APIStatusError):
        code = str(exc.error_code) if exc.error_code is not None else None
        if code == INSUFFICIENT_FUNDS or exc.status_code == 402:
            return "top up your RunComfy balance (`runcomfy balance` shows it), then try again"
        if exc.status_code == 409:
            template = CONFLICT_HINTS.get(
                action or "", "the job's state does not allow this; `runcomfy train status {id}` shows it"
            )
            return template.format(id=target)
        if exc.status_code == 422 and _names_datasets(exc.detail):
            return (
                "a dataset folder must name a READY dataset of yours (`runcomfy datasets list`); "
                "`train submit --dataset ID` fills it in"
            )
        if exc.status_code == 404 and job_id:
            return "no such training job; `runcomfy requests list` shows the jobs started here"
        return None
    if isinstance(exc, APIConnectionError) and not isinstance(exc, APITimeoutError):
        return "could not reach the Trainer API; check the network and RUNCOMFY_TRAINER_API_BASE"
    return None


def _names_datasets(detail: Any) -> bool:
    """Whether a 422's ``detail`` (a list of ``{loc, msg, type}``) is about a config's dataset folders."""
    if not isinstance(detail, list):
        return False
    return any(
        isinstance(item, Mapping) and isinstance(item.get("loc"), list) and "datasets" in item["loc"]
        for item in detail
    )


@contextlib.contextmanager
def trainer_errors(
    job_id: str | None = None, *, action: str | None = None, resume: str | None = None
) -> Iterator[None]:
    """Give a failure inside the block the hint that fits it, and name ``resume`` (default: ``runcomfy train
    status <id>``) as the way back to the job (an error's own hint, set where its cause was known, is kept)."""
    from runcomfy.cli.exit_codes import set_resume_command
    from runcomfy.errors import RunComfyError

    try:
        yield
    except RunComfyError as exc:
        hint = trainer_hint(exc, job_id, action)
        if hint is not None and exc.hint is None:
            exc.hint = hint
        if job_id and exc.request_id is None:
            exc.request_id = job_id
        if exc.request_id:
            set_resume_command(exc, resume or f"runcomfy train status {exc.request_id}")
        raise


def _journal_update(app: AppContext, job_id: str, **fields: Any) -> None:
    """Record what was just learnt about a journaled job (quietly: it is a by-product of the command)."""
    from runcomfy.errors import JournalError

    with contextlib.suppress(OSError, JournalError):
        app.journal().update(job_id, **fields)


def _status_word(payload: Mapping[str, Any]) -> str | None:
    from runcomfy.training import job_status

    return job_status(payload).lower() or None


class JobProgressBar:
    """A bar of the job's steps with its status, on a terminal only (as :class:`~runcomfy.cli.live.WaitSpinner`:
    pretty mode, stderr a terminal, colour allowed, no ``-q``); lines written meanwhile show above it."""

    def __init__(self, output: Output) -> None:
        self._enabled = output.use_emoji and output.chatty
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> JobProgressBar:
        if not self._enabled:
            return self
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
            redirect_stdout=False,
            redirect_stderr=True,
            refresh_per_second=4,
        )
        self._task = self._progress.add_task("submitted", total=None)
        self._progress.start()
        return self

    def update(self, payload: Mapping[str, Any]) -> None:
        """Show the job's status and steps."""
        if self._progress is None:
            return
        from runcomfy.training import job_progress, job_status

        progress = job_progress(payload)
        changes: dict[str, Any] = {"description": job_status(payload) or "(no status)"}
        if progress is not None and progress.total:
            changes["total"] = progress.total
            changes["completed"] = min(progress.current or 0, progress.total)
        self._progress.update(self._task, **changes)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


# --- the commands --------------------------------------------------------------------------------------------


@click.group("train")
def train_group() -> None:
    """LoRA training jobs (Trainer API, AI Toolkit): write a config, submit it, follow it, fetch the LoRA.

    \b
    Examples:
      runcomfy train init --dataset my-photos --trigger ohwx > config.yaml
      runcomfy train submit --config config.yaml --wait
      runcomfy train result 7c1e...-0b2a --download --output-dir lora/
    """


@train_group.command("init")
@click.option("--dataset", "dataset_name", required=True, metavar="NAME", help="The dataset's name.")
@click.option(
    "--base",
    "base_model",
    default="black-forest-labs/FLUX.1-dev",
    show_default=True,
    metavar="MODEL",
    help="The base model the LoRA is trained for.",
)
@click.option(
    "--steps",
    default=1000,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Training steps (checkpoints and samples every steps/4).",
)
@click.option("--trigger", "trigger_word", metavar="WORD", help="A word that calls the LoRA up in prompts.")
@click.option(
    "--name", "job_name", metavar="NAME", help="The job's and the LoRA files' name (default: <dataset>_lora)."
)
def init_command(
    dataset_name: str, base_model: str, steps: int, trigger_word: str | None, job_name: str | None
) -> None:
    """Print a commented AI Toolkit config for a LoRA, ready for `train submit` (nothing is sent).

    \b
    Examples:
      runcomfy train init --dataset my-photos > config.yaml
      runcomfy train init --dataset my-photos --trigger ohwx --steps 2000 --name ohwx_v1 > config.yaml
    """
    from runcomfy.ai_toolkit_template import template

    text = template(
        dataset_name, base_model=base_model, steps=steps, trigger_word=trigger_word, name=job_name
    )
    out = app_context().output
    if out.json_mode:
        out.data({"config_file_format": "yaml", "config_file": text})
    else:
        out.data(text)


@train_group.command("submit")
@click.option(
    "--config", "config_path", required=True, metavar="PATH", help="AI Toolkit YAML ('-' for stdin)."
)
@click.option(
    "--dataset",
    "dataset_id",
    metavar="ID",
    help="Train on this dataset: its folder is filled into every process of the config.",
)
@click.option(
    "--gpu-type", default="ADA_80_PLUS", show_default=True, type=click.Choice(GPU_TYPES), help="GPU type."
)
@click.option("--gpu-count", type=click.Choice(["1", "8"]), help="Number of GPUs (1 or 8).")
@click.option("--gpu-id", metavar="ID", help="A specific GPU to run on.")
@click.option("--wait", is_flag=True, help="Wait until the job ends (Ctrl-C stops watching, not the job).")
@click.option(
    "--poll-secs", default=10, show_default=True, type=click.IntRange(min=1), help="Seconds between polls."
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="With --wait: stop waiting after this many seconds (the job keeps running); exit 75.",
)
def submit_command(
    config_path: str,
    dataset_id: str | None,
    gpu_type: str,
    gpu_count: str | None,
    gpu_id: str | None,
    wait: bool,
    poll_secs: int,
    timeout: float | None,
) -> None:
    """Submit a training job with an AI Toolkit config.

    The config is checked first (it must be YAML with config.process; nothing is sent otherwise). The job is
    recorded locally (`runcomfy requests list`) before any wait. With --wait, the status is shown as it changes
    until the job ends: STOPPED at its last step exits 0, stopped short exits 75 (`train resume` continues it),
    FAILED or cancelled exits 1.

    \b
    Examples:
      runcomfy train submit --config config.yaml --dataset 5b7d...-e1f0 --wait
      runcomfy train submit --config config.yaml --gpu-type HOPPER_141 --gpu-count 8
      runcomfy train init --dataset my-photos | runcomfy train submit --config - --wait --timeout 7200
    """
    if timeout is not None and not wait:
        raise click.UsageError("--timeout needs --wait")
    text = read_config(config_path)
    check_config(text)
    app = app_context()
    client = app.require_client()
    out = app.output
    if dataset_id is not None:
        text = _with_dataset(client, text, dataset_id)
    count = int(gpu_count) if gpu_count is not None else None
    gpus = f"{gpu_type} x{count}" if count is not None and count > 1 else gpu_type
    out.progress("submit", f"Submitting training job ({gpus})")
    from runcomfy.cli.signals import interrupts_raise
    from runcomfy.errors import Interrupted

    with interrupts_raise():
        try:
            with trainer_errors(action="submit"):
                job = client.training.submit(text, gpu_type=gpu_type, gpu_count=count, gpu_id=gpu_id)
        except KeyboardInterrupt:
            raise Interrupted(
                "interrupted while submitting; a training job may have been created — "
                "see `runcomfy requests list` or the RunComfy dashboard"
            ) from None
        job_id = str(job["id"])
        name = _record_submitted(app, job, text, gpu_type, count, gpu_id)
        out.detail(f"job_id: {job_id} (name: {name})")
        if not wait:
            out.detail(
                f"Track with `runcomfy train status {job_id}`; artifacts via `runcomfy train result {job_id}`"
            )
            out.document(job)
            return
        _follow(app, client, job_id, poll_secs=poll_secs, timeout=timeout)


def _with_dataset(client: Client, text: str, dataset_id: str) -> str:
    """``text`` with the dataset's folder in every process; the dataset must be READY (else exit 65)."""
    from runcomfy.ai_toolkit_template import fill_dataset
    from runcomfy.errors import NotFoundError
    from runcomfy.safe_text import strip_controls

    try:
        with trainer_errors():
            dataset = client.datasets.status(dataset_id)
    except NotFoundError as exc:
        exc.hint = exc.hint or "`runcomfy datasets list` shows your datasets and their ids"
        raise
    status = dataset.get("status")
    status_text = strip_controls(status, max_len=64) if isinstance(status, str) else "(no status)"
    if status_text.lower() != "ready":
        raise InvalidInput(
            f"dataset {dataset_id} is {status_text}, not READY; nothing was submitted",
            hint=f"see it with `runcomfy datasets status {dataset_id}`",
        )
    name = dataset.get("name")
    folder_name = name.strip() if isinstance(name, str) and name.strip() else dataset_id
    app_context().output.detail(f"dataset: {folder_name} ({dataset_id})")
    return fill_dataset(text, folder_name)


def _record_submitted(
    app: AppContext,
    job: Mapping[str, Any],
    text: str,
    gpu_type: str,
    gpu_count: int | None,
    gpu_id: str | None,
) -> str:
    """Write the new job to the journal before any wait (as ``training/<name>``), so a lost terminal never
    loses its id; a journal that cannot be written is a warning. Returns the job's name."""
    from runcomfy.ai_toolkit_template import config_name
    from runcomfy.errors import RunComfyError
    from runcomfy.safe_text import strip_controls
    from runcomfy.training import TRAINING_PREFIX

    job_id = str(job["id"])
    reported = job.get("name")
    name = reported if isinstance(reported, str) and reported.strip() else config_name(text) or job_id
    name = strip_controls(name.strip(), max_len=128)
    body = {"config_file": text, "gpu_type": gpu_type, "gpu_count": gpu_count, "gpu_id": gpu_id}
    try:
        scope = app.journal_scope()
        app.journal().record(
            job_id,
            TRAINING_PREFIX + name,
            body,
            model_api_base=scope.model_api_base,
            status=_status_word(job) or "submitted",
            identity=scope.identity,
        )
    except (OSError, RunComfyError) as exc:
        app.output.warning(f"could not record training job {job_id} in the journal: {exc}")
    return name


def _follow(app: AppContext, client: Client, job_id: str, *, poll_secs: int, timeout: float | None) -> None:
    """Wait for the job, showing each change; present how it ended (see the module docstring)."""
    from runcomfy.errors import Interrupted
    from runcomfy.training import job_line, job_outcome, raise_for_job

    out = app.output
    app.announce_retries = True
    out.progress(
        "poll", f"Waiting for training to finish (every {poll_secs}s; Ctrl-C stops watching, not the job)..."
    )
    last: list[Mapping[str, Any]] = []

    def show(status: RequestStatus) -> None:
        last.append(status.payload)
        bar.update(status.payload)
        out.detail(job_line(status.payload))

    try:
        with JobProgressBar(out) as bar, trainer_errors(job_id):
            record = client.training.wait(
                job_id, poll_interval_s=poll_secs, timeout=timeout, on_progress=show
            )
    except KeyboardInterrupt:
        if last:
            _journal_update(app, job_id, status=_status_word(last[-1]))
        out.progress(
            "detach",
            f"Interrupted; training job {job_id} keeps running remotely — check with "
            f"`runcomfy train status {job_id}`; stop it with `runcomfy train cancel {job_id}`",
        )
        raise Interrupted(
            f"stopped watching training job {job_id}; it keeps running (`runcomfy train status {job_id}`)",
            request_id=job_id,
        ) from None
    final = last[-1] if last else None
    _journal_update(app, job_id, status=_status_word(record) or (_status_word(final) if final else None))
    if job_outcome(record, final) == "finished":
        out.progress("ok", f"Training job {job_id} finished (STOPPED at its final step)")
        out.document(record)
        out.detail(f"Fetch the LoRA with `runcomfy train result {job_id} --download`")
        return
    out.document(record)
    with trainer_errors(job_id):
        raise_for_job(job_id, record, final, secrets=out.secrets)


@train_group.command("status")
@JOB_ID
def status_command(job_id: str) -> None:
    """Show a training job's status and progress (one call; retried through transient failures).

    \b
    Examples:
      runcomfy train status 7c1e...-0b2a
      runcomfy --output json train status 7c1e...-0b2a | jq .progress.percent
    """
    from runcomfy.training import stopped_short

    app = app_context()
    client = app.require_client()
    with trainer_errors(job_id):
        payload = client.training.status(job_id)
    pairs: list[tuple[str, Any]] = [
        ("id", cell(payload.get("id"))),
        ("name", cell(payload.get("name"))),
        ("status", cell(payload.get("status"))),
    ]
    progress = payload.get("progress")
    if isinstance(progress, Mapping):
        percent, current, total = (cell(progress.get(k)) for k in ("percent", "current_step", "total_steps"))
        pairs.append(("progress", f"{percent}% (step {current}/{total})"))
    if payload.get("error") is not None:
        pairs.append(("error", cell(payload.get("error"))))
    for key in ("created_at", "started_at", "finished_at", "result_url"):
        if isinstance(payload.get(key), str):
            pairs.append((key, payload[key]))
    word = _status_word(payload)
    if word == "stopped":
        why = stopped_short(payload)
        if why:
            pairs.append(("note", f"{why}; `runcomfy train resume {job_id}` to continue"))
    app.output.record(payload, pairs)
    if word:
        _journal_update(app, job_id, status=word)


@train_group.command("result")
@JOB_ID
@click.option("--download", "download", is_flag=True, help="Save every checkpoint and sample.")
@click.option(
    "--output-dir", default=".", show_default=True, type=click.Path(), help="Where --download saves files."
)
def result_command(job_id: str, download: bool, output_dir: str) -> None:
    """Fetch a training job's result: its artifacts (checkpoints, samples), and with --download the files.

    Downloads go through the trusted-host rules with no partial file; runcomfy-manifest.json in the output
    directory lists each file (size, sha256, URL, step), and a rerun skips the files already there.

    \b
    Examples:
      runcomfy train result 7c1e...-0b2a
      runcomfy train result 7c1e...-0b2a --download --output-dir lora/
    """
    from runcomfy.cli.requests import exclusive
    from runcomfy.cli.signals import interrupts_raise
    from runcomfy.errors import Interrupted
    from runcomfy.training_artifacts import artifact_counts

    app = app_context()
    client = app.require_client()
    out = app.output
    resume = f"runcomfy train result {job_id} --download"
    with trainer_errors(job_id, resume=resume):
        record = client.training.result(job_id)
    if not out.json_mode:
        checkpoints, samples = artifact_counts(record)
        out.progress(
            "result",
            f"job {job_id} - status {cell(record.get('status'))}: {checkpoints} checkpoint(s), {samples} sample(s)",
        )
    out.document(record)
    word = _status_word(record)
    if word:
        _journal_update(app, job_id, status=word)
    if not download:
        if not out.json_mode:
            out.detail("Pass --download to fetch checkpoints / samples (use --output-dir to choose where).")
        return
    if record.get("artifacts") is None:
        out.progress("info", "No artifacts to download yet.")
        return
    with interrupts_raise(), exclusive(app, job_id):
        try:
            with trainer_errors(job_id, resume=resume):
                _download(app, job_id, record, Path(output_dir))
        except KeyboardInterrupt:
            raise Interrupted(
                f"interrupted; no partial files were left (`{resume}` continues)", request_id=job_id
            ) from None


def _download(app: AppContext, job_id: str, record: Mapping[str, Any], output_dir: Path) -> None:
    """Save the artifacts, telling the user what happens; a trusted file that cannot be saved exits 74."""
    from runcomfy.downloads import DownloadFailed, Planned, Saved, Skipped
    from runcomfy.errors import DownloadError
    from runcomfy.training_artifacts import download_artifacts

    out = app.output
    skipped: list[Skipped] = []

    def on_event(event: object) -> None:
        if isinstance(event, Planned):
            out.progress("download", f"Downloading {len(event.urls)} file(s) to {output_dir}")
        elif isinstance(event, Saved):
            out.detail(str(event.file.path))
        elif isinstance(event, DownloadFailed):
            out.detail(f"failed: {event.url}: {event.error}")
        elif isinstance(event, Skipped):
            skipped.append(event)

    report = download_artifacts(
        record,
        output_dir,
        trusted_origins=app.trusted_origins(),
        on_event=on_event,
        hidden=out.secrets,
    )
    downloads = report.downloads
    for file in downloads.reused:
        out.detail(f"{file.path} (already saved, sha256 matches)")
    if skipped:
        out.progress("skip", f"Skipped {len(skipped)} URL(s) outside trusted hosts (not downloaded)")
        for item in skipped:
            out.detail(f"(not downloaded) {item.url}: {item.reason}")
    if report.without_url:
        out.warning(f"{len(report.without_url)} artifact(s) have no URL to download from")
    files = report.files
    _journal_update(app, job_id, files=[saved.to_dict() for saved in files], output_dir=output_dir)
    if downloads.failed:
        url, error = downloads.failed[0]
        raise DownloadError(
            f"{len(downloads.failed)} file(s) could not be saved; first: {url}: {error}",
            url=url,
            request_id=job_id,
            hint=error.hint,
        )
    if report.manifest_path is not None:
        saved, reused = len(downloads.saved), len(downloads.reused)
        out.progress(
            "ok",
            f"{len(files)} file(s) in {output_dir} ({saved} downloaded, {reused} already there); "
            f"manifest {report.manifest_path}",
        )
    elif not files and not skipped:
        out.progress("info", "No artifacts to download yet.")


@train_group.command("cancel")
@JOB_ID
def cancel_command(job_id: str) -> None:
    """Cancel a training job (the artifacts written so far stay available).

    \b
    Examples:
      runcomfy train cancel 7c1e...-0b2a
    """
    app = app_context()
    client = app.require_client()
    with trainer_errors(job_id, action="cancel"):
        payload = client.training.cancel(job_id)
    out = app.output
    out.progress("ok", f"Cancelled training job {job_id} (status: {cell(payload.get('status'))})")
    out.detail(f"Artifacts produced so far are still available via `runcomfy train result {job_id}`.")
    out.document(payload)
    _journal_update(app, job_id, status=_status_word(payload) or "canceled")


@train_group.command("resume")
@JOB_ID
def resume_command(job_id: str) -> None:
    """Resume a stopped training job from its latest checkpoint.

    \b
    Examples:
      runcomfy train resume 7c1e...-0b2a
    """
    app = app_context()
    client = app.require_client()
    with trainer_errors(job_id, action="resume"):
        payload = client.training.resume(job_id)
    out = app.output
    out.progress("ok", f"Resumed training job {job_id} from its latest checkpoint")
    out.detail(f"Track with `runcomfy train status {job_id}`")
    out.document(payload)
    _journal_update(app, job_id, status=_status_word(payload) or "resuming")


@train_group.command("edit")
@JOB_ID
@click.option(
    "--config", "config_path", required=True, metavar="PATH", help="AI Toolkit YAML ('-' for stdin)."
)
def edit_command(job_id: str, config_path: str) -> None:
    """Replace the config of a stopped, failed or cancelled training job (then `train resume` it).

    \b
    Examples:
      runcomfy train edit 7c1e...-0b2a --config config.yaml
    """
    text = read_config(config_path)
    check_config(text)
    app = app_context()
    client = app.require_client()
    with trainer_errors(job_id, action="edit"):
        payload = client.training.edit(job_id, text)
    out = app.output
    out.progress("ok", f"Updated config of training job {job_id} (status: {cell(payload.get('status'))})")
    out.detail(f"Re-queue it with `runcomfy train resume {job_id}`")
    out.document(payload)
