"""The catalog: client calls on httpx.MockTransport, the on-disk schema cache, and inputs as table rows."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest
from fake_time import FakeClock

from runcomfy import Client, config, errors
from runcomfy.catalog import InputRow, SchemaCache, input_rows
from runcomfy.emulator.catalog import CATALOG
from runcomfy.emulator.probes import ECHO_ID, SIZED_ID
from runcomfy.emulator.standins import GPT_IMAGE_ID, KONTEXT_ID, VIDEO_ID

API = "https://model-api.runcomfy.net/v1"


class FakeCatalog:
    """Serves the emulator's catalog records; every request is kept for assertions."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.faults: list[httpx.Response] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.faults:
            return self.faults.pop(0)
        path = request.url.path
        if path == "/v1/models":
            models = [m.record(include_schema=False) for m in CATALOG.values()]
            return httpx.Response(200, json={"models": models, "total": len(models)})
        if path == "/v1/models/categories":
            return httpx.Response(200, json={"categories": ["image", "video", 7]})
        model_id = request.url.path.removeprefix("/v1/models/")
        model = CATALOG.get(model_id)
        if model is None:
            return httpx.Response(404, json={"error_code": 404001, "message": f"Model {model_id} not found"})
        return httpx.Response(200, json=model.record(include_schema=True))


class WallClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def api() -> FakeCatalog:
    return FakeCatalog()


def client_for(api: FakeCatalog, **kwargs: Any) -> Client:
    return Client(
        token="rc-test-token",
        model_api_base=API,
        transport=httpx.MockTransport(api),
        env={},
        sleep=lambda _s: None,
        **kwargs,
    )


# --- config.cache_dir -------------------------------------------------------------------------------------------


def test_cache_dir_prefers_runcomfy_cache_dir_then_xdg_then_home() -> None:
    assert config.cache_dir({"RUNCOMFY_CACHE_DIR": "/c", "XDG_CACHE_HOME": "/x"}) == Path("/c")
    assert config.cache_dir({"XDG_CACHE_HOME": "/x", "HOME": "/h"}) == Path("/x/runcomfy")
    assert config.cache_dir({"HOME": "/h"}) == Path("/h/.cache/runcomfy")
    assert config.cache_dir({"RUNCOMFY_CACHE_DIR": "  ", "HOME": "/h"}) == Path("/h/.cache/runcomfy")


# --- list_models / model_categories -----------------------------------------------------------------------------


def test_list_models_sends_paging_and_filters_as_encoded_query_parameters(api: FakeCatalog) -> None:
    with client_for(api) as client:
        page = client.list_models(search="red hat & more", category="image", kind="model", limit=5, offset=10)
    assert page["total"] == len(CATALOG)
    (request,) = api.requests
    assert request.url.path == "/v1/models"
    assert dict(request.url.params) == {
        "limit": "5",
        "offset": "10",
        "search": "red hat & more",
        "category": "image",
        "kind": "model",
    }
    assert b"red+hat+%26+more" in request.url.query or b"red%20hat%20%26%20more" in request.url.query


def test_list_models_defaults_omit_filters_and_include_schema_only_when_asked(api: FakeCatalog) -> None:
    with client_for(api) as client:
        client.list_models()
        client.list_models(include_schema=True, search="")
    assert dict(api.requests[0].url.params) == {"limit": "100", "offset": "0"}
    assert dict(api.requests[1].url.params) == {"limit": "100", "offset": "0", "include_schema": "true"}


@pytest.mark.parametrize(("limit", "offset"), [(0, 0), (501, 0), (10, -1)])
def test_list_models_refuses_out_of_range_paging_before_any_call(
    api: FakeCatalog, limit: int, offset: int
) -> None:
    with client_for(api) as client, pytest.raises(errors.InvalidInput, match="limit must be 1-500"):
        client.list_models(limit=limit, offset=offset)
    assert api.requests == []


def test_list_models_is_retried_through_a_transient_server_error(api: FakeCatalog) -> None:
    api.faults.append(httpx.Response(503, json={"message": "busy"}))
    with client_for(api, max_retries=2) as client:
        page = client.list_models()
    assert "models" in page
    assert len(api.requests) == 2


def test_model_categories_returns_the_names_and_drops_non_strings(api: FakeCatalog) -> None:
    with client_for(api) as client:
        assert client.model_categories() == ["image", "video"]
    assert api.requests[0].url.path == "/v1/models/categories"


def test_model_categories_without_a_list_is_a_response_error(api: FakeCatalog) -> None:
    api.faults.append(httpx.Response(200, json={"nope": 1}))
    with client_for(api) as client, pytest.raises(errors.APIResponseError, match="no categories"):
        client.model_categories()


# --- get_model ---------------------------------------------------------------------------------------------------


def test_get_model_trims_the_id_and_keeps_slashes_in_the_path(api: FakeCatalog) -> None:
    with client_for(api) as client:
        record = client.get_model(f"  /{KONTEXT_ID}/ ")
    assert record["model_id"] == KONTEXT_ID
    assert record["input_schema"] == CATALOG[KONTEXT_ID].input_schema
    assert api.requests[0].url.raw_path == f"/v1/models/{KONTEXT_ID}".encode()


def test_get_model_percent_encodes_each_segment(api: FakeCatalog) -> None:
    with client_for(api) as client, pytest.raises(errors.NotFoundError):
        client.get_model("vendor/model%+é/v1")
    assert api.requests[0].url.raw_path == b"/v1/models/vendor/model%25%2B%C3%A9/v1"


@pytest.mark.parametrize("bad", ["no-slash", "a/../b", "a/b?x=1", "a/b#f", "a/b c"])
def test_get_model_refuses_ids_that_would_change_the_url(api: FakeCatalog, bad: str) -> None:
    with client_for(api) as client, pytest.raises(errors.InvalidInput):
        client.get_model(bad)
    assert api.requests == []


def test_get_model_of_an_unknown_model_raises_not_found(api: FakeCatalog) -> None:
    with client_for(api) as client, pytest.raises(errors.NotFoundError) as caught:
        client.get_model("nobody/nothing")
    assert caught.value.status_code == 404


def test_second_get_model_with_a_cache_makes_no_http_call(api: FakeCatalog, tmp_path: Path) -> None:
    cache = SchemaCache(tmp_path / "cache", clock=WallClock())
    with client_for(api) as client:
        first = client.get_model(GPT_IMAGE_ID, cache=cache)
        second = client.get_model(f"/{GPT_IMAGE_ID}", cache=cache)
    assert first == second
    assert len(api.requests) == 1


def test_cached_record_expires_after_the_ttl(api: FakeCatalog, tmp_path: Path) -> None:
    clock = WallClock()
    cache = SchemaCache(tmp_path, ttl_s=600, clock=clock)
    with client_for(api) as client:
        client.get_model(VIDEO_ID, cache=cache)
        clock.now += 599
        client.get_model(VIDEO_ID, cache=cache)
        assert len(api.requests) == 1
        clock.now += 2
        client.get_model(VIDEO_ID, cache=cache)
    assert len(api.requests) == 2


def test_cache_namespace_defaults_to_the_api_base_so_origins_never_share_records(
    api: FakeCatalog, tmp_path: Path
) -> None:
    cache = SchemaCache(tmp_path, clock=WallClock())
    with client_for(api) as client:
        client.get_model(KONTEXT_ID, cache=cache)
    assert cache.get(API, KONTEXT_ID) is not None
    assert cache.get("http://127.0.0.1:8000/v1", KONTEXT_ID) is None
    with client_for(api) as client:
        client.get_model(KONTEXT_ID, cache=cache, cache_namespace="elsewhere")
    assert len(api.requests) == 2


def test_a_corrupt_cache_file_is_ignored_and_replaced(api: FakeCatalog, tmp_path: Path) -> None:
    cache = SchemaCache(tmp_path, clock=WallClock())
    cache.path_for(API, KONTEXT_ID).write_bytes(b"{not json")
    with client_for(api) as client:
        record = client.get_model(KONTEXT_ID, cache=cache)
    assert record["model_id"] == KONTEXT_ID
    assert len(api.requests) == 1
    assert cache.get(API, KONTEXT_ID) == record


class StallingCatalog:
    """Each call stalls until its own read timeout, which moves the fake clock forward by that much; the
    timeouts given are kept. ``answer_after`` calls, it answers at once."""

    def __init__(self, clock: FakeClock, answer_after: int | None = None) -> None:
        self.clock = clock
        self.answer_after = answer_after
        self.timeouts: list[float] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.answer_after is not None and len(self.timeouts) >= self.answer_after:
            self.timeouts.append(request.extensions["timeout"]["read"])
            return httpx.Response(200, json=CATALOG[KONTEXT_ID].record(include_schema=True))
        timeout = request.extensions["timeout"]["read"]
        self.timeouts.append(timeout)
        self.clock.now += timeout
        raise httpx.ReadTimeout("stalled", request=request)


def stalled_client(catalog: StallingCatalog, clock: FakeClock) -> Client:
    return Client(
        token="rc-test-token",
        model_api_base=API,
        transport=httpx.MockTransport(catalog),
        env={},
        http_timeout_s=60.0,
        sleep=clock.sleep,
        clock=clock,
    )


def test_get_model_gives_each_call_no_more_time_than_is_left_of_its_budget() -> None:
    clock = FakeClock(start=100.0)
    catalog = StallingCatalog(clock)

    with stalled_client(catalog, clock) as client, pytest.raises(errors.APITimeoutError):
        client.get_model(KONTEXT_ID, retry_window_s=10.0)

    assert catalog.timeouts and catalog.timeouts[0] == pytest.approx(10.0)  # not the client's 60 s
    assert clock.now - 100.0 <= 10.0 + 1e-9  # every call and every wait together fit in the budget


def test_a_retry_after_a_slow_failure_gets_only_what_is_left() -> None:
    clock = FakeClock()
    catalog = StallingCatalog(clock, answer_after=1)

    with stalled_client(catalog, clock) as client:
        assert client.get_model(KONTEXT_ID, retry_window_s=10.0, timeout_s=4.0)["model_id"] == KONTEXT_ID

    first, second = catalog.timeouts
    assert first == pytest.approx(4.0)  # timeout_s caps a call when less than the budget's rest
    assert second <= 10.0 - 4.0 - clock.sleeps[0] + 1e-9


def test_get_model_timeout_s_alone_caps_each_call() -> None:
    clock = FakeClock()
    catalog = StallingCatalog(clock, answer_after=0)

    with stalled_client(catalog, clock) as client:
        client.get_model(KONTEXT_ID, timeout_s=2.5)

    assert catalog.timeouts == [2.5]


@pytest.mark.parametrize(("window", "budget"), [(300.0, 10.0), (3.0, 3.0), (0.0, 1.0)])
def test_the_pre_flight_budget_is_ten_seconds_or_the_shorter_retry_window(
    window: float, budget: float
) -> None:
    from runcomfy.cli.preflight import preflight_budget_s

    with Client(token="t", model_api_base=API, env={}, retry_window_s=window) as client:
        assert preflight_budget_s(client) == budget


# --- validate ----------------------------------------------------------------------------------------------------


def test_validate_reports_every_problem_from_the_fetched_schema(api: FakeCatalog, tmp_path: Path) -> None:
    cache = SchemaCache(tmp_path, clock=WallClock())
    with client_for(api) as client:
        problems = client.validate(KONTEXT_ID, {"promt": "x", "seed": "7"}, cache=cache)
        assert (
            client.validate(KONTEXT_ID, {"prompt": "hat", "image_url": "https://x/y.png"}, cache=cache) == []
        )
    assert [(p.field, p.kind) for p in problems] == [
        ("image_url", "missing"),
        ("prompt", "missing"),
        ("promt", "unknown_field"),
        ("seed", "type"),
    ]
    assert len(api.requests) == 1


def test_validate_accepts_anything_when_the_model_has_no_input_schema(api: FakeCatalog) -> None:
    api.faults.append(httpx.Response(200, json={"model_id": ECHO_ID}))
    with client_for(api) as client:
        assert client.validate(ECHO_ID, {"anything": [1, 2]}) == []


# --- SchemaCache on disk ---------------------------------------------------------------------------------------------


def test_cache_put_creates_a_private_directory_and_leaves_no_temp_files(tmp_path: Path) -> None:
    directory = tmp_path / "deep" / "cache"
    cache = SchemaCache(directory, clock=WallClock())
    cache.put(API, KONTEXT_ID, {"model_id": KONTEXT_ID})
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    files = list(directory.iterdir())
    assert files == [cache.path_for(API, KONTEXT_ID)]
    assert KONTEXT_ID not in files[0].name
    assert stat.S_IMODE(files[0].stat().st_mode) & 0o077 == 0


def test_cache_file_name_is_the_sha256_of_namespace_and_model_id(tmp_path: Path) -> None:
    cache = SchemaCache(tmp_path)
    name = cache.path_for(API, KONTEXT_ID).stem
    assert len(name) == 64 and all(ch in "0123456789abcdef" for ch in name)
    assert name != cache.path_for(API, GPT_IMAGE_ID).stem
    assert name != cache.path_for("other", KONTEXT_ID).stem


def test_cache_get_is_none_when_missing(tmp_path: Path) -> None:
    assert SchemaCache(tmp_path / "absent").get(API, KONTEXT_ID) is None


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\xff\xfe",
        b"[]",
        b'{"format": 1}',
        b'{"format": 1, "namespace": "x", "model_id": "a/b", "saved_at": 1, "record": {}}',
        b'{"format": 1, "namespace": "'
        + API.encode()
        + b'", "model_id": "a/b", "saved_at": "now", "record": {}}',
        b'{"format": 1, "namespace": "'
        + API.encode()
        + b'", "model_id": "a/b", "saved_at": 1, "record": []}',
        b'{"format": 1, "namespace": "'
        + API.encode()
        + b'", "model_id": "a/b", "saved_at": true, "record": {}}',
        b"[" * 10_000,
    ],
)
def test_cache_get_is_none_for_unreadable_or_corrupt_entries(tmp_path: Path, content: bytes) -> None:
    cache = SchemaCache(tmp_path, clock=lambda: 2.0)
    cache.path_for(API, "a/b").write_bytes(content)
    assert cache.get(API, "a/b") is None


def test_cache_entry_stamped_in_the_future_counts_as_expired(tmp_path: Path) -> None:
    clock = WallClock(5_000.0)
    cache = SchemaCache(tmp_path, clock=clock)
    cache.put(API, KONTEXT_ID, {"ok": True})
    clock.now = 4_000.0
    assert cache.get(API, KONTEXT_ID) is None


def test_cache_put_never_raises_when_the_directory_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    cache = SchemaCache(blocker / "cache")
    cache.put(API, KONTEXT_ID, {"model_id": KONTEXT_ID})
    assert cache.get(API, KONTEXT_ID) is None


def test_cache_put_drops_records_that_are_not_json(tmp_path: Path) -> None:
    cache = SchemaCache(tmp_path)
    cache.put(API, KONTEXT_ID, {"bad": {1, 2}})
    cache.put(API, GPT_IMAGE_ID, {"nan": float("nan")})
    assert list(tmp_path.iterdir()) == []


def test_cache_stores_only_the_record(tmp_path: Path) -> None:
    cache = SchemaCache(tmp_path, clock=WallClock())
    cache.put(API, KONTEXT_ID, {"model_id": KONTEXT_ID})
    stored = json.loads(cache.path_for(API, KONTEXT_ID).read_text())
    assert set(stored) == {"format", "namespace", "model_id", "saved_at", "record"}
    assert "rc-" not in json.dumps(stored)


# --- input_rows --------------------------------------------------------------------------------------------------


def test_input_rows_of_the_kontext_model_in_schema_order() -> None:
    rows = input_rows(CATALOG[KONTEXT_ID].record(include_schema=True))
    assert [row.name for row in rows] == list(CATALOG[KONTEXT_ID].input_schema["properties"])
    by_name = {row.name: row for row in rows}
    assert by_name["prompt"] == InputRow(
        "prompt", "string", True, None, "non-empty", "What to change in the image."
    )
    assert by_name["seed"].allowed == "0..4294967295"
    assert by_name["seed"].required is False
    assert by_name["guidance_scale"].type == "number"
    assert by_name["guidance_scale"].default == 3.5
    assert by_name["guidance_scale"].allowed == "1..20"
    assert by_name["output_format"].allowed == "png, jpeg"
    assert by_name["output_format"].default == "png"


def test_input_rows_render_lengths_patterns_and_booleans_of_emulator_models() -> None:
    gpt = {row.name: row for row in input_rows(CATALOG[GPT_IMAGE_ID].record(include_schema=True))}
    assert gpt["prompt"].allowed == "1..32000 chars"
    sized = {row.name: row for row in input_rows(CATALOG[SIZED_ID].record(include_schema=True))}
    assert sized["content_length"].type == "boolean"
    assert sized["content_length"].default is True
    assert sized["filename"].allowed == "pattern ^[A-Za-z0-9._-]{1,100}$"
    video = {row.name: row for row in input_rows(CATALOG[VIDEO_ID].record(include_schema=True))}
    assert video["duration"].allowed == "5, 8"
    assert video["negative_prompt"].allowed == ""


def test_input_rows_render_type_lists_arrays_and_one_sided_bounds() -> None:
    schema = {
        "type": "object",
        "required": ["images"],
        "properties": {
            "images": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 4},
            "mask": {"type": ["string", "null"], "maxLength": 100},
            "steps": {"type": "integer", "minimum": 1},
            "strength": {"type": "number", "maximum": 20},
            "scale": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
            "name": {"type": "string", "minLength": 3},
            "either": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
            "options": {"type": "object"},
            "free": {},
            "weird": True,
        },
    }
    rows = {row.name: row for row in input_rows({"input_schema": schema})}
    assert (rows["images"].type, rows["images"].allowed, rows["images"].required) == (
        "array of string",
        "1..4 items",
        True,
    )
    assert (rows["mask"].type, rows["mask"].allowed) == ("string|null", "<= 100 chars")
    assert rows["steps"].allowed == ">= 1"
    assert rows["strength"].allowed == "<= 20"
    assert rows["scale"].allowed == "> 0, < 1"
    assert rows["name"].allowed == ">= 3 chars"
    assert rows["either"].type == "integer|null"
    assert rows["options"].type == "object"
    assert rows["free"].type == rows["weird"].type == "any"


def test_input_rows_strip_control_characters_and_fold_whitespace() -> None:
    schema = {"properties": {"p\x1b[31m": {"type": "string", "description": "line one\nline\x07 two\u202e"}}}
    (row,) = input_rows({"input_schema": schema})
    assert row.name == "p[31m"
    assert row.description == "line one line two"


@pytest.mark.parametrize(
    "record",
    [
        {},
        {"input_schema": "nope"},
        {"input_schema": {"type": "object"}},
        {"input_schema": {"properties": []}},
    ],
)
def test_input_rows_are_empty_without_usable_properties(record: dict[str, Any]) -> None:
    assert input_rows(record) == []
