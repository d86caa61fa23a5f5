"""An emulator for a test: started on a free loopback port in a thread of the test's process, with a clock the
test can move, a token, the environment a subprocess needs, a ready client, and a typed control plane.

    from runcomfy.emulator.testkit import running_emulator

    with running_emulator() as emulator:
        emulator.control.faults.add(route="status", status=503, retry_after=0)
        result = emulator.client.run("openai/gpt-image-2/text-to-image", {"prompt": "a fox"})

Under pytest the ``runcomfy_emulator`` fixture of :mod:`runcomfy.emulator.testing` gives the same object; this
module is the part that needs no pytest. Importing it costs nothing (Starlette, uvicorn, httpx and the client
are imported when an emulator starts), because the pytest plugin imports it in every pytest run of an
environment that has ``runcomfy``, whether or not a test uses it. It must never start anything on import, bind
anything but loopback, or outlive the ``with`` block that started it.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runcomfy.emulator.clock import FROZEN_EPOCH

if TYPE_CHECKING:
    import httpx

    from runcomfy.client import Client
    from runcomfy.emulator.control_client import ControlClient
    from runcomfy.emulator.server import EmulatorServer
    from runcomfy.emulator.state import EmulatorState

MISSING_EXTRA = "the RunComfy emulator needs its extra: pip install 'runcomfy[emulator]'"
INSTANT = {"*": 0.0}  # every model finishes as soon as it is submitted


class EmulatorExtraMissing(ImportError):
    """The ``emulator`` extra (Starlette, uvicorn, Pillow) is not installed."""


def missing_extra() -> str | None:
    """Why the emulator cannot start here (the install command, and what failed to import); None if it can."""
    try:
        import runcomfy.emulator.server  # noqa: F401  (the import is the check)
    except ImportError as missing:
        return f"{MISSING_EXTRA} ({missing})"
    return None


def require_extra() -> None:
    """Raise :class:`EmulatorExtraMissing`, naming the install command, unless the emulator can start."""
    problem = missing_extra()
    if problem is not None:
        raise EmulatorExtraMissing(problem)


@dataclass
class RunningEmulator:
    """One started emulator, as a test sees it. Everything here is stopped or closed when it stops."""

    server: EmulatorServer
    token: str = field(
        repr=False
    )  # kept out of reprs and assertion reports, like every token in this project
    http: httpx.Client  # no token: for raw requests to the emulator, and the control plane's client
    control: ControlClient
    _client: Client | None = field(default=None, repr=False)
    _clients: list[Client] = field(default_factory=list, repr=False)  # every client made here, to close

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:PORT``: the web base (login, approval page) and the control plane's home."""
        return self.server.origin

    @property
    def web_base(self) -> str:
        """The value for ``RUNCOMFY_WEB_BASE`` (the emulator's origin)."""
        return self.server.origin

    @property
    def model_api_base(self) -> str:
        """The value for ``RUNCOMFY_MODEL_API_BASE``."""
        return self.server.model_api_base

    @property
    def serverless_api_base(self) -> str:
        """The value for ``RUNCOMFY_SERVERLESS_API_BASE`` (deployments and the balance)."""
        return self.server.serverless_api_base

    @property
    def trainer_api_base(self) -> str:
        """The value for ``RUNCOMFY_TRAINER_API_BASE`` (datasets and training jobs)."""
        return self.server.trainer_api_base

    @property
    def env(self) -> dict[str, str]:
        """The ``RUNCOMFY_*`` variables that point a ``runcomfy`` command (or a user's script) at this emulator.

        Merge them into a subprocess's environment with its own ``HOME`` (or ``RUNCOMFY_CONFIG_DIR`` and
        ``RUNCOMFY_STATE_DIR``), so a token file of the real user is never read or written.
        """
        return {
            "RUNCOMFY_MODEL_API_BASE": self.model_api_base,
            "RUNCOMFY_WEB_BASE": self.web_base,
            "RUNCOMFY_TOKEN": self.token,
            "RUNCOMFY_SERVERLESS_API_BASE": self.serverless_api_base,
            "RUNCOMFY_TRAINER_API_BASE": self.trainer_api_base,
        }

    @property
    def state(self) -> EmulatorState:
        """The emulator's state, for tests that look inside (the control plane is the stable interface)."""
        return self.server.state

    @property
    def client(self) -> Client:
        """A :class:`runcomfy.Client` with this emulator's token and bases, made on first use and closed when the
        emulator stops; it reads nothing from the environment or the user's token file."""
        if self._client is None:
            self._client = self.new_client()
        return self._client

    def new_client(self, token: str | None = None, **options: Any) -> Client:
        """Another client of this emulator (another ``token``, or other :class:`runcomfy.Client` options);
        closed when the emulator stops."""
        from runcomfy import Client

        options.setdefault("env", {})
        options.setdefault("serverless_api_base", self.serverless_api_base)
        options.setdefault("trainer_api_base", self.trainer_api_base)
        client = Client(
            token or self.token, model_api_base=self.model_api_base, web_base=self.web_base, **options
        )
        self._clients.append(client)
        return client

    def stop(self) -> None:
        """Close every client made here, then stop the server (its socket and store too)."""
        try:
            for client in self._clients:
                client.close()
            self.control.close()
            self.http.close()
        finally:
            self.server.stop()


@contextlib.contextmanager
def running_emulator(
    *,
    token: str | None = None,
    tokens: tuple[str, ...] | list[str] = (),
    frozen_clock: bool = False,
    start_time: float = FROZEN_EPOCH,
    workers: int = 2,
    durations: Mapping[str, float] | None = None,
    device_expires_s: int = 600,
    device_poll_interval_s: int = 2,
    db: str | Path | None = None,
    cold_start_s: float = 0.0,
    deployment_run_s: float | None = 0.0,
    balance_usd: float = 100.0,
    allow_webhook_hosts: bool = False,
    webhook_retry_delays_s: tuple[float, ...] = (0.1, 0.2, 0.4),
    seed_example_deployment: bool = False,
) -> Iterator[RunningEmulator]:
    """An emulator on a free loopback port for the ``with`` block; stopped when the block ends.

    ``token``: the test's token (default: a new random one); ``tokens``: more static tokens, each its own user.
    ``frozen_clock``: time stands still at ``start_time`` and moves only through ``control.clock.advance``;
    by default it runs with the wall clock and jumps when advanced. ``durations``: run time in seconds by
    model id, ``*`` for every other model; by default every request finishes as soon as it is submitted, so
    tests do not wait (pass ``{}`` for each model's own run time). ``workers``, ``device_expires_s`` and
    ``device_poll_interval_s`` as for ``runcomfy emulator``; ``db``: a SQLite file to keep state in.

    Deployments: instances boot at once (``cold_start_s``) and requests finish as soon as an instance takes
    them (``deployment_run_s``; ``None`` for each workflow's own run time), every account starts with
    ``balance_usd``, webhooks go to loopback only unless ``allow_webhook_hosts``, and a failed delivery is
    retried after ``webhook_retry_delays_s``; ``seed_example_deployment`` makes the example deployment
    (owned by ``token``).
    """
    require_extra()
    emulator = _start(
        token=token or f"rc-test-{uuid.uuid4().hex}",
        tokens=list(tokens),
        frozen_clock=frozen_clock,
        start_time=start_time,
        workers=workers,
        durations=dict(INSTANT if durations is None else durations),
        device_expires_s=device_expires_s,
        device_poll_interval_s=device_poll_interval_s,
        db=db,
        cold_start_s=cold_start_s,
        deployment_run_s=deployment_run_s,
        balance_usd=balance_usd,
        allow_webhook_hosts=allow_webhook_hosts,
        webhook_retry_delays_s=tuple(webhook_retry_delays_s),
        seed_example_deployment=seed_example_deployment,
    )
    try:
        yield emulator
    finally:
        emulator.stop()


def _start(
    *, token: str, tokens: list[str], frozen_clock: bool, start_time: float, **config: Any
) -> RunningEmulator:
    import httpx

    from runcomfy.emulator.clock import Clock
    from runcomfy.emulator.control_client import ControlClient
    from runcomfy.emulator.server import EmulatorConfig, EmulatorServer, build_state

    settings = EmulatorConfig(host="127.0.0.1", port=0, tokens=[token, *tokens], **config)
    clock = Clock.frozen(start_time) if frozen_clock else Clock()
    server = EmulatorServer(build_state(settings, clock=clock), host="127.0.0.1", port=0).start()
    http = httpx.Client(timeout=30)
    return RunningEmulator(server, token, http, ControlClient(server.origin, http))
