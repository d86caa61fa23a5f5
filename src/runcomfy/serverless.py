"""RunComfy's Serverless API: ComfyUI deployments, their requests, their instances, and the account balance.

``Client.deployments`` is a :class:`Deployments`. A deployment serves one ComfyUI workflow version on chosen
hardware; its requests have the same lifecycle as Model API requests and use the same handle, wait loop,
retries, cancel and downloads (:mod:`runcomfy.lifecycle`, with :data:`~runcomfy.lifecycle.apis.DEPLOYMENT_API`).
This module owns the Serverless API's URLs and bodies: the CRUD of deployments (the API wants ``name`` on every
update, so it is fetched when not given), the inference body (``overrides``, ``workflow_api_json``,
``extra_data``) and its webhook query, and the instance proxy, whose answer may be anything the ComfyUI backend
sends. It never prints, prompts or exits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from runcomfy.errors import APIResponseError, InvalidInput
from runcomfy.http import (
    MAX_REPLY_BYTES,
    join_url,
    json_of_reply,
    quote_request_id,
    refuse_echoed_token,
    status_error,
)
from runcomfy.json_limits import loads_bounded
from runcomfy.lifecycle.apis import DEPLOYMENT_API
from runcomfy.lifecycle.context import CallContext
from runcomfy.lifecycle.handle import RequestHandle
from runcomfy.lifecycle.waiting import UpdateHook
from runcomfy.results import CancelOutcome, Result
from runcomfy.retry import should_retry_submit
from runcomfy.status import RequestStatus

__all__ = ["DEPLOYMENT_PREFIX", "HARDWARE_SKUS", "Deployments", "ProxyReply", "deployment_of"]

#: How a deployment's requests are named where a model id would stand (the journal, batch keys, records).
DEPLOYMENT_PREFIX = "deployment/"

HARDWARE_SKUS = (
    "TURING_16",
    "AMPERE_24",
    "AMPERE_48",
    "ADA_48_PLUS",
    "AMPERE_80",
    "ADA_80_PLUS",
    "HOPPER_141",
)
UPDATABLE = ("name", "workflow_version", "hardware", "min_instances", "max_instances", "queue_size")
QueryParams = list[tuple[str, str]]  # named here: inside Deployments, ``list`` is the method
DeploymentList = list[dict[str, Any]]


@dataclass(frozen=True)
class ProxyReply:
    """What a deployment instance's ComfyUI backend answered: its status, type and body as they came."""

    status_code: int
    content_type: str
    content: bytes

    def json(self) -> Any:
        """The body as JSON (raises ``ValueError`` when it is not)."""
        import json

        return json.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


class Deployments:
    """The Serverless API calls of one client (they share its session, retries and clock)."""

    def __init__(self, ctx: CallContext) -> None:
        self.ctx = ctx

    def __repr__(self) -> str:
        return f"Deployments(base={self.ctx.base!r})"

    # --- deployments ---------------------------------------------------------------------------------------

    def list(
        self, *, ids: Iterable[str] = (), include_payload: bool = False, include_readme: bool = False
    ) -> DeploymentList:
        """``GET /deployments``: every deployment of the account (or those of ``ids``)."""
        params = [("ids", i) for i in ids] + _includes(include_payload, include_readme)
        answer = self._get(self._url("deployments", params=params))
        if isinstance(answer, Mapping) and isinstance(answer.get("deployments"), list):
            answer = answer["deployments"]  # the official client tolerates this shape too
        if not isinstance(answer, list):
            raise APIResponseError(
                f"GET {join_url(self.ctx.base, 'deployments')}: expected a list of deployments"
            )
        return [item for item in answer if isinstance(item, dict)]

    def get(
        self, deployment_id: str, *, include_payload: bool = False, include_readme: bool = False
    ) -> dict[str, Any]:
        """``GET /deployments/{id}``; ``include_payload`` adds the workflow and its default overrides."""
        url = self._url("deployments", deployment_id, params=_includes(include_payload, include_readme))
        return _object(self._get(url), url)

    def create(
        self,
        *,
        name: str,
        workflow_id: str,
        workflow_version: str,
        hardware: str | Iterable[str] = "AMPERE_48",
        min_instances: int = 0,
        max_instances: int = 1,
        queue_size: int = 1,
        keep_warm_secs: int = 60,
    ) -> dict[str, Any]:
        """``POST /deployments``: a new deployment of a workflow version (the official CLI's defaults)."""
        body = {
            "name": name,
            "workflow_id": workflow_id,
            "workflow_version": workflow_version,
            "hardware": [hardware] if isinstance(hardware, str) else list(hardware),
            "min_instances": min_instances,
            "max_instances": max_instances,
            "queue_size": queue_size,
            "keep_warm_duration_in_seconds": keep_warm_secs,
        }
        url = self._url("deployments")
        return self.ctx.request_json("POST", url, json_body=body)

    def update(self, deployment_id: str, *, enabled: bool | None = None, **fields: Any) -> dict[str, Any]:
        """``PATCH /deployments/{id}`` with only the fields given (``name``, ``workflow_version``,
        ``hardware``, ``min_instances``, ``max_instances``, ``queue_size``, ``keep_warm_secs``) and ``enabled``.

        The API requires ``name`` on every update: when it is not given, it is read from the deployment first.
        Raises :class:`InvalidInput` when nothing is to change.
        """
        body: dict[str, Any] = {
            key: value for key, value in fields.items() if key in UPDATABLE and value is not None
        }
        unknown = sorted(set(fields) - {*UPDATABLE, "keep_warm_secs"})
        if unknown:
            raise InvalidInput(f"unknown deployment field(s): {', '.join(unknown)}")
        if fields.get("keep_warm_secs") is not None:
            body["keep_warm_duration_in_seconds"] = fields["keep_warm_secs"]
        if isinstance(body.get("hardware"), str):
            body["hardware"] = [body["hardware"]]
        if enabled is not None:
            body["is_enabled"] = enabled
        if not body:
            raise InvalidInput("nothing to update: give at least one field, --enable or --disable")
        if "name" not in body:
            body["name"] = self.get(deployment_id).get("name")
        return self.ctx.request_json("PATCH", self._url("deployments", deployment_id), json_body=body)

    def delete(self, deployment_id: str) -> dict[str, Any]:
        """``DELETE /deployments/{id}``; the service's answer (``{}`` when it sent none)."""
        return self.ctx.request_json("DELETE", self._url("deployments", deployment_id), allow_empty=True)

    # --- requests ------------------------------------------------------------------------------------------

    def submit(
        self,
        deployment_id: str,
        *,
        overrides: Mapping[str, Any] | None = None,
        workflow_api_json: Mapping[str, Any] | None = None,
        extra_data: Mapping[str, Any] | None = None,
        webhook_url: str | None = None,
        webhook_intermediate: bool = False,
    ) -> RequestHandle:
        """``POST /deployments/{id}/inference``: run the workflow once, with ``overrides`` (node id -> inputs)
        merged into it, or a whole ``workflow_api_json``. Retried only on 429 or when nothing was sent."""
        body: dict[str, Any] = {}
        for key, value in (
            ("overrides", overrides),
            ("workflow_api_json", workflow_api_json),
            ("extra_data", extra_data),
        ):
            if value is not None:
                if not isinstance(value, Mapping):
                    raise InvalidInput(f"{key} must be a JSON object")
                body[key] = dict(value)
        params: QueryParams = []
        if webhook_url:
            params.append(("webhook", webhook_url))
            if webhook_intermediate:
                params.append(("webhook_intermediate_status", "true"))
        url = self._url("deployments", deployment_id, "inference", params=params)
        payload = self.ctx.retrying(
            lambda: self.ctx.request_json("POST", url, json_body=body), retry_if=should_retry_submit
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
        return self.handle(deployment_id, request_id, urls=payload, raw=payload)

    def handle(
        self,
        deployment_id: str,
        request_id: str,
        *,
        urls: Mapping[str, Any] | None = None,
        raw: Mapping[str, Any] | None = None,
    ) -> RequestHandle:
        """A handle on a request of a deployment (to wait on, fetch or cancel it)."""
        quote_request_id(deployment_id)
        quote_request_id(request_id)
        return RequestHandle(
            self.ctx,
            request_id,
            api=DEPLOYMENT_API,
            model_id=DEPLOYMENT_PREFIX + deployment_id,
            urls=urls,
            scope={"deployment_id": deployment_id},
            raw=raw,
        )

    def status(self, deployment_id: str, request_id: str) -> RequestStatus:
        return self.handle(deployment_id, request_id).status()

    def result(self, deployment_id: str, request_id: str) -> Result:
        return self.handle(deployment_id, request_id).result()

    def cancel(self, deployment_id: str, request_id: str, *, timeout_s: float | None = None) -> CancelOutcome:
        return self.handle(deployment_id, request_id).cancel(timeout_s=timeout_s)

    def run(
        self,
        deployment_id: str,
        *,
        overrides: Mapping[str, Any] | None = None,
        workflow_api_json: Mapping[str, Any] | None = None,
        extra_data: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        on_update: UpdateHook | None = None,
        poll_interval_s: float = 2.0,
    ) -> Result:
        """Submit, wait and return the finished result; cancel (best effort) when ``timeout`` passes."""
        handle = self.submit(
            deployment_id, overrides=overrides, workflow_api_json=workflow_api_json, extra_data=extra_data
        )
        return handle.wait(
            timeout=timeout, on_update=on_update, poll_interval_s=poll_interval_s, cancel_on_timeout=True
        )

    # --- instances -----------------------------------------------------------------------------------------

    def proxy(self, deployment_id: str, instance_id: str, path: str, *, body: Any = None) -> ProxyReply:
        """``POST /deployments/{id}/instances/{instance}/proxy/{path}``: a call to the ComfyUI backend of a
        running instance (e.g. ``api/free``). Its answer is returned as it came; a non-2xx raises."""
        segments = [segment for segment in path.strip().lstrip("/").split("/") if segment]
        if not segments:
            raise InvalidInput("the proxy path is empty (e.g. api/free)")
        for segment in segments:
            quote_request_id(segment)  # no '..', '?', '#' or control characters: the path stays on this API
        url = self._url("deployments", deployment_id, "instances", instance_id, "proxy", *segments)
        reply = self.ctx.http.send("POST", url, json_body={} if body is None else body)
        if not reply.is_success:
            raise status_error(reply, secrets=self.ctx.secrets)
        return ProxyReply(reply.status_code, reply.headers.get("content-type", ""), reply.content)

    # --- the account ---------------------------------------------------------------------------------------

    def balance(self) -> dict[str, Any]:
        """``GET /balance``: ``{"balance_usd": ..., "currency": ...}`` (one wallet funds every API)."""
        url = self._url("balance")
        return _object(self._get(url), url)

    # --- plumbing ------------------------------------------------------------------------------------------

    def _url(self, *segments: str, params: QueryParams | None = None) -> str:
        """A URL on the Serverless base; every segment escaped as one path segment (ids can never change the
        path or the query)."""
        url = join_url(self.ctx.base, *(quote_request_id(segment) for segment in segments))
        return str(httpx.URL(url, params=params)) if params else url

    def _get(self, url: str) -> Any:
        """A GET, retried through transient failures, whose JSON answer may be an array (the deployment list)."""

        def once() -> Any:
            reply = self.ctx.http.send("GET", url)
            if reply.is_success and reply.content.lstrip().startswith(b"["):
                try:
                    items = loads_bounded(reply.content, max_chars=MAX_REPLY_BYTES)
                except ValueError:
                    raise APIResponseError(f"{reply.label}: the answer is not valid JSON") from None
                for item in items if isinstance(items, list) else []:
                    if isinstance(item, Mapping):
                        refuse_echoed_token(item, reply.label, self.ctx.secrets)
                return items
            return json_of_reply(reply, self.ctx.secrets)

        return self.ctx.retrying(once)


def deployment_of(recorded_as: str | None) -> str | None:
    """The deployment id in a name like ``deployment/<id>``, or None for a model id."""
    if recorded_as and recorded_as.startswith(DEPLOYMENT_PREFIX):
        return recorded_as[len(DEPLOYMENT_PREFIX) :] or None
    return None


def _includes(payload: bool, readme: bool) -> list[tuple[str, str]]:
    return [("includes", name) for name, wanted in (("payload", payload), ("readme", readme)) if wanted]


def _object(value: Any, url: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise APIResponseError(f"GET {url}: expected a JSON object")
    return value
