"""Request status as small typed values, and the data that says which status words mean what.

Owns the typed values (:class:`Queued` with its position, :class:`InProgress` with any progress,
:class:`Completed`, :class:`Failed`, :class:`Cancelled`, :class:`Unknown`) and :class:`StatusVocabulary`, the
description of one API's words (compared case-insensitively). It knows no API itself: the Model API's words, and
those of every other queue API, are in :mod:`runcomfy.lifecycle.apis`. An unknown word is :class:`Unknown`,
non-terminal, so a caller's deadline (or the retry window) bounds it. This module must never do I/O.

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
    "Progress",
    "Queued",
    "RequestStatus",
    "StatusVocabulary",
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
    """Running; ``progress`` is how far, when the API reports it (training jobs)."""

    progress: Progress | None = None
    canonical: ClassVar[str] = "in_progress"

    def describe(self) -> str:
        if self.progress is not None and (shown := self.progress.describe()):
            return f"{self.name} {shown}"
        return super().describe()


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


@dataclass(frozen=True)
class Progress:
    """How far a long request has come: ``current`` of ``total`` steps, and the percentage (0-100)."""

    current: int | None = None
    total: int | None = None
    percent: float | None = None

    def describe(self) -> str:
        """``45% (450/1000)``, or whatever part the server sent."""
        steps = f"{self.current}/{self.total}" if self.current is not None and self.total is not None else ""
        if self.percent is not None:
            return f"{self.percent:g}%" + (f" ({steps})" if steps else "")
        return steps


@dataclass(frozen=True)
class StatusVocabulary:
    """Which status words of one API mean what (lower case; the server's are compared case-insensitively), and
    where a status reply keeps the queue position and the progress."""

    queued: frozenset[str]
    running: frozenset[str]
    succeeded: frozenset[str]
    failed: frozenset[str]
    cancelled: frozenset[str]
    position_field: str | None = "queue_position"
    progress_field: str | None = None

    def kind_of(self, word: str) -> type[RequestStatus]:
        """The status class of one word (:class:`Unknown` for a word this API does not use)."""
        word = word.lower()
        for words, kind in (
            (self.queued, Queued),
            (self.running, InProgress),
            (self.succeeded, Completed),
            (self.failed, Failed),
            (self.cancelled, Cancelled),
        ):
            if word in words:
                return kind
        return Unknown

    @property
    def terminal(self) -> frozenset[str]:
        """Every word after which a request never changes again."""
        return self.succeeded | self.failed | self.cancelled


def parse_status(source: Mapping[str, Any] | str | None, vocabulary: StatusVocabulary) -> RequestStatus:
    """The typed status of a status/result payload (or of a bare status string) in ``vocabulary``; never raises.

    A missing or non-string ``status`` gives :class:`Unknown` with ``raw == ""``. A queue position is kept
    only when it is a non-negative integer (a boolean is not); progress only when it is an object of numbers.
    """
    payload: Mapping[str, Any] = source if isinstance(source, Mapping) else {}
    value = source if isinstance(source, str) else payload.get("status")
    raw = strip_controls(value.strip(), max_len=64) if isinstance(value, str) else ""
    kind = vocabulary.kind_of(raw)
    if kind is Queued:
        position = payload.get(vocabulary.position_field) if vocabulary.position_field else None
        return Queued(raw=raw, payload=payload, position=_queue_position(position))
    if kind is InProgress:
        progress = payload.get(vocabulary.progress_field) if vocabulary.progress_field else None
        return InProgress(raw=raw, payload=payload, progress=_progress(progress))
    return kind(raw=raw, payload=payload)


def _progress(value: Any) -> Progress | None:
    if not isinstance(value, Mapping):
        return None

    def number(key: str) -> float | None:
        item = value.get(key)
        return item if isinstance(item, int | float) and not isinstance(item, bool) and item == item else None

    current, total, percent = number("current_step"), number("total_steps"), number("percent")
    if current is None and total is None and percent is None:
        return None
    return Progress(
        int(current) if current is not None else None, int(total) if total is not None else None, percent
    )


def _queue_position(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value
