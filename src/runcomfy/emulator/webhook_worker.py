"""The one thread of the emulator that acts on its own: it delivers webhook callbacks.

Started with the server and stopped with it (a daemon thread, so it never holds a process open). Every tick
it brings the deployments up to the clock's time when some request with a webhook has yet to end (that is
what makes callbacks due; reading state is what moves it, as everywhere in the emulator), then POSTs every
due callback, one at a time, in order, with the outbox's timeout, and tells the outbox how it went. Each
attempt is written to the control plane's call log as route ``webhook`` with its target, the receiver's
status (none when there was no answer), the attempt number and, for a failure, why.

The callbacks leave the emulator, so the client is built for that: no proxy from the environment, no
redirects followed, no token of anyone's.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import httpx

from runcomfy._version import __version__
from runcomfy.emulator.control import Control
from runcomfy.emulator.webhooks import Delivery

if TYPE_CHECKING:
    from runcomfy.emulator.serverless import Serverless

TICK_S = 0.05
USER_AGENT = f"runcomfy-emulator-webhooks/{__version__}"


class WebhookWorker:
    """Delivers the callbacks of one emulator's outbox until stopped."""

    def __init__(self, serverless: Serverless, control: Control, *, tick_s: float = TICK_S) -> None:
        self._serverless, self._control, self._tick_s = serverless, control, tick_s
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start delivering in a daemon thread."""
        self._thread = threading.Thread(target=self._run, name="runcomfy-emulator-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the delivery under way (if any) ends."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(self._serverless.outbox.settings.timeout_s + 1)

    def _run(self) -> None:
        with httpx.Client(
            trust_env=False, follow_redirects=False, headers={"user-agent": USER_AGENT}
        ) as http:
            while not self._stopping.wait(self._tick_s):
                self._serverless.advance_watched()
                for delivery in self._serverless.outbox.take_due():
                    if self._stopping.is_set():
                        return
                    self._deliver(http, delivery)

    def _deliver(self, http: httpx.Client, delivery: Delivery) -> None:
        status: int | None = None
        problem: str | None = None
        attempt = delivery.attempt
        try:
            timeout = self._serverless.outbox.settings.timeout_s
            response = http.post(delivery.url, json=delivery.payload, timeout=timeout)
            status = response.status_code
            if not 200 <= status < 300:
                problem = f"the receiver answered {status}"
        except httpx.TimeoutException:
            problem = "no answer within the timeout"
        except httpx.HTTPError as exc:
            problem = f"delivery failed: {type(exc).__name__}"
        outcome = self._serverless.outbox.settle(delivery, problem is None)
        self._control.log_delivery(
            delivery.url,
            request_id=delivery.request_id,
            status=status,
            attempt=attempt,
            detail=f"{delivery.status}: {outcome}" + (f" ({problem})" if problem else ""),
            now=self._serverless.clock.now(),
        )
