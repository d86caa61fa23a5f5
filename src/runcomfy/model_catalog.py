"""The Model API's catalog calls: listing models, their categories, one model's record, and checking an input.

:class:`CatalogCalls` is part of :class:`~runcomfy.client.Client` (``client.list_models(...)``), kept in a module
of its own because the catalog is its own concern: its URLs, the bounds of its paging, the budget of a schema
fetch. The schema cache is :mod:`runcomfy.catalog`'s and the check itself :mod:`runcomfy.validation`'s. It never
prints.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httpx

from runcomfy.errors import APIResponseError, InvalidInput
from runcomfy.http import join_url, quote_model_id
from runcomfy.lifecycle.context import CallContext

if TYPE_CHECKING:
    from runcomfy.catalog import SchemaCache
    from runcomfy.validation import Problem

__all__ = ["MAX_MODELS_PAGE", "CatalogCalls"]

MAX_MODELS_PAGE = 500


class CatalogCalls:
    """The catalog calls of a client; they share its call context (session, retries, clock)."""

    _ctx: CallContext

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
        url = str(httpx.URL(join_url(self._ctx.base, "models"), params=params))

        return self._ctx.get_json(url, retry=retry, timeout_s=timeout_s)

    def model_categories(self) -> list[str]:
        """``GET {model_api_base}/models/categories``: the category names."""
        categories = self.catalog_categories().get("categories")
        if not isinstance(categories, list):
            url = join_url(self._ctx.base, "models", "categories")
            raise APIResponseError(f"GET {url}: the reply has no categories list")
        return [name for name in categories if isinstance(name, str)]

    def catalog_categories(self) -> dict[str, Any]:
        """``GET {model_api_base}/models/categories``: the raw payload, every key the service sent."""
        return self._ctx.get_json(join_url(self._ctx.base, "models", "categories"))

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
        model_id = model_id.strip().strip("/")
        url = join_url(self._ctx.base, "models", quote_model_id(model_id))
        namespace = cache_namespace or self._ctx.base
        if cache is not None and (cached := cache.get(namespace, model_id)) is not None:
            return cached
        record = self._ctx.get_json_within(url, budget_s=retry_window_s, timeout_s=timeout_s)
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
