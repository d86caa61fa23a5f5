"""The shared rate gate: a 429 on one request holds every worker's next request."""

from __future__ import annotations

import httpx

from runcomfy.batch import RateGate
from runcomfy.batch.limiter import MAX_PAUSE_S


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def reply(gate: RateGate, status: int, retry_after: str | None = None) -> None:
    """What the batch's client does after each reply."""
    gate.observe(status, httpx.Headers({"retry-after": retry_after} if retry_after is not None else {}))


def test_an_open_gate_does_not_wait() -> None:
    time = FakeTime()
    RateGate(clock=time.clock, sleep=time.sleep).wait()
    assert time.slept == []


def test_a_429_with_retry_after_closes_the_gate_for_that_long() -> None:
    time = FakeTime()
    gate = RateGate(clock=time.clock, sleep=time.sleep)
    reply(gate, 429, "3")
    gate.wait()
    assert sum(time.slept) == 3
    gate.wait()  # open again
    assert sum(time.slept) == 3


def test_a_429_without_retry_after_pauses_one_second_and_other_statuses_do_not_pause() -> None:
    time = FakeTime()
    gate = RateGate(clock=time.clock, sleep=time.sleep)
    reply(gate, 503, "30")
    reply(gate, 200)
    gate.wait()
    assert time.slept == []
    reply(gate, 429)
    gate.wait()
    assert sum(time.slept) == 1


def test_a_shorter_pause_never_shortens_a_longer_one_and_pauses_are_bounded() -> None:
    time = FakeTime()
    gate = RateGate(clock=time.clock, sleep=time.sleep)
    gate.pause_for(10)
    gate.pause_for(2)
    gate.wait()
    assert sum(time.slept) == 10
    gate.pause_for(10_000)
    gate.wait()
    assert sum(time.slept) == 10 + MAX_PAUSE_S
    assert gate.pauses == 2


def test_a_stop_opens_the_gate_at_once_even_during_a_long_retry_after() -> None:
    import threading

    stop = threading.Event()
    time = FakeTime()
    woken: list[float] = []

    def sleep(seconds: float) -> None:  # the batch is stopped while a worker waits out the pause
        woken.append(seconds)
        stop.set()

    gate = RateGate(clock=time.clock, sleep=sleep, stop=stop)
    reply(gate, 429, "120")
    gate.wait()  # returns: the stop ended the wait
    assert woken == [120]
    gate.wait()  # a cancel passes
    assert woken == [120]


def test_by_default_the_gate_waits_on_its_stop_event_so_a_stop_wakes_it() -> None:
    import threading

    stop = threading.Event()
    gate = RateGate(stop=stop)
    gate.pause_for(60)
    stop.set()  # set before the wait: the wait must not sleep for a minute
    finished = threading.Event()
    waiter = threading.Thread(target=lambda: (gate.wait(), finished.set()))
    waiter.start()
    waiter.join(5)
    assert finished.is_set()
