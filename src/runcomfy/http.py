"""The one place that talks HTTP: builds the httpx client, scopes the token, traces, and funnels every reply.

Owns:
- :func:`build_client`: User-Agent, 60 s timeout (10 s connect), no redirects for API calls.
- :class:`HttpSession`: attaches ``Authorization: Bearer`` only to the configured origins (docs/security.md), turns
  transport failures into :class:`APIConnectionError`/:class:`APITimeoutError`, bounds reply size. Its calls go
  on the plain keep-alive path (:mod:`runcomfy.keepalive`, a fifth of httpx's CPU per call) when nothing needs
  httpx (no proxy in the environment, no trace, no transport given, a URL sent as is), else through httpx; both
  end in the same :class:`Reply` and the same errors.
- :func:`read_json` / :func:`status_error`: the one error funnel: every reply becomes a typed error or a bounded JSON object.
- URL building (re-exported from :mod:`runcomfy.api_urls`) and the retry policy (from :mod:`runcomfy.retry`).

It must never print (the trace is a callback the CLI supplies), never follow a redirect on an API call, and never
put the token in a message, a trace line or a URL.
"""

from __future__ import annotations

import functools
import json
import os
import ssl
import threading
import urllib.request
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from runcomfy._version import __version__
from runcomfy.api_urls import (
    join_url,
    origin_key,
    quote_model_id,
    quote_request_id,
    same_origin,
    url_for_messages,
)
from runcomfy.auth.credentials import NOT_SIGNED_IN, Token
from runcomfy.errors import (
    APIConnectionError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    NotAuthenticated,
    TokenEchoed,
    UnexpectedRedirect,
    status_error_class,
)
from runcomfy.http1 import ReplyTooLarge
from runcomfy.json_limits import JSONLimitError, loads_bounded
from runcomfy.keepalive import KeepAlivePool, Target, plain_target
from runcomfy.retry import (
    RetryPolicy,
    backoff_delay,
    call_with_retries,
    parse_retry_after,
    should_retry,
    should_retry_submit,
)
from runcomfy.safe_text import MASK, contains_secret, redact, strip_controls

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "USER_AGENT",
    "HttpSession",
    "Reply",
    "RetryPolicy",
    "TraceHook",
    "backoff_delay",
    "build_client",
    "call_with_retries",
    "join_url",
    "json_of_reply",
    "origin_key",
    "parse_retry_after",
    "quote_model_id",
    "quote_request_id",
    "read_json",
    "same_origin",
    "should_retry",
    "should_retry_submit",
    "status_error",
]

USER_AGENT = f"runcomfy-cli/{__version__} (python)"
DEFAULT_TIMEOUT_S = 60.0
CONNECT_TIMEOUT_S = 10.0
MAX_REPLY_BYTES = 16 * 1024 * 1024
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})

TraceHook = Callable[[str], None]


# --- building the client and tracing ----------------------------------------------------------------------------


def connect_timeout(timeout_s: float) -> float:
    """How long a client with a ``timeout_s`` timeout waits for a connection (both HTTP paths)."""
    return min(CONNECT_TIMEOUT_S, timeout_s)


def build_client(
    *,
    timeout: float | httpx.Timeout = DEFAULT_TIMEOUT_S,
    transport: httpx.BaseTransport | None = None,
    trace: TraceHook | None = None,
    secrets: Iterable[str] = (),
    follow_redirects: bool = False,
) -> httpx.Client:
    """The one constructor of ``httpx.Client``: shared User-Agent, timeouts and the optional trace hook."""
    if not isinstance(timeout, httpx.Timeout):
        timeout = httpx.Timeout(timeout, connect=connect_timeout(timeout))
    hooks: dict[str, list[Callable[..., Any]]] = {"request": [], "response": []}
    if trace is not None:
        hidden = tuple(secrets)
        hooks["request"].append(lambda request: _trace_request(trace, request, hidden))
        hooks["response"].append(lambda response: _trace_response(trace, response, hidden))
    hooks["response"].append(hold_redirect_location)
    return httpx.Client(
        timeout=timeout,
        transport=transport,
        follow_redirects=follow_redirects,
        headers={"User-Agent": USER_AGENT},
        event_hooks=hooks,
        verify=tls_context() if transport is None else True,
    )


def tls_context() -> ssl.SSLContext:
    """The verifying TLS context every client of this process shares (httpx's default one).

    Why: httpx builds a context for each client, loading the whole CA bundle (tens of milliseconds), even for a
    client that only ever talks plain HTTP, and a command often builds two (the API's and the file hosts').
    One per ``SSL_CERT_FILE``/``SSL_CERT_DIR`` setting, as httpx reads them, so changing them still counts.
    """
    with _TLS_LOCK:  # a batch's workers ask at once: build it once, not once per thread
        return _tls_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


_TLS_LOCK = threading.Lock()


@functools.lru_cache(maxsize=4)
def _tls_context(_cafile: str | None, _capath: str | None) -> ssl.SSLContext:
    return httpx.create_ssl_context()  # reads the same two variables


LOCATION_EXTENSION = "runcomfy.location"


def hold_redirect_location(response: httpx.Response) -> None:
    """A response hook: move a redirect's ``Location`` out of the headers into ``response.extensions``.

    httpx builds the next request of every 3xx answer, even when it is told not to follow it, and raises
    ``InvalidURL`` (outside its ``HTTPError`` tree) when the target is hostless or opaque (``mailto:``,
    ``data:``, ``http:foo``). Nothing here follows redirects through httpx, so the header is kept for our own
    checks (:func:`redirect_location`) and httpx never parses it.
    """
    location = take_location(response.status_code, response.headers)
    if location is not None:
        response.extensions[LOCATION_EXTENSION] = location


def take_location(status: int, headers: httpx.Headers) -> str | None:
    """A redirect's ``Location``, removed from ``headers`` (both HTTP paths keep it apart the same way)."""
    if 300 <= status < 400 and "Location" in headers:
        location = headers["Location"]
        del headers["Location"]
        return location
    return None


def redirect_location(response: httpx.Response) -> str | None:
    """The ``Location`` of a redirect, whether or not :func:`hold_redirect_location` moved it."""
    held = response.extensions.get(LOCATION_EXTENSION)
    return held if isinstance(held, str) else response.headers.get("Location")


def masked_header(name: str, value: str, secrets: Iterable[str] = ()) -> str:
    """A header as shown in a trace: credentials replaced by ``****`` (``Authorization: Bearer ****``)."""
    if name.lower() in _SECRET_HEADERS:
        scheme, _, rest = value.partition(" ")
        shown = f"{scheme} {MASK}" if rest and name.lower().endswith("authorization") else MASK
    else:
        shown = redact(value, secrets)
    return f"{name}: {shown}"


def _trace_request(trace: TraceHook, request: httpx.Request, secrets: tuple[str, ...]) -> None:
    trace(redact(f"> {request.method} {request.url}", secrets))
    for name, value in request.headers.items():
        trace("> " + masked_header(name.title(), value, secrets))


def _trace_response(trace: TraceHook, response: httpx.Response, secrets: tuple[str, ...]) -> None:
    request = response.request
    trace(
        redact(f"< {response.status_code} {response.reason_phrase} ({request.method} {request.url})", secrets)
    )
    for name, value in response.headers.items():
        trace("< " + masked_header(name.title(), value, secrets))


def secret_forms(secret: str) -> tuple[str, ...]:
    """The secret as it is, and as it reads inside a JSON string (quotes and backslashes escaped): a server
    that echoes the token may send either, and both must be refused and masked."""
    escaped = json.dumps(secret, ensure_ascii=False)[1:-1]
    return (secret,) if escaped == secret else (secret, escaped)


class _ScopedBearer(httpx.Auth):
    """Adds the bearer token only when the request's origin is one of the configured API origins."""

    def __init__(self, token: Token, origins: frozenset[str]) -> None:
        self._token = token
        self._origins = origins

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if origin_key(request.url) in self._origins:
            request.headers["Authorization"] = f"Bearer {self._token.reveal()}"
        yield request


# --- the reply and the error funnel -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """A fully read, size-bounded HTTP reply: what the funnel and the device flow look at."""

    method: str
    url: str
    status_code: int
    reason: str
    headers: Mapping[str, str]
    content: bytes
    location: str | None = None  # a redirect's target (see :func:`hold_redirect_location`)

    @classmethod
    def from_response(cls, response: httpx.Response) -> Reply:
        """Wrap an already-read ``httpx.Response`` (tests, callers outside :class:`HttpSession`)."""
        request = response.request
        return cls(
            request.method,
            str(request.url),
            response.status_code,
            response.reason_phrase,
            response.headers,
            response.content,
            location=redirect_location(response),
        )

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def label(self) -> str:
        return call_label(self.method, self.url)


def read_json(
    reply: Reply, *, request_id: str | None = None, secrets: Iterable[str] = (), allow_empty: bool = False
) -> dict[str, Any]:
    """The JSON object of a 2xx reply, or the right exception: the one funnel every API reply goes through.

    Non-2xx raises the :class:`APIStatusError` subclass for the status; a 2xx whose body is not a bounded JSON
    object raises :class:`APIResponseError`. ``allow_empty`` accepts an empty 2xx body as ``{}`` (cancel).
    """
    if 300 <= reply.status_code < 400:
        target = reply.location or "an unnamed place"
        shown = redact(strip_controls(url_for_messages(target), max_len=200), tuple(secrets))
        raise UnexpectedRedirect(
            f"{reply.label}: HTTP {reply.status_code} redirect to {shown}; API calls do not follow redirects",
            request_id=request_id,
            hint="check the base URL (RUNCOMFY_MODEL_API_BASE / RUNCOMFY_WEB_BASE): https and the service's own host",
        )
    if not reply.is_success:
        raise status_error(reply, request_id=request_id, secrets=secrets)
    if allow_empty and not reply.content.strip():
        return {}
    try:
        document = loads_bounded(reply.content, max_chars=MAX_REPLY_BYTES)
    except JSONLimitError as exc:
        raise APIResponseError(f"{reply.label}: {exc}", request_id=request_id) from None
    except ValueError:
        kind = strip_controls(reply.headers.get("content-type", "") or "an unknown type", max_len=80)
        raise APIResponseError(
            f"{reply.label}: expected JSON, got {kind} (HTTP {reply.status_code})", request_id=request_id
        ) from None
    if not isinstance(document, dict):
        raise APIResponseError(
            f"{reply.label}: expected a JSON object, got {type(document).__name__}", request_id=request_id
        )
    return document


def status_error(
    reply: Reply, *, request_id: str | None = None, secrets: Iterable[str] = ()
) -> APIStatusError:
    """Build the exception for a non-2xx reply from its body (``error_code``, ``error_message``, ``detail``)."""
    hidden = tuple(secrets)
    body = _error_body(reply.content)
    error_code = body.get("error_code")
    if isinstance(error_code, bool) or not isinstance(error_code, int | str):
        error_code = None
    server_message = _server_message(body, reply.content)
    if server_message is not None:
        server_message = redact(strip_controls(server_message), hidden)
    message = f"{reply.label}: HTTP {reply.status_code} {strip_controls(reply.reason, max_len=60)}".rstrip()
    if server_message:
        message += f": {server_message}"
    if error_code is not None:
        message += f" (error_code {strip_controls(str(error_code), max_len=20)})"
    fields = describe_validation_detail(body.get("detail"))
    if fields:
        message += f" — {fields}"
    return status_error_class(reply.status_code)(
        redact(message, hidden),
        status_code=reply.status_code,
        error_code=error_code,
        server_message=server_message,
        detail=_redact_json(body.get("detail"), hidden),
        retry_after_s=parse_retry_after(reply.headers.get("retry-after")),
        request_id=request_id,
    )


def json_of_reply(
    reply: Reply, secrets: Iterable[str], *, request_id: str | None = None, allow_empty: bool = False
) -> dict[str, Any]:
    """:func:`read_json`, then :func:`refuse_echoed_token`: what every API reply goes through."""
    document = read_json(reply, request_id=request_id, secrets=secrets, allow_empty=allow_empty)
    refuse_echoed_token(document, lambda: reply.label, secrets, request_id=request_id)
    return document


#: Fields of a reply that become part of what is printed, stored and put in URLs.
IDENTIFYING_FIELDS = ("request_id", "status", "outcome", "id")


def refuse_echoed_token(
    document: Mapping[str, Any],
    label: str | Callable[[], str],
    secrets: Iterable[str],
    *,
    request_id: str | None = None,
) -> None:
    """Raise :class:`TokenEchoed` when an identifying field of a reply contains the token (in any case).

    ``label`` may be a function that makes it: it is only needed for the error, and every reply is checked.
    """
    for field in IDENTIFYING_FIELDS:
        value = document.get(field)
        if isinstance(value, str) and contains_secret(value, secrets):
            raise TokenEchoed(
                f"{label if isinstance(label, str) else label()}: the reply's {field} contains the API token; "
                "refusing to use or store it",
                request_id=request_id,
                hint="the service is misbehaving; report it, and rotate the token if this is not an emulator",
            )


def describe_validation_detail(detail: Any, *, limit: int = 10) -> str:
    """``prompt: Field required; seed: ...`` from a 422 ``detail`` list, so the user sees which fields to fix."""
    if not isinstance(detail, list):
        return ""
    parts = []
    for item in detail[:limit]:
        if not isinstance(item, dict) or not isinstance(item.get("msg"), str):
            continue
        loc = item.get("loc")
        path = [str(p) for p in loc if p != "body"] if isinstance(loc, list) else []
        where = ".".join(path) or "input"
        parts.append(strip_controls(f"{where}: {item['msg']}", max_len=200))
    if len(detail) > limit:
        parts.append(f"... {len(detail) - limit} more")
    return "; ".join(parts)


def _error_body(content: bytes) -> dict[str, Any]:
    try:
        document = loads_bounded(content, max_chars=1024 * 1024)
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def _server_message(body: Mapping[str, Any], content: bytes) -> str | None:
    """``error_message``, then ``message``, then ``error`` (or ``error.message``), then a string ``detail``."""
    for key in ("error_message", "message", "error", "detail"):
        value = body.get(key)
        if isinstance(value, dict) and isinstance(value.get("message"), str):
            value = value["message"]
        if isinstance(value, str) and value.strip():
            return value.strip()
    if body:
        return None
    text = content[:400].decode("utf-8", errors="replace").strip()
    # A short plain-text body says something; an HTML error page says nothing useful in one line.
    return text if text and len(text) <= 300 and not text.startswith("<") else None


def _redact_json(value: Any, secrets: tuple[str, ...]) -> Any:
    """``value`` with the secrets masked in every string; round-trips through JSON so it never recurses."""
    if not secrets or value is None:
        return value
    text = json.dumps(value, ensure_ascii=False)
    if not any(secret in text for secret in secrets):
        return value
    return {"redacted": redact(text, secrets)}


# --- the session ------------------------------------------------------------------------------------------------


class HttpSession:
    """The HTTP calls of one token, which goes only to the origins that may receive it.

    Every call returns a :class:`Reply` (body fully read, at most ``MAX_REPLY_BYTES``) or raises a
    :class:`RunComfyError`; no httpx exception escapes. The httpx client (:attr:`client`) is built at its first
    use: a session whose calls all take the plain path never builds one.
    """

    def __init__(
        self,
        *,
        token: Token | None,
        trusted_origins: Iterable[str],
        timeout_s: float = DEFAULT_TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
        trace: TraceHook | None = None,
    ) -> None:
        self.token = token
        self.secrets: tuple[str, ...] = secret_forms(token.reveal()) if token else ()
        self._origins = frozenset(filter(None, (origin_key(url) for url in trusted_origins)))
        self._auth = _ScopedBearer(token, self._origins) if token else None
        self._client_args: dict[str, Any] = {
            "timeout": timeout_s,
            "transport": transport,
            "trace": trace,
            "secrets": self.secrets,
        }
        self._client: httpx.Client | None = None
        self._client_lock = threading.Lock()
        self._closed = False
        self._timeouts = (connect_timeout(timeout_s), timeout_s)
        # The plain path (see runcomfy.keepalive) only where it sends what httpx would: httpx keeps what a given
        # transport, a trace, a proxy from the environment or a token that is not plain ASCII needs (a token with
        # a control character, which would split a header, is refused where it is made: auth/credentials.py).
        plain = transport is None and trace is None and not proxy_in_environment()
        if token is not None and not token.reveal().isascii():
            plain = False
        self._plain = KeepAlivePool(tls=tls_context) if plain else None

    @property
    def client(self) -> httpx.Client:
        """The httpx client, built at its first use (a batch's workers may never need theirs); once the
        session is closed, a closed one (which refuses to send, as httpx does)."""
        client = self._client
        if client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = build_client(**self._client_args)
                    if self._closed:
                        self._client.close()
                client = self._client
        return client

    def __repr__(self) -> str:
        return f"HttpSession(token={'set' if self.token else 'unset'})"

    def send(
        self,
        method: str,
        url: str,
        *,
        json_body: Any = None,
        authenticated: bool = True,
        timeout_s: float | None = None,
    ) -> Reply:
        """Send one request and read the reply; map transport failures to the library's errors."""
        if authenticated and self._auth is None:
            raise NotAuthenticated(NOT_SIGNED_IN)
        content = None
        if json_body is not None:
            content = json.dumps(json_body, ensure_ascii=False, allow_nan=False).encode("utf-8")
        target = plain_target(url) if self._plain is not None else None
        try:
            if target is not None:
                return self._send_plain(target, method, url, content, authenticated, timeout_s)
            return self._send_httpx(method, url, content, authenticated, timeout_s)
        except httpx.TimeoutException as exc:
            raise APITimeoutError(f"{call_label(method, url)}: timed out ({type(exc).__name__})") from exc
        except (httpx.RequestError, httpx.InvalidURL, httpx.CookieConflict, httpx.StreamError) as exc:
            # Every httpx failure, including the kinds outside its HTTPError tree, becomes one of ours.
            reason = redact(strip_controls(str(exc) or type(exc).__name__, max_len=200), self.secrets)
            raise APIConnectionError(f"{call_label(method, url)}: {reason}") from exc
        except ReplyTooLarge:
            raise APIResponseError(
                f"{call_label(method, url)}: reply larger than {MAX_REPLY_BYTES} bytes"
            ) from None

    def _send_plain(
        self,
        target: Target,
        method: str,
        url: str,
        content: bytes | None,
        authenticated: bool,
        timeout_s: float | None,
    ) -> Reply:
        """The plain path (:mod:`runcomfy.keepalive`): the headers httpx would send, the token only to the
        configured origins, the same timeouts and cap, and a redirect's target held apart as httpx's hook does."""
        assert self._plain is not None
        headers = [*_PLAIN_HEADERS, *(_JSON_CONTENT if content is not None else ())]
        if authenticated and self.token is not None and target.origin_key in self._origins:
            headers.append(("Authorization", f"Bearer {self.token.reveal()}"))
        connect_s, timeout = self._timeouts if timeout_s is None else (timeout_s, timeout_s)
        plain = self._plain.request(
            target,
            method,
            headers,
            content,
            connect_timeout=connect_s,
            timeout=timeout,
            max_bytes=MAX_REPLY_BYTES,
        )
        reply_headers = httpx.Headers(plain.headers)
        location = take_location(plain.status, reply_headers)
        return Reply(method, url, plain.status, plain.reason, reply_headers, plain.content, location=location)

    def _send_httpx(
        self, method: str, url: str, content: bytes | None, authenticated: bool, timeout_s: float | None
    ) -> Reply:
        label = call_label(method, url)
        client = self.client
        request = client.build_request(
            method,
            url,
            headers=_JSON_CONTENT_TYPE if content is not None else {},
            content=content,
            timeout=httpx.USE_CLIENT_DEFAULT if timeout_s is None else timeout_s,
        )
        response = client.send(request, auth=self._auth if authenticated else None, stream=True)
        try:
            body = _read_capped(response, label)
        finally:
            response.close()
        return Reply(
            method,
            str(request.url),
            response.status_code,
            response.reason_phrase,
            response.headers,
            body,
            location=redirect_location(response),
        )

    def request_json(
        self,
        method: str,
        url: str,
        *,
        json_body: Any = None,
        authenticated: bool = True,
        request_id: str | None = None,
        timeout_s: float | None = None,
        allow_empty: bool = False,
    ) -> dict[str, Any]:
        """:meth:`send` then :func:`read_json`."""
        reply = self.send(method, url, json_body=json_body, authenticated=authenticated, timeout_s=timeout_s)
        return json_of_reply(reply, self.secrets, request_id=request_id, allow_empty=allow_empty)

    def close(self) -> None:
        if self._plain is not None:
            self._plain.close()
        with self._client_lock:
            self._closed, client = True, self._client
        if client is not None:
            client.close()


# What httpx sends with every request of a client built by build_client (without its optional brotli and zstd
# decoders, which add to Accept-Encoding): the plain path sends the same.
_PLAIN_HEADERS = (
    ("Accept", "*/*"),
    ("Accept-Encoding", "gzip, deflate"),
    ("Connection", "keep-alive"),
    ("User-Agent", USER_AGENT),
)
_JSON_CONTENT = (("Content-Type", "application/json"),)
_JSON_CONTENT_TYPE = dict(_JSON_CONTENT)


def call_label(method: str, url: str) -> str:
    """How messages name a call (made only when one is needed: the plain path's replies never need it)."""
    return f"{method} {url_for_messages(url)}"


def proxy_in_environment() -> bool:
    """Whether the environment (or the system's settings, where urllib reads them) names an HTTP proxy, as
    httpx reads it: then every call goes through httpx, which applies the proxy and ``NO_PROXY``."""
    proxies = urllib.request.getproxies()
    if any(host.strip() == "*" for host in proxies.get("no", "").split(",")):
        return False  # httpx ignores every proxy then
    return any(proxies.get(scheme) for scheme in ("http", "https", "all"))


def _read_capped(response: httpx.Response, label: str) -> bytes:
    chunks: list[bytes] = []
    total = 0
    for chunk in response.iter_bytes():
        total += len(chunk)
        if total > MAX_REPLY_BYTES:
            raise APIResponseError(f"{label}: reply larger than {MAX_REPLY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
