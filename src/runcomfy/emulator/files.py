"""Serving output files over HTTP: ``Content-Length``, ``Content-Type``, ``Accept-Ranges`` and one byte range.

Every emulated API that hands out files (Model API outputs today; deployment outputs and training artifacts
next) serves a :class:`~runcomfy.emulator.models.RenderedFile` through :func:`serve_file`, so resuming a
download works the same everywhere. A file is read in chunks from its own reader and never held whole in memory
here. This module must never decide which files exist or who may read them; the routes do.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from runcomfy.emulator.models import RenderedFile

UNSATISFIABLE = "unsatisfiable"


def serve_file(request: Request, rendered: RenderedFile) -> Response:
    """A file with ``Content-Length``, ``Content-Type``, ``Accept-Ranges`` and single-range support."""
    size = rendered.size
    headers = {"accept-ranges": "bytes", "content-type": rendered.content_type}
    start, end, status = 0, size, 200
    range_header = request.headers.get("range")
    if range_header:
        parsed = parse_range(range_header, size)
        if parsed == UNSATISFIABLE:
            return Response(status_code=416, headers={"content-range": f"bytes */{size}"})
        if isinstance(parsed, tuple):
            start, end = parsed
            status = 206
            headers["content-range"] = f"bytes {start}-{end - 1}/{size}"
    if rendered.declare_length or status == 206:
        headers["content-length"] = str(end - start)
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers)

    async def body() -> AsyncIterator[bytes]:
        for chunk in rendered.read(start, end):
            yield chunk

    return StreamingResponse(body(), status_code=status, headers=headers)


def parse_range(header: str, size: int) -> tuple[int, int] | str | None:
    """``(start, end_exclusive)`` of a single ``bytes=`` range; ``"unsatisfiable"``; or None to ignore it.

    Malformed and multi-range headers are ignored (the whole file is served), as RFC 9110 allows.
    """
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, _, last = spec.strip().partition("-")
    try:
        if not first:
            length = int(last)
            return (max(size - length, 0), size) if length > 0 and size > 0 else UNSATISFIABLE
        start = int(first)
        end = int(last) + 1 if last else size
    except ValueError:
        return None
    if start < 0 or end <= start:
        return None if start < size else UNSATISFIABLE
    if start >= size:
        return UNSATISFIABLE
    return start, min(end, size)
