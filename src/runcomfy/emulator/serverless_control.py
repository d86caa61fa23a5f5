"""The control plane's part for the Serverless API and the balance (mounted by
:mod:`~runcomfy.emulator.control_routes`, under the same rules: no authentication, loopback only, checked
bodies, never logged or faulted).

| Method and path                  | Body                                   | Effect |
|----------------------------------|----------------------------------------|--------|
| ``GET /_emulator/workflows``     |                                        | the example workflows: id, version, name, graph, default overrides, run time |
| ``GET /_emulator/instances``     |                                        | every instance of every deployment, with its timeline |
| ``GET /_emulator/balance``       |                                        | the starting balance, every account's balance, every charge |
| ``POST /_emulator/balance``      | ``{"balance_usd": 5, "token"?: "..."}``| set the balance of that token's user; without a token, of every account (and the starting one) |
| ``GET /_emulator/webhooks``      |                                        | webhook callbacks not yet delivered (pending, in flight, held to be reordered) |

The settings (cold starts, run times, webhook delivery, the starting balance) are changed through
``/_emulator/config`` (see :mod:`~runcomfy.emulator.serverless_settings`), deployment requests are listed by
``/_emulator/requests`` and failed by ``/_emulator/requests/{id}/fail`` alongside the Model API's.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from runcomfy.emulator import workflows
from runcomfy.emulator.billing import MAX_BALANCE_USD, PRICES_USD_PER_S
from runcomfy.emulator.bodies import CONTROL_BODY_LIMIT, read_json
from runcomfy.emulator.control import number
from runcomfy.emulator.errors import bad_request
from runcomfy.emulator.state import EmulatorState


class ServerlessControl:
    """The handlers, bound to one state."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def routes(self) -> list[BaseRoute]:
        """The Serverless API's ``/_emulator`` routes."""
        return [
            Route("/_emulator/workflows", self.workflows, methods=["GET"]),
            Route("/_emulator/instances", self.instances, methods=["GET"]),
            Route("/_emulator/balance", self.balance, methods=["GET", "POST"]),
            Route("/_emulator/webhooks", self.webhooks, methods=["GET"]),
        ]

    async def workflows(self, request: Request) -> Response:
        return JSONResponse({"workflows": [workflow.record() for workflow in workflows.WORKFLOWS.values()]})

    async def instances(self, request: Request) -> Response:
        serverless = self.state.serverless
        with serverless.lock:
            serverless.advance()
            found = sorted(serverless.scheduler.instances.values(), key=lambda instance: instance.seq)
            return JSONResponse({"instances": [asdict(instance) for instance in found]})

    async def balance(self, request: Request) -> Response:
        if request.method == "POST":
            data = await read_json(request, CONTROL_BODY_LIMIT)
            self._set_balance(data)
        self.state.serverless.advance()  # charges of requests that ended since the last read
        return JSONResponse({**self.state.billing.view(), "prices_usd_per_s": PRICES_USD_PER_S})

    def _set_balance(self, data: Any) -> None:
        if not isinstance(data, dict):
            raise bad_request("body must be a JSON object")
        try:
            amount = number(data.get("balance_usd"), "balance_usd", low=0, high=MAX_BALANCE_USD)
        except ValueError as exc:
            raise bad_request(str(exc)) from None
        token = data.get("token")
        if token is None:
            users = {record.user_id for record in self.state.accounts.tokens.values()}
            self.state.billing.set_balance(amount, users, every_account=True)
            return
        user = self.state.authenticate(token.strip()) if isinstance(token, str) else None
        if user is None:
            raise bad_request("token must be a token the emulator accepts (or absent, for every account)")
        self.state.billing.set_balance(amount, [user.user_id], every_account=False)

    async def webhooks(self, request: Request) -> Response:
        return JSONResponse(self.state.serverless.outbox.view())
