"""``runcomfy run``: submit a request, wait for it, fetch the result, download the files.

The request id is written to the journal before polling starts, and every way out after submit (failure,
``--timeout``, Ctrl-C, SIGTERM, an outage) leaves the id and the command that resumes it on the screen.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from runcomfy.cli.context import AppContext, app_context
from runcomfy.cli.follow import ResumeCommands, follow, record_submitted
from runcomfy.cli.inputs import check_model_id, read_input
from runcomfy.cli.preflight import prepare_input
from runcomfy.cli.signals import interrupts_raise
from runcomfy.cli.wait_options import batch_options, output_dir_option, poll_secs_option, timeout_option
from runcomfy.errors import (
    APIStatusError,
    BadRequestError,
    Interrupted,
    NotFoundError,
    UnprocessableEntityError,
)

if TYPE_CHECKING:  # the library (httpx) is imported only when a command runs, to keep --help fast
    from runcomfy.client import Client


@click.command("run")
@click.argument("model_id")
@click.argument("assignments", nargs=-1, metavar="[KEY=VALUE | KEY:=JSON | KEY=@FILE]...")
@click.option("--input", "inline_input", metavar="JSON", help="Input as a JSON object.")
@click.option("--input-file", metavar="PATH", help="Read the input JSON from a file ('-' for stdin).")
@click.option("--no-wait", is_flag=True, help="Submit and print the request id without waiting.")
@poll_secs_option
@timeout_option
@output_dir_option
@click.option("--no-download", is_flag=True, help="Print the result without downloading files.")
@click.option(
    "--emit",
    type=click.Choice(["output", "record"]),
    default="output",
    show_default=True,
    help="Print the model's output (as the official CLI) or the whole record with saved files.",
)
@click.option(
    "--batch",
    "batch_file",
    metavar="FILE",
    help="Run every input of a JSONL file ('-' for stdin), one JSON object per line; resumable.",
)
@batch_options
@click.option(
    "--no-validate", is_flag=True, help="Skip the pre-flight check of the input against the model's schema."
)
def run_command(
    model_id: str,
    inline_input: str | None,
    input_file: str | None,
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
    assignments: tuple[str, ...],
    no_validate: bool,
) -> None:
    """Run a model: submit, wait, print the output and download its files.

    Inputs come from --input/--input-file and KEY=VALUE arguments (converted by the model's schema; KEY:=JSON
    for any JSON value; KEY=@FILE sends a local file as a data: URI, KEY=@- reads stdin). Before submitting, the
    input is checked against the model's schema (--no-validate skips it).

    \b
    Examples:
      runcomfy run openai/gpt-image-2/text-to-image --input '{"prompt": "a lighthouse at dawn"}'
      runcomfy run blackforestlabs/flux-1-kontext/pro/edit --input-file input.json --output-dir out/
      echo '{"prompt": "a fox"}' | runcomfy run openai/gpt-image-2/text-to-image --input-file -
      runcomfy --output json run openai/gpt-image-2/text-to-image --input '{"prompt": "x"}' --emit record
      runcomfy run openai/gpt-image-2/text-to-image --input '{"prompt": "x"}' --no-wait
      runcomfy run openai/gpt-image-2/text-to-image --batch prompts.jsonl --concurrency 8 --output-dir out/
      runcomfy run openai/gpt-image-2/text-to-image --batch prompts.jsonl --output-dir out/ --retry-failed
      runcomfy run blackforestlabs/flux-1-kontext/pro/edit prompt="add a red hat" image_url=@photo.png seed=7
      runcomfy run openai/gpt-image-2/text-to-image prompt="a fox" num_images:=2
    """
    if inline_input is not None and input_file is not None:
        raise click.UsageError("--input and --input-file cannot be used together")
    reads_stdin = [a for a in assignments if a.partition("=")[2] == "@-"]
    if reads_stdin and "-" in (input_file, batch_file):
        raise click.UsageError(f"{reads_stdin[0]} and --input-file -/--batch - cannot both read stdin")
    if batch_file is not None:
        if inline_input is not None or input_file is not None or no_wait or emit != "output":
            raise click.UsageError(
                "--batch cannot be combined with --input, --input-file, --no-wait or --emit"
            )
        if restart and retry_failed:
            raise click.UsageError("--restart and --retry-failed cannot be used together")
        _run_batch(
            model_id,
            batch_file,
            concurrency,
            restart,
            retry_failed,
            output_dir,
            no_download,
            poll_secs,
            timeout,
            assignments,
            no_validate,
        )
        return
    if restart or retry_failed:
        raise click.UsageError("--restart and --retry-failed only apply to --batch")
    body = read_input(inline_input, input_file)
    model = check_model_id(model_id)
    app = app_context()
    client = app.require_client()
    out = app.output
    body = prepare_input(app, client, model, body, assignments, validate=not no_validate)
    if not no_wait and not no_download:
        from runcomfy.downloads import check_output_directory

        check_output_directory(output_dir)  # before paying for a request whose files could not be saved
    out.progress("submit", f"Submitting request to {model}")
    with interrupts_raise():
        try:
            handle = client.submit(model, body)
        except KeyboardInterrupt:
            raise Interrupted(
                "interrupted while submitting; a request may have been created — "
                "see `runcomfy requests list` or the RunComfy dashboard"
            ) from None
        except (BadRequestError, NotFoundError, UnprocessableEntityError) as exc:
            raise _explain_rejection(app, client, model, exc) from None
        record_submitted(app, handle, model, body, Path(output_dir))
        out.detail(f"request_id: {handle.request_id}")
        if no_wait:
            out.data({"request_id": handle.request_id, "wait": False})
            return
        follow(
            app,
            handle,
            recorded_as=model,
            commands=ResumeCommands.model_request(handle.request_id),
            poll_secs=poll_secs,
            timeout=timeout,
            output_dir=Path(output_dir),
            download=not no_download,
            emit=emit,
        )


def _explain_rejection(app: AppContext, client: Client, model: str, exc: APIStatusError) -> APIStatusError:
    """A submit the service refused: point at the model's inputs, or at the ids that look like the one given."""
    from runcomfy.cli.preflight import did_you_mean_model

    if isinstance(exc, UnprocessableEntityError):
        exc.hint = f"see the model's inputs with `runcomfy models get {model}`"
        return exc
    suggestion = did_you_mean_model(app, client, model)
    exc.hint = f"{suggestion.strip('; ')}" if suggestion else "find model ids with `runcomfy models list`"
    return exc


def _run_batch(
    model_id: str,
    batch_file: str,
    concurrency: int,
    restart: bool,
    retry_failed: bool,
    output_dir: str,
    no_download: bool,
    poll_secs: int,
    timeout: float | None,
    assignments: tuple[str, ...],
    no_validate: bool,
) -> None:
    from runcomfy.cli.batch import read_batch_file, run_batch

    inputs = read_batch_file(batch_file)  # every line checked before the model id, the token or the network
    model = check_model_id(model_id)
    run_batch(
        app_context(),
        model,
        inputs,
        concurrency=concurrency,
        restart=restart,
        retry_failed=retry_failed,
        output_dir=Path(output_dir),
        download=not no_download,
        poll_secs=poll_secs,
        timeout=timeout,
        assignments=assignments,
        validate=not no_validate,
    )
