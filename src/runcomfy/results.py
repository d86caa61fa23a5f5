"""What a finished request looks like to the library: :class:`Result` and :class:`CancelOutcome`.

Owns the reading of the result and cancel payloads and the rule that the
*result's* status decides success, failure or cancellation (:func:`raise_for_outcome`). It must never do I/O.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from runcomfy.errors import RequestCancelled, RequestFailed
from runcomfy.safe_text import redact, strip_controls
from runcomfy.status import Cancelled, Failed, RequestStatus

__all__ = ["CancelOutcome", "Result", "raise_for_outcome"]

_FROM_PAYLOAD: Any = object()


@dataclass(frozen=True)
class Result:
    """A request's result record. ``raw`` is the whole reply; ``output`` and ``error`` are any JSON."""

    request_id: str
    status: RequestStatus
    output: Any = None
    error: Any = None
    created_at: str | None = None
    finished_at: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_payload(
        cls,
        payload: Mapping[str, Any],
        *,
        request_id: str,
        status: RequestStatus | None = None,
        output: Any = _FROM_PAYLOAD,
    ) -> Result:
        """Read a result reply leniently: a missing or mistyped optional field becomes ``None``.

        ``status`` is the reply's status as its API reads it (default: in the Model API's words); ``output`` the
        part of it that holds the files (default: its ``output``; a deployment's is ``outputs``).
        """
        if status is None:
            from runcomfy.lifecycle.apis import parse_model_api_status

            status = parse_model_api_status(payload)
        reported = payload.get("request_id")
        return cls(
            request_id=reported if isinstance(reported, str) and reported else request_id,
            status=status,
            output=payload.get("output") if output is _FROM_PAYLOAD else output,
            error=payload.get("error"),
            created_at=_optional_str(payload.get("created_at")),
            finished_at=_optional_str(payload.get("finished_at")),
            raw=payload,
        )

    @property
    def ok(self) -> bool:
        return self.status.is_success

    def with_status(self, status: RequestStatus) -> Result:
        """A copy with another status (used when the result reply carried none)."""
        return dataclasses.replace(self, status=status)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record: what a script gets from ``--output json`` (files are added by the CLI)."""
        return {
            "request_id": self.request_id,
            "status": self.status.name,
            "output": self.output,
            "error": self.error,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
        }


@dataclass(frozen=True)
class CancelOutcome:
    """The reply to a cancel: ``outcome`` is ``cancelled`` or ``not_cancellable`` on the Model API; the Serverless
    API answers ``status: cancellation_requested`` (see :attr:`requested`)."""

    request_id: str
    status: str | None = None
    outcome: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any], *, request_id: str) -> CancelOutcome:
        reported = payload.get("request_id")
        status, outcome = _optional_str(payload.get("status")), _optional_str(payload.get("outcome"))
        return cls(
            request_id=reported if isinstance(reported, str) and reported else request_id,
            status=strip_controls(status, max_len=64) if status else None,
            outcome=strip_controls(outcome, max_len=64) if outcome else None,
            raw=payload,
        )

    @property
    def cancelled(self) -> bool:
        """True when the service says the request is (or will be) cancelled."""
        if self.outcome:
            return self.outcome.lower() == "cancelled"
        from runcomfy.lifecycle.apis import MODEL_API_STATUSES

        return (self.status or "").lower() in MODEL_API_STATUSES.cancelled

    @property
    def not_cancellable(self) -> bool:
        return (self.outcome or "").lower() == "not_cancellable"

    @property
    def requested(self) -> bool:
        """True when the service took the cancel but the request may still be running (the Serverless API's
        ``cancellation_requested``): only a later status says whether it ended ``cancelled``."""
        return not self.outcome and (self.status or "").lower() == "cancellation_requested"

    def describe(self) -> str:
        """``cancelled``, ``not_cancellable (status: in_progress)``, or whatever the service said."""
        if self.requested:
            return "cancellation requested; it may still be running"
        word = self.outcome or self.status or "no outcome"
        if self.outcome and self.status and self.status != self.outcome:
            return f"{word} (status: {self.status})"
        return word


def raise_for_outcome(result: Result, *, secrets: Iterable[str] = ()) -> None:
    """Raise :class:`RequestFailed` or :class:`RequestCancelled` when the result says so."""
    if isinstance(result.status, Failed):
        raise RequestFailed(
            f"request failed: {describe_error(result.error, secrets=secrets)}",
            request_id=result.request_id,
            error=result.error,
        )
    if isinstance(result.status, Cancelled):
        raise RequestCancelled("request cancelled", request_id=result.request_id)


def describe_error(error: Any, *, secrets: Iterable[str] = ()) -> str:
    """The server's error object as compact one-line JSON (as the official CLI prints it), bounded."""
    if error is None:
        return "(no detail)"
    text = error if isinstance(error, str) else json.dumps(error, ensure_ascii=False, separators=(",", ":"))
    return redact(strip_controls(text, max_len=500), secrets)


def _optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
