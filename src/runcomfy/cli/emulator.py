"""``runcomfy emulator``: serve the local RunComfy emulator in the foreground.

The emulator's dependencies (Starlette, uvicorn, Pillow, jsonschema) are an extra, imported only here and only
when the command runs, so the rest of the CLI starts fast and works without them.
"""

from __future__ import annotations

import errno

import click

from runcomfy.cli.context import app_context

LOOPBACK = ("127.0.0.1", "::1", "localhost")
MISSING_EXTRA = "the emulator needs its extra: pip install 'runcomfy[emulator]'"
_PORT_TAKEN = (errno.EADDRINUSE, errno.EACCES)  # in use, or privileged: any free port would do instead


def _parse_duration(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> dict[str, float]:
    durations: dict[str, float] = {}
    for value in values:
        model, sep, seconds = value.rpartition("=")
        try:
            if not sep or not model:
                raise ValueError
            durations[model] = float(seconds)
            if durations[model] < 0:
                raise ValueError
        except ValueError:
            raise click.BadParameter(f"expected MODEL=SECONDS (or *=SECONDS), got {value!r}") from None
    return durations


def _parse_allowed_host(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> list[tuple[str, int]]:
    if not values:
        return []
    try:
        from runcomfy.emulator.hosts import split_authority
    except ImportError:
        raise click.ClickException(MISSING_EXTRA) from None
    pairs = []
    for value in values:
        parsed = split_authority(value) if ":" in value else None
        if parsed is None:
            raise click.BadParameter(f"expected HOST:PORT (e.g. localhost:9000), got {value!r}")
        pairs.append(parsed)
    return pairs


@click.command("emulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback by default).")
@click.option(
    "--port",
    default=8188,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to bind; 0 picks a free one.",
)
@click.option(
    "--token",
    "tokens",
    multiple=True,
    metavar="TOKEN",
    help="Static API token to accept (repeatable; also RUNCOMFY_EMULATOR_TOKENS).",
)
@click.option(
    "--workers",
    default=2,
    show_default=True,
    type=click.IntRange(1, 1024),
    help="Requests processed at the same time.",
)
@click.option("--db", type=click.Path(dir_okay=False), help="Keep state in this SQLite file across restarts.")
@click.option(
    "--duration",
    "durations",
    multiple=True,
    callback=_parse_duration,
    metavar="MODEL=SECONDS",
    help="Run time of a model (repeatable; * for every model).",
)
@click.option(
    "--device-expires",
    default=600,
    show_default=True,
    type=click.IntRange(1, 86400),
    help="Lifetime of a login device code, in seconds.",
)
@click.option(
    "--poll-interval",
    default=2,
    show_default=True,
    type=click.IntRange(0, 60),
    help="Poll interval the login flow asks clients to use, in seconds.",
)
@click.option(
    "--allow-host",
    "allowed_hosts",
    multiple=True,
    callback=_parse_allowed_host,
    metavar="HOST:PORT",
    help="Also answer requests addressed to HOST:PORT (a forwarded or published port; repeatable).",
)
@click.option(
    "--balance",
    "balance_usd",
    default=100.0,
    show_default=True,
    type=click.FloatRange(0, 1e9),
    metavar="USD",
    help="Balance every account starts with, in US dollars.",
)
@click.option(
    "--cold-start",
    "cold_start_s",
    default=3.0,
    show_default=True,
    type=click.FloatRange(0, 86400),
    metavar="SECONDS",
    help="Boot time of a deployment instance.",
)
@click.option(
    "--deployment-duration",
    "deployment_run_s",
    type=click.FloatRange(0, 86400),
    metavar="SECONDS",
    help="Run time of every deployment request (default: each workflow's own).",
)
@click.option(
    "--allow-webhook-hosts",
    is_flag=True,
    help="Deliver webhooks to any host (by default only to loopback addresses).",
)
@click.option(
    "--training-speed",
    "training_steps_per_s",
    default=50.0,
    show_default=True,
    type=click.FloatRange(0.001, 1e6),
    metavar="STEPS_PER_S",
    help="Training steps a Trainer API job runs per second.",
)
@click.option("--access-log", is_flag=True, help="Log every HTTP request on stderr.")
def emulator_command(
    host: str,
    port: int,
    tokens: tuple[str, ...],
    workers: int,
    db: str | None,
    durations: dict[str, float],
    device_expires: int,
    poll_interval: int,
    allowed_hosts: list[tuple[str, int]],
    balance_usd: float,
    cold_start_s: float,
    deployment_run_s: float | None,
    allow_webhook_hosts: bool,
    training_steps_per_s: float,
    access_log: bool,
) -> None:
    """Run a local emulator of the RunComfy service (web login, Model API, Serverless API, balance, Trainer
    API).

    Prints the `export` lines that point the CLI (or your own scripts) at it, then serves until Ctrl-C.
    Its control plane under /_emulator/ resets state and injects faults (see the README).

    \b
    Examples:
      runcomfy emulator
      runcomfy emulator --port 0 --token my-test-token --duration '*=0'
      runcomfy emulator --port 0 > emulator.env &   # in scripts: then `. ./emulator.env`
      runcomfy emulator --host 0.0.0.0 --allow-host localhost:9000   # published as port 9000
      runcomfy emulator --cold-start 0 --deployment-duration 1 --balance 5
    """
    import secrets  # here, as the emulator itself: `runcomfy emulator --help` needs neither
    import shlex

    try:
        from runcomfy.emulator.server import EmulatorConfig, EmulatorServer, build_state, tokens_from_env
        from runcomfy.emulator.trainer_settings import TrainerSettings
    except ImportError:
        raise click.ClickException(MISSING_EXTRA) from None
    all_tokens = list(tokens) + tokens_from_env()
    if not all_tokens:
        all_tokens = ["rcemu_" + secrets.token_urlsafe(24)]
    config = EmulatorConfig(
        host=host,
        port=port,
        tokens=all_tokens,
        workers=workers,
        db=db,
        durations=durations,
        device_expires_s=device_expires,
        device_poll_interval_s=poll_interval,
        cold_start_s=cold_start_s,
        deployment_run_s=deployment_run_s,
        balance_usd=balance_usd,
        allow_webhook_hosts=allow_webhook_hosts,
        trainer=TrainerSettings(training_steps_per_s=training_steps_per_s),
    )
    try:
        server = EmulatorServer(
            build_state(config),
            host=host,
            port=port,
            log_level="info",
            access_log=access_log,
            allowed_hosts=allowed_hosts,
        )
    except OSError as exc:
        hint = "; use --port 0 to pick a free port" if exc.errno in _PORT_TAKEN and port != 0 else ""
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}{hint}") from None
    out = app_context().output
    exports = {
        "RUNCOMFY_MODEL_API_BASE": server.model_api_base,
        "RUNCOMFY_WEB_BASE": server.origin,
        "RUNCOMFY_TOKEN": all_tokens[0],
        "RUNCOMFY_SERVERLESS_API_BASE": server.serverless_api_base,
        "RUNCOMFY_TRAINER_API_BASE": server.trainer_api_base,
    }
    if out.json_mode:
        out.data(exports)  # one JSON document for scripts that prefer it to the export lines
    else:
        for name, value in exports.items():
            out.data(f"export {name}={shlex.quote(value)}")
    out.progress("info", f"RunComfy emulator listening on {server.origin} (Ctrl-C to stop)")
    if host not in LOOPBACK:
        out.always(
            "warning: the control plane /_emulator/ has no authentication and is reachable from the network"
        )
    if allow_webhook_hosts:
        out.always("warning: webhooks will be delivered to any host the requests name, not only loopback")
    server.serve_forever()
