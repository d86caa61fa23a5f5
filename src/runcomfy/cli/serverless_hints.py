"""The next step after a failure of the Serverless API, for every command on it (``deployments ...``,
``balance``).

The service gates deployment work with its own error codes, whatever HTTP status it pairs them with: 10001
insufficient funds (402), 10002 a disabled deployment (409), 10003 a deleted one (410). The exit table
(``exit_codes.py``) classifies by exception type, and these arrive as a plain
:class:`~runcomfy.errors.APIStatusError` (exit 65), so the hint is set here, where the deployment id is known,
and the type's hint stays the fallback. Decided by typed fields (status, ``error_code``), never message text.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from runcomfy.errors import APIConnectionError, APIStatusError, APITimeoutError

INSUFFICIENT_FUNDS, DEPLOYMENT_DISABLED, DEPLOYMENT_DELETED = "10001", "10002", "10003"


def serverless_hint(exc: BaseException, deployment_id: str | None = None) -> str | None:
    """The hint that fits ``exc``, or None when the exit table's hint fits as it is."""
    if isinstance(exc, APIStatusError):
        code = str(exc.error_code) if exc.error_code is not None else None
        target = deployment_id or "ID"
        if code == INSUFFICIENT_FUNDS or (code is None and exc.status_code == 402):
            return "top up your RunComfy balance (`runcomfy balance` shows it), then try again"
        if code == DEPLOYMENT_DISABLED or (code is None and exc.status_code == 409):
            return (
                f"the deployment is disabled; enable it with `runcomfy deployments update {target} --enable`"
            )
        if code == DEPLOYMENT_DELETED or (code is None and exc.status_code == 410):
            return "the deployment was deleted; `runcomfy deployments list` shows the ones that exist"
        return None
    if isinstance(exc, APIConnectionError) and not isinstance(exc, APITimeoutError):
        return "could not reach the Serverless API; check the network and RUNCOMFY_SERVERLESS_API_BASE"
    return None


@contextlib.contextmanager
def serverless_hints(deployment_id: str | None = None) -> Iterator[None]:
    """Give a Serverless API failure raised inside the block the hint that fits it (an error's own hint, set
    where its cause was known, is kept)."""
    try:
        yield
    except (APIStatusError, APIConnectionError) as exc:
        hint = serverless_hint(exc, deployment_id)
        if hint is not None and exc.hint is None:
            exc.hint = hint
        raise
