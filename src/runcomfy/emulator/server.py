"""Running the emulator on a socket: in the foreground (``runcomfy emulator``) or in a background thread.

The socket is bound here, before uvicorn starts, so ``--port 0`` knows its port at once and a client can
connect as soon as the URLs are printed. The thread form is what tests and the CLI's ``--local`` mode use;
it is a daemon thread and :meth:`EmulatorServer.stop` ends it, so no process is left behind. Either way the
webhook worker (:mod:`~runcomfy.emulator.webhook_worker`) runs beside the server and stops with it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import uvicorn

from runcomfy.emulator.app import create_app
from runcomfy.emulator.billing import DEFAULT_BALANCE_USD
from runcomfy.emulator.clock import Clock
from runcomfy.emulator.control import Control
from runcomfy.emulator.hosts import ServedHosts
from runcomfy.emulator.serverless_settings import DEFAULT_COLD_START_S, ServerlessSettings
from runcomfy.emulator.state import EmulatorState
from runcomfy.emulator.store import MemoryStore, SqliteStore, Store
from runcomfy.emulator.trainer_settings import TrainerSettings
from runcomfy.emulator.webhook_worker import WebhookWorker
from runcomfy.emulator.webhooks import DEFAULT_RETRY_DELAYS_S


class _QuietDrops(logging.Filter):
    """Hide uvicorn's complaint about the responses the ``drop`` fault cuts short on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "without completing response" not in record.getMessage()


logging.getLogger("uvicorn.error").addFilter(_QuietDrops())


@dataclass
class EmulatorConfig:
    """Everything ``runcomfy emulator`` can be told."""

    host: str = "127.0.0.1"
    port: int = 8188
    tokens: list[str] = field(default_factory=list)
    workers: int = 2
    db: str | Path | None = None
    durations: dict[str, float] = field(default_factory=dict)
    device_expires_s: int = 600
    device_poll_interval_s: int = 2
    cold_start_s: float = DEFAULT_COLD_START_S  # an instance's boot time
    deployment_run_s: float | None = None  # a deployment request's run time; None: each workflow's own
    balance_usd: float = DEFAULT_BALANCE_USD  # what every account starts with
    allow_webhook_hosts: bool = False  # deliver webhooks beyond loopback
    webhook_retry_delays_s: tuple[float, ...] = DEFAULT_RETRY_DELAYS_S
    seed_example_deployment: bool = False  # the example deployment, owned by the first token (``--local``)
    trainer: TrainerSettings = field(default_factory=TrainerSettings)  # datasets' processing, training speed

    def trainer_files(self) -> Path | None:
        """Where datasets and training artifacts are kept: beside ``db`` (``<db>.trainer-files``), or None
        (a temporary directory removed when the emulator stops)."""
        if not self.db:
            return None
        db = Path(self.db)
        return db.with_name(f"{db.name}.trainer-files")

    def serverless(self) -> ServerlessSettings:
        """The Serverless API's part of this configuration."""
        return ServerlessSettings(
            cold_start_s=self.cold_start_s,
            deployment_run_s=self.deployment_run_s,
            balance_usd=self.balance_usd,
            allow_webhook_hosts=self.allow_webhook_hosts,
            webhook_retry_delays_s=tuple(self.webhook_retry_delays_s),
        )


def tokens_from_env(env: dict[str, str] | None = None) -> list[str]:
    """Static tokens from ``RUNCOMFY_EMULATOR_TOKENS`` (comma or whitespace separated)."""
    raw = (env if env is not None else dict(os.environ)).get("RUNCOMFY_EMULATOR_TOKENS", "")
    return [t for t in raw.replace(",", " ").split() if t]


def build_state(config: EmulatorConfig, clock: Clock | None = None) -> EmulatorState:
    """The state for a configuration, with its static tokens registered."""
    store: Store = SqliteStore(config.db) if config.db else MemoryStore()
    state = EmulatorState(
        store=store,
        clock=clock,
        workers=config.workers,
        durations=config.durations,
        device_expires_s=config.device_expires_s,
        device_poll_interval_s=config.device_poll_interval_s,
        serverless=config.serverless(),
        trainer=config.trainer,
        trainer_files=config.trainer_files(),
    )
    owners = [state.add_static_token(token) for token in config.tokens]
    if config.seed_example_deployment and owners:
        state.serverless.seed_example(owners[0].user_id)
    return state


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket (IPv4 or IPv6 by the host's form)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def url_host(host: str) -> str:
    """A host as it appears in a URL (IPv6 in brackets)."""
    return f"[{host}]" if ":" in host else host


class EmulatorServer:
    """An emulator listening on a socket, served by uvicorn in the foreground or in a thread."""

    def __init__(
        self,
        state: EmulatorState,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        control: Control | None = None,
        log_level: str = "warning",
        access_log: bool = False,
        allowed_hosts: Iterable[tuple[str, int]] = (),
    ) -> None:
        """``allowed_hosts``: ``(host, port)`` pairs accepted in ``Host`` besides this server's own names."""
        self.state = state
        self.control = control or Control()
        self.socket = bind(host, port)
        self.host = host
        self.port: int = self.socket.getsockname()[1]
        # Bound first, so the app knows the port (``--port 0`` picks it here) it must see in every Host header.
        served = ServedHosts(host, self.port, also=frozenset((h.lower(), p) for h, p in allowed_hosts))
        self.app = create_app(state, self.control, served=served)
        config = uvicorn.Config(
            self.app, log_level=log_level, access_log=access_log, lifespan="off", timeout_graceful_shutdown=1
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None
        self.webhooks = WebhookWorker(state.serverless, self.control)

    @property
    def origin(self) -> str:
        """``http://host:port``."""
        return f"http://{url_host(self.host)}:{self.port}"

    @property
    def model_api_base(self) -> str:
        """The value for ``RUNCOMFY_MODEL_API_BASE``."""
        return f"{self.origin}/v1"

    @property
    def serverless_api_base(self) -> str:
        """The value for ``RUNCOMFY_SERVERLESS_API_BASE``."""
        return f"{self.origin}/prod/v2"

    @property
    def trainer_api_base(self) -> str:
        """The value for ``RUNCOMFY_TRAINER_API_BASE`` (datasets and training jobs)."""
        return f"{self.origin}/prod/v1"

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (uvicorn handles Ctrl-C and SIGTERM)."""
        self.webhooks.start()
        try:
            self._server.run(sockets=[self.socket])
        finally:
            self.webhooks.stop()
            self.state.close()

    def start(self) -> EmulatorServer:
        """Serve in a daemon thread; returns once the server accepts connections."""
        self.webhooks.start()
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self.socket]},
            name=f"runcomfy-emulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the emulator failed to start")
            self._thread.join(0.01)
        return self

    def stop(self) -> None:
        """Stop the thread started by :meth:`start` and close the socket and the store (and remove the
        Trainer API's temporary files)."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self.webhooks.stop()
        self.socket.close()
        self.state.close()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
