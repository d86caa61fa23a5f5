"""The wait loop: interval, deadline, on_update, transient errors and a result that lags its status."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

import pytest
from fake_time import FakeClock

from runcomfy import errors
from runcomfy.http import HttpSession
from runcomfy.lifecycle.apis import parse_model_api_status as parse_status
from runcomfy.lifecycle.context import CallContext
from runcomfy.lifecycle.waiting import fetch_until_settled, poll_statuses, wait_for_terminal
from runcomfy.retry import RetryPolicy
from runcomfy.status import RequestStatus

POLICY = RetryPolicy(jitter="none", outage_window_s=60)


def context(clock: FakeClock, policy: RetryPolicy = POLICY, **hooks: Any) -> CallContext:
    """The shared call settings, on the fake clock (the wait loop makes no HTTP call of its own)."""
    return CallContext(
        cast(HttpSession, None), "https://model-api.runcomfy.net/v1", policy, clock.sleep, clock, **hooks
    )


def script(steps: Sequence[str | errors.RunComfyError | dict[str, object]]) -> Callable[[], RequestStatus]:
    """Each call returns the next step (the last repeats); a step may raise."""
    remaining = list(steps)

    def fetch() -> RequestStatus:
        step = remaining.pop(0) if len(remaining) > 1 else remaining[0]
        if isinstance(step, errors.RunComfyError):
            raise step
        return parse_status(step if isinstance(step, dict) else {"status": step})

    return fetch


def test_polls_at_once_then_every_interval_and_reports_each_change() -> None:
    clock = FakeClock()
    seen: list[str] = []
    steps = [
        {"status": "in_queue", "queue_position": 2},
        {"status": "in_queue", "queue_position": 2},
        {"status": "in_queue", "queue_position": 1},
        "in_progress",
        "in_progress",
        "completed",
    ]
    final = wait_for_terminal(
        script(steps),
        request_id="r1",
        ctx=context(clock, POLICY),
        poll_interval_s=3,
        on_update=lambda s: seen.append(s.describe()),
    )
    assert final.is_success
    assert seen == ["in_queue (position 2)", "in_queue (position 1)", "in_progress", "completed"]
    assert clock.sleeps == [3, 3, 3, 3, 3]


def test_interval_is_at_least_one_second() -> None:
    clock = FakeClock()
    wait_for_terminal(
        script(["in_progress", "completed"]),
        request_id="r",
        ctx=context(clock, POLICY),
        poll_interval_s=0,
    )
    assert clock.sleeps == [1]


def test_deadline_ends_the_wait_with_wait_timeout_after_a_last_poll() -> None:
    clock = FakeClock()
    polls: list[float] = []

    def fetch() -> RequestStatus:
        polls.append(clock.now)
        return parse_status({"status": "in_progress"})

    with pytest.raises(errors.WaitTimeout) as caught:
        wait_for_terminal(
            fetch,
            request_id="r-42",
            ctx=context(clock, POLICY),
            poll_interval_s=2,
            deadline=5.0,
        )
    assert caught.value.request_id == "r-42"
    assert polls == [0, 2, 4, 5]


def test_an_unknown_status_keeps_polling_until_terminal() -> None:
    clock = FakeClock()
    final = wait_for_terminal(
        script(["mystery", "mystery", "completed"]),
        request_id="r",
        ctx=context(clock, POLICY),
    )
    assert final.is_success and len(clock.sleeps) == 2


def test_an_unknown_status_forever_is_bounded_by_the_deadline() -> None:
    clock = FakeClock()
    with pytest.raises(errors.WaitTimeout):
        wait_for_terminal(script(["mystery"]), request_id="r", ctx=context(clock, POLICY), deadline=30.0)
    assert clock.now == 30.0


def test_transient_errors_are_retried_without_losing_the_wait() -> None:
    clock = FakeClock()
    steps = [
        "in_progress",
        errors.ServerError("503", status_code=503),
        errors.APIConnectionError("reset"),
        errors.APIResponseError("garbled"),
        "completed",
    ]
    final = wait_for_terminal(script(steps), request_id="r", ctx=context(clock, POLICY))
    assert final.is_success
    assert clock.sleeps == [2, 0.5, 1.0, 2.0]


def test_a_sustained_outage_raises_the_last_error_tagged_with_the_request_id() -> None:
    clock = FakeClock()
    with pytest.raises(errors.ServerError) as caught:
        wait_for_terminal(
            script(["in_progress", errors.ServerError("down", status_code=503)]),
            request_id="r-9",
            ctx=context(clock, POLICY),
        )
    assert caught.value.request_id == "r-9"
    assert clock.now == pytest.approx(2 + 60)


def test_an_outage_that_outlasts_the_deadline_is_a_wait_timeout() -> None:
    clock = FakeClock()
    with pytest.raises(errors.WaitTimeout) as caught:
        wait_for_terminal(
            script([errors.APIConnectionError("down")]),
            request_id="r-1",
            ctx=context(clock, POLICY),
            deadline=10.0,
        )
    assert isinstance(caught.value.__cause__, errors.APIConnectionError)
    assert clock.now == pytest.approx(10.0)


def test_a_final_error_is_not_retried() -> None:
    clock = FakeClock()
    with pytest.raises(errors.AuthenticationError) as caught:
        wait_for_terminal(
            script([errors.AuthenticationError("401", status_code=401)]),
            request_id="r",
            ctx=context(clock, POLICY),
        )
    assert caught.value.request_id == "r" and clock.sleeps == []


def test_poll_statuses_yields_every_poll_and_stops_after_terminal() -> None:
    clock = FakeClock()
    seen = [
        s.raw
        for s in poll_statuses(
            script(["in_queue", "in_queue", "failed"]),
            request_id="r",
            ctx=context(clock, POLICY),
        )
    ]
    assert seen == ["in_queue", "in_queue", "failed"]


def test_a_lagging_result_is_fetched_again_with_backoff() -> None:
    clock = FakeClock()
    results = iter(["in_progress", "in_progress", "completed"])
    value = fetch_until_settled(
        lambda: parse_status(next(results)),
        lambda s: s.is_terminal,
        request_id="r",
        ctx=context(clock, POLICY),
    )
    assert value.is_success
    assert clock.sleeps == [0.5, 1.0]


def test_a_result_that_never_settles_ends_in_wait_timeout_naming_the_resume_command() -> None:
    clock = FakeClock()
    with pytest.raises(errors.WaitTimeout, match="runcomfy result r-3"):
        fetch_until_settled(
            lambda: parse_status("in_progress"),
            lambda s: s.is_terminal,
            request_id="r-3",
            ctx=context(clock, POLICY),
        )
    assert clock.now == pytest.approx(60)


def test_ctrl_c_during_a_poll_propagates_at_once_without_retries() -> None:
    clock = FakeClock()
    calls = {"n": 0}

    def fetch() -> RequestStatus:
        calls["n"] += 1
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        wait_for_terminal(fetch, request_id="r", ctx=context(clock, POLICY))
    assert calls["n"] == 1 and clock.sleeps == []


def test_an_unknown_status_unchanged_for_the_retry_window_ends_the_wait_with_status_stuck() -> None:
    clock = FakeClock()
    seen: list[str] = []
    with pytest.raises(errors.StatusStuck) as caught:
        wait_for_terminal(
            script(["in_progress", "mystery_state"]),
            request_id="r-odd",
            ctx=context(clock, POLICY),
            poll_interval_s=5,
            on_update=lambda s: seen.append(s.describe()),
        )
    assert seen == ["in_progress", "mystery_state"]  # shown, and polled on for a while
    assert caught.value.request_id == "r-odd"
    assert "mystery_state" in str(caught.value)
    # The first mystery poll came at t=5; the wait ended once it had been seen unchanged for 60 s.
    assert clock.now == 65


def test_an_unknown_status_that_keeps_changing_is_polled_on() -> None:
    clock = FakeClock()
    steps = [f"phase_{n}" for n in range(30)] + ["completed"]
    final = wait_for_terminal(script(steps), request_id="r", ctx=context(clock, POLICY), poll_interval_s=5)
    assert final.is_success
    assert clock.now == 150  # 30 changing unknown statuses over 150 s > the 60 s window: no StatusStuck


def test_the_callers_deadline_wins_over_the_unknown_status_window() -> None:
    clock = FakeClock()
    with pytest.raises(errors.WaitTimeout):
        wait_for_terminal(
            script(["mystery_state"]),
            request_id="r",
            ctx=context(clock, POLICY),
            poll_interval_s=5,
            deadline=30,
        )
    assert clock.now == 30


def test_an_outage_is_announced_once_with_how_long_it_may_last_and_its_end_is_reported() -> None:
    from runcomfy.retry import RetryNotice

    clock = FakeClock()
    notices: list[RetryNotice] = []
    recoveries: list[tuple[int, float]] = []
    outage = errors.ServerError("GET /status: HTTP 503", status_code=503)
    final = wait_for_terminal(
        script([outage, outage, outage, "completed"]),
        request_id="r",
        ctx=context(
            clock,
            POLICY,
            on_retry=notices.append,
            on_recovered=lambda attempts, seconds: recoveries.append((attempts, seconds)),
        ),
    )
    assert final.is_success
    assert [n.attempt for n in notices] == [1, 2, 3]
    assert notices[0].error is outage and notices[0].gives_up_in_s == 60  # the whole window lies ahead
    assert notices[1].gives_up_in_s < 60
    assert recoveries == [(3, clock.now)]
