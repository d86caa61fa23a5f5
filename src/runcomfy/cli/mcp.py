"""``runcomfy mcp``: serve every RunComfy API to coding agents over MCP (see :mod:`runcomfy.mcp`)."""

from __future__ import annotations

import contextlib
import ipaddress
import secrets
from pathlib import Path

import click

from runcomfy.cli.context import app_context
from runcomfy.errors import ConfigError, RunComfyError

MISSING_EXTRA = "runcomfy mcp needs the mcp extra: pip install 'runcomfy[mcp]'"
DEFAULT_PORT = 8765


@click.command("mcp")
@click.option("--http", "use_http", is_flag=True, help="Serve streamable HTTP instead of stdio.")
@click.option("--host", default="127.0.0.1", show_default=True, help="With --http: the address to listen on.")
@click.option(
    "--port",
    default=DEFAULT_PORT,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="With --http (0: any).",
)
@click.option(
    "--token",
    "bearer_token",
    envvar="RUNCOMFY_MCP_TOKEN",
    metavar="TOKEN",
    help="With --http: the bearer token clients must send (else a new one is printed at start). "
    "Env: RUNCOMFY_MCP_TOKEN.",
)
@click.option(
    "--output-dir",
    default="runcomfy-outputs",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where tools save files; nothing is ever written outside it.",
)
@click.option(
    "--poll-secs",
    default=2.0,
    show_default=True,
    type=click.FloatRange(min=0.05),
    help="Seconds between status polls while a tool waits.",
)
@click.option(
    "--timeout",
    "wait_timeout",
    default=900.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Longest wait of one tool call (a tool's timeout_s can ask for another); then the request is cancelled.",
)
def mcp_command(
    use_http: bool,
    host: str,
    port: int,
    bearer_token: str | None,
    output_dir: str,
    poll_secs: float,
    wait_timeout: float,
) -> None:
    """Serve every RunComfy API to coding agents over MCP (stdio, or streamable HTTP with --http).

    Tools: the model catalog, run/submit/status/result/cancel of Model API requests, the local request history,
    the balance, deployments (list, get, run, status, result, cancel, delete) and training (datasets, job status
    and results). Files are saved only under --output-dir. With --local, agents use the embedded emulator.

    \b
    Examples:
      runcomfy mcp                                   # stdio, as an MCP client's config starts it
      runcomfy --local mcp                           # the same on the embedded emulator (no account)
      runcomfy mcp --http --port 8765                # streamable HTTP on 127.0.0.1, prints its bearer token
      claude mcp add runcomfy -- runcomfy mcp --output-dir ~/runcomfy-outputs
    """
    try:
        from runcomfy.mcp.server import build_server, serve_http, serve_stdio
        from runcomfy.mcp.workspace import Workspace
    except ImportError:
        raise ConfigError(MISSING_EXTRA) from None
    app = app_context()
    out = app.output
    if not use_http and (bearer_token or host != "127.0.0.1" or port != DEFAULT_PORT):
        raise click.UsageError("--host, --port and --token only apply with --http")
    app.require_client()  # no token: say so now, not at the first tool call
    # Made once here, not lazily by concurrent tool calls in worker threads: the journal and its scope.
    with contextlib.suppress(OSError, RunComfyError):
        app.journal_scope()
    workspace = Workspace(app, Path(output_dir).expanduser().resolve(), poll_secs, wait_timeout)
    server = build_server(workspace)
    if not use_http:
        serve_stdio(server)
        return
    if not _is_loopback(host):
        out.warning(
            f"listening on {host}: anyone who can reach it and has the bearer token can spend your balance"
        )
    token = bearer_token.strip() if bearer_token and bearer_token.strip() else secrets.token_urlsafe(32)

    def on_listening(url: str) -> None:
        out.progress("info", f"MCP server (streamable HTTP) at {url}")
        if not bearer_token:
            out.progress("info", f"bearer token: {token}")
        out.progress("info", f"files go to {workspace.output_dir}; Ctrl-C stops")

    try:
        serve_http(server, host=host, port=port, bearer_token=token, on_listening=on_listening)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
