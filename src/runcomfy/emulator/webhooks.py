"""Webhook callbacks of deployment requests: which targets are allowed, and the outbox of deliveries.

A request submitted with ``?webhook=<url>`` gets a JSON callback when it ends, and one for each intermediate
status (``in_queue``, ``in_progress``) when ``webhook_intermediate_status=true``. Callbacks are due when the
status changes on the emulator's clock; delivering them is :mod:`~runcomfy.emulator.webhook_worker`'s job,
which takes due deliveries from the :class:`Outbox` and reports how each went.

As on the service, a failed delivery (a non-2xx answer, no connection, or no answer within the timeout) is
retried with backoff; the emulator's backoff is compressed (``retry_delays_s``, default 1, 2 and 4 seconds
of real time: four attempts in all), then the callback is abandoned. For users testing their receivers, the
outbox can also duplicate every callback (each is delivered twice) and reorder them (a request's callbacks
are held until it ends, then delivered newest first: the final status before the intermediate ones).

Only loopback targets (``localhost``, ``127.0.0.0/8``, ``::1``) are allowed unless the emulator was started
with ``--allow-webhook-hosts``: an emulator must not be a way to make requests to other machines. Real time
(``monotonic``) paces deliveries, so retries happen even while a test holds the emulator's clock still.
This module knows nothing of HTTP clients; it is thread-safe (one lock).
"""

from __future__ import annotations

import ipaddress
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

JSON = dict[str, Any]
DEFAULT_RETRY_DELAYS_S = (1.0, 2.0, 4.0)
DEFAULT_TIMEOUT_S = 10.0
MAX_URL_CHARS = 2048


def target_problem(url: str, *, any_host: bool) -> str | None:
    """Why callbacks may not go to ``url``, or None if they may."""
    if len(url) > MAX_URL_CHARS or not url.isprintable() or " " in url:
        return f"the webhook must be a URL of at most {MAX_URL_CHARS} printable characters"
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port
    except ValueError:
        return "the webhook is not a valid URL"
    if parts.scheme not in ("http", "https") or not host:
        return "the webhook must be an http:// or https:// URL with a host"
    if any_host or _is_loopback(host):
        return None
    return (
        "the emulator delivers webhooks only to loopback hosts (localhost, 127.0.0.1, ::1); "
        "start it with --allow-webhook-hosts to allow others"
    )


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class DeliverySettings:
    """How callbacks are delivered."""

    retry_delays_s: tuple[float, ...] = DEFAULT_RETRY_DELAYS_S
    timeout_s: float = DEFAULT_TIMEOUT_S
    duplicate: bool = False
    reorder: bool = False


@dataclass
class Delivery:
    """One callback on its way: where to, what, when it is next due, and which attempt that will be."""

    delivery_id: int
    request_id: str
    status: str
    url: str
    payload: JSON
    due_at: float
    attempt: int = 1
    duplicate: bool = False
    generation: int = 0  # the outbox's generation it belongs to: a reset forgets its retries

    def view(self) -> JSON:
        """How the control plane lists it."""
        view = asdict(self)
        view.pop("payload")
        view.pop("generation")
        return view


@dataclass
class Outbox:
    """Callbacks waiting to be delivered (or held back to be reordered)."""

    settings: DeliverySettings = field(default_factory=DeliverySettings)
    monotonic: Callable[[], float] = time.monotonic
    _pending: list[Delivery] = field(default_factory=list)
    _held: dict[str, list[Delivery]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _in_flight: int = 0
    _generation: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def clear(self) -> None:
        """Forget every callback not yet taken for delivery."""
        with self._lock:
            self._pending, self._held = [], {}
            self._generation += 1

    def add(self, request_id: str, url: str, payload: JSON, *, final: bool) -> None:
        """A callback for ``request_id`` (``final``: its terminal status), due now."""
        with self._lock:
            status = str(payload.get("status"))
            delivery = Delivery(
                0, request_id, status, url, payload, self.monotonic(), generation=self._generation
            )
            if self.settings.reorder:
                held = self._held.setdefault(request_id, [])
                held.append(delivery)
                if not final:
                    return
                batch = list(reversed(self._held.pop(request_id)))
            else:
                batch = [delivery]
            for item in batch:
                self._enqueue(item)

    def _enqueue(self, delivery: Delivery) -> None:
        copies = (
            [delivery, Delivery(**{**asdict(delivery), "duplicate": True})]
            if self.settings.duplicate
            else [delivery]
        )
        for item in copies:
            item.delivery_id, item.due_at = next(self._ids), self.monotonic()
            self._pending.append(item)

    def take_due(self) -> list[Delivery]:
        """The deliveries due now, in the order they are to be made; they leave the outbox until settled."""
        with self._lock:
            now = self.monotonic()
            due = sorted(
                (d for d in self._pending if d.due_at <= now), key=lambda d: (d.due_at, d.delivery_id)
            )
            self._pending = [d for d in self._pending if d.due_at > now]
            self._in_flight += len(due)
            return due

    def settle(self, delivery: Delivery, delivered: bool) -> str:
        """After an attempt: ``delivered``, ``retrying`` (due again after the next delay) or ``abandoned``."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            delays = self.settings.retry_delays_s
            if delivered:
                return "delivered"
            if delivery.generation != self._generation:
                return "abandoned"
            if delivery.attempt > len(delays):
                return "abandoned"
            delivery.due_at = self.monotonic() + delays[delivery.attempt - 1]
            delivery.attempt += 1
            self._pending.append(delivery)
        return "retrying"

    def next_due_in(self) -> float | None:
        """Seconds until the next pending delivery is due (0 if one is), or None if there is none."""
        with self._lock:
            if not self._pending:
                return None
            return max(0.0, min(d.due_at for d in self._pending) - self.monotonic())

    def view(self) -> JSON:
        """Pending and held callbacks, for the control plane."""
        with self._lock:
            return {
                "in_flight": self._in_flight,
                "pending": [d.view() for d in sorted(self._pending, key=lambda d: (d.due_at, d.delivery_id))],
                "held": [d.view() for held in self._held.values() for d in held],
            }
