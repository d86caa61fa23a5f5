"""Which URLs in a result may be fetched: collecting them, and the one parser that decides.

Owns: the bounded walk over a result's ``output`` (:func:`collect_urls`), the download allow-list
(:func:`check_url`), redirect decisions (:func:`check_redirect`) and :func:`origin_of` for the user-configured
Model API origin.

Must never: trust a URL that a second parser could read differently. The authority is split out with the
plain RFC 3986 grammar and then refused outright if it holds anything on which parsers are known to disagree
(backslash, ``%``, whitespace, control characters, ``@``, brackets, non-ASCII). The ``httpx.URL`` that is
fetched is built from the checked components, never by re-parsing the original text, and is compared with
them once more.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import quote

import httpx

TRUSTED_HOST_SUFFIXES = (".runcomfy.net", ".runcomfy.com")
MAX_REDIRECT_HOPS = 5
MAX_WALK_DEPTH = 64
MAX_WALK_NODES = 100_000

# RFC 3986 reserved characters and existing escapes stay as they are; anything else (non-ASCII, backslash,
# quotes, braces) is percent-encoded so the request line carries exactly one reading of the path.
_PATH_SAFE = "!$&'()*+,/:;=?@[]%"
_DEFAULT_PORTS = {"http": 80, "https": 443}
# RFC 3986 appendix B, with the authority made mandatory.
_URL_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)([^?#]*)(?:\?([^#]*))?(?:#.*)?$", re.DOTALL)
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_HOST_RE = re.compile(r"^[a-z0-9_-]+(?:\.[a-z0-9_-]+)*$")
_PORT_RE = re.compile(r"^[0-9]{1,5}$")
# WHATWG reads a host whose last label is a number (decimal, 0x-hex, or octal) as an IPv4 address.
_NUMERIC_LABEL_RE = re.compile(r"^(?:[0-9]+|0[xX][0-9a-fA-F]*)$")


class Origin(NamedTuple):
    """Scheme, lower-case host (no trailing dot) and effective port: what "same origin" compares."""

    scheme: str
    host: str
    port: int


@dataclass(frozen=True)
class TrustedURL:
    """A URL that passed :func:`check_url`; ``url`` is the exact object to fetch."""

    url: httpx.URL
    origin: Origin
    text: str

    def __str__(self) -> str:
        return str(self.url)


@dataclass(frozen=True)
class Rejection:
    """A URL that must not be fetched, and why (a short human reason, safe to print)."""

    url: str
    reason: str


class _Parts(NamedTuple):
    scheme: str
    host: str
    port: int | None
    raw_path: str


class UrlScan(NamedTuple):
    """The URLs found in an output, and whether the whole output was looked at (a limit may stop the walk)."""

    urls: list[str]
    complete: bool


def collect_urls(
    output: Any, *, max_depth: int = MAX_WALK_DEPTH, max_nodes: int = MAX_WALK_NODES
) -> list[str]:
    """Every ``http(s)://`` string in ``output``, in document order, each once (see :func:`scan_urls`)."""
    return scan_urls(output, max_depth=max_depth, max_nodes=max_nodes).urls


def scan_urls(output: Any, *, max_depth: int = MAX_WALK_DEPTH, max_nodes: int = MAX_WALK_NODES) -> UrlScan:
    """Every ``http(s)://`` string in ``output``, in document order, each once, and whether that is all.

    The walk is iterative; containers nested deeper than ``max_depth`` are not entered and the walk stops after
    ``max_nodes`` values, so a hostile result cannot exhaust the stack or the clock. Either limit makes the
    scan incomplete, which the caller must report: a file that was never looked at is neither downloaded nor
    listed as skipped. Keys are never URLs.
    """
    found: dict[str, None] = {}
    stack: list[tuple[Any, int]] = [(output, 0)]
    visited = 0
    complete = True
    while stack:
        if visited >= max_nodes:
            complete = False
            break
        value, depth = stack.pop()
        visited += 1
        if isinstance(value, str):
            if value[:8].lower().startswith(("http://", "https://")):
                found.setdefault(value, None)
            continue
        if depth >= max_depth:
            if isinstance(value, dict | list | tuple) and value:
                complete = False
            continue
        children: Iterable[Any]
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list | tuple):
            children = value
        else:
            continue
        stack.extend((child, depth + 1) for child in reversed(list(children)))
    return UrlScan(list(found), complete)


def origin_of(base_url: str) -> Origin:
    """The origin of a configured base URL such as ``http://127.0.0.1:8188/v1``.

    Raises ``ValueError`` if it has no usable scheme and host.
    """
    parsed = httpx.URL(base_url)
    if parsed.scheme not in _DEFAULT_PORTS or not parsed.host:
        raise ValueError("base URL needs an http(s) scheme and a host")
    port = parsed.port if parsed.port is not None else _DEFAULT_PORTS[parsed.scheme]
    return Origin(parsed.scheme, parsed.host.lower().removesuffix("."), port)


def check_url(url: str, *, trusted_origins: Iterable[Origin] = ()) -> TrustedURL | Rejection:
    """Decide whether ``url`` may be downloaded; the answer carries the object to fetch.

    Trusted: ``https`` on a subdomain of runcomfy.net / runcomfy.com with no userinfo, no non-default port and
    no IP literal, or any URL whose origin is exactly one of ``trusted_origins``.
    """
    parts = _split(url)
    if isinstance(parts, str):
        return Rejection(url, parts)
    origin = Origin(parts.scheme, parts.host, parts.port or _DEFAULT_PORTS[parts.scheme])
    if origin not in set(trusted_origins):
        reason = _public_host_problem(parts)
        if reason is not None:
            return Rejection(url, reason)
    fetched = _build_url(parts, origin)
    if fetched is None:
        return Rejection(url, "URL is ambiguous")
    return TrustedURL(url=fetched, origin=origin, text=url)


def check_redirect(
    current: TrustedURL, location: str | None, *, hop: int, trusted_origins: Iterable[Origin] = ()
) -> TrustedURL | Rejection:
    """Decide redirect number ``hop`` (1-based) from ``current`` to its ``Location`` header."""
    if hop > MAX_REDIRECT_HOPS:
        return Rejection(current.text, f"too many redirects (more than {MAX_REDIRECT_HOPS})")
    if not location or not location.strip():
        return Rejection(current.text, "redirect without a Location header")
    scheme = _SCHEME_RE.match(location.strip())
    if scheme is not None and not location.strip()[scheme.end() :].startswith("//"):
        # ``http:foo`` is a path relative to the current URL for browsers and a hostless absolute URL for
        # RFC 3986; ``mailto:``/``data:`` are not fetchable at all. Parsers disagree, so none is followed.
        return Rejection(location, "redirect to a URL with a scheme but no host")
    try:
        target = str(current.url.join(location.strip()))
    except (httpx.InvalidURL, ValueError):
        return Rejection(location, "redirect to an invalid URL")
    decision = check_url(target, trusted_origins=trusted_origins)
    downgrade = isinstance(decision, TrustedURL) and decision.origin.scheme == "http"
    if downgrade and current.origin.scheme == "https":
        return Rejection(target, "redirect from https to http")
    return decision


def _split(url: str) -> _Parts | str:
    """The checked components of ``url``, or the reason it cannot be parsed safely."""
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        return "URL contains whitespace or control characters"
    match = _URL_RE.match(url)
    if match is None:
        return "not an absolute URL"
    scheme = match.group(1).lower()
    if scheme not in _DEFAULT_PORTS:
        return f"scheme {scheme!r} is not http or https"
    host_port = _split_authority(match.group(2))
    if isinstance(host_port, str):
        return host_port
    path = match.group(3) or "/"
    query = match.group(4)
    raw_path = quote(path if query is None else f"{path}?{query}", safe=_PATH_SAFE)
    return _Parts(scheme, host_port[0], host_port[1], raw_path)


def _build_url(parts: _Parts, origin: Origin) -> httpx.URL | None:
    """The URL to fetch, from the checked parts; None if httpx would read them any other way."""
    port = None if origin.port == _DEFAULT_PORTS[parts.scheme] else origin.port
    try:
        raw_path = parts.raw_path.encode("ascii")
        built = httpx.URL(scheme=parts.scheme, host=parts.host, port=port, raw_path=raw_path)
    except (httpx.InvalidURL, ValueError):
        return None
    as_read = (built.scheme, built.raw_host.decode("ascii"), built.port, built.userinfo)
    return built if as_read == (parts.scheme, parts.host, port, b"") else None


def _split_authority(authority: str) -> tuple[str, int | None] | str:
    if "@" in authority:
        return "URL carries userinfo"
    if any(ch in authority for ch in "\\%[]") or not authority.isascii():
        return "URL authority contains characters parsers disagree on"
    host, sep, port_text = authority.partition(":")
    host = host.lower()
    if host.endswith("."):
        host = host[:-1]
    if not _HOST_RE.match(host):
        return "URL has no valid host"
    if not sep:
        return host, None
    if not _PORT_RE.match(port_text) or not 0 < int(port_text) < 65536:
        return "URL has an invalid port"
    return host, int(port_text)


def _public_host_problem(parts: _Parts) -> str | None:
    """Why a URL outside the configured origins is not on the RunComfy allow-list, or None if it is."""
    if _is_ip_literal(parts.host):
        return "host is an IP address"
    if parts.scheme != "https":
        return "plain http is not allowed for downloads"
    if parts.port is not None and parts.port != _DEFAULT_PORTS["https"]:
        return "explicit non-default port"
    if not parts.host.endswith(TRUSTED_HOST_SUFFIXES):
        return "host is not a runcomfy.net or runcomfy.com subdomain"
    return None


def _is_ip_literal(host: str) -> bool:
    return bool(_NUMERIC_LABEL_RE.match(host.rsplit(".", 1)[-1]))
