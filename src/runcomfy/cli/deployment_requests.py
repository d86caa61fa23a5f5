"""``deployments run|status|result|cancel``: requests of a ComfyUI deployment (Serverless API).

``run`` takes the official CLI's inputs (``--overrides``, ``--overrides-file``, ``--workflow-file``) plus our
``--override NODE.INPUT=VALUE`` shorthand and ``--batch FILE.jsonl`` (one overrides object per line, through the
same batch engine as ``run --batch``). Before submitting, the overrides are checked against the deployment's
workflow (one ``GET /deployments/{id}?includes=payload``): a node id or input name the workflow lacks is exit 65
with a did-you-mean, where the service would have taken the paid request and failed or ignored it.

After the submit, a deployment request is followed exactly like a model request (:mod:`runcomfy.cli.follow`):
recorded in the journal first, one cancel on Ctrl-C or SIGTERM, ``--timeout`` cancels, downloads through the
allow-list with no partial file, and every way out names ``runcomfy deployments result DEPLOYMENT REQUEST``.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from runcomfy.cli.context import app_context
from runcomfy.cli.deployments import DEPLOYMENT_ID, serverless_hints
from runcomfy.cli.follow import ResumeCommands, follow, record_submitted
from runcomfy.cli.inputs import parse_input_text, read_source
from runcomfy.cli.requests import exclusive, journal_entry
from runcomfy.cli.signals import interrupts_raise
from runcomfy.cli.wait_options import batch_options, output_dir_option, poll_secs_option, timeout_option
from runcomfy.errors import (
    BadRequestError,
    InputProblems,
    Interrupted,
    InvalidInput,
    JournalError,
    NotFoundError,
    UnprocessableEntityError,
)
from runcomfy.json_limits import MAX_JSON_CHARS

if TYPE_CHECKING:
    from runcomfy.batch import BatchInput
    from runcomfy.cli.context import AppContext
    from runcomfy.client import Client

REQUEST_ID = click.argument("request_id")
MAX_BAD_LINES_SHOWN = 20


@click.command("run")
@DEPLOYMENT_ID
@click.option(
    "--overrides", "overrides_text", metavar="JSON", help='Node inputs to change: {"6": {"inputs": {...}}}.'
)
@click.option("--overrides-file", metavar="PATH", help="Read the overrides JSON from a file ('-' for stdin).")
@click.option(
    "--workflow-file",
    metavar="PATH",
    help="Send a whole ComfyUI workflow in API format instead of overrides.",
)
@click.option(
    "--override",
    "override_args",
    multiple=True,
    metavar="NODE.INPUT=VALUE",
    help="Change one input (repeatable); NODE is a node id, title or class type; NODE.INPUT:=JSON for JSON.",
)
@click.option("--extra-data", metavar="JSON", help="A JSON object sent as the request's extra_data.")
@click.option("--webhook-url", metavar="URL", help="Have the service POST the request's outcome to this URL.")
@click.option(
    "--webhook-intermediate",
    is_flag=True,
    help="With --webhook-url: also POST the in_queue/in_progress updates.",
)
@click.option("--no-wait", is_flag=True, help="Submit and print the request id without waiting.")
@poll_secs_option
@timeout_option
@output_dir_option
@click.option("--no-download", is_flag=True, help="Print the outputs without downloading files.")
@click.option(
    "--emit",
    type=click.Choice(["output", "record"]),
    default="output",
    show_default=True,
    help="Print the outputs (as the official CLI) or the whole record with saved files.",
)
@click.option(
    "--batch",
    "batch_file",
    metavar="FILE",
    help="Run every overrides object of a JSONL file ('-' for stdin), one per line; resumable.",
)
@batch_options
@click.option(
    "--no-validate", is_flag=True, help="Skip the check of the overrides against the deployment's workflow."
)
def run_command(
    deployment_id: str,
    overrides_text: str | None,
    overrides_file: str | None,
    workflow_file: str | None,
    override_args: tuple[str, ...],
    extra_data: str | None,
    webhook_url: str | None,
    webhook_intermediate: bool,
    no_wait: bool,
    poll_secs: int,
    timeout: float | None,
    output_dir: str,
    no_download: bool,
    emit: str,
    batch_file: str | None,
    concurrency: int,
    restart: bool,
    retry_failed: bool,
    no_validate: bool,
) -> None:
    """Run a deployment's workflow: submit, wait, print the outputs and download their files.

    The workflow's inputs change through overrides (node id -> {"inputs": {...}}), given as JSON, from a file,
    or one input at a time with --override; or a whole API-format workflow replaces it (--workflow-file).
    Before submitting, the overrides are checked against the deployment's workflow (--no-validate skips it).

    \b
    Examples:
      runcomfy deployments run 9d2e...-41aa --overrides '{"6": {"inputs": {"text": "a lighthouse at dawn"}}}'
      runcomfy deployments run 9d2e...-41aa --override 6.text="a fox" --override KSampler.seed=42
      runcomfy deployments run 9d2e...-41aa --overrides-file overrides.json --output-dir out/
      runcomfy deployments run 9d2e...-41aa --workflow-file workflow_api.json --no-wait
      runcomfy deployments run 9d2e...-41aa --batch prompts.jsonl --concurrency 8 --output-dir out/
    """
    sources = [
        flag
        for flag, value in _given_sources(overrides_text, overrides_file, workflow_file)
        if value is not None
    ]
    if len(sources) > 1:
        raise click.UsageError(f"{' and '.join(sources)} cannot be used together")
    if "-" in (overrides_file, batch_file) and overrides_file == batch_file:
        raise click.UsageError("--overrides-file - and --batch - cannot both read stdin")
    if webhook_intermediate and not webhook_url:
        raise click.UsageError("--webhook-intermediate needs --webhook-url")
    extra = parse_input_text(extra_data, "--extra-data") if extra_data is not None else None
    if batch_file is not None:
        if sources or no_wait or emit != "output":
            raise click.UsageError(
                "--batch cannot be combined with --overrides, --overrides-file, --workflow-file, --no-wait or --emit"
            )
        if restart and retry_failed:
            raise click.UsageError("--restart and --retry-failed cannot be used together")
        _run_batch(
            deployment_id,
            batch_file,
            override_args,
            extra,
            webhook_url,
            webhook_intermediate,
            concurrency=concurrency,
            restart=restart,
            retry_failed=retry_failed,
            output_dir=Path(output_dir),
            download=not no_download,
            poll_secs=poll_secs,
            timeout=timeout,
            validate=not no_validate,
        )
        return
    if restart or retry_failed:
        raise click.UsageError("--restart and --retry-failed only apply to --batch")
    if not sources and not override_args:
        raise click.UsageError(
            "give the inputs with --overrides JSON, --overrides-file PATH, --workflow-file PATH or "
            "--override NODE.INPUT=VALUE"
        )
    overrides: dict[str, Any] | None = None
    workflow: dict[str, Any] | None = None
    if workflow_file is not None:
        workflow = _read_workflow(workflow_file)
    elif overrides_text is not None:
        overrides = parse_input_text(overrides_text, "--overrides")
    elif overrides_file is not None:
        overrides = parse_input_text(
            read_source(overrides_file, "--overrides-file", MAX_JSON_CHARS), "--overrides-file"
        )
    else:
        overrides = {}
    app = app_context()
    client = app.require_client()
    out = app.output
    overrides, workflow = _prepare(
        app, client, deployment_id, overrides, workflow, override_args, not no_validate
    )
    if not no_wait and not no_download:
        from runcomfy.downloads import check_output_directory

        check_output_directory(output_dir)  # before paying for a request whose files could not be saved
    body = {
        key: value
        for key, value in (("overrides", overrides), ("workflow_api_json", workflow))
        if value is not None
    }
    out.progress("submit", f"Submitting request to deployment {deployment_id}")
    with interrupts_raise():
        try:
            with serverless_hints(deployment_id):
                handle = client.deployments.submit(
                    deployment_id,
                    overrides=overrides,
                    workflow_api_json=workflow,
                    extra_data=extra,
                    webhook_url=webhook_url,
                    webhook_intermediate=webhook_intermediate,
                )
        except KeyboardInterrupt:
            raise Interrupted(
                "interrupted while submitting; a request may have been created — "
                "see `runcomfy requests list` or the RunComfy dashboard"
            ) from None
        except (BadRequestError, NotFoundError, UnprocessableEntityError) as exc:
            if exc.hint is None:
                exc.hint = f"see the workflow's nodes with `runcomfy deployments get {deployment_id} --include-payload`"
            raise
        record_submitted(app, handle, f"deployment/{deployment_id}", body, Path(output_dir))
        out.detail(f"request_id: {handle.request_id}")
        if no_wait:
            out.data({"deployment_id": deployment_id, "request_id": handle.request_id, "wait": False})
            return
        follow(
            app,
            handle,
            recorded_as=f"deployment/{deployment_id}",
            commands=ResumeCommands.deployment_request(deployment_id, handle.request_id),
            poll_secs=poll_secs,
            timeout=timeout,
            output_dir=Path(output_dir),
            download=not no_download,
            emit=emit,
        )


def _given_sources(
    overrides_text: str | None, overrides_file: str | None, workflow_file: str | None
) -> list[tuple[str, str | None]]:
    return [
        ("--overrides", overrides_text),
        ("--overrides-file", overrides_file),
        ("--workflow-file", workflow_file),
    ]


def _read_workflow(path: str) -> dict[str, Any]:
    """A ComfyUI workflow in API format (node id -> {class_type, inputs}); the UI format (``nodes``, ``links``)
    is refused with how to export the right one."""
    graph = parse_input_text(read_source(path, "--workflow-file", MAX_JSON_CHARS), "--workflow-file")
    if isinstance(graph.get("nodes"), list) and "links" in graph:
        raise InvalidInput(
            "--workflow-file: this is a ComfyUI workflow in UI format; export it with "
            "Workflow > Export (API) (or 'Save (API Format)') and pass that file"
        )
    bad = [
        str(node_id)
        for node_id, node in graph.items()
        if not isinstance(node, dict) or "class_type" not in node
    ]
    if bad:
        raise InvalidInput(
            f"--workflow-file: not a workflow in API format: node {bad[0]} has no class_type "
            '(expected node id -> {"class_type": ..., "inputs": {...}})'
        )
    return graph


def _deployment_graph(client: Client, deployment_id: str) -> dict[str, Any] | None:
    """The deployment's workflow graph (one GET with its payload), or None when the service sent none."""
    from runcomfy.workflow_overrides import workflow_of

    with serverless_hints(deployment_id):
        deployment = client.deployments.get(deployment_id, include_payload=True)
    return workflow_of(deployment)


def _prepare(
    app: AppContext,
    client: Client,
    deployment_id: str,
    overrides: dict[str, Any] | None,
    workflow: dict[str, Any] | None,
    override_args: tuple[str, ...],
    validate: bool,
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The overrides (or workflow) to send: ``--override`` laid over them, checked against the workflow."""
    from runcomfy.workflow_overrides import (
        apply_overrides,
        merge_overrides,
        override_problems,
        parse_overrides,
    )

    if workflow is not None:  # a whole workflow: the shorthand edits it, and it is its own reference
        if override_args:
            workflow = apply_overrides(workflow, parse_overrides(override_args, workflow))
        return None, workflow
    graph = _deployment_graph(client, deployment_id) if (validate or override_args) else None
    if graph is None and validate:
        app.output.verbose("the deployment's workflow was not sent with it; the overrides are not checked")
    assert overrides is not None
    if override_args:
        overrides = merge_overrides(overrides, parse_overrides(override_args, graph, strict=validate))
    if validate and graph is not None:
        problems = override_problems(overrides, graph)
        if problems:
            raise InputProblems(
                f"the overrides do not match the workflow of deployment {deployment_id}; nothing was submitted",
                problems,
                hint=f"see its nodes with `runcomfy deployments get {deployment_id} --include-payload`; "
                "--no-validate skips this check",
            )
    return overrides, None


def _run_batch(
    deployment_id: str,
    batch_file: str,
    override_args: tuple[str, ...],
    extra: dict[str, Any] | None,
    webhook_url: str | None,
    webhook_intermediate: bool,
    *,
    concurrency: int,
    restart: bool,
    retry_failed: bool,
    output_dir: Path,
    download: bool,
    poll_secs: int,
    timeout: float | None,
    validate: bool,
) -> None:
    from runcomfy.batch import DeploymentTarget
    from runcomfy.cli.batch import execute_batch, read_batch_file

    inputs = read_batch_file(batch_file)  # every line checked before the token or the network
    app = app_context()
    client = app.require_client()
    inputs = _prepare_batch(client, deployment_id, inputs, override_args, validate)
    target = DeploymentTarget(
        deployment_id, extra_data=extra, webhook_url=webhook_url, webhook_intermediate=webhook_intermediate
    )
    with serverless_hints(deployment_id):
        execute_batch(
            app,
            target,
            inputs,
            concurrency=concurrency,
            restart=restart,
            output_dir=output_dir,
            download=download,
            poll_secs=poll_secs,
            timeout=timeout,
            retry_failed=retry_failed,
        )


def _prepare_batch(
    client: Client,
    deployment_id: str,
    inputs: list[BatchInput],
    override_args: tuple[str, ...],
    validate: bool,
) -> list[BatchInput]:
    """Every line with the ``--override`` values under it (the line wins), all checked before anything is sent."""
    from runcomfy.batch import BatchInput
    from runcomfy.cli.preflight import plural
    from runcomfy.workflow_overrides import merge_overrides, override_problems, parse_overrides

    if not override_args and not validate:
        return inputs
    graph = _deployment_graph(client, deployment_id)
    defaults = parse_overrides(override_args, graph, strict=validate) if override_args else {}
    merged = [BatchInput(item.line, merge_overrides(defaults, item.input)) for item in inputs]
    if not validate or graph is None:
        return merged
    found = {item.line: override_problems(item.input, graph) for item in merged}
    bad_lines = [line for line, problems in found.items() if problems]
    if bad_lines:
        shown = bad_lines[:MAX_BAD_LINES_SHOWN]
        problems = [{"line": line, **problem} for line in shown for problem in found[line]]
        if len(bad_lines) > len(shown):
            more = plural(len(bad_lines) - len(shown), "more line")
            problems.append({"field": "", "message": f"... and {more}", "kind": "more"})
        raise InputProblems(
            f"{plural(len(bad_lines), 'line')} of the batch do not match the workflow of deployment "
            f"{deployment_id}; nothing was submitted",
            problems,
            hint=f"see its nodes with `runcomfy deployments get {deployment_id} --include-payload`; "
            "--no-validate skips this check",
        )
    return merged


@click.command("status")
@DEPLOYMENT_ID
@REQUEST_ID
def status_command(deployment_id: str, request_id: str) -> None:
    """Show a deployment request's status (one call; retried through transient failures).

    \b
    Examples:
      runcomfy deployments status 9d2e...-41aa 3f1c...-9a2e
      runcomfy --output json deployments status 9d2e...-41aa 3f1c...-9a2e | jq -r .status
    """
    app = app_context()
    client = app.require_client()
    with serverless_hints(deployment_id):
        status = client.deployments.status(deployment_id, request_id)
    payload = dict(status.payload)
    position = payload.get("queue_position")
    app.output.record(
        payload,
        [
            ("request_id", payload.get("request_id", request_id)),
            ("status", payload.get("status") or "(no status)"),
            ("queue", f"position {position}" if isinstance(position, int) else None),
            ("instance_id", payload.get("instance_id")),
            ("status_url", payload.get("status_url")),
            ("result_url", payload.get("result_url")),
        ],
    )
    if status.name:
        _journal_status(app, request_id, status.name)


@click.command("result")
@DEPLOYMENT_ID
@REQUEST_ID
@click.option(
    "--output-dir",
    type=click.Path(),
    help="Where to save files (default: the directory recorded when the request was run, else '.').",
)
@click.option("--no-download", is_flag=True, help="Print the record without downloading files.")
@click.option(
    "--emit",
    type=click.Choice(["server", "record"]),
    default="server",
    show_default=True,
    help="Print the service's record (as the official CLI) or ours, with the saved files and their sha256.",
)
def result_command(
    deployment_id: str, request_id: str, output_dir: str | None, no_download: bool, emit: str
) -> None:
    """Fetch a deployment request's result and download its files (resume a run that was interrupted).

    A request that is not finished yet exits 75; a failed or cancelled one exits 1.

    \b
    Examples:
      runcomfy deployments result 9d2e...-41aa 3f1c...-9a2e
      runcomfy deployments result 9d2e...-41aa 3f1c...-9a2e --output-dir out/ --no-download
    """
    from runcomfy.cli.exit_codes import set_resume_command
    from runcomfy.cli.finish import finish
    from runcomfy.errors import RunComfyError

    app = app_context()
    client = app.require_client()
    entry = journal_entry(request_id)
    directory = (
        Path(output_dir) if output_dir else Path(entry.output_dir if entry and entry.output_dir else ".")
    )
    commands = ResumeCommands.deployment_request(deployment_id, request_id)
    with interrupts_raise(), exclusive(app, request_id):
        try:
            with serverless_hints(deployment_id):
                result = client.deployments.result(deployment_id, request_id)
            if not no_download and result.status.is_success:
                from runcomfy.downloads import check_output_directory

                check_output_directory(directory)
            finish(
                app,
                result,
                model_id=f"deployment/{deployment_id}",
                output_dir=directory,
                download=not no_download,
                emit=emit,
                known_files=entry.files if entry else (),
                resume_command=commands.result,
            )
        except KeyboardInterrupt:
            raise Interrupted("interrupted; no partial files were left", request_id=request_id) from None
        except RunComfyError as exc:
            set_resume_command(exc, commands.result)
            raise


@click.command("cancel")
@DEPLOYMENT_ID
@REQUEST_ID
def cancel_command(deployment_id: str, request_id: str) -> None:
    """Ask the service to cancel a deployment request (it may still run for a moment; `status` tells).

    \b
    Examples:
      runcomfy deployments cancel 9d2e...-41aa 3f1c...-9a2e
      runcomfy --output json deployments cancel 9d2e...-41aa 3f1c...-9a2e
    """
    from runcomfy.lifecycle.apis import DEPLOYMENT_API

    app = app_context()
    client = app.require_client()
    with serverless_hints(deployment_id):
        outcome = client.deployments.cancel(deployment_id, request_id)
    out = app.output
    record = {
        "deployment_id": deployment_id,
        "request_id": outcome.request_id,
        "status": outcome.status,
        "outcome": outcome.outcome,
    }
    if outcome.requested:
        out.progress(
            "info",
            f"{outcome.request_id}: cancellation requested; it may still be running "
            f"(`runcomfy deployments status {deployment_id} {outcome.request_id}` shows how it ends)",
        )
        out.record(record)
    elif outcome.cancelled:
        out.progress("ok", f"Cancelled {outcome.request_id} (final status: {outcome.status or 'cancelled'})")
        out.record(record)
    elif not outcome.outcome and outcome.status and DEPLOYMENT_API.parse_status(outcome.status).is_terminal:
        # The service answers a request that had ended with its terminal status: nothing was cancelled.
        out.progress("info", f"{outcome.request_id} had already ended ({outcome.status}); nothing to cancel")
        out.record(record)
    else:
        out.record(
            record,
            [
                ("request_id", outcome.request_id),
                ("outcome", outcome.outcome or "(no outcome)"),
                ("status", outcome.status or "(no status)"),
            ],
        )
    if outcome.status and not outcome.requested:
        _journal_status(app, request_id, outcome.status)


def _journal_status(app: AppContext, request_id: str, status: str) -> None:
    """Record what was just learnt about a journaled request (quietly: it is a by-product of the command)."""
    with contextlib.suppress(OSError, JournalError):
        app.journal().update(request_id, status=status)
