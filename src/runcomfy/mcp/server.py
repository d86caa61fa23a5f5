"""The MCP server: built on the official SDK's :class:`MCPServer`, served over stdio or streamable HTTP.

stdio is what an MCP client's config starts (``"command": "runcomfy", "args": ["mcp"]``): the SDK owns stdout
for the protocol, so everything else (logs, warnings) goes to stderr. Streamable HTTP listens on loopback by
default and answers only requests that carry its bearer token (:mod:`runcomfy.mcp.bearer`). Logging never
shows a traceback (a traceback could show a request's internals) and masks the RunComfy token.
"""

from __future__ import annotations

import logging
import socket
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runcomfy._version import __version__

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from runcomfy.mcp.workspace import Workspace

__all__ = ["build_server", "serve_http", "serve_stdio"]

INSTRUCTIONS = """\
RunComfy: run hosted AI image/video models and ComfyUI workflows, and check LoRA training.
Typical flow: search_models -> get_model (schema and a filled example input) -> run_model (waits, downloads the
files into the server's output directory, returns their paths and sha256; images also come back as thumbnails).
For long jobs use submit_request, then request_status and request_result. list_requests shows the history.
Runs cost money: confirm with the user before running many. Destructive tools (cancel_request,
cancel_deployment_request, delete_deployment) need confirm: true."""


def build_server(ws: Workspace) -> MCPServer:
    """An MCP server with every tool and resource, over ``ws``."""
    from mcp.server.mcpserver import MCPServer

    from runcomfy.mcp import deployment_tools, model_tools, resources, training_tools

    _quiet_logging(ws.scrub)
    server: MCPServer = MCPServer(
        "runcomfy",
        title="RunComfy",
        instructions=INSTRUCTIONS,
        version=__version__,
        log_level="WARNING",
        website_url="https://www.runcomfy.com",
    )
    model_tools.register(server, ws)
    deployment_tools.register(server, ws)
    training_tools.register(server, ws)
    resources.register(server, ws)
    return server


def serve_stdio(server: MCPServer) -> None:
    """Serve one client on stdin/stdout until it closes the connection."""
    import anyio

    anyio.run(server.run_stdio_async)


def serve_http(
    server: MCPServer,
    *,
    host: str,
    port: int,
    bearer_token: str,
    on_listening: Callable[[str], None],
) -> None:
    """Serve streamable HTTP at ``http://host:port/mcp`` until interrupted; ``on_listening`` gets the URL once
    the port is bound (port 0 picks a free one)."""
    import anyio
    import uvicorn

    from runcomfy.mcp.bearer import RequireBearer

    app = RequireBearer(server.streamable_http_app(host=host), bearer_token)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    bound_port = sock.getsockname()[1]
    shown_host = f"[{host}]" if family == socket.AF_INET6 else host
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    uv_server = uvicorn.Server(config)

    async def main() -> None:
        on_listening(f"http://{shown_host}:{bound_port}/mcp")
        await uv_server.serve(sockets=[sock])

    try:
        anyio.run(main)
    finally:
        sock.close()


class _NoTracebackFormatter(logging.Formatter):
    """One line per record, secrets masked, never a traceback."""

    def __init__(self, scrub: Callable[[Any], Any]) -> None:
        super().__init__("runcomfy mcp: %(levelname)s %(name)s: %(message)s")
        self._scrub = scrub

    def format(self, record: logging.LogRecord) -> str:
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        text = self._scrub(super().format(record))
        return text if isinstance(text, str) else ""

    def formatException(self, ei: Any) -> str:
        return ""


def _quiet_logging(scrub: Callable[[Any], Any]) -> None:
    """Warnings and errors of every logger, one line each, on stderr (the SDK's own setup would add rich
    tracebacks; configuring the root first makes its ``basicConfig`` a no-op)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_NoTracebackFormatter(scrub))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.WARNING)
