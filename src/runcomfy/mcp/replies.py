"""How a tool answers: a short human text plus structured content, or a tool error with the CLI's hint.

Every tool goes through :func:`tool_call`: whatever a tool raises (a service error, bad input, a broken answer,
a full disk, a bug) becomes one ``is_error`` result carrying the message, the next step the CLI would print,
the exit-code class and the request id, with the token masked. Nothing escapes to the SDK, which would log a
traceback. Cancellation is not an error and passes through untouched, so the client's cancel reaches the tool.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ParamSpec

from mcp_types import CallToolResult, ContentBlock, TextContent

from runcomfy.errors import InputProblems, RunComfyError

__all__ = ["error_reply", "reply", "tool_call"]

logger = logging.getLogger("runcomfy.mcp")
P = ParamSpec("P")
MAX_TEXT_CHARS = 4000  # the human text stays short; the structured content carries the whole answer


def reply(
    text: str, data: Any, *, extra: Sequence[ContentBlock] = (), scrub: Callable[[Any], Any] | None = None
) -> CallToolResult:
    """A successful tool result: ``text`` for a person, ``data`` (a JSON object) for a program, then ``extra``
    content (images). ``scrub`` masks secrets in both."""
    if scrub is not None:
        text, data = scrub(text), scrub(data)
    structured = data if isinstance(data, dict) else {"result": data}
    if len(text) > MAX_TEXT_CHARS:
        text = text[: MAX_TEXT_CHARS - 1] + "…"
    return CallToolResult(
        content=[TextContent(type="text", text=text), *extra], structured_content=structured
    )


def error_reply(exc: BaseException, *, scrub: Callable[[Any], Any] | None = None) -> CallToolResult:
    """A tool error for ``exc``: its message, the CLI's hint, the exit-code class and the request id."""
    from runcomfy.cli.exit_codes import classify, hint_for

    if isinstance(exc, RunComfyError | OSError | ValueError):
        message = str(exc) or type(exc).__name__
        hint = hint_for(exc)
    else:  # a bug: one line, never a traceback
        message = f"unexpected error ({type(exc).__name__}): {exc}"
        hint = "please report this at the project's issue tracker"
        logger.error("tool failed unexpectedly: %s", type(exc).__name__)
    data: dict[str, Any] = {"error": message, "hint": hint, "exit_code": classify(exc)}
    request_id = getattr(exc, "request_id", None)
    if isinstance(request_id, str):
        data["request_id"] = request_id
    if isinstance(exc, InputProblems):
        data["problems"] = exc.problems
    lines = [f"Error: {message}"]
    if request_id:
        lines.append(f"request_id: {request_id}")
    if hint:
        lines.append(f"hint: {hint}")
    text = "\n".join(lines)
    if scrub is not None:
        text, data = scrub(text), scrub(data)
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content=data, is_error=True
    )


def tool_call(
    scrub: Callable[[Any], Any],
) -> Callable[[Callable[P, Awaitable[CallToolResult]]], Callable[P, Awaitable[CallToolResult]]]:
    """Decorate a tool so every failure is an error result (see the module docstring)."""

    def decorate(fn: Callable[P, Awaitable[CallToolResult]]) -> Callable[P, Awaitable[CallToolResult]]:
        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> CallToolResult:
            try:
                return await fn(*args, **kwargs)
            except Exception as exc:
                return error_reply(exc, scrub=scrub)

        return wrapper

    return decorate


def as_json_text(value: Any, limit: int = 1500) -> str:
    """A compact JSON rendering of ``value`` for the human text, cut at ``limit`` characters."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"
