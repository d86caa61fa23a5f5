"""Model API URLs: origins, joining, and path segments escaped so an argument can never change the path.

Owns the rule that the token goes only to the configured origins (docs/security.md: :func:`origin_key`,
:func:`same_origin`) and the escaping of path segments (``model_id`` and request ids are escaped, and ``..``, ``?``,
``#``, backslashes and control characters refused). It never touches the network.
"""

from __future__ import annotations

import urllib.parse
from typing import TYPE_CHECKING

from runcomfy.errors import InvalidInput
from runcomfy.safe_text import strip_controls

if TYPE_CHECKING:
    import httpx

_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_key(url: str | httpx.URL) -> str:
    """``scheme://host:port`` with the default port filled in and the host lowercased; ``""`` if unparsable.

    A string to compare origins by (which origins may receive the token); the downloads' allow-list has its
    own typed :class:`~runcomfy.downloads.Origin`."""
    import httpx  # here, not at the top: the status words and URL layout must not pull in an HTTP library

    try:
        parsed = httpx.URL(url) if isinstance(url, str) else url
    except (httpx.InvalidURL, TypeError, ValueError):
        return ""
    scheme = parsed.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parsed.host or parsed.userinfo:
        return ""
    host = parsed.host.lower().removesuffix(".")
    return f"{scheme}://{host}:{parsed.port or _DEFAULT_PORTS[scheme]}"


def same_origin(candidate: object, reference: str) -> bool:
    """Whether ``candidate`` is an absolute http(s) URL string on exactly the origin of ``reference``."""
    if not isinstance(candidate, str) or any(ord(ch) < 0x21 or ch == "\\" for ch in candidate):
        return False
    mine = origin_key(candidate)
    return bool(mine) and mine == origin_key(reference)


def join_url(base: str, *segments: str) -> str:
    """``base`` + exactly one ``/`` + already-escaped segments."""
    return base.rstrip("/") + "/" + "/".join(segment.strip("/") for segment in segments)


def _check_segment(segment: str, what: str, original: str) -> None:
    if segment in ("", ".", ".."):
        raise InvalidInput(f"{what} {original!r} has an empty, '.' or '..' path segment")
    if any(ch in "?#\\" or ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in segment):
        raise InvalidInput(
            f"{what} {original!r} contains '?', '#', a backslash, whitespace or a control character"
        )


def quote_model_id(model_id: str) -> str:
    """The model id as a URL path: slashes kept, each segment percent-encoded; ``..``/``?``/``#`` refused."""
    safe_shown = strip_controls(model_id, max_len=200)
    if "/" not in model_id:
        raise InvalidInput(
            f"`{safe_shown}` is not a valid model_id (expected slash-separated, e.g. "
            "`blackforestlabs/flux-1-kontext/pro/edit`). Find model_ids at https://www.runcomfy.com/models"
        )
    if len(model_id) > 512:
        raise InvalidInput("model_id is too long")
    segments = model_id.split("/")
    for segment in segments:
        _check_segment(segment, "model_id", safe_shown)
    return "/".join(urllib.parse.quote(segment, safe="") for segment in segments)


def quote_request_id(request_id: str) -> str:
    """A request id as one escaped path segment; anything that could change the path or query is refused."""
    safe_shown = strip_controls(request_id, max_len=200)
    if not isinstance(request_id, str) or len(request_id) > 512:
        raise InvalidInput("request id is not a string of at most 512 characters")
    if "/" in request_id:
        raise InvalidInput(f"request id {safe_shown!r} must not contain '/'")
    _check_segment(request_id, "request id", safe_shown)
    return urllib.parse.quote(request_id, safe="")


def url_for_messages(url: str | httpx.URL) -> str:
    """The URL without query or fragment: what error messages and traces name."""
    parts = urllib.parse.urlsplit(str(url))
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
