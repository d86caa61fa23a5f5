"""Issue 8 end to end: LoRA inputs, the catalog commands printing what the service sent, paging past the end,
prices, models without inputs, and "did you mean" for a mistyped model id."""

from __future__ import annotations

import json

from cli_harness import CLI
from PIL import Image

IMAGE = "openai/gpt-image-2/text-to-image"
VIDEO = "wan-ai/wan-2-2/text-to-video"
ECHO = "runcomfy/emulator/echo"
TYPO = "openai/gpt-image-2/text-too-image"
LORA_URL = "https://cdn.example.com/loras/my_lora_3000.safetensors"  # a bare name must be a trained LoRA
LORA = json.dumps({"path": LORA_URL})


def sent_input(cli: CLI) -> dict:
    """The input of the last request the emulator received."""
    return cli.control("GET", "requests").json()["requests"][-1]["input"]


def served(cli: CLI, path: str) -> dict:
    """What the emulator answers on ``path`` of the Model API, fetched directly."""
    response = cli.http.get(
        f"{cli.server.model_api_base}/{path}", headers={"Authorization": f"Bearer {cli.token}"}
    )
    assert response.status_code == 200, response.text
    return response.json()


# --- LoRA -----------------------------------------------------------------------------------------------------------


def test_a_run_with_a_lora_succeeds_and_saves_a_png(cli: CLI) -> None:
    result = cli.run("run", IMAGE, "prompt=x", f"lora:={LORA}")
    assert result.returncode == 0, result.stderr
    assert sent_input(cli) == {"prompt": "x", "lora": {"path": LORA_URL}}
    (saved,) = [p for p in cli.files_under() if p.suffix == ".png"]
    with Image.open(saved) as image:
        assert image.format == "PNG"


def test_the_pre_flight_check_leaves_a_lora_to_the_server_when_the_schema_does_not_list_it(cli: CLI) -> None:
    result = cli.run("run", VIDEO, "prompt=x", f"lora:={LORA}", "--no-download")
    assert len(cli.calls("submit")) == 1  # not stopped before sending: the service documents `lora`
    assert result.returncode == 65 and "lora" in result.stderr  # this stand-in happens to refuse it


# --- the catalog as the service sent it ------------------------------------------------------------------------------


def test_models_list_include_schema_prints_the_raw_page_with_every_schema(cli: CLI) -> None:
    expected = served(cli, "models?limit=100&offset=0&include_schema=true")
    pretty = cli.run("models", "list", "--include-schema")
    assert pretty.returncode == 0, pretty.stderr
    assert len(pretty.stdout.splitlines()) > 1 and json.loads(pretty.stdout) == expected
    assert all("input_schema" in model for model in expected["models"])
    compact = cli.run("--output", "json", "models", "list", "--include-schema", "--search", "kontext")
    assert compact.returncode == 0 and len(compact.stdout.splitlines()) == 1
    assert json.loads(compact.stdout)["models"][0]["input_schema"]["required"] == ["prompt", "image_url"]


def test_models_categories_in_json_is_the_payload_as_received(cli: CLI) -> None:
    body = {"categories": ["text-to-image", 7, "upscale"], "groups": {"image": ["text-to-image"]}}
    cli.fault(route="categories", kind="respond", status=200, body=body, times=2)
    raw = cli.run("--output", "json", "models", "categories")
    assert raw.returncode == 0 and json.loads(raw.stdout) == body
    pretty = cli.run("models", "categories")
    assert pretty.stdout.splitlines() == ["text-to-image", "upscale"]


def test_models_get_in_json_is_the_payload_as_received(cli: CLI) -> None:
    body = {"model_id": "vendor/new", "input_schema": {"type": "object"}, "released": "2026-01-01", "x": [1]}
    cli.fault(route="model", kind="respond", status=200, body=body)
    result = cli.run("--output", "json", "models", "get", "vendor/new")
    assert result.returncode == 0 and json.loads(result.stdout) == body


# --- paging and prices ----------------------------------------------------------------------------------------------


def test_an_offset_past_the_end_says_so_and_how_many_models_match(cli: CLI) -> None:
    past = cli.run("models", "list", "--category", "text-to-image", "--limit", "20", "--offset", "20")
    assert past.returncode == 0 and past.stdout == ""
    assert "Offset 20 is past the end: 1 model matches." in past.stderr
    total = served(cli, "models")["total"]
    far = cli.run("models", "list", "--offset", "50")
    assert f"Offset 50 is past the end: {total} models match." in far.stderr
    none = cli.run("models", "list", "--search", "zzz-nothing", "--offset", "20")
    assert "No models matched." in none.stderr and "past the end" not in none.stderr


def test_a_middle_page_shows_where_it_is(cli: CLI) -> None:
    result = cli.run("models", "list", "--limit", "3", "--offset", "3")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 4  # the header and three rows
    assert f"Showing 4-6 of {served(cli, 'models')['total']}" in result.stderr


def test_prices_show_two_decimals_without_rounding_away_precision(cli: CLI) -> None:
    video = cli.run("models", "list", "--category", "text-to-video")
    assert "$0.40/video" in video.stdout
    models = [
        {"model_id": "a/free", "display_name": "Free", "base_price_usd": 0.0, "price_unit": "request"},
        {"model_id": "a/cheap", "display_name": "Cheap", "base_price_usd": 0.005, "price_unit": "image"},
        {"model_id": "a/whole", "display_name": "Whole", "base_price_usd": 3, "price_unit": "minute"},
    ]
    cli.fault(route="models", kind="respond", status=200, body={"models": models, "total": 3})
    rows = cli.run("models", "list").stdout
    assert "$0.00/request" in rows and "$0.005/image" in rows and "$3.00/minute" in rows
    assert "$0.0/" not in rows


# --- a model without inputs -----------------------------------------------------------------------------------------


def test_models_get_of_a_model_without_inputs_says_so_instead_of_an_empty_table(cli: CLI) -> None:
    echo = cli.run("models", "get", ECHO)
    assert echo.returncode == 0, echo.stderr
    assert "INPUT" not in echo.stdout
    assert echo.stdout.splitlines()[-1] == "This model declares no inputs; it accepts any JSON object."
    closed = {
        "model_id": "vendor/no-inputs",
        "input_schema": {"type": "object", "additionalProperties": False},
    }
    cli.fault(route="model", kind="respond", status=200, body=closed)
    result = cli.run("models", "get", "vendor/no-inputs")
    assert result.stdout.splitlines()[-1] == "This model has no inputs." and "INPUT" not in result.stdout
    cli.fault(route="model", kind="respond", status=200, body={"model_id": "vendor/unpublished"})
    unpublished = cli.run("models", "get", "vendor/unpublished")
    assert "publishes no input schema" in unpublished.stdout and "INPUT" not in unpublished.stdout


# --- "did you mean" for a model id ----------------------------------------------------------------------------------


def test_a_mistyped_model_id_in_run_suggests_the_real_one_and_sends_nothing(cli: CLI) -> None:
    result = cli.run("run", TYPO, "prompt=x")
    assert result.returncode == 65
    assert f'did you mean "{IMAGE}"?' in result.stderr
    assert "Traceback" not in result.stderr
    assert cli.calls("submit") == []


def test_models_get_of_a_mistyped_id_suggests_too_and_the_index_spares_a_second_listing(cli: CLI) -> None:
    first = cli.run("models", "get", TYPO)
    assert first.returncode == 65 and f'did you mean "{IMAGE}"?' in first.stderr
    second = cli.run("run", TYPO, "prompt=x")
    assert f'did you mean "{IMAGE}"?' in second.stderr
    assert len(cli.calls("models")) == 1  # the second suggestion came from the index on disk


def test_a_models_list_of_the_whole_catalog_fills_the_index(cli: CLI) -> None:
    assert cli.run("models", "list").returncode == 0
    result = cli.run("run", TYPO, "prompt=x")
    assert f'did you mean "{IMAGE}"?' in result.stderr
    assert len(cli.calls("models")) == 1  # only the listing itself


def test_an_unreachable_catalog_listing_means_no_suggestion_not_another_error(cli: CLI) -> None:
    cli.fault(route="models", kind="error", status=503, times=None)
    result = cli.run("run", TYPO, "prompt=x")
    assert result.returncode == 65
    assert "is not in the catalog" in result.stderr and "did you mean" not in result.stderr
    assert len(cli.calls("models")) == 1  # tried once, no retries
