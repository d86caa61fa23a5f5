"""The deployment scheduler without HTTP: its timelines are a pure function of time (reading more or less often
changes nothing), and it never breaks its own limits, for any arrivals."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from runcomfy.emulator.clock import Clock, FrozenTime
from runcomfy.emulator.instances import BUSY, IN_QUEUE
from runcomfy.emulator.serverless_settings import ServerlessSettings
from runcomfy.emulator.state import EmulatorState
from runcomfy.emulator.workflows import TEXT_TO_IMAGE_ID

Arrival = tuple[int, int]  # quarter seconds after the previous arrival, reads in between


def run(arrivals: list[Arrival], limits: dict[str, int], *, read_often: bool) -> list[Any]:
    time = FrozenTime()
    state = EmulatorState(
        clock=Clock(base=time), serverless=ServerlessSettings(cold_start_s=3, deployment_run_s=7)
    )
    serverless = state.serverless
    owner = state.add_static_token("t").user_id
    fields = {
        "name": "d",
        "workflow_id": TEXT_TO_IMAGE_ID,
        "workflow_version": "v1",
        "hardware": ["AMPERE_24"],
    }
    deployment = serverless.create(owner, {**fields, "is_enabled": True, **limits})
    graph = deployment.workflow.graph
    for quarters, reads in arrivals:  # quarter seconds add up exactly in binary floating point
        steps = [quarters // (reads + 1)] * reads if read_often else []
        for step in [*steps, quarters - sum(steps)]:
            time.advance(step / 4)
            serverless.advance()
            check_limits(state, limits)
        if serverless.scheduler.has_room(deployment):
            serverless.submit(owner, deployment, graph, origin="http://x")
    time.advance(10_000)
    requests = serverless.in_order()
    instances = sorted(serverless.scheduler.instances.values(), key=lambda i: i.seq)
    return [
        [(r.status, r.started_at, r.finished_at) for r in requests],
        [(i.booted_at, i.ready_at, i.stopped_at) for i in instances],
        state.billing.balance(owner),
    ]


def check_limits(state: EmulatorState, limits: dict[str, int]) -> None:
    scheduler = state.serverless.scheduler
    (deployment,) = state.serverless.deployments.all.values()
    live = scheduler.live_instances(deployment.id)
    assert len(live) <= limits["max_instances"]
    waiting = sum(r.status == IN_QUEUE for r in scheduler.requests.values())
    assert waiting <= limits["queue_size"] * limits["max_instances"]
    running = {i.request_id for i in live if i.phase == BUSY}
    assert len(running) == sum(i.phase == BUSY for i in live)  # one request per instance


arrivals = st.lists(st.tuples(st.integers(0, 80), st.integers(0, 3)), max_size=12)
deployment_limits = st.fixed_dictionaries(
    {
        "min_instances": st.integers(0, 2),
        "max_instances": st.integers(2, 3),
        "queue_size": st.integers(1, 2),
        "keep_warm_duration_in_seconds": st.integers(0, 15),
    }
)


@given(arrivals, deployment_limits)
def test_timelines_do_not_depend_on_how_often_the_state_is_read(
    arrivals: list[Arrival], limits: dict[str, int]
) -> None:
    assert run(arrivals, limits, read_often=True) == run(arrivals, limits, read_often=False)
