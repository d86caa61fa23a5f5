"""The emulator as one ASGI application: each emulated API's routes, the control plane, the ``Host`` check and
the one place errors are rendered, put together.

Each API lives in its own module and hands over its routes as :class:`~runcomfy.emulator.routing.Endpoint`
values (:mod:`~runcomfy.emulator.web_login`, :mod:`~runcomfy.emulator.model_api`, and the Serverless API's
:mod:`~runcomfy.emulator.serverless_api`, :mod:`~runcomfy.emulator.deployment_requests_api` and
:mod:`~runcomfy.emulator.comfy_proxy`; the Trainer API's :mod:`~runcomfy.emulator.trainer_datasets_api`
and :mod:`~runcomfy.emulator.training_api`); an API is added by adding
its module to the list in :func:`service_endpoints`, and its route names become known to the control plane's
faults and call log. This module must never hold a route's logic.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from runcomfy.emulator import (
    comfy_proxy,
    deployment_requests_api,
    model_api,
    serverless_api,
    trainer_datasets_api,
    training_api,
    web_login,
)
from runcomfy.emulator.control import Control
from runcomfy.emulator.control_routes import ControlPlane
from runcomfy.emulator.errors import EXCEPTION_HANDLERS
from runcomfy.emulator.hosts import HostCheck, ServedHosts
from runcomfy.emulator.routing import Endpoint, service_route
from runcomfy.emulator.state import EmulatorState


def service_endpoints(state: EmulatorState, served: ServedHosts) -> tuple[list[Endpoint], list[str]]:
    """Every emulated API's endpoints in matching order, and their route names in the order documented.

    Each API module lists its route names in the order its documentation gives them (the order
    ``GET /_emulator`` shows), which is not always the order its routes must be matched in; the check keeps
    the two lists of a module from drifting apart.
    """
    apis = [
        (model_api.ROUTE_NAMES, model_api.endpoints(state)),
        (serverless_api.ROUTE_NAMES, serverless_api.endpoints(state)),
        (deployment_requests_api.ROUTE_NAMES, deployment_requests_api.endpoints(state)),
        (comfy_proxy.ROUTE_NAMES, comfy_proxy.endpoints(state)),
        (trainer_datasets_api.ROUTE_NAMES, trainer_datasets_api.endpoints(state)),
        (training_api.ROUTE_NAMES, training_api.endpoints(state)),
        (web_login.ROUTE_NAMES, web_login.endpoints(state, served)),
    ]
    endpoints: list[Endpoint] = []
    names: list[str] = []
    for route_names, api_endpoints in apis:
        if set(route_names) != {endpoint.name for endpoint in api_endpoints}:
            raise RuntimeError(f"route names {route_names} do not match the module's endpoints")
        endpoints += api_endpoints
        names += route_names
    return endpoints, names


def create_app(state: EmulatorState, control: Control | None = None, *, served: ServedHosts) -> Starlette:
    """The emulator as an ASGI application, answering only to the names and port in ``served``."""
    control = control or Control()
    endpoints, route_names = service_endpoints(state, served)
    routes: list[BaseRoute] = [service_route(endpoint, state, control) for endpoint in endpoints]
    routes += ControlPlane(state, control, route_names).routes()
    app = Starlette(
        routes=routes,
        middleware=[Middleware(HostCheck, served=served)],
        exception_handlers=EXCEPTION_HANDLERS,
    )
    app.state.emulator = state
    app.state.control = control
    return app
