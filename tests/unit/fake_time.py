"""A clock the unit tests move by hand: injected as ``clock`` and ``sleep``, so nothing sleeps for real."""

from __future__ import annotations


class FakeClock:
    """``clock()`` returns ``now``; ``sleep(s)`` records ``s`` and moves ``now`` forward."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds
