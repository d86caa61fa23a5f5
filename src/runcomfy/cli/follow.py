"""After a submit: record the request, wait for it (spinner, retries shown), present the result, and leave the
way to resume on screen whatever ends the wait.

Shared by ``run`` (Model API) and ``deployments run`` (Serverless API): the two differ only in the request's
handle and in the commands that act on it later (:class:`ResumeCommands`), so a deployment request gets the same
journal row, lock, Ctrl-C cancel, ``--timeout`` and downloads as a model request.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runcomfy.cli.exit_codes import set_resume_command
from runcomfy.cli.live import WaitSpinner
from runcomfy.cli.signals import exit_on_second_interrupt
from runcomfy.errors import Interrupted, RunComfyError, WaitTimeout

if TYPE_CHECKING:
    from runcomfy.cli.context import AppContext
    from runcomfy.lifecycle.handle import RequestHandle
    from runcomfy.status import RequestStatus


@dataclass(frozen=True)
class ResumeCommands:
    """The commands that fetch or cancel one request later (named in hints and interrupt messages)."""

    result: str
    cancel: str

    @classmethod
    def model_request(cls, request_id: str) -> ResumeCommands:
        return cls(f"runcomfy result {request_id}", f"runcomfy cancel {request_id}")

    @classmethod
    def deployment_request(cls, deployment_id: str, request_id: str) -> ResumeCommands:
        return cls(
            f"runcomfy deployments result {deployment_id} {request_id}",
            f"runcomfy deployments cancel {deployment_id} {request_id}",
        )


def record_submitted(
    app: AppContext, handle: RequestHandle, recorded_as: str, body: Any, output_dir: Path
) -> None:
    """Write the new request to the journal before polling, so a lost terminal never loses its id (a journal
    that cannot be written is a warning: the result matters more than the record)."""
    try:
        scope = app.journal_scope()
        app.journal().record(
            handle.request_id,
            recorded_as,
            body,
            model_api_base=scope.model_api_base,
            output_dir=output_dir,
            identity=scope.identity,
        )
    except (OSError, RunComfyError) as exc:
        app.output.warning(f"could not record request {handle.request_id} in the journal: {exc}")


def follow(
    app: AppContext,
    handle: RequestHandle,
    *,
    recorded_as: str,
    commands: ResumeCommands,
    poll_secs: int,
    timeout: float | None,
    output_dir: Path,
    download: bool,
    emit: str,
) -> None:
    """Wait for ``handle`` and present its result (see :func:`runcomfy.cli.finish.finish`).

    Ctrl-C or SIGTERM sends one cancel and ends with :class:`Interrupted`; ``--timeout`` cancels and ends with
    :class:`WaitTimeout`. Any error that leaves the request fetchable names ``commands.result``.
    """
    from runcomfy.cli.finish import finish

    out = app.output
    with contextlib.ExitStack() as held:
        app.announce_retries = True
        claim(app, held, handle.request_id)
        try:
            out.progress("poll", f"Polling status (every {poll_secs}s)...")
            with WaitSpinner(out, "submitted") as spinner:
                result = handle.wait(
                    timeout=timeout,
                    on_update=lambda s: _show_status(app, spinner, s),
                    poll_interval_s=poll_secs,
                    cancel_on_timeout=True,
                    raise_on_failure=False,
                )
            finish(
                app,
                result,
                model_id=recorded_as,
                output_dir=output_dir,
                download=download,
                emit=emit,
                resume_command=commands.result,
            )
        except KeyboardInterrupt:
            cancel_after_interrupt(app, handle, commands)
        except WaitTimeout as exc:
            with contextlib.suppress(OSError, RunComfyError):  # the journal must never change the exit code
                app.journal().update(handle.request_id, status="timed_out")
            set_resume_command(exc, commands.result)
            raise
        except RunComfyError as exc:
            set_resume_command(exc, commands.result)
            raise


def claim(app: AppContext, held: contextlib.ExitStack, request_id: str) -> None:
    """Hold the request's lock while this command waits and downloads, so a ``result`` of the same id in another
    process does not fetch its files at the same time (a journal problem only skips the lock)."""
    with contextlib.suppress(OSError, RunComfyError):
        held.enter_context(app.journal().locks.hold(f"request:{request_id}", what=f"request {request_id}"))


def cancel_after_interrupt(app: AppContext, handle: RequestHandle, commands: ResumeCommands) -> None:
    """Send one cancel (a second Ctrl-C exits at once), report it, and end with :class:`Interrupted`."""
    from runcomfy.lifecycle.handle import CANCEL_ON_INTERRUPT_TIMEOUT_S

    out, rid = app.output, handle.request_id
    with exit_on_second_interrupt():
        out.progress("cancel", f"Interrupted; cancelling request {rid}")
        # The outcome is said once, in the error that ends the command (shown in every mode).
        try:
            outcome = handle.cancel(timeout_s=CANCEL_ON_INTERRUPT_TIMEOUT_S, retry=False)
        except RunComfyError as exc:
            summary = f"the cancel could not be sent ({exc}); run `{commands.cancel}`"
            status = "interrupted"
        else:
            if outcome.outcome == "not_cancellable":
                finished = handle.api.parse_status(outcome.status).is_terminal
                fate = "it had already finished" if finished else "it will run to completion"
                summary = (
                    f"request could not be cancelled ({outcome.describe()}); {fate} — "
                    f"`{commands.result}` fetches it"
                )
            elif outcome.requested:
                summary = f"{outcome.describe()} — `{commands.result}` shows how it ended"
            else:
                summary = f"cancel accepted ({outcome.describe()})"
            status = "interrupted" if outcome.requested else outcome.status or "interrupted"
        with contextlib.suppress(OSError, RunComfyError):
            app.journal().update(rid, status=status)
    raise Interrupted(f"interrupted; {summary}", request_id=rid)


def _show_status(app: AppContext, spinner: WaitSpinner, status: RequestStatus) -> None:
    app.output.detail(status.describe())
    spinner.update(status.describe())
