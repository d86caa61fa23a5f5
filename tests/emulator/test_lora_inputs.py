"""The ``lora`` input of the image stand-ins: accepted as the service documents it, visible on the picture,
deterministic, and refused with a 422 naming the field when malformed. A bare file name must be a checkpoint
the caller trained (``test_training_jobs.py`` trains one and uses it); these tests use https URLs."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from emulator_harness import Emulator
from PIL import Image, ImageChops, ImageStat

GPT = "openai/gpt-image-2/text-to-image"
KONTEXT = "blackforestlabs/flux-1-kontext/pro/edit"
LORA = {"path": "https://cdn.example.com/loras/my_lora_3000.safetensors"}


def picture(emulator: Emulator, model: str, body: dict[str, Any]) -> bytes:
    """The bytes of the first file a finished request produced."""
    emulator.control("POST", "config", {"durations": {"*": 0}})
    rid = emulator.submit_ok(model, body)
    result = emulator.result(rid).json()
    assert result["status"] == "completed", result
    output = result["output"]
    url = output["images"][0] if "images" in output else output["image"]
    response = emulator.http.get(url)
    assert response.status_code == 200
    return response.content


def mean_difference(first: bytes, second: bytes) -> float:
    """Average per-channel difference of two same-sized images, 0..255."""
    with Image.open(io.BytesIO(first)) as a, Image.open(io.BytesIO(second)) as b:
        assert a.size == b.size
        return sum(ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).mean) / 3


def test_a_lora_visibly_changes_the_picture_and_the_same_input_gives_the_same_bytes(
    emulator: Emulator,
) -> None:
    plain = picture(emulator, GPT, {"prompt": "a fox", "seed": 3})
    with_lora = picture(emulator, GPT, {"prompt": "a fox", "seed": 3, "lora": LORA})
    again = picture(emulator, GPT, {"prompt": "a fox", "seed": 3, "lora": LORA})
    assert with_lora == again
    assert with_lora != plain
    assert Image.open(io.BytesIO(with_lora)).format == "PNG"
    assert mean_difference(plain, with_lora) > 5  # a tint over the whole picture, not a changed pixel


def test_a_stronger_scale_changes_the_picture_more(emulator: Emulator) -> None:
    plain = picture(emulator, GPT, {"prompt": "a fox"})
    light = picture(emulator, GPT, {"prompt": "a fox", "lora": {**LORA, "scale": 0.5}})
    default = picture(emulator, GPT, {"prompt": "a fox", "lora": LORA})
    strong = picture(emulator, GPT, {"prompt": "a fox", "lora": {**LORA, "scale": 3}})
    explicit_default = picture(emulator, GPT, {"prompt": "a fox", "lora": {**LORA, "scale": 1}})
    assert default == explicit_default
    assert mean_difference(plain, light) < mean_difference(plain, default) < mean_difference(plain, strong)


def test_another_lora_gives_another_picture_and_an_https_url_is_accepted(emulator: Emulator) -> None:
    mine = picture(emulator, GPT, {"prompt": "a fox", "lora": LORA})
    remote = {"path": "https://cdn.example.com/loras/anime_style.safetensors", "scale": 2}
    theirs = picture(emulator, GPT, {"prompt": "a fox", "lora": remote})
    assert mine != theirs


def test_the_kontext_edit_takes_a_lora_too(emulator: Emulator) -> None:
    source = io.BytesIO()
    Image.new("RGB", (320, 240), (0, 128, 255)).save(source, format="PNG")
    uri = "data:image/png;base64," + base64.b64encode(source.getvalue()).decode()
    body = {"prompt": "add a hat", "image_url": uri, "seed": 1}
    plain = picture(emulator, KONTEXT, body)
    with_lora = picture(emulator, KONTEXT, {**body, "lora": LORA})
    assert with_lora != plain and mean_difference(plain, with_lora) > 5
    assert with_lora == picture(emulator, KONTEXT, {**body, "lora": LORA})


def test_the_catalog_lists_lora_as_an_optional_input(emulator: Emulator) -> None:
    for model in (GPT, KONTEXT):
        record = emulator.http.get(f"{emulator.base}/models/{model}", headers=emulator.auth()).json()
        assert "lora" in record["inputs"] and "lora" not in record["required_inputs"]
        lora = record["input_schema"]["properties"]["lora"]
        assert lora["required"] == ["path"] and set(lora["properties"]) == {"path", "scale"}


@pytest.mark.parametrize(
    ("lora", "loc"),
    [
        ({**LORA, "scale": 5}, ["body", "lora", "scale"]),
        ({**LORA, "scale": -0.1}, ["body", "lora", "scale"]),
        ({**LORA, "scale": "strong"}, ["body", "lora", "scale"]),
        ({**LORA, "scale": True}, ["body", "lora", "scale"]),
        ({"scale": 1}, ["body", "lora", "path"]),
        ({"path": ""}, ["body", "lora", "path"]),
        ({"path": "   "}, ["body", "lora", "path"]),
        ({"path": "http://insecure.example.com/x.safetensors"}, ["body", "lora", "path"]),
        ({"path": 7}, ["body", "lora", "path"]),
        ({**LORA, "weight": 1}, ["body", "lora", "weight"]),
        ("my_lora_3000.safetensors", ["body", "lora"]),
        ({"path": "my_lora_3000.safetensors"}, ["body", "lora", "path"]),  # a name nobody trained
    ],
)
def test_a_bad_lora_is_a_422_naming_the_field(emulator: Emulator, lora: Any, loc: list[str]) -> None:
    for model, body in (
        (GPT, {"prompt": "x"}),
        (KONTEXT, {"prompt": "x", "image_url": "https://cdn.runcomfy.net/a.png"}),
    ):
        response = emulator.submit(model, {**body, "lora": lora})
        assert response.status_code == 422, response.text
        assert [entry["loc"] for entry in response.json()["detail"]] == [loc]
