"""Request status as small typed values, parsed in one function.

Owns the status vocabulary (contract 6.3): matched case-insensitively; ``completed``/``succeeded`` are success,
``failed`` and ``cancelled``/``canceled`` are terminal; ``in_queue`` (and ``queued``/``pending``/``waiting``) is
:class:`Queued`, ``in_progress`` (and ``running``/``processing``/``starting``) is :class:`InProgress`; anything
else is :class:`Unknown`, which is non-terminal so a caller's timeout bounds it. This module must never do I/O.

Each value keeps the status text as the server sent it (``raw``, control characters removed) and the whole
JSON ``payload`` it came from, so nothing the server said is lost.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from runcomfy.safe_text import strip_controls

__all__ = [
    "Cancelled",
    "Completed",
    "Failed",
    "InProgress",
    "Queued",
    "RequestStatus",
    "Unknown",
    "parse_status",
]


@dataclass(frozen=True, kw_only=True)
class RequestStatus:
    """Base of every status value; ``is_terminal`` and ``is_success`` are class-level facts."""

    raw: str = ""
    payload: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    is_terminal: ClassVar[bool] = False
    is_success: ClassVar[bool] = False
    canonical: ClassVar[str] = ""

    @property
    def name(self) -> str:
        """The status as the server spelled it, lowercased; the canonical name when the server sent none."""
        return self.raw.lower() or self.canonical

    def describe(self) -> str:
        """One short line, as the official CLI shows it: ``in_queue (position 3)``, ``in_progress``.

        A change in this text is what counts as a status update for ``on_update`` callbacks.
        """
        instance = self.payload.get("instance_id")
        if isinstance(instance, str) and instance:
            return f"{self.name or '(no status)'} (instance {strip_controls(instance, max_len=80)})"
        return self.name or "(no status)"


@dataclass(frozen=True)
class Queued(RequestStatus):
    """Waiting for a worker; ``position`` is the server's ``queue_position`` when it sent a usable one."""

    position: int | None = None
    canonical: ClassVar[str] = "in_queue"

    def describe(self) -> str:
        if self.position is not None:
            return f"{self.name} (position {self.position})"
        return self.name


@dataclass(frozen=True, kw_only=True)
class InProgress(RequestStatus):
    canonical: ClassVar[str] = "in_progress"


@dataclass(frozen=True, kw_only=True)
class Completed(RequestStatus):
    is_terminal: ClassVar[bool] = True
    is_success: ClassVar[bool] = True
    canonical: ClassVar[str] = "completed"


@dataclass(frozen=True, kw_only=True)
class Failed(RequestStatus):
    is_terminal: ClassVar[bool] = True
    canonical: ClassVar[str] = "failed"


@dataclass(frozen=True, kw_only=True)
class Cancelled(RequestStatus):
    is_terminal: ClassVar[bool] = True
    canonical: ClassVar[str] = "cancelled"


@dataclass(frozen=True, kw_only=True)
class Unknown(RequestStatus):
    """A status this library does not know (or none at all); non-terminal, so only a timeout ends the wait."""


_VOCABULARY: dict[str, type[RequestStatus]] = {
    "in_queue": Queued,
    "queued": Queued,
    "pending": Queued,
    "waiting": Queued,
    "in_progress": InProgress,
    "running": InProgress,
    "processing": InProgress,
    "starting": InProgress,
    "completed": Completed,
    "succeeded": Completed,
    "failed": Failed,
    "cancelled": Cancelled,
    "canceled": Cancelled,
}


def parse_status(source: Mapping[str, Any] | str | None) -> RequestStatus:
    """The typed status of a status/result payload (or of a bare status string). Never raises.

    A missing or non-string ``status`` gives :class:`Unknown` with ``raw == ""``. ``queue_position`` is kept
    only when it is a non-negative integer (a boolean is not).
    """
    payload: Mapping[str, Any] = source if isinstance(source, Mapping) else {}
    value = source if isinstance(source, str) else payload.get("status")
    raw = strip_controls(value.strip(), max_len=64) if isinstance(value, str) else ""
    kind = _VOCABULARY.get(raw.lower(), Unknown)
    if kind is Queued:
        return Queued(raw=raw, payload=payload, position=_queue_position(payload.get("queue_position")))
    return kind(raw=raw, payload=payload)


def _queue_position(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value
