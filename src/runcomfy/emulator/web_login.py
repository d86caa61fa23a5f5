"""The web side of RunComfy as the CLI uses it: device-code login (``/api/cli-auth/start``, ``/poll``, the
approval page ``/cli-auth``) and who a token belongs to (``/api/auth/me``).

Routes parse and render only: the sessions and tokens are :mod:`~runcomfy.emulator.accounts`', the page is
:mod:`~runcomfy.emulator.approval_page`'s. Shapes and status codes follow the real service's web API. This
module must never hand out a token except in the one poll that completes an approved login.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from runcomfy.emulator.approval_page import approval_page
from runcomfy.emulator.bodies import LOGIN_BODY_LIMIT, read_json
from runcomfy.emulator.errors import ServiceError
from runcomfy.emulator.hosts import ServedHosts
from runcomfy.emulator.routing import Endpoint, caller, iso, origin_of
from runcomfy.emulator.state import EmulatorState

ROUTE_NAMES = ("me", "cli-auth-start", "cli-auth-poll", "cli-auth-page")


class WebLogin:
    """The handlers, bound to one state and the names the emulator serves (the page checks ``Origin``)."""

    def __init__(self, state: EmulatorState, served: ServedHosts) -> None:
        self.state = state
        self.served = served

    async def me(self, request: Request) -> Response:
        user = caller(self.state, request)
        return JSONResponse(
            {
                "id": user.user_id,
                "email": user.email,
                "display_name": user.email.split("@")[0],
                "username": user.email.split("@")[0],
                "token_type": user.token_type,
                "token_created_at": iso(user.created_at),
            }
        )

    async def cli_auth_start(self, request: Request) -> Response:
        state = self.state
        device_code, record = state.accounts.start_device(
            expires_s=state.device_expires_s, poll_interval_s=state.device_poll_interval_s
        )
        return JSONResponse(
            {
                "device_code": device_code,
                "user_code": record.user_code,
                "verify_url": f"{origin_of(request)}/cli-auth",
                "expires_in": int(record.expires_at - record.created_at),
                "poll_interval": record.poll_interval,
            }
        )

    async def cli_auth_poll(self, request: Request) -> Response:
        parsed = await read_json(request, LOGIN_BODY_LIMIT)
        device_code = parsed.get("device_code") if isinstance(parsed, dict) else None
        if not isinstance(device_code, str) or not device_code:
            raise ServiceError(
                400,
                "device_code is required",
                [{"loc": ["body", "device_code"], "msg": "Field required", "type": "missing"}],
            )
        status, token = self.state.accounts.poll_device(device_code)
        if status == "authorized":
            return JSONResponse({"status": "authorized", "access_token": token})
        return JSONResponse({"status": status}, status_code=200 if status == "pending" else 410)

    async def cli_auth_page(self, request: Request) -> Response:
        return await approval_page(request, self.state, self.served)


def endpoints(state: EmulatorState, served: ServedHosts) -> list[Endpoint]:
    """The web login's routes, in the order they are matched."""
    web = WebLogin(state, served)
    return [
        Endpoint("/api/cli-auth/start", "cli-auth-start", web.cli_auth_start, ("POST",)),
        Endpoint("/api/cli-auth/poll", "cli-auth-poll", web.cli_auth_poll, ("POST",)),
        Endpoint("/cli-auth", "cli-auth-page", web.cli_auth_page, ("GET", "POST")),
        Endpoint("/api/auth/me", "me", web.me, ("GET",)),
    ]
