"""The CLI's "did you mean" text for an unknown model id, and the ``models list`` pages that feed its index."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from runcomfy import Client
from runcomfy.cli.context import AppContext
from runcomfy.cli.output import Output
from runcomfy.cli.preflight import did_you_mean_model, model_index, remember_models_page

API = "https://model-api.runcomfy.net/v1"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[AppContext]:
    env = {
        "RUNCOMFY_CACHE_DIR": str(tmp_path / "cache"),
        "RUNCOMFY_MODEL_API_BASE": API,
        "RUNCOMFY_TOKEN": "t",
    }
    context = AppContext(Output("pretty", stdout=io.StringIO(), stderr=io.StringIO(), env={}), env=env)
    try:
        yield context
    finally:
        context.close()


def catalog_client(ids: list[str]) -> Client:
    def serve(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"models": [{"model_id": i} for i in ids], "total": len(ids)})

    return Client("t", model_api_base=API, transport=httpx.MockTransport(serve), env={})


def unreachable_client() -> Client:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    return Client("t", model_api_base=API, transport=httpx.MockTransport(refuse), env={})


def test_one_close_id_is_suggested_in_quotes(app: AppContext) -> None:
    with catalog_client(["openai/gpt-image-2/text-to-image", "wan-ai/wan-2-2/text-to-video"]) as client:
        text = did_you_mean_model(app, client, "openai/gpt-image-2/text-too-image")
    assert text == '; did you mean "openai/gpt-image-2/text-to-image"?'


def test_several_close_ids_are_listed_with_or(app: AppContext) -> None:
    ids = ["vendor/model/v1", "vendor/model/v2", "vendor/model/v3", "other/thing"]
    with catalog_client(ids) as client:
        text = did_you_mean_model(app, client, "vendor/model/v")
    assert text == '; did you mean "vendor/model/v1", "vendor/model/v2" or "vendor/model/v3"?'


def test_no_suggestion_is_an_empty_string(app: AppContext) -> None:
    with unreachable_client() as client:
        assert did_you_mean_model(app, client, "openai/gpt-image-2/text-too-image") == ""
    with catalog_client(["wan-ai/wan-2-2/text-to-video"]) as client:
        assert did_you_mean_model(app, client, "no/such-model") == ""


def test_control_characters_from_the_catalog_never_reach_the_text(app: AppContext) -> None:
    with catalog_client(["openai/gpt-image-2/text-to-image\x1b[31m"]) as client:
        text = did_you_mean_model(app, client, "openai/gpt-image-2/text-to-imag")
    assert "\x1b" not in text and "openai/gpt-image-2/text-to-image[31m" in text


def test_a_models_list_page_of_the_whole_catalog_answers_later_suggestions(app: AppContext) -> None:
    page = {"models": [{"model_id": "openai/gpt-image-2/text-to-image"}], "total": 1}
    remember_models_page(app, page, whole_catalog=True)
    with unreachable_client() as client:  # no call needed: the index is fresh and complete
        assert "text-to-image" in did_you_mean_model(app, client, "openai/gpt-image-2/text-too-image")


def test_a_filtered_page_is_kept_but_does_not_stand_for_the_catalog(app: AppContext) -> None:
    remember_models_page(app, {"models": [{"model_id": "a/b/c"}], "total": 9}, whole_catalog=False)
    cached = model_index(app).get(app.cache_namespace())
    assert cached is not None and cached.ids == ("a/b/c",) and not cached.complete
    remember_models_page(app, {"models": "garbage"}, whole_catalog=False)  # never raises
