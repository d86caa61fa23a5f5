"""The library's front door: :class:`Client` (submit, status, result, cancel, run, whoami, the model catalog,
pre-flight validation, batches); one submitted request is a :class:`~runcomfy.handle.RequestHandle`.

Owns the Model API calls and what their replies mean; the resolution of token and base URLs with the CLI's
precedence (explicit argument > environment > token file > defaults); and the rule that every URL carrying the
token is built from the configured base (a server-supplied URL is used only when it has the same origin).
It must never print, prompt or exit, never write files itself (downloads live in ``downloads.py``, the request
record in ``journal.py``, the schema cache in ``catalog.py``), and never show the token in a ``repr`` or message.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import hmac
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import httpx

from runcomfy import config
from runcomfy.auth.credentials import Token, find_token
from runcomfy.auth.device import DeviceFlow
from runcomfy.errors import APIResponseError, InvalidInput, RunComfyError
from runcomfy.handle import RequestHandle
from runcomfy.http import (
    HttpSession,
    TraceHook,
    join_url,
    quote_model_id,
    quote_request_id,
    same_origin,
)
from runcomfy.json_limits import MAX_JSON_DEPTH, depth_exceeds
from runcomfy.polling import UpdateHook
from runcomfy.results import CancelOutcome, Result
from runcomfy.retry import RecoverHook, RetryHook, RetryPolicy, call_with_retries, should_retry_submit
from runcomfy.status import RequestStatus, parse_status

if TYPE_CHECKING:
    from runcomfy.batch.limiter import RateGate
    from runcomfy.batch.runner import BatchEvent, ItemRecord
    from runcomfy.catalog import SchemaCache
    from runcomfy.downloads import SavedFile
    from runcomfy.validation import Problem

__all__ = ["CancelOutcome", "Client", "RequestHandle", "Result"]

MAX_MODELS_PAGE = 500


class Client:
    """A RunComfy Model API client.

    ``token``/``model_api_base``/``web_base`` win over the environment (``RUNCOMFY_TOKEN``,
    ``RUNCOMFY_MODEL_API_BASE``, ``RUNCOMFY_WEB_BASE``), which wins over ``token.json`` and the defaults.
    ``max_retries`` caps tries of a transient failure (``None``: keep trying for ``retry_window_s``).
    ``sleep``/``clock``/``transport`` are the seams for tests; ``trace`` receives masked HTTP trace lines.
    ``on_retry`` hears of each retry of a transient failure (a :class:`~runcomfy.retry.RetryNotice`) and
    ``on_recovered(failed_attempts, seconds)`` of the success that ends it. ``look_up_token=False`` with no
    ``token`` makes a client without one (the device-code login needs none, and must work when the token file
    is broken).
    """

    def __init__(
        self,
        token: str | Token | None = None,
        *,
        model_api_base: str | None = None,
        web_base: str | None = None,
        timeout: float = 60.0,
        max_retries: int | None = None,
        retry_window_s: float = 300.0,
        transport: httpx.BaseTransport | None = None,
        env: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        trace: TraceHook | None = None,
        on_retry: RetryHook | None = None,
        on_recovered: RecoverHook | None = None,
        look_up_token: bool = True,
    ) -> None:
        env = os.environ if env is None else env
        self.model_api_base = _base(model_api_base, "model_api_base") or config.model_api_base(env)
        self.web_base = _base(web_base, "web_base") or config.web_base(env)
        self.token_warnings: tuple[str, ...] = ()
        if isinstance(token, str):
            token = Token(token, source="argument")
        elif token is None and look_up_token:
            lookup = find_token(env)
            token, self.token_warnings = lookup.token, lookup.warnings
        self.token_source = token.source if token else None
        self.retry_policy = RetryPolicy(
            max_attempts=None if max_retries is None else max_retries + 1, outage_window_s=retry_window_s
        )
        self.on_retry = on_retry
        self.on_recovered = on_recovered
        self._sleep, self._clock = sleep, clock
        self._http = HttpSession(
            token=token,
            trusted_origins=(self.model_api_base, self.web_base),
            timeout_s=timeout,
            transport=transport,
            trace=trace,
        )

    def __repr__(self) -> str:
        state = f"from {self.token_source}" if self.token_source else "unset"
        return f"Client(model_api_base={self.model_api_base!r}, web_base={self.web_base!r}, token={state})"

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    @property
    def has_token(self) -> bool:
        return self.token_source is not None

    @property
    def secrets(self) -> tuple[str, ...]:
        """The values this client must keep out of everything it shows or writes (the token): for code that
        builds names or messages from what a server sent."""
        return self._http.secrets

    def token_fingerprint(self, key: bytes) -> str | None:
        """An HMAC-SHA256 of the token under ``key`` (hex, 32 chars), or ``None`` without a token.

        Tells tokens apart (the journal scopes what it reuses by it) without the token leaving this object.
        """
        token = self._http.token
        if token is None:
            return None
        return hmac.new(key, token.reveal().encode(), hashlib.sha256).hexdigest()[:32]

    # --- the Model API ------------------------------------------------------------------------------------------

    def submit(self, model_id: str, input: Mapping[str, Any] | None = None) -> RequestHandle:
        """``POST {model_api_base}/models/{model_id}``; retried only on 429 or when no connection was made."""
        body = _check_input(input)
        url = join_url(self.model_api_base, "models", quote_model_id(model_id))
        payload = call_with_retries(
            lambda: self._http.request_json("POST", url, json_body=body),
            policy=self.retry_policy,
            sleep=self._sleep,
            clock=self._clock,
            retry_if=should_retry_submit,
            on_retry=self.on_retry,
        )
        request_id = payload.get("request_id")
        if not isinstance(request_id, str) or not request_id:
            raise APIResponseError(f"POST {url}: the reply has no request_id")
        try:
            quote_request_id(request_id)
        except InvalidInput as exc:
            raise APIResponseError(
                f"POST {url}: the service returned an unusable request_id ({exc})"
            ) from None
        return RequestHandle(
            self,
            request_id,
            model_id=model_id,
            status_url=payload.get("status_url"),
            result_url=payload.get("result_url"),
            cancel_url=payload.get("cancel_url"),
            raw=payload,
        )

    def handle(self, request_id: str) -> RequestHandle:
        """A handle on an existing request (to resume one submitted earlier)."""
        quote_request_id(request_id)
        return RequestHandle(self, request_id)

    def status(self, request_id: str, *, retry: bool = True, timeout_s: float | None = None) -> RequestStatus:
        """``GET /requests/{id}/status`` as a typed value; ``.payload`` holds the whole reply.

        ``retry=False`` and a short ``timeout_s`` suit a quick look at many requests (``requests list``).
        """
        handle = self.handle(request_id)
        if retry and timeout_s is None:
            return handle.status()
        payload = self._get_json(handle.status_url, request_id, retry=retry, timeout_s=timeout_s)
        return parse_status(payload)

    def result(self, request_id: str) -> Result:
        """``GET /requests/{id}/result``."""
        return self.handle(request_id).result()

    def cancel(self, request_id: str, *, timeout_s: float | None = None, retry: bool = True) -> CancelOutcome:
        """``POST /requests/{id}/cancel`` (no body)."""
        return self.handle(request_id).cancel(timeout_s=timeout_s, retry=retry)

    def run(
        self,
        model_id: str,
        input: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
        on_update: UpdateHook | None = None,
        poll_interval_s: float = 2.0,
        on_submitted: Callable[[RequestHandle], None] | None = None,
    ) -> Result:
        """Submit, wait and return the finished result; cancel (best effort) when ``timeout`` passes.

        ``on_submitted`` runs after submit and before the first poll: the place to record the request id.
        """
        handle = self.submit(model_id, input)
        if on_submitted is not None:
            on_submitted(handle)
        return handle.wait(
            timeout=timeout, on_update=on_update, poll_interval_s=poll_interval_s, cancel_on_timeout=True
        )

    def download(self, result: Result | Any, output_dir: str | os.PathLike[str]) -> list[SavedFile]:
        """Save every trusted file of a finished result (a :class:`Result` or its ``output`` value) into
        ``output_dir``; the saved files.

        Trusted: ``https`` subdomains of runcomfy.net/.com, and this client's own Model API origin (how an
        emulator's files are fetched). Untrusted URLs are never fetched; they are logged as a warning on the
        ``runcomfy.downloads`` logger. Raises :class:`DownloadError` when a trusted file cannot be saved (no
        partial file is left behind).
        """
        from runcomfy.downloads import download_outputs, origin_of
        from runcomfy.errors import DownloadError

        output = result.output if isinstance(result, Result) else result
        request_id = result.request_id if isinstance(result, Result) else None
        report = download_outputs(output, output_dir, trusted_origins=[origin_of(self.model_api_base)])
        if report.failed:
            url, error = report.failed[0]
            raise DownloadError(
                f"{len(report.failed)} file(s) could not be saved; first: {error}",
                url=url,
                request_id=request_id,
                hint=error.hint,
            )
        if not report.complete:
            raise DownloadError(
                "the output is too large or too deeply nested to look through completely; some files were "
                "not looked at",
                request_id=request_id,
            )
        return report.saved

    def run_many(
        self,
        model_id: str,
        inputs: Iterable[Mapping[str, Any]],
        *,
        concurrency: int = 4,
        on_update: Callable[[BatchEvent], None] | None = None,
        **options: Any,
    ) -> list[ItemRecord]:
        """Run many inputs of one model concurrently; records come back in input order.

        With ``journal=`` (a :class:`~runcomfy.journal.Journal`) and ``output_dir=``, a rerun of the same batch
        skips finished lines and resumes submitted ones instead of submitting them again (see
        :mod:`runcomfy.batch.runner`). Ctrl-C stops submitting, cancels what is in flight and raises
        :class:`~runcomfy.errors.Interrupted`.
        """
        from runcomfy.batch.runner import run_many

        return run_many(
            self,
            model_id,
            [dict(item) for item in inputs],
            concurrency=concurrency,
            on_update=on_update,
            **options,
        )

    @contextlib.contextmanager
    def _batch_mode(self, stop: threading.Event, gate: RateGate) -> Iterator[None]:
        """While a batch runs: sleeps end early (raising ``BatchStopped``) once ``stop`` is set, and every HTTP
        call passes the shared rate gate."""
        from runcomfy.batch.runner import BatchStopped

        original = self._sleep

        def sleep(seconds: float) -> None:
            if stop.wait(seconds):
                raise BatchStopped

        hooks = self._http.client.event_hooks
        hooks["request"].append(gate.on_request)
        hooks["response"].append(gate.on_response)
        self._sleep = sleep
        try:
            yield
        finally:
            self._sleep = original
            hooks["request"].remove(gate.on_request)
            hooks["response"].remove(gate.on_response)

    # --- the catalog ----------------------------------------------------------------------------------------------

    def list_models(
        self,
        *,
        search: str | None = None,
        category: str | None = None,
        kind: str | None = None,
        limit: int = 100,
        offset: int = 0,
        include_schema: bool = False,
        timeout_s: float | None = None,
        retry: bool = True,
    ) -> dict[str, Any]:
        """``GET {model_api_base}/models``: the raw page, ``{"models": [...], "total": N, ...}``.

        ``limit`` is 1-500 and ``offset`` >= 0 (the service's bounds, checked here before any call); empty or
        ``None`` filters are left out of the query. ``timeout_s`` and ``retry=False`` are for callers on a
        time budget (a "did you mean" lookup must give up in seconds, not ride out an outage).
        """
        if not 1 <= limit <= MAX_MODELS_PAGE or offset < 0:
            raise InvalidInput(f"limit must be 1-{MAX_MODELS_PAGE} and offset >= 0 (got {limit}, {offset})")
        params: dict[str, str | int] = {"limit": limit, "offset": offset}
        filters = {"search": search, "category": category, "kind": kind}
        params.update({name: value for name, value in filters.items() if value})
        if include_schema:
            params["include_schema"] = "true"
        url = str(httpx.URL(join_url(self.model_api_base, "models"), params=params))

        def once() -> dict[str, Any]:
            return self._http.request_json("GET", url, timeout_s=timeout_s)

        return self._retrying(once) if retry else once()

    def model_categories(self) -> list[str]:
        """``GET {model_api_base}/models/categories``: the category names."""
        categories = self.catalog_categories().get("categories")
        if not isinstance(categories, list):
            url = join_url(self.model_api_base, "models", "categories")
            raise APIResponseError(f"GET {url}: the reply has no categories list")
        return [name for name in categories if isinstance(name, str)]

    def catalog_categories(self) -> dict[str, Any]:
        """``GET {model_api_base}/models/categories``: the raw payload, every key the service sent."""
        return self._get_json(join_url(self.model_api_base, "models", "categories"), None)

    def get_model(
        self,
        model_id: str,
        *,
        cache: SchemaCache | None = None,
        cache_namespace: str | None = None,
        retry_window_s: float | None = None,
        timeout_s: float | None = None,
    ) -> dict[str, Any]:
        """``GET {model_api_base}/models/{model_id}``: the model's record with its ``input_schema``.

        With ``cache``, a fresh cached record is returned without any call, and a fetched one is stored, under
        ``cache_namespace`` (default: this client's Model API base, so an emulator never shadows the service).
        A 404 raises :class:`~runcomfy.errors.NotFoundError`. ``retry_window_s`` is a budget for the whole
        fetch: retries stop when it is spent, and each call's timeout is no longer than what is left of it (a
        pre-flight check should give up in seconds, not the polling's minutes, even when a server stalls).
        ``timeout_s`` caps the timeout of each call as in :meth:`list_models`.
        """
        from runcomfy.errors import APITimeoutError

        min_call_s = 0.05  # a call given less time than this cannot succeed: better not to send it
        model_id = model_id.strip().strip("/")
        url = join_url(self.model_api_base, "models", quote_model_id(model_id))
        namespace = cache_namespace or self.model_api_base
        if cache is not None and (cached := cache.get(namespace, model_id)) is not None:
            return cached
        policy = None
        deadline = None
        if retry_window_s is not None:
            policy = dataclasses.replace(
                self.retry_policy, outage_window_s=retry_window_s, max_retry_after_s=retry_window_s
            )
            deadline = self._clock() + retry_window_s
        failures: list[RunComfyError] = []

        def once() -> dict[str, Any]:
            timeout = timeout_s
            if deadline is not None:
                left = deadline - self._clock()
                if left < min_call_s:  # the budget is spent: the last real failure says why
                    raise failures[-1] if failures else APITimeoutError(f"GET {url}: no time left to try")
                timeout = left if timeout is None else min(timeout, left)
            try:
                return self._http.request_json("GET", url, timeout_s=timeout)
            except RunComfyError as exc:
                failures.append(exc)
                raise

        record = call_with_retries(
            once,
            policy=policy or self.retry_policy,
            sleep=self._sleep,
            clock=self._clock,
            deadline=deadline,
            on_retry=self.on_retry,
            on_recovered=self.on_recovered,
        )
        if cache is not None:
            cache.put(namespace, model_id, record)
        return record

    def validate(
        self,
        model_id: str,
        input: Mapping[str, Any],
        *,
        cache: SchemaCache | None = None,
        cache_namespace: str | None = None,
    ) -> list[Problem]:
        """Every problem of ``input`` against the model's input schema (``[]``: it fits, or the model publishes
        no usable schema). Fetching the schema may raise like :meth:`get_model`. What the check had to skip (a
        ``$ref`` outside the schema, which is never fetched; a pattern that took too long) is logged as a
        warning on the ``runcomfy.validation`` logger; :func:`runcomfy.validation.check_input_report` returns
        it instead."""
        from runcomfy.validation import check_input

        record = self.get_model(model_id, cache=cache, cache_namespace=cache_namespace)
        schema = record.get("input_schema")
        if not isinstance(schema, Mapping):
            return []
        return check_input(schema, input)

    def whoami(self) -> dict[str, Any]:
        """``GET {web_base}/api/auth/me``: the signed-in user (``id``, ``email``, ``token_type``, ...)."""
        return self._get_json(join_url(self.web_base, "api/auth/me"), None)

    def device_flow(self) -> DeviceFlow:
        """The device-code login protocol on this client's web base (no token is sent)."""
        return DeviceFlow(self._http, self.web_base, sleep=self._sleep, clock=self._clock)

    # --- internals shared with RequestHandle ---------------------------------------------------------------------

    def _trusted_url(self, candidate: object, request_id: str, action: str) -> str:
        built = join_url(self.model_api_base, "requests", quote_request_id(request_id), action)
        return (
            candidate if isinstance(candidate, str) and same_origin(candidate, self.model_api_base) else built
        )

    def _get_json(
        self,
        url: str,
        request_id: str | None,
        *,
        retry: bool = True,
        policy: RetryPolicy | None = None,
        timeout_s: float | None = None,
    ) -> dict[str, Any]:
        """One GET through the funnel, retried through transient errors unless ``retry`` is false."""

        def once() -> dict[str, Any]:
            return self._http.request_json("GET", url, request_id=request_id, timeout_s=timeout_s)

        return self._retrying(once, request_id=request_id, policy=policy) if retry else once()

    def _retrying(
        self,
        fn: Callable[[], dict[str, Any]],
        *,
        request_id: str | None = None,
        policy: RetryPolicy | None = None,
    ) -> dict[str, Any]:
        try:
            return call_with_retries(
                fn,
                policy=policy or self.retry_policy,
                sleep=self._sleep,
                clock=self._clock,
                on_retry=self.on_retry,
                on_recovered=self.on_recovered,
            )
        except RunComfyError as exc:
            if exc.request_id is None:
                exc.request_id = request_id
            raise

    def _fetch_status(self, url: str, request_id: str, *, retry: bool = True) -> RequestStatus:
        return parse_status(self._get_json(url, request_id, retry=retry))

    def _fetch_result(self, url: str, request_id: str, *, retry: bool = True) -> Result:
        return Result.from_payload(self._get_json(url, request_id, retry=retry), request_id=request_id)

    def _send_cancel(
        self, url: str, request_id: str, *, timeout_s: float | None, retry: bool
    ) -> CancelOutcome:
        def once() -> dict[str, Any]:
            return self._http.request_json(
                "POST", url, request_id=request_id, timeout_s=timeout_s, allow_empty=True
            )

        payload = self._retrying(once, request_id=request_id) if retry else once()
        return CancelOutcome.from_payload(payload, request_id=request_id)


def _base(value: str | None, name: str) -> str | None:
    return None if value is None else config.normalize_base_url(value, name=name)


def _check_input(value: Mapping[str, Any] | None) -> dict[str, Any]:
    """The request body: a JSON object, bounded in depth, that JSON can represent (no NaN, no sets)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInput(f"input must be a JSON object, got {type(value).__name__}")
    body = dict(value)
    if depth_exceeds(body, MAX_JSON_DEPTH):
        raise InvalidInput(f"input is nested more than {MAX_JSON_DEPTH} levels deep")
    try:
        json.dumps(body, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidInput(f"input cannot be sent as JSON: {exc}") from None
    return body
