"""The Serverless API's instances and queues: how deployment requests wait, start, run and end, over time.

Progress is a pure function of time, as in the Model API's queue (:mod:`~runcomfy.emulator.worker_queue`):
nothing runs in the background; every read first calls :meth:`Scheduler.advance`, which replays, in the
order they happened, the events of each deployment since the last read. Reading more or less often gives the
same timelines, and a restart loses nothing. The events:

- an instance becomes ready at the end of its cold start (booted at ``t``, ready at ``t + cold_start_s``);
- a request ends ``run_s`` after it started (at once if ComfyUI would refuse its inputs);
- an idle instance stops ``keep_warm_duration_in_seconds`` after its last request, unless that would leave
  fewer than ``min_instances`` (while the deployment is enabled; a disabled one keeps none warm).

After each event (and each submit, cancel or settings change) the deployment is dispatched: idle instances
take queued requests first in, first out (the lowest-numbered instance first), and an instance boots for
every queued request no booting instance will take, up to ``max_instances``; ``min_instances`` are booted
and kept. A request is admitted only while at most ``queue_size`` requests per instance the deployment can
scale to would be waiting (see :meth:`Scheduler.has_room`).

Every change of a request's status is reported to ``on_change`` (webhooks and billing listen), in the order
it happened. This module knows nothing of HTTP, money or webhooks; it is not thread-safe on its own (the
Serverless state holds the lock).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from runcomfy.emulator.clock import Clock
from runcomfy.emulator.deployments import Deployment
from runcomfy.emulator.instances import (
    BOOTING,
    BUSY,
    CANCELLED,
    FAILED,
    IDLE,
    IN_PROGRESS,
    IN_QUEUE,
    STOPPED,
    SUCCEEDED,
    DeploymentRequest,
    Instance,
)
from runcomfy.emulator.models import Production
from runcomfy.emulator.store import Store

JSON = dict[str, Any]
FINISH, READY, EXPIRE = 0, 1, 2  # the order of events that happen at the same moment
Event = tuple[float, int, int, Instance]


class Scheduler:
    """Every deployment's instances and queue, written through to the store."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        lookup: Callable[[str], Deployment],
        cold_start_s: Callable[[], float],
        produce: Callable[[DeploymentRequest], Production],
        on_change: Callable[[DeploymentRequest], None],
    ) -> None:
        self._store, self._clock, self._lookup = store, clock, lookup
        self._cold_start_s, self._produce, self._on_change = cold_start_s, produce, on_change
        self.requests = {k: DeploymentRequest(**v) for k, v in store.load("deployment_requests").items()}
        self.instances = {k: Instance(**v) for k, v in store.load("instances").items()}
        self._rebuild()

    def _rebuild(self) -> None:
        self._seq = max((r.seq for r in self.requests.values()), default=0)
        self._instance_seq = max((i.seq for i in self.instances.values()), default=0)
        self._queues: dict[str, list[str]] = {}
        for request in sorted(self.requests.values(), key=lambda r: r.seq):
            if request.status == IN_QUEUE:
                self._queues.setdefault(request.deployment_id, []).append(request.request_id)
        self._live: dict[str, list[str]] = {}
        for instance in sorted(self.instances.values(), key=lambda i: i.seq):
            if instance.live:
                self._live.setdefault(instance.deployment_id, []).append(instance.instance_id)

    def reset(self) -> None:
        """Forget every request and instance (call after the store is cleared)."""
        self.requests, self.instances = {}, {}
        self._rebuild()

    # -- reading ---------------------------------------------------------------------------------------

    def advance(self) -> None:
        """Replay every deployment's events up to now."""
        now = self._clock.now()
        queued = {deployment_id for deployment_id, queue in self._queues.items() if queue}
        for deployment_id in sorted(queued | set(self._live)):
            self._run(self._lookup(deployment_id), now)

    def live_instances(self, deployment_id: str) -> list[Instance]:
        """A deployment's booting, idle and busy instances, oldest first."""
        return [self.instances[iid] for iid in self._live.get(deployment_id, [])]

    def queue_position(self, request: DeploymentRequest) -> int | None:
        """How many requests are ahead of a queued one (0 = next), or None if it is not queued."""
        if request.status != IN_QUEUE:
            return None
        return self._queues[request.deployment_id].index(request.request_id)

    def has_room(self, deployment: Deployment) -> bool:
        """Whether one more request may wait: at most ``queue_size`` per instance it can scale to."""
        idle = sum(instance.phase == IDLE for instance in self.live_instances(deployment.id))
        waiting = len(self._queues.get(deployment.id, [])) + 1 - idle
        return waiting <= deployment.queue_size * deployment.max_instances

    # -- changes (each at the clock's now; the caller has advanced first) -----------------------------------

    def submit(self, request: DeploymentRequest) -> DeploymentRequest:
        """Queue a new request (its ``seq`` is given here) and let the deployment take it."""
        self._seq += 1
        request.seq = self._seq
        self.requests[request.request_id] = request
        self._queues.setdefault(request.deployment_id, []).append(request.request_id)
        self._save(request)
        self._on_change(request)
        self.settle(self._lookup(request.deployment_id))
        return request

    def settle(self, deployment: Deployment) -> None:
        """After a submit or a change of settings: stop what is no longer wanted, boot and dispatch what is,
        then replay what follows at once (a zero cold start or run time)."""
        now = self._clock.now()
        self._trim(deployment, now)
        self._dispatch(deployment, now)
        self._run(deployment, now)

    def end_early(self, request: DeploymentRequest, status: str, error: JSON | None = None) -> bool:
        """End a queued or running request now as ``cancelled`` or ``failed``; False if it had ended."""
        if request.finished:
            return False
        now = self._clock.now()
        if request.status == IN_QUEUE:
            self._queues[request.deployment_id].remove(request.request_id)
            self._end(request, status, now, error=error)
        else:
            instance = self.instances[request.instance_id or ""]
            self._end(request, status, now, error=error)
            self._release(instance, now)
        self.settle(self._lookup(request.deployment_id))
        return True

    def shut_down(self, deployment: Deployment) -> None:
        """A deleted deployment: its requests end ``cancelled`` and its instances stop, now."""
        now = self._clock.now()
        for request_id in self._queues.pop(deployment.id, []):
            self._end(self.requests[request_id], CANCELLED, now)
        for instance in self.live_instances(deployment.id):
            if instance.request_id is not None:
                self._end(self.requests[instance.request_id], CANCELLED, now)
            self._stop(instance, now)

    # -- the event loop --------------------------------------------------------------------------------

    def _run(self, deployment: Deployment, now: float) -> None:
        while (event := self._next_event(deployment)) is not None and event[0] <= now:
            moment, kind, _, instance = event
            if kind == FINISH:
                self._finish(instance, moment)
            elif kind == READY:
                instance.phase, instance.idle_since = IDLE, moment
                self._save_instance(instance)
            else:
                self._stop(instance, moment)
            self._dispatch(deployment, moment)

    def _next_event(self, deployment: Deployment) -> Event | None:
        live = self.live_instances(deployment.id)
        events: list[Event] = []
        for instance in live:
            if instance.phase == BOOTING:
                events.append((instance.ready_at, READY, instance.seq, instance))
            elif instance.phase == BUSY:
                finishes_at = self.requests[instance.request_id or ""].finishes_at or 0.0
                events.append((finishes_at, FINISH, instance.seq, instance))
            elif len(live) > _floor(deployment):
                idle_since = instance.idle_since or 0.0
                events.append(
                    (idle_since + deployment.keep_warm_duration_in_seconds, EXPIRE, instance.seq, instance)
                )
        return min(events, key=lambda event: event[:3]) if events else None

    def _dispatch(self, deployment: Deployment, now: float) -> None:
        queue = self._queues.get(deployment.id, [])
        for instance in self.live_instances(deployment.id):
            if queue and instance.phase == IDLE:
                self._start(self.requests[queue.pop(0)], instance, now)
        live = self.live_instances(deployment.id)
        booting = sum(instance.phase == BOOTING for instance in live)
        count = len(live)
        while count < deployment.max_instances and (len(queue) > booting or count < _floor(deployment)):
            self._boot(deployment, now)
            booting, count = booting + 1, count + 1

    def _trim(self, deployment: Deployment, now: float) -> None:
        """Stop, now, the idle instances past their keep-warm time and any booting or idle one above the max."""
        for instance in reversed(self.live_instances(deployment.id)):
            live = len(self._live.get(deployment.id, []))
            idle_until = (instance.idle_since or 0.0) + deployment.keep_warm_duration_in_seconds
            expired = instance.phase == IDLE and idle_until <= now and live > _floor(deployment)
            too_many = instance.phase in (IDLE, BOOTING) and live > deployment.max_instances
            if expired or too_many:
                self._stop(instance, now)

    # -- single steps ------------------------------------------------------------------------------------

    def _boot(self, deployment: Deployment, now: float) -> None:
        self._instance_seq += 1
        instance = Instance(
            instance_id=str(uuid.uuid4()),
            deployment_id=deployment.id,
            sku=deployment.sku,
            seq=self._instance_seq,
            booted_at=now,
            ready_at=now + self._cold_start_s(),
        )
        self.instances[instance.instance_id] = instance
        self._live.setdefault(deployment.id, []).append(instance.instance_id)
        self._save_instance(instance)

    def _start(self, request: DeploymentRequest, instance: Instance, now: float) -> None:
        run_s = 0.0 if request.invalid is not None else request.run_s
        request.status, request.instance_id, request.sku = IN_PROGRESS, instance.instance_id, instance.sku
        request.started_at, request.finishes_at = now, now + run_s
        instance.phase, instance.request_id, instance.idle_since = BUSY, request.request_id, None
        self._save_instance(instance)
        self._save(request)
        self._on_change(request)

    def _finish(self, instance: Instance, now: float) -> None:
        request = self.requests[instance.request_id or ""]
        error = request.forced_error or request.invalid
        production = Production(error=error) if error is not None else self._produce(request)
        if production.error is not None:
            self._end(request, FAILED, now, error=production.error)
        else:
            self._end(request, SUCCEEDED, now, outputs=production.output)
        self._release(instance, now)

    def _end(
        self,
        request: DeploymentRequest,
        status: str,
        now: float,
        *,
        error: JSON | None = None,
        outputs: JSON | None = None,
    ) -> None:
        request.status, request.finished_at = status, now
        request.error, request.outputs = error, outputs
        self._save(request)
        self._on_change(request)

    def _release(self, instance: Instance, now: float) -> None:
        """An instance whose request ended: idle, or stopped if the deployment has more than it may."""
        instance.phase, instance.request_id, instance.idle_since = IDLE, None, now
        if (
            len(self._live.get(instance.deployment_id, []))
            > self._lookup(instance.deployment_id).max_instances
        ):
            self._stop(instance, now)
        else:
            self._save_instance(instance)

    def _stop(self, instance: Instance, now: float) -> None:
        instance.phase, instance.stopped_at, instance.request_id = STOPPED, now, None
        self._live[instance.deployment_id].remove(instance.instance_id)
        if not self._live[instance.deployment_id]:
            del self._live[instance.deployment_id]
        self._save_instance(instance)

    def _save(self, request: DeploymentRequest) -> None:
        self._store.put("deployment_requests", request.request_id, asdict(request))

    def _save_instance(self, instance: Instance) -> None:
        self._store.put("instances", instance.instance_id, asdict(instance))


def _floor(deployment: Deployment) -> int:
    """How many instances stay warm: ``min_instances`` while enabled, none while disabled or deleted."""
    return deployment.min_instances if deployment.is_enabled and deployment.deleted_at is None else 0
