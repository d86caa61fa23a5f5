"""A "did you mean" for a mistyped model id: the closest ids, the on-disk index of catalog ids, the paging that
fills it within a time budget, and the rule that a suggestion never raises or waits long."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fake_time import FakeClock

from runcomfy import Client
from runcomfy.catalog import SchemaCache
from runcomfy.model_index import (
    DEFAULT_INDEX_TTL_S,
    IndexedIds,
    ModelIndex,
    closest_model_ids,
    fetch_model_ids,
    suggest_model_ids,
)

API = "https://model-api.runcomfy.net/v1"
NAMESPACE = API
GPT = "openai/gpt-image-2/text-to-image"
KONTEXT = "blackforestlabs/flux-1-kontext/pro/edit"
IDS = [
    GPT,
    "openai/gpt-image-2/edit",
    KONTEXT,
    "blackforestlabs/flux-1-kontext/max/edit",
    "wan-ai/wan-2-2/text-to-video",
    "runcomfy/emulator/echo",
]


class Catalog:
    """``GET /models`` over ``ids``, paged as the service pages it; every request is kept. ``on_call`` runs first
    (to move a fake clock, or raise as a dead network would)."""

    def __init__(self, ids: list[str], on_call: Callable[[httpx.Request], None] | None = None) -> None:
        self.ids = ids
        self.on_call = on_call
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.on_call is not None:
            self.on_call(request)
        assert request.url.path == "/v1/models"
        limit, offset = int(request.url.params["limit"]), int(request.url.params["offset"])
        page = [{"model_id": model_id} for model_id in self.ids[offset : offset + limit]]
        return httpx.Response(200, json={"models": page, "total": len(self.ids)})

    def timeouts(self) -> list[float]:
        """The read timeout each call was given."""
        return [request.extensions["timeout"]["read"] for request in self.requests]


def never_sleep(seconds: float) -> None:
    raise AssertionError(f"a suggestion must not retry, yet it slept {seconds}s")


def client_for(transport: Callable[[httpx.Request], httpx.Response]) -> Client:
    return Client(
        "rc-test-token",
        model_api_base=API,
        transport=httpx.MockTransport(transport),
        env={},
        sleep=never_sleep,
    )


@pytest.fixture
def wall() -> FakeClock:
    return FakeClock(start=1_000_000.0)


@pytest.fixture
def index(tmp_path: Path, wall: FakeClock) -> ModelIndex:
    return ModelIndex(tmp_path / "models", clock=wall)


# --- closest_model_ids --------------------------------------------------------------------------------------------


def test_a_typo_in_the_last_segment_suggests_the_real_id() -> None:
    assert closest_model_ids("openai/gpt-image-2/text-too-image", IDS)[0] == GPT


def test_a_wrong_case_suggests_the_id_as_the_catalog_spells_it() -> None:
    assert closest_model_ids("OpenAI/GPT-Image-2/Text-To-Image", IDS)[0] == GPT


def test_a_partial_id_suggests_the_ids_that_contain_it() -> None:
    assert closest_model_ids("flux-1-kontext", IDS) == [
        KONTEXT,
        "blackforestlabs/flux-1-kontext/max/edit",
    ]


def test_nothing_close_means_no_suggestion_and_never_more_than_three() -> None:
    assert closest_model_ids("no/such-model", IDS) == []
    many = [f"openai/gpt-image-2/text-to-image-v{n}" for n in range(10)]
    assert len(closest_model_ids("openai/gpt-image-2/text-to-imag", many)) == 3


def test_the_refused_id_itself_is_never_suggested() -> None:
    assert GPT not in closest_model_ids(GPT, IDS)


# --- ModelIndex ----------------------------------------------------------------------------------------------------


def test_the_index_round_trips_and_lives_in_a_private_directory(index: ModelIndex) -> None:
    index.put(NAMESPACE, [*IDS, IDS[0], "", 7, "x" * 400], complete=True)
    cached = index.get(NAMESPACE)
    assert cached is not None and cached.ids == tuple(IDS) and cached.complete
    assert stat.S_IMODE(index.directory.stat().st_mode) == 0o700
    assert index.get("https://another.example/v1") is None
    assert [p.name for p in index.directory.iterdir()] == [index.path_for(NAMESPACE).name]  # no temp left


def test_the_index_expires_after_its_ttl_and_a_future_stamp_is_expired(
    index: ModelIndex, wall: FakeClock
) -> None:
    index.put(NAMESPACE, IDS, complete=True)
    wall.now += DEFAULT_INDEX_TTL_S - 1
    assert index.get(NAMESPACE) is not None
    wall.now += 2
    assert index.get(NAMESPACE) is None
    index.put(NAMESPACE, IDS, complete=True)
    wall.now -= 60  # the clock went back
    assert index.get(NAMESPACE) is None


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{not json",
        b"[]",
        b'{"format": 1}',
        json.dumps({"format": 1, "ids": "x"}).encode(),
        b"\xff" * 10,
    ],
)
def test_a_corrupt_index_file_reads_as_not_cached(index: ModelIndex, content: bytes) -> None:
    path = index.path_for(NAMESPACE)
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    assert index.get(NAMESPACE) is None


def test_an_unwritable_directory_is_no_error(tmp_path: Path, wall: FakeClock) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    index = ModelIndex(blocker / "models", clock=wall)
    index.put(NAMESPACE, IDS, complete=True)
    index.add(NAMESPACE, IDS)
    assert index.get(NAMESPACE) is None


def test_ids_seen_in_passing_start_a_partial_index_and_never_renew_a_full_one(
    index: ModelIndex, wall: FakeClock
) -> None:
    index.add(NAMESPACE, IDS[:2])
    assert index.get(NAMESPACE) == IndexedIds(tuple(IDS[:2]), complete=False, saved_at=wall.now)
    index.put(NAMESPACE, IDS[:3], complete=True)
    saved_at = wall.now
    wall.now += 100
    index.add(NAMESPACE, ["new/model/id"])
    assert index.get(NAMESPACE) == IndexedIds((*IDS[:3], "new/model/id"), complete=True, saved_at=saved_at)


def test_the_index_shares_the_schema_cache_directory_without_clashing(index: ModelIndex) -> None:
    cache = SchemaCache(index.directory)
    index.put(NAMESPACE, IDS, complete=True)
    cache.put(NAMESPACE, GPT, {"model_id": GPT})
    assert cache.get(NAMESPACE, GPT) == {"model_id": GPT}
    assert index.get(NAMESPACE) is not None and cache.path_for(NAMESPACE, GPT) != index.path_for(NAMESPACE)


# --- fetching ------------------------------------------------------------------------------------------------------


def test_fetching_pages_through_the_whole_catalog_500_at_a_time() -> None:
    ids = [f"vendor/model-{n}" for n in range(1200)]
    catalog = Catalog(ids)
    with client_for(catalog) as client:
        fetched = fetch_model_ids(client, clock=FakeClock())
    assert fetched.ids == tuple(ids) and fetched.complete
    assert [dict(r.url.params) for r in catalog.requests] == [
        {"limit": "500", "offset": "0"},
        {"limit": "500", "offset": "500"},
        {"limit": "500", "offset": "1000"},
    ]


def test_a_slow_catalog_is_given_up_within_the_budget() -> None:
    clock = FakeClock()

    def slow(request: httpx.Request) -> None:
        clock.now += 1.5  # every page takes 1.5 s of the 2 s budget

    catalog = Catalog([f"vendor/model-{n}" for n in range(5000)], on_call=slow)
    with client_for(catalog) as client:
        fetched = fetch_model_ids(client, budget_s=2.0, clock=clock)
    assert not fetched.complete and len(fetched.ids) == 1000
    starts = [0.0, 1.5]
    assert len(catalog.requests) == 2
    for started, timeout in zip(starts, catalog.timeouts(), strict=True):
        assert 2 * timeout <= 2.0 - started  # connect + read fit in what was left
    assert clock.now == 3.0  # and no third call was started after the budget ran out


# --- suggest_model_ids ---------------------------------------------------------------------------------------------


def test_a_fresh_complete_index_answers_without_any_call(index: ModelIndex) -> None:
    index.put(NAMESPACE, IDS, complete=True)
    catalog = Catalog([])
    with client_for(catalog) as client:
        assert suggest_model_ids(client, index, NAMESPACE, "openai/gpt-image-2/text-too-image") == [GPT]
    assert catalog.requests == []


def test_without_a_complete_index_the_catalog_is_fetched_and_the_index_refreshed(index: ModelIndex) -> None:
    index.add(NAMESPACE, ["runcomfy/emulator/echo"])
    catalog = Catalog(IDS)
    with client_for(catalog) as client:
        assert suggest_model_ids(client, index, NAMESPACE, "openai/gpt-image-2/text-too-image") == [GPT]
        assert len(catalog.requests) == 1
        cached = index.get(NAMESPACE)
        assert cached is not None and cached.complete and cached.ids == tuple(IDS)
        suggest_model_ids(client, index, NAMESPACE, "blackforestlabs/flux-1-kontext/pro/edt")
    assert len(catalog.requests) == 1  # the second lookup used the index


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("connection refused"),
        httpx.ReadTimeout("timed out"),
    ],
)
def test_an_unreachable_catalog_gives_no_suggestion_after_one_try(
    index: ModelIndex, failure: httpx.HTTPError
) -> None:
    def fail(request: httpx.Request) -> None:
        raise failure

    catalog = Catalog(IDS, on_call=fail)
    with client_for(catalog) as client:
        assert suggest_model_ids(client, index, NAMESPACE, "openai/gpt-image-2/text-too-image") == []
    assert len(catalog.requests) == 1  # no retry, hence no backoff sleep either
    assert catalog.timeouts()[0] <= 1.0
    assert index.get(NAMESPACE) is None


def test_a_server_error_gives_no_suggestion_and_is_not_retried(index: ModelIndex) -> None:
    calls: list[httpx.Request] = []

    def busy(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(503, json={"message": "busy"})

    with client_for(busy) as client:
        assert suggest_model_ids(client, index, NAMESPACE, GPT) == []
    assert len(calls) == 1


def test_ids_seen_earlier_still_help_when_the_catalog_is_down(index: ModelIndex) -> None:
    index.add(NAMESPACE, [GPT])

    def down(request: httpx.Request) -> None:
        raise httpx.ConnectError("down")

    with client_for(Catalog([], on_call=down)) as client:
        assert suggest_model_ids(client, index, NAMESPACE, "openai/gpt-image-2/text-too-image") == [GPT]


class Exploding:
    """Anything that raises whatever is asked of it."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"boom: {name}")


def test_a_suggestion_never_raises_whatever_breaks() -> None:
    assert suggest_model_ids(Exploding(), Exploding(), NAMESPACE, GPT) == []  # type: ignore[arg-type]
    assert suggest_model_ids(Exploding(), None, NAMESPACE, GPT) == []  # type: ignore[arg-type]


# --- Client.list_models on a budget ----------------------------------------------------------------------------------


def test_list_models_passes_its_own_timeout_and_can_skip_retries() -> None:
    catalog = Catalog(IDS)
    with client_for(catalog) as client:
        client.list_models(timeout_s=0.75, retry=False)
        client.list_models()
    first, second = (r.extensions["timeout"] for r in catalog.requests)
    assert first == {"connect": 0.75, "read": 0.75, "write": 0.75, "pool": 0.75}
    assert second["read"] == 60.0
