"""Money: every account's balance, the prices, and the charges made against them.

One wallet per user funds every API, as on the real service. Each account starts with a configurable
balance the first time it is seen. What is charged, and when:

- a Model API request: the model's ``base_price_usd``, when it is submitted; it is refunded if it is cancelled
  before it ran (a request that ran and failed stays charged);
- a deployment request: the GPU seconds it ran on its instance (from the moment it started on a warm
  instance to its end: succeeded, failed or cancelled), at its SKU's price per second in
  :data:`PRICES_USD_PER_S`; queueing and cold starts are free;
- a training job: the GPU seconds each of its runs trained x its ``gpu_count``, at its GPU type's price, when
  the run ends (see :mod:`~runcomfy.emulator.trainer`);

New work is refused while an account cannot pay: a Model API submit when the balance is below the model's
price, a deployment inference when the balance is not above zero (its cost is known only at its end, so a
balance may go below zero). Every charge is recorded once under the id of what it paid for, which makes
charging idempotent and lets a refund find it.

This module knows nothing of HTTP or of what it charges for beyond a reference and a description; it is safe
to call from the webhook worker's thread (one lock).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from runcomfy.emulator.store import Store

DEFAULT_BALANCE_USD = 100.0
# The emulator's prices per GPU second (its own figures, in the range of what cloud GPUs of each kind cost).
PRICES_USD_PER_S: dict[str, float] = {
    "TURING_16": 0.00019,  # $0.68 an hour
    "AMPERE_24": 0.00033,  # $1.19 an hour
    "AMPERE_48": 0.00055,  # $1.98 an hour
    "ADA_48_PLUS": 0.00075,  # $2.70 an hour
    "AMPERE_80": 0.00111,  # $4.00 an hour
    "ADA_80_PLUS": 0.00139,  # $5.00 an hour
    "HOPPER_141": 0.00194,  # $6.98 an hour
}
MAX_BALANCE_USD = 1e9


def usd(amount: float) -> float:
    """An amount rounded to a millionth of a dollar, so sums of small charges stay readable."""
    return round(amount, 6)


@dataclass
class Charge:
    """One charge: who paid, how much, for what (``ref``: a request id), and whether it was refunded."""

    ref: str
    user_id: str
    amount_usd: float
    kind: str
    description: str
    time: float
    refunded: bool = False


class Billing:
    """Balances and charges, written through to the store (tables ``balances`` and ``charges``)."""

    def __init__(self, store: Store, *, starting_usd: float = DEFAULT_BALANCE_USD) -> None:
        self._store = store
        self._lock = threading.Lock()
        self.starting_usd = starting_usd
        self._balances: dict[str, float] = {k: float(v) for k, v in store.load("balances").items()}
        self._charges = {k: Charge(**v) for k, v in store.load("charges").items()}
        # Called (outside the lock) before a balance is read, so charges of work that ended since are in it.
        self.before_read: list[Callable[[], None]] = []

    def reset(self, starting_usd: float) -> None:
        """Forget every balance and charge (call after the store is cleared)."""
        with self._lock:
            self.starting_usd = starting_usd
            self._balances, self._charges = {}, {}

    def balance(self, user_id: str) -> float:
        """What ``user_id`` has left."""
        self._settle()
        with self._lock:
            return self._balances.get(user_id, self.starting_usd)

    def _settle(self) -> None:
        for bring_up_to_date in self.before_read:
            bring_up_to_date()

    def can_pay(self, user_id: str, amount_usd: float) -> bool:
        """Whether new work that costs ``amount_usd`` (0: unknown until it ends) may start."""
        balance = self.balance(user_id)
        return balance > 0 and balance >= amount_usd

    def charge(
        self, user_id: str, ref: str, amount_usd: float, *, kind: str, description: str, now: float
    ) -> None:
        """Charge ``amount_usd`` for ``ref``, once: a second charge for the same ``ref`` is ignored."""
        with self._lock:
            if ref in self._charges:
                return
            charge = Charge(ref, user_id, usd(amount_usd), kind, description, now)
            self._charges[ref] = charge
            self._store.put("charges", ref, asdict(charge))
            self._add(user_id, -charge.amount_usd)

    def refund(self, ref: str) -> None:
        """Give back the charge for ``ref`` (nothing happens if there is none, or it was refunded)."""
        with self._lock:
            charge = self._charges.get(ref)
            if charge is None or charge.refunded:
                return
            charge.refunded = True
            self._store.put("charges", ref, asdict(charge))
            self._add(charge.user_id, charge.amount_usd)

    def _add(self, user_id: str, amount_usd: float) -> None:
        balance = usd(self._balances.get(user_id, self.starting_usd) + amount_usd)
        self._balances[user_id] = balance
        self._store.put("balances", user_id, balance)

    def set_balance(self, amount_usd: float, user_ids: Iterable[str], *, every_account: bool) -> None:
        """Set the balance of ``user_ids``; with ``every_account``, also of every account seen so far and of
        those not seen yet (the starting balance)."""
        with self._lock:
            targets = set(user_ids)
            if every_account:
                self.starting_usd = amount_usd
                targets |= set(self._balances)
            for user_id in targets:
                self._balances[user_id] = usd(amount_usd)
                self._store.put("balances", user_id, usd(amount_usd))

    def view(self) -> dict[str, Any]:
        """Every balance and charge, for the control plane."""
        self._settle()
        with self._lock:
            return {
                "starting_balance_usd": self.starting_usd,
                "balances": [
                    {"user_id": user_id, "balance_usd": balance}
                    for user_id, balance in sorted(self._balances.items())
                ],
                "charges": [asdict(charge) for charge in sorted(self._charges.values(), key=_by_time)],
            }


def _by_time(charge: Charge) -> tuple[float, str]:
    return (charge.time, charge.ref)


def gpu_cost_usd(sku: str, seconds: float) -> float:
    """What ``seconds`` of GPU time on ``sku`` cost."""
    return usd(PRICES_USD_PER_S[sku] * max(seconds, 0.0))
