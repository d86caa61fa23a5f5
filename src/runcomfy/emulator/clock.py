"""The emulator's time: a time source plus an offset the control plane moves forward.

Every time the emulator reads (submissions, a request's progress, device-code expiry, the dates it renders)
comes from one :class:`Clock`, so a test can make an hour pass in one call instead of sleeping. Its time source
is the wall clock for a running emulator, where requests progress in real time and also jump when told; or a
:class:`FrozenTime` for tests that must not depend on how fast the machine is, where time stands still until
moved. Dates are rendered here too (:func:`iso`), the same for every API. This module must never sleep or
read anything but its time source.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

FROZEN_EPOCH = 1_800_000_000.0  # 2027-01-15T08:00:00Z: fixed, and plainly not today's date in a test's output


class FrozenTime:
    """A time source that stands still at ``start`` until :meth:`advance` (or an assignment to ``now``)."""

    def __init__(self, start: float = FROZEN_EPOCH) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move this time source forward by ``seconds``."""
        self.now += seconds


class Clock:
    """The emulator's clock: ``base()`` (wall-clock seconds by default) plus an adjustable ``offset``.

    The offset is what the control plane moves and what a ``--db`` store keeps across restarts; the base is
    left alone, so a persisted offset means the same thing after a restart.
    """

    def __init__(self, base: Callable[[], float] = time.time, offset: float = 0.0) -> None:
        self._base = base
        self.offset = offset

    @classmethod
    def frozen(cls, start: float = FROZEN_EPOCH) -> Clock:
        """A clock that stands still at ``start`` until advanced."""
        return cls(base=FrozenTime(start))

    def now(self) -> float:
        """The emulator's current time in Unix seconds."""
        return self._base() + self.offset

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``."""
        self.offset += seconds


def iso(timestamp: float | None) -> str | None:
    """Unix seconds as an ISO 8601 UTC string with milliseconds, as the service writes dates."""
    if timestamp is None:
        return None
    return (
        dt.datetime.fromtimestamp(timestamp, tz=dt.UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )
