"""The process exit codes: one ordered table from exception type to exit code and next-step hint.

This module owns the mapping from a failure to the number the process exits with (sysexits style like the
official CLI; docs/decisions.md says where it differs) and the short hint that tells the user what to do next.
``--help`` prints the same table through :func:`exit_codes_help`, so the help and the code cannot drift apart.

It must never look at message text (only exception types, first match wins in :data:`EXIT_RULES`), never
print, and never call ``sys.exit``: :func:`classify` returns a number and ``main()`` exits with it.

Decisions worth knowing:

* ``APIConnectionError`` (refused, reset, DNS; timeouts have their own subclass) exits **69**, not 75.
  The library only lets it reach the CLI after its retries are spent, i.e. after a sustained outage, and
  "the service cannot be reached" is exactly sysexits' EX_UNAVAILABLE, the class already used for a
  service answering 5xx after retries. 75 (EX_TEMPFAIL) stays reserved for "slow or
  throttled": timeouts, 408, 429, ``--timeout`` and an expired device code. A script that retries on
  either code treats both outages alike.
* ``APIResponseError`` (a 2xx whose body is not the JSON we need, e.g. an HTML error page from a proxy)
  also exits **69**: after retries, a service that keeps answering garbage is as unavailable as one
  answering 5xx, and the reliability rules require a sustained outage to end with 69 or 75, never 1.
* A bare ``APIStatusError`` is, by construction of ``errors.status_error_class``, a 4xx without a
  subclass of its own (402, 409, 413, ...); it exits 65 like the official CLI's "other 400-499".
* ``TokenFileError`` (the token file cannot be written or removed) and any raw ``OSError`` exit **74**: the
  library wraps network failures into ``APIConnectionError``, so an ``OSError`` that reaches the CLI is a local
  file problem. The builtin ``TimeoutError`` (an ``OSError``) is listed first and exits 75. A token file that
  cannot be *read* or is not a token file (``InvalidTokenFile``) is an authentication problem: 77, and
  ``runcomfy login`` replaces it.
* ``LoginError`` without a more specific type (the flow ended without a token) exits 77 with the other
  authentication failures.
* A destructive command (``deployments delete``) that cannot ask its question (stdin or stderr is not a
  terminal) and has no ``--yes`` exits **64** (``ConfirmationRequired``), like the official CLI; an answer
  other than yes exits **1** (``ConfirmationDeclined``). Neither sends anything.
* Hints: an error raised where its cause is known carries its own ``hint``, which wins. The table's hint is the
  fallback for a type; the input-data rows (65, 66) have none, because their messages already name the field,
  the file or the id to fix, and a generic "check the input" beside them only misleads.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple

import click

from runcomfy import errors


class ExitCode(IntEnum):
    """The exit codes the CLI can return (sysexits.h names where one applies)."""

    OK = 0
    FAILURE = 1
    USAGE = 64
    DATAERR = 65
    NOINPUT = 66
    UNAVAILABLE = 69
    CANTCREAT = 73
    IOERR = 74
    TEMPFAIL = 75
    NOPERM = 77
    INTERRUPTED = 130


#: What each code means, in the order ``--help`` lists them.
EXIT_CODE_MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "success",
    ExitCode.FAILURE: "the request failed or was cancelled; other errors",
    ExitCode.USAGE: "usage error (unknown command or flag, bad flag value)",
    ExitCode.DATAERR: "bad input data (malformed JSON, rejected by the server: 400/404/422)",
    ExitCode.NOINPUT: "an input file does not exist",
    ExitCode.UNAVAILABLE: "the service is unavailable (5xx, unreachable or unusable answers, a status that never"
    " changes), after retries",
    ExitCode.CANTCREAT: "the output directory cannot be created or written (checked before submitting)",
    ExitCode.IOERR: "local I/O error (a download or the token file could not be written)",
    ExitCode.TEMPFAIL: "temporary failure (timeout, 408/429 after retries, --timeout reached, code expired, a"
    " training job stopped short of its last step)",
    ExitCode.NOPERM: "authentication (no token, an unusable token file, 401/403, login denied)",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C or SIGTERM)",
}


class ExitRule(NamedTuple):
    """One row of the table: an exception type, its exit code and the user's next step.

    ``resumable`` marks failures after which a submitted request may still be running or finished; when the
    exception carries a request id, :func:`hint_for` adds the command that fetches its result. A named tuple,
    not a dataclass: the root ``--help`` imports this module, and ``dataclasses`` alone would add a few
    milliseconds to it.
    """

    exc_type: type[BaseException]
    code: ExitCode
    hint: str | None
    resumable: bool = False


_LOGIN_HINT = "run `runcomfy login`, or set RUNCOMFY_TOKEN"


class BatchFailed(errors.RunComfyError):
    """Some items of a batch did not succeed.

    ``exit_code`` is the exit class all the failures share (77 when every item was refused with 401), or 1 when
    they differ or only some items failed; ``hint`` is the command that helps (``--retry-failed``, resume, login).
    A CLI concept (the library reports each item's own outcome), so it lives beside the exit table.
    """

    def __init__(self, message: str, *, exit_code: int = 1, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.exit_code = exit_code


class ConfirmationRequired(errors.RunComfyError):
    """A destructive command was run where no one can answer its question (stdin or stderr is not a terminal)
    and without ``--yes``: refused as a usage error (64), like the official CLI, rather than going ahead."""


class ConfirmationDeclined(errors.RunComfyError):
    """The user answered anything but yes to a destructive command's question: nothing was done (exit 1)."""


#: First match wins, so every subclass comes before its base class (a test checks no rule is shadowed).
EXIT_RULES: tuple[ExitRule, ...] = (
    ExitRule(KeyboardInterrupt, ExitCode.INTERRUPTED, None),
    ExitRule(errors.Interrupted, ExitCode.INTERRUPTED, None),
    ExitRule(click.exceptions.Abort, ExitCode.INTERRUPTED, None),
    ExitRule(click.UsageError, ExitCode.USAGE, "see `runcomfy --help`"),
    ExitRule(ConfirmationRequired, ExitCode.USAGE, "pass --yes to go ahead without a question"),
    ExitRule(ConfirmationDeclined, ExitCode.FAILURE, None),
    # Input: the message names the file, field or id; no generic hint.
    ExitRule(errors.InputFileNotFound, ExitCode.NOINPUT, None),
    ExitRule(errors.InvalidInput, ExitCode.DATAERR, None),
    # Authentication
    ExitRule(errors.NotAuthenticated, ExitCode.NOPERM, _LOGIN_HINT),
    ExitRule(errors.InvalidTokenFile, ExitCode.NOPERM, "run `runcomfy login` (it replaces the file)"),
    ExitRule(errors.AuthenticationError, ExitCode.NOPERM, "the token was rejected; " + _LOGIN_HINT),
    ExitRule(
        errors.PermissionDeniedError,
        ExitCode.NOPERM,
        "this belongs to another account; check the id and `runcomfy whoami`",
    ),
    ExitRule(errors.LoginDenied, ExitCode.NOPERM, "run `runcomfy login` again and click Authorize"),
    ExitRule(errors.LoginExpired, ExitCode.TEMPFAIL, "the code expired; run `runcomfy login` again"),
    ExitRule(errors.LoginError, ExitCode.NOPERM, "run `runcomfy login` again"),
    # The service's answers. Rejections (65) carry the server's reason in the message; a hint is set where the
    # model id is known (`runcomfy models get MODEL`).
    ExitRule(errors.BadRequestError, ExitCode.DATAERR, None),
    ExitRule(errors.NotFoundError, ExitCode.DATAERR, None),
    ExitRule(errors.UnprocessableEntityError, ExitCode.DATAERR, None),
    ExitRule(
        errors.RequestTimeoutError,
        ExitCode.TEMPFAIL,
        "the service timed out; try again shortly",
        resumable=True,
    ),
    ExitRule(
        errors.RateLimitError, ExitCode.TEMPFAIL, "rate limited; wait a moment and retry", resumable=True
    ),
    ExitRule(
        errors.ServerError, ExitCode.UNAVAILABLE, "the service is failing; try again later", resumable=True
    ),
    ExitRule(errors.APIStatusError, ExitCode.DATAERR, None),
    ExitRule(
        errors.APITimeoutError, ExitCode.TEMPFAIL, "the service is slow; try again shortly", resumable=True
    ),
    ExitRule(
        errors.APIConnectionError,
        ExitCode.UNAVAILABLE,
        "could not reach the service; check the network and RUNCOMFY_MODEL_API_BASE",
        resumable=True,
    ),
    ExitRule(
        errors.APIResponseError,
        ExitCode.UNAVAILABLE,
        "the service sent an unusable answer; try again later",
        resumable=True,
    ),
    # Waiting and results
    ExitRule(errors.WaitTimeout, ExitCode.TEMPFAIL, "the request may still finish", resumable=True),
    ExitRule(errors.TrainingIncomplete, ExitCode.TEMPFAIL, None),
    ExitRule(
        errors.AlreadyRunning,
        ExitCode.TEMPFAIL,
        "wait for the other runcomfy process to finish, then run the same command again",
    ),
    ExitRule(
        errors.StatusStuck,
        ExitCode.UNAVAILABLE,
        "the service reports a status this CLI does not know; the request may still finish",
        resumable=True,
    ),
    ExitRule(errors.RequestFailed, ExitCode.FAILURE, None),
    ExitRule(errors.RequestCancelled, ExitCode.FAILURE, None),
    # (a batch carries the exit class its failed items share and the hint that fits them; this is the fallback)
    ExitRule(BatchFailed, ExitCode.FAILURE, None),
    # Local files
    ExitRule(
        errors.OutputDirectoryError,
        ExitCode.CANTCREAT,
        "choose another --output-dir, or fix its permissions",
        resumable=True,
    ),
    ExitRule(
        errors.DownloadError,
        ExitCode.IOERR,
        "check free space and that the output directory is writable",
        resumable=True,
    ),
    ExitRule(errors.TokenFileError, ExitCode.IOERR, "check the config directory's permissions"),
    ExitRule(
        errors.JournalError, ExitCode.IOERR, "check the state directory (RUNCOMFY_STATE_DIR) and free space"
    ),
    ExitRule(TimeoutError, ExitCode.TEMPFAIL, "try again shortly"),
    ExitRule(OSError, ExitCode.IOERR, "check free space and permissions"),
)

_FALLBACK = ExitRule(BaseException, ExitCode.FAILURE, None)


def rule_for(exc: BaseException) -> ExitRule:
    """The first rule whose type ``exc`` is an instance of; the exit-1 fallback when none matches."""
    for rule in EXIT_RULES:
        if isinstance(exc, rule.exc_type):
            return rule
    return _FALLBACK


def classify(exc: BaseException) -> int:
    """The exit code for ``exc``, decided by its type alone (never its message).

    A batch's failure carries the class its items share (computed from their own exceptions' types).
    """
    if isinstance(exc, BatchFailed):
        return exc.exit_code
    return int(rule_for(exc).code)


_RESUME_ATTRIBUTE = "runcomfy_resume_command"


def set_resume_command(exc: BaseException, command: str) -> None:
    """Say which command fetches the request ``exc`` is about, when it is not ``runcomfy result ID`` (a
    deployment request is fetched with ``runcomfy deployments result DEPLOYMENT ID``)."""
    if getattr(exc, "request_id", None):
        setattr(exc, _RESUME_ATTRIBUTE, command)


def hint_for(exc: BaseException) -> str | None:
    """A short next step for the user: the error's own hint, else its type's; with the resume command when a
    request id is known and the request may still be fetched."""
    rule = rule_for(exc)
    own = exc.hint if isinstance(exc, errors.RunComfyError) else None
    hint = own if own is not None else rule.hint
    request_id = getattr(exc, "request_id", None) if isinstance(exc, errors.RunComfyError) else None
    if rule.resumable and request_id:
        command = getattr(exc, _RESUME_ATTRIBUTE, None) or f"runcomfy result {request_id}"
        if hint and command in hint:
            return hint
        resume = f"resume with `{command}`"
        return f"{hint}; {resume}" if hint else resume
    return hint


def possible_codes() -> frozenset[int]:
    """Every code :func:`classify` can return, plus 0 for success."""
    return frozenset({int(ExitCode.OK), int(_FALLBACK.code)} | {int(rule.code) for rule in EXIT_RULES})


def exit_codes_help() -> str:
    """The ``EXIT CODES:`` section of the root ``--help`` (click's ``\\b`` keeps the lines as they are)."""
    width = max(len(str(int(code))) for code in EXIT_CODE_MEANINGS) + 2
    lines = ["\b", "EXIT CODES:"]
    lines += [f"  {int(code):<{width}}{meaning}" for code, meaning in EXIT_CODE_MEANINGS.items()]
    return "\n".join(lines) + "\n"
