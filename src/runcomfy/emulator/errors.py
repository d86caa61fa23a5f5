"""The service's errors: one exception carrying the real service's error shape, and the one place it is rendered.

Every error the emulator answers has the body ``{"error_code", "error_message", "detail"}`` with
``error_code = status * 1000 + n``, including the answers Starlette would otherwise give in plain text
(unknown path, wrong method) and the last-resort answer to a bug. Wherever a problem is found (a route, a body
reader, an ownership check, the control plane), it is raised as a :class:`ServiceError`, never returned, and
:data:`EXCEPTION_HANDLERS` renders it. Nothing else is expected to escape, and a
request must never see a traceback. The errors every API shares (the 401 of a missing or unknown token, the 404
of what does not exist, the 422 of bad input) are built here, so each API answers them alike.
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response


def api_error(
    status: int, error_code: int, message: str, detail: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The service's error body."""
    body = {"error_code": error_code, "error_message": message, "detail": detail}
    return JSONResponse(body, status_code=status, headers=headers)


class ServiceError(Exception):
    """An answer in the service's error shape, raised from wherever the problem is found."""

    def __init__(
        self,
        status: int,
        message: str,
        detail: Any = None,
        *,
        error_code: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code if error_code is not None else status * 1000 + 1
        self.message = message
        self.detail = detail
        self.headers = headers

    def response(self) -> JSONResponse:
        """The response this error answers with."""
        return api_error(self.status, self.error_code, self.message, self.detail, self.headers)


def unauthorized() -> ServiceError:
    """401 for a missing, unknown or revoked token."""
    return ServiceError(
        401,
        "Unauthorized: the API token is missing, invalid, expired or revoked",
        "Send `Authorization: Bearer <token>`; sign in with `runcomfy login`.",
        headers={"www-authenticate": "Bearer"},
    )


def not_found(message: str, detail: Any = None) -> ServiceError:
    """404 for something that does not exist (or is not the caller's to know of)."""
    return ServiceError(404, message, detail)


def validation_error(message: str, problems: list[dict[str, Any]]) -> ServiceError:
    """A 422 whose ``detail`` lists the problems, each naming where it is (``loc``)."""
    return ServiceError(422, f"Validation Error: {message}", problems)


INSUFFICIENT_FUNDS = 10001  # the service's gating codes (deployments add DISABLED and DELETED)


def insufficient_funds(balance_usd: float, price_usd: float | None = None) -> ServiceError:
    """402 for new work an account cannot pay for (every API that charges)."""
    cost = f"this request costs ${price_usd:.2f}" if price_usd else "new work needs a positive balance"
    return ServiceError(
        402,
        "Insufficient funds: top up your balance to submit new work",
        f"The balance is ${balance_usd:.2f}; {cost}.",
        error_code=INSUFFICIENT_FUNDS,
    )


def bad_request(message: str) -> ServiceError:
    """A 400 for a control-plane request that makes no sense."""
    return ServiceError(400, message)


async def render_service_error(_request: Request, exc: Exception) -> Response:
    """Starlette's handler for a :class:`ServiceError` raised anywhere below the routing."""
    assert isinstance(exc, ServiceError)
    return exc.response()


async def render_http_exception(_request: Request, exc: Exception) -> Response:
    """Unknown paths and wrong methods, in the service's shape rather than Starlette's plain text."""
    assert isinstance(exc, HTTPException)
    detail = "Check the path and the method." if exc.status_code in (404, 405) else None
    headers = dict(exc.headers) if exc.headers else None
    return api_error(exc.status_code, exc.status_code * 1000 + 1, exc.detail, detail, headers)


async def render_internal_error(_request: Request, exc: Exception) -> Response:
    """The last resort: a bug answers the service's 500 shape, never a traceback (uvicorn logs that)."""
    return api_error(500, 500001, "Internal Server Error", "The emulator failed; see its log.")


EXCEPTION_HANDLERS = {
    ServiceError: render_service_error,
    HTTPException: render_http_exception,
    Exception: render_internal_error,
}
