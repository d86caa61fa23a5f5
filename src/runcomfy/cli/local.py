"""``--local``: run any command against an embedded emulator, with no setup and no daemon left behind.

The emulator runs in a daemon thread of this process on a free loopback port, and its state lives in SQLite
under the user's state directory. Because the emulator's job progress is a function of elapsed time, a request
submitted by ``runcomfy --local run --no-wait`` keeps "running" while no process is alive, and a later
``runcomfy --local status|result|cancel <id>`` (a new process, a new port) sees it where it should be. Output
URLs are rendered on the current port, so files stay downloadable.

Commands see the embedded emulator through their environment (:func:`local_environment`): the base URLs point
at it and the config dir is a separate ``<state dir>/local-config``, so ``--local login`` never overwrites the
real token file and the user's real token is never used or sent in this mode. Without a local login, the
embedded emulator's fixed token is used.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from runcomfy import config
from runcomfy.errors import ConfigError

LOCAL_TOKEN = "runcomfy-local-emulator"
LOCAL_DB_NAME = "local-emulator.db"
# Short but visible run times, so a local run shows queue and progress lines without a long wait.
LOCAL_DURATIONS = {"runcomfy/emulator/echo": 0.0, "runcomfy/emulator/fail": 0.5}
LOCAL_COLD_START_S = (
    0.5  # a deployment's instance boots quickly on the embedded emulator: it runs in real time
)
MISSING_EXTRA = "--local needs the emulator extra: pip install 'runcomfy[emulator]'"


@dataclass(frozen=True)
class LocalService:
    """Where the embedded emulator listens and how to talk to it."""

    model_api_base: str
    web_base: str
    token: str
    db_path: Path
    serverless_api_base: str = ""
    trainer_api_base: str = ""


def local_environment(env: Mapping[str, str], service: LocalService) -> dict[str, str]:
    """The environment a command runs with in ``--local`` mode."""
    local = {k: v for k, v in env.items() if k != config.ENV_TOKEN}
    local[config.ENV_MODEL_API_BASE] = service.model_api_base
    local[config.ENV_WEB_BASE] = service.web_base
    if service.serverless_api_base:
        local[config.ENV_SERVERLESS_API_BASE] = service.serverless_api_base
    if service.trainer_api_base:
        local[config.ENV_TRAINER_API_BASE] = service.trainer_api_base
    local[config.ENV_CONFIG_DIR] = str(config.state_dir(env) / "local-config")
    local[config.ENV_STATE_DIR] = str(config.state_dir(env) / "local")  # its own journal
    if not (Path(local[config.ENV_CONFIG_DIR]) / "token.json").exists():
        local[config.ENV_TOKEN] = service.token
    return local


def local_db_path(env: Mapping[str, str]) -> Path:
    """The embedded emulator's SQLite file (``<state dir>/local-emulator.db``)."""
    return config.state_dir(env) / LOCAL_DB_NAME


@contextmanager
def embedded_emulator(env: Mapping[str, str]) -> Iterator[LocalService]:
    """Start the embedded emulator for the duration of one command."""
    try:
        from runcomfy.emulator.server import EmulatorConfig, EmulatorServer, build_state
    except ImportError:
        raise ConfigError(MISSING_EXTRA) from None
    db_path = local_db_path(env)
    settings = EmulatorConfig(
        port=0,
        tokens=[LOCAL_TOKEN],
        db=db_path,
        durations=dict(LOCAL_DURATIONS),
        cold_start_s=LOCAL_COLD_START_S,
        seed_example_deployment=True,
    )
    server = EmulatorServer(build_state(settings), port=0).start()
    try:
        yield LocalService(
            server.model_api_base,
            server.origin,
            LOCAL_TOKEN,
            db_path,
            server.serverless_api_base,
            server.trainer_api_base,
        )
    finally:
        server.stop()
