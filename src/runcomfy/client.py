"""The library's front door: :class:`Client` (submit, status, result, cancel, run, whoami, the model catalog,
pre-flight validation, batches); one submitted request is a :class:`~runcomfy.lifecycle.handle.RequestHandle`.

Owns the resolution of token and base URLs with the CLI's precedence (explicit argument > environment > token
file > defaults), the Model API's submit and catalog calls, and building the :class:`CallContext` that every
handle and wait shares (session, base, retry policy, clock, hooks). What a request's lifecycle looks like is
:mod:`runcomfy.lifecycle`'s. It must never print, prompt or exit, never write files itself (downloads live in
``downloads/``, the request record in ``journal.py``, the schema cache in ``catalog.py``), and never show the
token in a ``repr`` or message.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import hmac
import json
import os
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import httpx

from runcomfy import config
from runcomfy.auth.credentials import Token, find_token
from runcomfy.auth.device import DeviceFlow
from runcomfy.errors import APIResponseError, InvalidInput
from runcomfy.http import HttpSession, TraceHook, join_url, quote_model_id, quote_request_id
from runcomfy.json_limits import MAX_JSON_DEPTH, depth_exceeds
from runcomfy.lifecycle.apis import MODEL_API
from runcomfy.lifecycle.context import CallContext, RateGate
from runcomfy.lifecycle.handle import RequestHandle
from runcomfy.lifecycle.waiting import UpdateHook
from runcomfy.model_catalog import CatalogCalls
from runcomfy.results import CancelOutcome, Result
from runcomfy.retry import RecoverHook, RetryHook, RetryPolicy, should_retry_submit
from runcomfy.serverless import Deployments
from runcomfy.status import RequestStatus

if TYPE_CHECKING:
    from runcomfy.batch.runner import BatchEvent, ItemRecord
    from runcomfy.datasets import Datasets
    from runcomfy.downloads import Origin, SavedFile
    from runcomfy.journal import Journal
    from runcomfy.training import Training

__all__ = ["CancelOutcome", "Client", "RequestHandle", "Result"]

DEFAULT_HTTP_TIMEOUT_S = 60.0
_UNSET: Any = object()


class Client(CatalogCalls):
    """A RunComfy Model API client.

    ``token`` and the bases win over the environment (``RUNCOMFY_TOKEN``, ``RUNCOMFY_MODEL_API_BASE``,
    ``RUNCOMFY_WEB_BASE``, ``RUNCOMFY_SERVERLESS_API_BASE``), which wins over ``token.json`` and the defaults.
    The token is sent to those origins only.
    ``http_timeout_s`` bounds one HTTP call (a whole wait is bounded by ``run(timeout=...)``).
    ``max_retries`` caps tries of a transient failure (``None``: keep trying for ``retry_window_s``).
    ``sleep``/``clock``/``transport`` are the seams for tests; ``trace`` receives masked HTTP trace lines.
    ``on_retry`` hears of each retry of a transient failure (a :class:`~runcomfy.retry.RetryNotice`) and
    ``on_recovered(failed_attempts, seconds)`` of the success that ends it. ``look_up_token=False`` with no
    ``token`` makes a client without one (the device-code login needs none, and must work when the token file
    is broken). :meth:`with_options` gives a client with other settings that shares the connection pool. The
    catalog calls (``list_models``, ``get_model``, ``validate``...) are in :mod:`runcomfy.model_catalog`.
    """

    def __init__(
        self,
        token: str | Token | None = None,
        *,
        model_api_base: str | None = None,
        web_base: str | None = None,
        serverless_api_base: str | None = None,
        trainer_api_base: str | None = None,
        http_timeout_s: float = DEFAULT_HTTP_TIMEOUT_S,
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
        timeout: float = _UNSET,
    ) -> None:
        if timeout is not _UNSET:
            warnings.warn(
                "Client(timeout=...) is now Client(http_timeout_s=...): it bounds one HTTP call, not a wait",
                DeprecationWarning,
                stacklevel=2,
            )
            http_timeout_s = timeout
        env = os.environ if env is None else env
        self.model_api_base = _base(model_api_base, "model_api_base") or config.model_api_base(env)
        self.web_base = _base(web_base, "web_base") or config.web_base(env)
        self.serverless_api_base = _base(
            serverless_api_base, "serverless_api_base"
        ) or config.serverless_api_base(env)
        self.trainer_api_base = _base(trainer_api_base, "trainer_api_base") or config.trainer_api_base(env)
        self.token_warnings: tuple[str, ...] = ()
        if isinstance(token, str):
            token = Token(token, source="argument")
        elif token is None and look_up_token:
            lookup = find_token(env)
            token, self.token_warnings = lookup.token, lookup.warnings
        self.token_source = token.source if token else None
        # What the session is made of: with_own_pool() makes another like it.
        self._session_args: dict[str, Any] = {
            "token": token,
            "trusted_origins": (
                self.model_api_base,
                self.web_base,
                self.serverless_api_base,
                self.trainer_api_base,
            ),
            "timeout_s": http_timeout_s,
            "transport": transport,
            "trace": trace,
        }
        self._http = HttpSession(**self._session_args)
        self._owns_http = True
        policy = RetryPolicy(
            max_attempts=None if max_retries is None else max_retries + 1, outage_window_s=retry_window_s
        )
        self._ctx = CallContext(
            self._http,
            self.model_api_base,
            policy,
            sleep,
            clock,
            on_retry=on_retry,
            on_recovered=on_recovered,
        )

    def __repr__(self) -> str:
        state = f"from {self.token_source}" if self.token_source else "unset"
        return f"Client(model_api_base={self.model_api_base!r}, web_base={self.web_base!r}, token={state})"

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool (a client made by :meth:`with_options` leaves it to its origin)."""
        if self._owns_http:
            self._http.close()

    def with_options(
        self,
        *,
        retry_window_s: float | None = None,
        max_retries: int | None = _UNSET,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
        on_retry: RetryHook | None = _UNSET,
        on_recovered: RecoverHook | None = _UNSET,
        rate_gate: RateGate | None = _UNSET,
    ) -> Client:
        """A client with other settings that shares this one's session and connection pool.

        What a batch needs (a sleep that ends when the batch stops, a rate gate all its workers share) is set on
        its own copy, so another thread using this client is not slowed by the batch's gate.
        """
        changes: dict[str, Any] = {}
        if retry_window_s is not None:
            changes["policy"] = dataclasses.replace(self._ctx.policy, outage_window_s=retry_window_s)
        if max_retries is not _UNSET:
            policy = changes.get("policy", self._ctx.policy)
            attempts = None if max_retries is None else max_retries + 1
            changes["policy"] = dataclasses.replace(policy, max_attempts=attempts)
        if sleep is not None:
            changes["sleep"] = sleep
        if clock is not None:
            changes["clock"] = clock
        kept: dict[str, object] = {"on_retry": on_retry, "on_recovered": on_recovered, "gate": rate_gate}
        changes.update({name: value for name, value in kept.items() if value is not _UNSET})
        twin = copy.copy(self)
        twin._ctx = self._ctx.replace(**changes)
        twin._owns_http = False
        return twin

    def with_own_pool(self) -> Client:
        """A client like this one (same settings, token and hooks) with a connection pool of its own, which
        its :meth:`close` closes.

        A batch gives one to each of its workers: sixteen threads sharing one pool queue on its lock and each
        call looks over every connection in it, which cost more CPU than the call itself. A client given its own
        ``transport`` (tests) shares it instead, as :meth:`with_options` does: closing a copy must not close it.
        """
        if self._session_args["transport"] is not None:
            return self.with_options()
        twin = copy.copy(self)
        twin._http = HttpSession(**self._session_args)
        twin._ctx = self._ctx.replace(http=twin._http)
        twin._owns_http = True
        return twin

    @property
    def retry_policy(self) -> RetryPolicy:
        """How transient failures are retried (see :class:`~runcomfy.retry.RetryPolicy`)."""
        return self._ctx.policy

    @property
    def context(self) -> CallContext:
        """What every call of this client shares; handles of other queue APIs are built on it."""
        return self._ctx

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
        payload = self._ctx.retrying(
            lambda: self._ctx.request_json("POST", url, json_body=body), retry_if=should_retry_submit
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
        return RequestHandle(self._ctx, request_id, model_id=model_id, urls=payload, raw=payload)

    def handle(self, request_id: str) -> RequestHandle:
        """A handle on an existing request (to resume one submitted earlier)."""
        quote_request_id(request_id)
        return RequestHandle(self._ctx, request_id, api=MODEL_API)

    def status(self, request_id: str, *, retry: bool = True, timeout_s: float | None = None) -> RequestStatus:
        """``GET /requests/{id}/status`` as a typed value; ``.payload`` holds the whole reply.

        ``retry=False`` and a short ``timeout_s`` suit a quick look at many requests (``requests list``).
        """
        return self.handle(request_id).status(retry=retry, timeout_s=timeout_s)

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

    def download(
        self,
        result: Result | Any,
        output_dir: str | os.PathLike[str],
        *,
        known_files: Iterable[SavedFile | Mapping[str, Any]] = (),
    ) -> list[SavedFile]:
        """Save every trusted file of a finished result (a :class:`Result` or its ``output`` value) into
        ``output_dir``; the files, saved now or earlier.

        Trusted: ``https`` subdomains of runcomfy.net/.com, and this client's own Model API and Serverless API
        origins (how an emulator's files are fetched). Untrusted URLs are never fetched; they are logged as a warning on the
        ``runcomfy.downloads`` logger. ``known_files`` (what an earlier call returned) are not fetched again
        while they are on disk with their sha256. Raises :class:`DownloadError` when a trusted file cannot be
        saved (no partial file is left behind).
        """
        from runcomfy.downloads import download_outputs, origin_of, saved_earlier
        from runcomfy.errors import DownloadError

        output = result.output if isinstance(result, Result) else result
        request_id = result.request_id if isinstance(result, Result) else None
        report = download_outputs(
            output,
            output_dir,
            trusted_origins=list(
                dict.fromkeys(
                    origin_of(base)
                    for base in (self.model_api_base, self.serverless_api_base, self.trainer_api_base)
                )
            ),
            already_saved=saved_earlier(known_files),
            hidden=self.secrets,
        )
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
        return [*report.reused, *report.saved]

    def run_many(
        self,
        model_id: str,
        inputs: Iterable[Mapping[str, Any]],
        *,
        concurrency: int = 4,
        output_dir: str | os.PathLike[str] | None = None,
        journal: Journal | None = None,
        restart: bool = False,
        retry_failed: bool = False,
        poll_interval_s: float = 2.0,
        timeout: float | None = None,
        trusted_origins: Iterable[Origin] | None = None,
        on_update: Callable[[BatchEvent], None] | None = None,
    ) -> list[ItemRecord]:
        """Run many inputs of one model concurrently; records come back in input order.

        With ``journal`` (a :class:`~runcomfy.journal.Journal`) and ``output_dir``, a rerun of the same batch
        skips finished lines and resumes submitted ones instead of submitting them again (see
        :mod:`runcomfy.batch.runner`); ``retry_failed`` submits the lines that ended failed, cancelled or timed
        out again. Files are trusted on RunComfy's hosts and this client's own origin unless
        ``trusted_origins`` says otherwise. Ctrl-C stops submitting, cancels what is in flight and raises
        :class:`~runcomfy.errors.Interrupted`.
        """
        from runcomfy.batch.inputs import BatchInput
        from runcomfy.batch.runner import BatchRun

        items = [BatchInput(number, dict(item)) for number, item in enumerate(inputs, start=1)]
        run = BatchRun(
            self,
            model_id,
            items,
            concurrency=concurrency,
            output_dir=output_dir,
            journal=journal,
            restart=restart,
            retry_failed=retry_failed,
            poll_interval_s=poll_interval_s,
            timeout=timeout,
            trusted_origins=trusted_origins,
            on_update=on_update,
        )
        return run.run()

    # --- the Serverless API (see runcomfy.serverless) ------------------------------------------------------------

    @property
    def deployments(self) -> Deployments:
        """ComfyUI deployments: CRUD, runs (handles with the same lifecycle as Model API requests), the proxy."""
        return Deployments(self._ctx.replace(base=self.serverless_api_base))

    @property
    def datasets(self) -> Datasets:
        """Training datasets (Trainer API): create, list, status, delete, upload, wait."""
        from runcomfy.datasets import Datasets

        return Datasets(
            self._ctx.replace(base=self.trainer_api_base),
            api_bases=(self.model_api_base, self.serverless_api_base, self.trainer_api_base),
        )

    @property
    def training(self) -> Training:
        """AI Toolkit training jobs (Trainer API): submit, status, result, cancel, resume, edit, wait, download."""
        from runcomfy.training import Training

        return Training(
            self._ctx.replace(base=self.trainer_api_base),
            api_bases=(self.model_api_base, self.serverless_api_base, self.trainer_api_base),
        )

    def balance(self) -> dict[str, Any]:
        """``GET {serverless_api_base}/balance``: ``{"balance_usd": ..., "currency": ...}``."""
        return self.deployments.balance()

    def whoami(self) -> dict[str, Any]:
        """``GET {web_base}/api/auth/me``: the signed-in user (``id``, ``email``, ``token_type``, ...)."""
        return self._ctx.get_json(join_url(self.web_base, "api/auth/me"))

    def device_flow(self) -> DeviceFlow:
        """The device-code login protocol on this client's web base (no token is sent)."""
        return DeviceFlow(self._http, self.web_base, sleep=self._ctx.sleep, clock=self._ctx.clock)


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
