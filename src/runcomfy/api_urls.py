"""Model API URLs: origins, joining, and path segments escaped so an argument can never change the path.

Owns the rule that the token goes only to the configured origins (docs/security.md: :func:`origin_key`,
:func:`same_origin`) and the escaping of path segments (``model_id`` and request ids are escaped, and ``..``, ``?``,
``#``, backslashes and control characters refused). It never touches the network.
"""

from __future__ import annotations

import functools
import re
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
    return _origin_key_of_text(url) if isinstance(url, str) else _origin_key(url)


@functools.lru_cache(maxsize=64)
def _origin_key_of_text(url: str) -> str:
    """:func:`origin_key` of a string, remembered: the same few bases are asked about on every call."""
    return _origin_key(url)


def _origin_key(url: str | httpx.URL) -> str:
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
    if not isinstance(candidate, str) or _SPACE_CONTROL_OR_BACKSLASH.search(candidate):
        return False
    theirs = origin_key(reference)
    if _written_as_origin(candidate, theirs):
        return True
    mine = origin_key(candidate)
    return bool(mine) and mine == theirs


_SPACE_CONTROL_OR_BACKSLASH = re.compile(r"[\x00-\x20\\]")
_MAX_URL_CHARS = 65536  # what httpx accepts


def _written_as_origin(candidate: str, key: str) -> bool:
    """Whether ``candidate`` starts with the origin ``key`` exactly as :func:`origin_key` writes it, then
    ``/``: then its origin is ``key`` without parsing it (a status URL the service sent, on every call).

    The authority of such a URL ends at that ``/``, so it is exactly the key's host and port, with no user
    info; a key that does not parse back to itself (an IPv6 host is written without brackets) is never used
    so, and a URL httpx would refuse (too long, a DEL) is left to the full parse, which refuses it too.
    """
    return (
        bool(key)
        and candidate.startswith(key)
        and candidate[len(key) : len(key) + 1] == "/"
        and len(candidate) <= _MAX_URL_CHARS
        and "\x7f" not in candidate
        and _origin_key_of_text(key) == key
    )


def join_url(base: str, *segments: str) -> str:
    """``base`` + exactly one ``/`` + already-escaped segments."""
    return base.rstrip("/") + "/" + "/".join(segment.strip("/") for segment in segments)


_UNSAFE_IN_SEGMENT = re.compile(r"[?#\\\x00-\x1f\x7f\s]")  # \s: what str.isspace() calls whitespace


def _check_segment(segment: str, what: str, original: str) -> None:
    if segment in ("", ".", ".."):
        raise InvalidInput(f"{what} {_shown(original)!r} has an empty, '.' or '..' path segment")
    if _UNSAFE_IN_SEGMENT.search(segment):
        raise InvalidInput(
            f"{what} {_shown(original)!r} contains '?', '#', a backslash, whitespace or a control character"
        )


def _shown(text: str) -> str:
    """An id as an error message may quote it (made only when there is an error to report)."""
    return strip_controls(text, max_len=200)


def quote_model_id(model_id: str) -> str:
    """The model id as a URL path: slashes kept, each segment percent-encoded; ``..``/``?``/``#`` refused."""
    if "/" not in model_id:
        raise InvalidInput(
            f"`{_shown(model_id)}` is not a valid model_id (expected slash-separated, e.g. "
            "`blackforestlabs/flux-1-kontext/pro/edit`). Find model_ids at https://www.runcomfy.com/models"
        )
    if len(model_id) > 512:
        raise InvalidInput("model_id is too long")
    segments = model_id.split("/")
    for segment in segments:
        _check_segment(segment, "model_id", model_id)
    return "/".join(urllib.parse.quote(segment, safe="") for segment in segments)


def quote_request_id(request_id: str) -> str:
    """A request id as one escaped path segment; anything that could change the path or query is refused."""
    if not isinstance(request_id, str) or len(request_id) > 512:
        raise InvalidInput("request id is not a string of at most 512 characters")
    if "/" in request_id:
        raise InvalidInput(f"request id {_shown(request_id)!r} must not contain '/'")
    _check_segment(request_id, "request id", request_id)
    return urllib.parse.quote(request_id, safe="")


def url_for_messages(url: str | httpx.URL) -> str:
    """The URL without query or fragment: what error messages and traces name."""
    parts = urllib.parse.urlsplit(str(url))
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
