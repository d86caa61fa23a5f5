"""runcomfy: a client library and CLI for RunComfy's Model API, with a local emulator of the service.

The public surface is re-exported here; the library never prints, prompts or exits. Every name is imported on
first use: ``import runcomfy`` loads nothing but the version, so ``runcomfy --version`` stays fast and the CLI's
entry point runs (and sets up its signal handling) as early as possible.

    from runcomfy import Client
    with Client() as client:
        result = client.run("openai/gpt-image-2/text-to-image", {"prompt": "a lighthouse at dusk"}, timeout=600)
        print(result.output)
"""

from __future__ import annotations

from runcomfy._version import __version__

TYPE_CHECKING = (
    False  # not typing.TYPE_CHECKING: importing typing alone costs more than the rest of the package
)
if TYPE_CHECKING:
    from typing import Any

    from runcomfy.auth.credentials import Token
    from runcomfy.client import Client, RequestHandle
    from runcomfy.errors import (
        AlreadyRunning,
        APIConnectionError,
        APIResponseError,
        APIStatusError,
        APITimeoutError,
        AuthenticationError,
        BadRequestError,
        ConfigError,
        DownloadError,
        DownloadTooLarge,
        InputFileNotFound,
        InputProblems,
        Interrupted,
        InvalidInput,
        InvalidTokenFile,
        JournalError,
        LoginDenied,
        LoginError,
        LoginExpired,
        NotAuthenticated,
        NotFoundError,
        OutputDirectoryError,
        PermissionDeniedError,
        RateLimitError,
        RequestCancelled,
        RequestFailed,
        RequestTimeoutError,
        RunComfyError,
        ServerError,
        StatusStuck,
        TokenEchoed,
        TokenFileError,
        UnexpectedRedirect,
        UnprocessableEntityError,
        WaitTimeout,
    )
    from runcomfy.lifecycle.apis import parse_model_api_status as parse_status
    from runcomfy.results import CancelOutcome, Result
    from runcomfy.status import (
        Cancelled,
        Completed,
        Failed,
        InProgress,
        Queued,
        RequestStatus,
        Unknown,
    )

_LAZY: dict[str, str | tuple[str, str]] = {
    "Client": "runcomfy.client",
    "RequestHandle": "runcomfy.lifecycle.handle",
    "Result": "runcomfy.results",
    "CancelOutcome": "runcomfy.results",
    "Token": "runcomfy.auth.credentials",
    "AlreadyRunning": "runcomfy.errors",
    "APIConnectionError": "runcomfy.errors",
    "APIResponseError": "runcomfy.errors",
    "APIStatusError": "runcomfy.errors",
    "APITimeoutError": "runcomfy.errors",
    "AuthenticationError": "runcomfy.errors",
    "BadRequestError": "runcomfy.errors",
    "ConfigError": "runcomfy.errors",
    "DownloadError": "runcomfy.errors",
    "DownloadTooLarge": "runcomfy.errors",
    "InputFileNotFound": "runcomfy.errors",
    "InputProblems": "runcomfy.errors",
    "Interrupted": "runcomfy.errors",
    "InvalidInput": "runcomfy.errors",
    "InvalidTokenFile": "runcomfy.errors",
    "JournalError": "runcomfy.errors",
    "LoginDenied": "runcomfy.errors",
    "LoginError": "runcomfy.errors",
    "LoginExpired": "runcomfy.errors",
    "NotAuthenticated": "runcomfy.errors",
    "NotFoundError": "runcomfy.errors",
    "OutputDirectoryError": "runcomfy.errors",
    "PermissionDeniedError": "runcomfy.errors",
    "RateLimitError": "runcomfy.errors",
    "RequestCancelled": "runcomfy.errors",
    "RequestFailed": "runcomfy.errors",
    "RequestTimeoutError": "runcomfy.errors",
    "RunComfyError": "runcomfy.errors",
    "ServerError": "runcomfy.errors",
    "StatusStuck": "runcomfy.errors",
    "TokenEchoed": "runcomfy.errors",
    "TokenFileError": "runcomfy.errors",
    "UnexpectedRedirect": "runcomfy.errors",
    "UnprocessableEntityError": "runcomfy.errors",
    "WaitTimeout": "runcomfy.errors",
    "Cancelled": "runcomfy.status",
    "Completed": "runcomfy.status",
    "Failed": "runcomfy.status",
    "InProgress": "runcomfy.status",
    "Queued": "runcomfy.status",
    "RequestStatus": "runcomfy.status",
    "Unknown": "runcomfy.status",
    "parse_status": ("runcomfy.lifecycle.apis", "parse_model_api_status"),
}


def __getattr__(name: str) -> Any:
    where = _LAZY.get(name)
    if where is None:
        raise AttributeError(f"module 'runcomfy' has no attribute {name!r}")
    module, attribute = where if isinstance(where, tuple) else (where, name)
    import importlib  # here: the console script imports this package before it can handle Ctrl-C

    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


__all__ = [
    "APIConnectionError",
    "APIResponseError",
    "APIStatusError",
    "APITimeoutError",
    "AlreadyRunning",
    "AuthenticationError",
    "BadRequestError",
    "CancelOutcome",
    "Cancelled",
    "Client",
    "Completed",
    "ConfigError",
    "DownloadError",
    "DownloadTooLarge",
    "Failed",
    "InProgress",
    "InputFileNotFound",
    "InputProblems",
    "Interrupted",
    "InvalidInput",
    "InvalidTokenFile",
    "JournalError",
    "LoginDenied",
    "LoginError",
    "LoginExpired",
    "NotAuthenticated",
    "NotFoundError",
    "OutputDirectoryError",
    "PermissionDeniedError",
    "Queued",
    "RateLimitError",
    "RequestCancelled",
    "RequestFailed",
    "RequestHandle",
    "RequestStatus",
    "RequestTimeoutError",
    "Result",
    "RunComfyError",
    "ServerError",
    "StatusStuck",
    "Token",
    "TokenEchoed",
    "TokenFileError",
    "UnexpectedRedirect",
    "Unknown",
    "UnprocessableEntityError",
    "WaitTimeout",
    "__version__",
    "parse_status",
]
