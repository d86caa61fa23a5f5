"""``runcomfy balance``: the account's balance (one wallet funds the Model API, deployments and training).

Pretty mode prints one line on stdout, ``balance: $<usd, 2 decimals> <currency>`` (data, so ``-q`` keeps it);
json mode prints the service's answer as it came. An answer without a numeric ``balance_usd`` is printed whole
rather than guessed at, as the official CLI does.
"""

from __future__ import annotations

from typing import Any

import click

from runcomfy.cli.context import app_context
from runcomfy.cli.deployments import serverless_client
from runcomfy.cli.serverless_hints import serverless_hints


@click.command("balance")
def balance_command() -> None:
    """Show the account's balance (it pays for models, deployments and training alike).

    \b
    Examples:
      runcomfy balance
      runcomfy --output json balance | jq .balance_usd
    """
    app = app_context()
    client = serverless_client(app)
    with serverless_hints():
        payload = client.balance()
    line = balance_line(payload)
    if line is None:
        app.output.document(payload)
        return
    app.output.record(payload, [("balance", line)])


def balance_line(payload: dict[str, Any]) -> str | None:
    """``$12.30 USD`` from ``{"balance_usd": 12.3, "currency": "USD"}``; None without a numeric balance."""
    usd = payload.get("balance_usd")
    if isinstance(usd, bool) or not isinstance(usd, int | float):
        return None
    try:
        amount = f"{usd:.2f}"
    except OverflowError:  # an integer too large for a float: shown whole, not guessed at
        return None
    currency = payload.get("currency")
    shown = currency if isinstance(currency, str) and currency.strip() else "USD"
    return f"${amount} {shown}"
