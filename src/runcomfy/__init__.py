"""runcomfy: a client library and CLI for RunComfy's Model API, with a local emulator of the service.

The public surface is re-exported here; the library never prints, prompts or exits. ``Client`` and friends pull
in httpx, so they are imported on first use: ``import runcomfy`` (and ``runcomfy --version``) stays fast.

    from runcomfy import Client
    with Client() as client:
        result = client.run("openai/gpt-image-2/text-to-image", {"prompt": "a lighthouse at dusk"}, timeout=600)
        print(result.output)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from runcomfy._version import __version__
from runcomfy.errors import (
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
    TokenFileError,
    ValidationError,
    WaitTimeout,
)
from runcomfy.status import (
    Cancelled,
    Completed,
    Failed,
    InProgress,
    Queued,
    RequestStatus,
    Unknown,
    parse_status,
)

if TYPE_CHECKING:
    from runcomfy.auth.credentials import Token
    from runcomfy.client import Client, RequestHandle
    from runcomfy.results import CancelOutcome, Result

_LAZY = {
    "Client": "runcomfy.client",
    "RequestHandle": "runcomfy.client",
    "Result": "runcomfy.results",
    "CancelOutcome": "runcomfy.results",
    "Token": "runcomfy.auth.credentials",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'runcomfy' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "APIConnectionError",
    "APIResponseError",
    "APIStatusError",
    "APITimeoutError",
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
    "TokenFileError",
    "Unknown",
    "ValidationError",
    "WaitTimeout",
    "__version__",
    "parse_status",
]
