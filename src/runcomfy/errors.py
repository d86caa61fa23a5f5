"""The one exception tree of the library.

Every failure the library reports is a :class:`RunComfyError`. The CLI maps these types (never their message
text) to exit codes in ``cli/exit_codes.py``; so a new failure mode needs a type here, not a new string.

::

    RunComfyError
    ├── ConfigError                      bad base URL or environment value
    ├── InvalidInput                     input JSON malformed, not an object, too deep (exit 65)
    │   └── InputFileNotFound            --input-file path missing (exit 66)
    ├── NotAuthenticated                 no token anywhere (exit 77)
    ├── TokenFileError                   token.json unreadable, symlinked or unwritable
    ├── LoginError                       device flow ended without a token
    │   ├── LoginDenied                  user clicked Deny (exit 77)
    │   └── LoginExpired                 device code expired / flow timed out (exit 75)
    ├── APIConnectionError               nothing usable came back (refused, reset, DNS)
    │   └── APITimeoutError              the HTTP call itself timed out (exit 75)
    ├── APIResponseError                 2xx whose body is not the JSON we need
    ├── APIStatusError                   non-2xx answer; carries status, error_code, message, detail
    │   ├── BadRequestError      400     (exit 65)
    │   ├── AuthenticationError  401     (exit 77)
    │   ├── PermissionDeniedError 403    (exit 77)
    │   ├── NotFoundError        404     (exit 65)
    │   ├── RequestTimeoutError  408     (exit 75)
    │   ├── ValidationError      422     (exit 65)
    │   ├── RateLimitError       429     (exit 75)
    │   └── ServerError          5xx     (exit 69)
    ├── RequestFailed                    the request ended `failed` (exit 1)
    ├── RequestCancelled                 the request ended `cancelled` (exit 1)
    ├── WaitTimeout                      --timeout reached while waiting (exit 75)
    ├── DownloadError                    a trusted file could not be saved (exit 74)
    │   └── DownloadTooLarge             over the 2 GiB cap
    ├── Interrupted                      Ctrl-C / SIGTERM after the cancel attempt (exit 130)
    └── JournalError                     the local request journal cannot be opened or written

Messages never contain the token: the HTTP layer builds them from status, error body and URL only, and the
URL never carries credentials.
"""

from __future__ import annotations

from typing import Any


class RunComfyError(Exception):
    """Root of every error the library raises.

    ``request_id`` is set whenever a remote request exists, so a caller can always resume it.
    """

    def __init__(self, message: str, *, request_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.request_id = request_id

    def __str__(self) -> str:
        return self.message


class ConfigError(RunComfyError):
    """A configuration value (base URL, config dir) cannot be used."""


class InvalidInput(RunComfyError):
    """The input data is unusable before anything is sent."""


class InputFileNotFound(InvalidInput):
    """An input file named on the command line does not exist."""


class NotAuthenticated(RunComfyError):
    """No token was found in the environment or the token file."""


class TokenFileError(RunComfyError):
    """The token file cannot be read or written safely."""


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


class ValidationError(APIStatusError):
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
    422: ValidationError,
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


class RequestCancelled(RunComfyError):
    """The request reached the terminal status ``cancelled``."""


class WaitTimeout(RunComfyError):
    """The caller's overall deadline passed before the request finished."""


class DownloadError(RunComfyError):
    """A file from a trusted URL could not be saved; nothing partial is left behind."""

    def __init__(self, message: str, *, url: str | None = None, request_id: str | None = None) -> None:
        super().__init__(message, request_id=request_id)
        self.url = url


class DownloadTooLarge(DownloadError):
    """A file exceeds the download size cap."""


class Interrupted(RunComfyError):
    """The user interrupted the command (Ctrl-C or SIGTERM)."""


class JournalError(RunComfyError):
    """The local request journal (SQLite in the state dir) cannot be opened or written."""


class BatchFailed(RunComfyError):
    """Some items of a batch did not succeed. ``exit_code`` is the exit class all the failures share (e.g. 77
    when every item was refused with 401), or 1 when they differ or only some items failed."""

    def __init__(self, message: str, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code
