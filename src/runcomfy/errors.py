"""The one exception tree of the library.

Every failure the library reports is a :class:`RunComfyError`. The CLI maps these types (never their message
text) to exit codes in ``cli/exit_codes.py``; so a new failure mode needs a type here, not a new string.

::

    RunComfyError
    ├── ConfigError                      bad base URL or environment value
    ├── InvalidInput                     input JSON malformed, not an object, too deep (exit 65)
    │   ├── InputFileNotFound            an input file (--input-file, --batch, key=@file) is missing (exit 66)
    │   └── InputProblems                the input breaks the model's schema, each problem listed (exit 65)
    ├── NotAuthenticated                 no token anywhere (exit 77)
    ├── TokenFileError                   token.json cannot be written or removed (exit 74)
    │   └── InvalidTokenFile             token.json unreadable, symlinked or not a token file (exit 77)
    ├── LoginError                       device flow ended without a token
    │   ├── LoginDenied                  user clicked Deny (exit 77)
    │   └── LoginExpired                 device code expired / flow timed out (exit 75)
    ├── APIConnectionError               nothing usable came back (refused, reset, DNS)
    │   └── APITimeoutError              the HTTP call itself timed out (exit 75)
    ├── APIResponseError                 2xx whose body is not the JSON we need
    │   ├── UnexpectedRedirect           an API call answered 3xx (API calls never follow redirects; exit 69)
    │   └── TokenEchoed                  a reply's id or status holds the API token: refused, never stored (69)
    ├── APIStatusError                   non-2xx answer; carries status, error_code, message, detail
    │   ├── BadRequestError      400     (exit 65)
    │   ├── AuthenticationError  401     (exit 77)
    │   ├── PermissionDeniedError 403    (exit 77)
    │   ├── NotFoundError        404     (exit 65)
    │   ├── RequestTimeoutError  408     (exit 75)
    │   ├── UnprocessableEntityError 422 (exit 65; formerly ValidationError)
    │   ├── RateLimitError       429     (exit 75)
    │   └── ServerError          5xx     (exit 69)
    ├── RequestFailed                    the request ended `failed` (exit 1)
    ├── RequestCancelled                 the request ended `cancelled` (exit 1)
    ├── WaitTimeout                      --timeout reached while waiting (exit 75)
    ├── TrainingIncomplete               a training job STOPPED short of its last step or on an error (75)
    ├── StatusStuck                      an unknown status unchanged for the retry window (exit 69)
    ├── DownloadError                    a trusted file could not be saved (exit 74)
    │   ├── DownloadTooLarge             over the 2 GiB cap
    │   └── OutputDirectoryError         the output directory cannot be created or written (exit 73)
    ├── Interrupted                      Ctrl-C / SIGTERM after the cancel attempt (exit 130)
    ├── AlreadyRunning                   another runcomfy process is doing the same work (exit 75)
    └── JournalError                     the local request journal cannot be opened or written

Messages never contain the token: the HTTP layer builds them from status, error body and URL only, and the
URL never carries credentials.

Every error may carry a ``hint``: the next step, set where the cause is known (the CLI otherwise falls back to
the hint of the error's type, or shows none when the message already says what to fix).
"""

from __future__ import annotations

from typing import Any


class RunComfyError(Exception):
    """Root of every error the library raises.

    ``request_id`` is set whenever a remote request exists, so a caller can always resume it. ``hint`` is an
    optional next step for a person, set by whoever knows the cause best (``None``: none beyond the message).
    ``detail`` is structured data behind the message (a server's error object, a list of input problems).
    """

    hint: str | None = None
    detail: Any = None

    def __init__(self, message: str, *, request_id: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.request_id = request_id
        if hint is not None:
            self.hint = hint

    def __str__(self) -> str:
        return self.message


class ConfigError(RunComfyError):
    """A configuration value (base URL, config dir) cannot be used."""


class InvalidInput(RunComfyError):
    """The input data is unusable before anything is sent."""


class InputFileNotFound(InvalidInput):
    """An input file named on the command line does not exist."""


class InputProblems(InvalidInput):
    """The input breaks the model's schema; nothing was sent.

    ``problems`` lists each as ``{"field", "message", "kind"}`` (plus ``"line"`` in a batch), also given as
    ``detail``; ``headline`` is the message without them, for a display that lists them one per line.
    """

    def __init__(self, headline: str, problems: list[dict[str, Any]], *, hint: str | None = None) -> None:
        super().__init__(f"{headline}: {'; '.join(problem_text(p) for p in problems)}", hint=hint)
        self.headline = headline
        self.problems = problems
        self.detail = problems


def problem_text(problem: dict[str, Any]) -> str:
    """``line 3: seed: must be >= 0`` (the line only in a batch; no field for the input as a whole)."""
    where = [f"line {problem['line']}"] if problem.get("line") is not None else []
    if problem.get("field"):
        where.append(str(problem["field"]))
    return ": ".join([*where, str(problem.get("message", ""))])


class NotAuthenticated(RunComfyError):
    """No token was found in the environment or the token file."""


class TokenFileError(RunComfyError):
    """The token file cannot be written or removed safely (a local I/O problem)."""


class InvalidTokenFile(TokenFileError):
    """The token file cannot be used: unreadable, a symlink, or not a token file. An authentication problem:
    ``runcomfy login`` replaces it."""


class LoginError(RunComfyError):
    """The device-code flow ended without a token."""


class LoginDenied(LoginError):
    """The user denied the device on the approval page."""


class LoginExpired(LoginError):
    """The device code expired before it was approved."""


class APIConnectionError(RunComfyError):
    """The service could not be reached or dropped the connection."""


class APITimeoutError(APIConnectionError):
    """An HTTP call timed out."""


class APIResponseError(RunComfyError):
    """A successful HTTP answer whose body is not the JSON document expected."""


class TokenEchoed(APIResponseError):
    """The service sent back an id or a status that contains the API token. Such a value would be printed,
    stored in the journal and put in URLs, so it is refused outright (and not retried)."""


class UnexpectedRedirect(APIResponseError):
    """An API call was answered with a redirect. API calls never follow one (the token must not travel to
    wherever it points); it usually means a base URL that is not the service's own (``http://`` for
    ``https://``, a bare host). Not retried: it will not go away by itself."""


class APIStatusError(RunComfyError):
    """The service answered with a non-2xx status.

    Carries what the server said: ``status_code``, the numeric ``error_code``, the server's ``server_message``
    and the validation ``detail`` (a list for 422).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        error_code: int | str | None = None,
        server_message: str | None = None,
        detail: Any = None,
        retry_after_s: float | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, request_id=request_id)
        self.status_code = status_code
        self.error_code = error_code
        self.server_message = server_message
        self.detail = detail
        self.retry_after_s = retry_after_s


class BadRequestError(APIStatusError):
    """400: the service rejected the request (unknown model id, bad input)."""


class AuthenticationError(APIStatusError):
    """401: the token is missing, invalid, expired or revoked."""


class PermissionDeniedError(APIStatusError):
    """403: the resource belongs to another user."""


class NotFoundError(APIStatusError):
    """404: no such model or request."""


class RequestTimeoutError(APIStatusError):
    """408: the server timed out waiting for us."""


class UnprocessableEntityError(APIStatusError):
    """422: the input does not match the model's schema; ``detail`` names the fields."""


class RateLimitError(APIStatusError):
    """429: slow down; ``retry_after_s`` holds the server's hint."""


class ServerError(APIStatusError):
    """5xx: the service failed."""


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    408: RequestTimeoutError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def status_error_class(status_code: int) -> type[APIStatusError]:
    """The most specific :class:`APIStatusError` subclass for an HTTP status."""
    if status_code >= 500:
        return ServerError
    return _STATUS_CLASSES.get(status_code, APIStatusError)


class RequestFailed(RunComfyError):
    """The request reached the terminal status ``failed``; ``error`` is the server's error object."""

    def __init__(self, message: str, *, request_id: str | None = None, error: Any = None) -> None:
        super().__init__(message, request_id=request_id)
        self.error = error
        self.detail = error


class RequestCancelled(RunComfyError):
    """The request reached the terminal status ``cancelled``."""


class WaitTimeout(RunComfyError):
    """The caller's overall deadline passed before the request finished."""


class TrainingIncomplete(RunComfyError):
    """A training job ended ``STOPPED`` before its last step, or with an error: the platform stopped it (a
    reclaimed server, a control-plane stop). Not a failure of the job's config; it continues from its latest
    checkpoint with ``runcomfy train resume <id>`` (``request_id`` is the job id; ``record`` its result)."""

    def __init__(
        self, message: str, *, request_id: str | None = None, hint: str | None = None, record: Any = None
    ) -> None:
        super().__init__(message, request_id=request_id, hint=hint)
        self.record = record


class StatusStuck(RunComfyError):
    """The service kept answering a status this library does not know, unchanged for the whole retry window.

    Waiting on is pointless but the request may still finish: ``request_id`` says which one to fetch later.
    """


class DownloadError(RunComfyError):
    """A file from a trusted URL could not be saved; nothing partial is left behind."""

    def __init__(
        self, message: str, *, url: str | None = None, request_id: str | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, request_id=request_id, hint=hint)
        self.url = url


class DownloadTooLarge(DownloadError):
    """A file exceeds the download size cap."""


class OutputDirectoryError(DownloadError):
    """The output directory cannot be created or written (checked before anything is submitted)."""


class Interrupted(RunComfyError):
    """The user interrupted the command (Ctrl-C or SIGTERM)."""


class AlreadyRunning(RunComfyError):
    """Another ``runcomfy`` process holds the lock on this work (the same batch, the same request's files);
    stopping is what keeps a line from being paid for twice. Try again once it has finished."""


class JournalError(RunComfyError):
    """The local request journal (SQLite in the state dir) cannot be opened or written."""


def __getattr__(name: str) -> Any:
    # The 422 error was called ValidationError, a name that collides with jsonschema's; the old name still works.
    if name == "ValidationError":
        import warnings

        warnings.warn(
            "runcomfy.errors.ValidationError is now UnprocessableEntityError",
            DeprecationWarning,
            stacklevel=2,
        )
        return UnprocessableEntityError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
