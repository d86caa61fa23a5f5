"""The Serverless API's settings: cold starts, run times, money and webhook delivery; and how the control plane
changes them (``POST /_emulator/config``).

| Key | Default | Meaning |
|---|---|---|
| ``cold_start_s`` | 3 | seconds an instance takes to boot (0-86400) |
| ``deployment_run_s`` | null | seconds a request runs on a warm instance; null: each workflow's own (0-86400) |
| ``balance_usd`` | 100 | what an account not seen yet starts with (0-1e9) |
| ``allow_webhook_hosts`` | false | deliver webhooks to any host, not only loopback |
| ``webhook_retry_delays_s`` | [1, 2, 4] | the delays between attempts (up to 10, each 0-3600) |
| ``webhook_timeout_s`` | 10 | how long a receiver has to answer (0.01-60) |
| ``webhook_duplicate`` | false | deliver every callback twice |
| ``webhook_reorder`` | false | hold a request's callbacks until it ends, then deliver them newest first |

Every value is checked before anything changes (a ``ValueError`` names the key), so a refused change changes
nothing. This module knows nothing of HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from runcomfy.emulator.billing import DEFAULT_BALANCE_USD, MAX_BALANCE_USD
from runcomfy.emulator.control import DAY_S, number
from runcomfy.emulator.webhooks import DEFAULT_RETRY_DELAYS_S, DEFAULT_TIMEOUT_S, DeliverySettings

DEFAULT_COLD_START_S = 3.0
MAX_RETRIES = 10
MAX_RETRY_DELAY_S = 3600.0


@dataclass(frozen=True)
class ServerlessSettings:
    """What the Serverless API was started with (a reset goes back to it) or has been changed to."""

    cold_start_s: float = DEFAULT_COLD_START_S
    deployment_run_s: float | None = None
    balance_usd: float = DEFAULT_BALANCE_USD
    allow_webhook_hosts: bool = False
    webhook_retry_delays_s: tuple[float, ...] = DEFAULT_RETRY_DELAYS_S
    webhook_timeout_s: float = DEFAULT_TIMEOUT_S
    webhook_duplicate: bool = False
    webhook_reorder: bool = False

    def delivery(self) -> DeliverySettings:
        """The webhook outbox's part of these settings."""
        return DeliverySettings(
            retry_delays_s=self.webhook_retry_delays_s,
            timeout_s=self.webhook_timeout_s,
            duplicate=self.webhook_duplicate,
            reorder=self.webhook_reorder,
        )

    def reading(self) -> dict[str, Any]:
        """The settings as ``GET /_emulator/config`` shows them."""
        values = {field.name: getattr(self, field.name) for field in fields(self)}
        values["webhook_retry_delays_s"] = list(self.webhook_retry_delays_s)
        return values


_BOOLEANS = ("allow_webhook_hosts", "webhook_duplicate", "webhook_reorder")


def changed(settings: ServerlessSettings, data: dict[str, Any]) -> ServerlessSettings:
    """``settings`` with the keys of a config body this module owns applied; ValueError says what is wrong."""
    changes: dict[str, Any] = {}
    if data.get("cold_start_s") is not None:
        changes["cold_start_s"] = number(data["cold_start_s"], "cold_start_s", low=0, high=DAY_S)
    if "deployment_run_s" in data:
        value = data["deployment_run_s"]
        changes["deployment_run_s"] = (
            None if value is None else number(value, "deployment_run_s", low=0, high=DAY_S)
        )
    if data.get("balance_usd") is not None:
        changes["balance_usd"] = number(data["balance_usd"], "balance_usd", low=0, high=MAX_BALANCE_USD)
    if data.get("webhook_timeout_s") is not None:
        changes["webhook_timeout_s"] = number(
            data["webhook_timeout_s"], "webhook_timeout_s", low=0.01, high=60
        )
    if data.get("webhook_retry_delays_s") is not None:
        changes["webhook_retry_delays_s"] = retry_delays(data["webhook_retry_delays_s"])
    for key in _BOOLEANS:
        if data.get(key) is not None:
            if not isinstance(data[key], bool):
                raise ValueError(f"{key} must be true or false")
            changes[key] = data[key]
    return replace(settings, **changes)


def retry_delays(value: Any) -> tuple[float, ...]:
    """A list of webhook retry delays, checked; ValueError otherwise."""
    if not isinstance(value, list | tuple) or len(value) > MAX_RETRIES:
        raise ValueError(f"webhook_retry_delays_s must be a list of at most {MAX_RETRIES} numbers of seconds")
    return tuple(number(delay, "webhook_retry_delays_s[]", low=0, high=MAX_RETRY_DELAY_S) for delay in value)
