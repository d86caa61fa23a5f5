"""The MCP server's parts on their own: the example input, output-dir confinement, error answers, the bearer
door, workflow summaries and thumbnails."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from runcomfy.cli.context import AppContext
from runcomfy.cli.exit_codes import classify
from runcomfy.cli.output import Output
from runcomfy.downloads import SavedFile
from runcomfy.errors import InputProblems, InvalidInput, NotFoundError, WaitTimeout
from runcomfy.input_examples import example_input
from runcomfy.mcp.bearer import RequireBearer
from runcomfy.mcp.deployment_tools import summarise_workflow
from runcomfy.mcp.files import thumbnails
from runcomfy.mcp.replies import error_reply, reply
from runcomfy.mcp.workspace import Workspace


def _workspace(tmp_path: Path, secret: str = "") -> Workspace:
    output = Output("pretty", stdout=io.StringIO(), stderr=io.StringIO())
    output.add_secret(secret)
    return Workspace(AppContext(output, env={}), tmp_path / "out")


# --- the example input --------------------------------------------------------------------------------------


def test_example_input_fills_required_fields_within_their_bounds_and_keeps_given_examples() -> None:
    schema = {
        "type": "object",
        "required": ["prompt", "steps", "ratio", "image_url", "tags", "strength"],
        "properties": {
            "prompt": {"type": "string", "examples": ["a lighthouse at dawn"]},
            "steps": {"type": "integer", "minimum": 4, "maximum": 50},
            "ratio": {"type": "string", "enum": ["16:9", "1:1"]},
            "image_url": {"type": "string", "format": "uri"},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
            "strength": {"type": "number", "exclusiveMinimum": 0},
            "seed": {"type": "integer", "default": 42},
            "optional_note": {"type": "string"},
        },
    }
    example = example_input(schema)
    assert example == {
        "prompt": "a lighthouse at dawn",
        "steps": 4,
        "ratio": "16:9",
        "image_url": "https://example.com/input.png",
        "tags": ["example text", "example text"],
        "strength": 1.0,
        "seed": 42,
    }


def test_example_input_passes_the_validation_the_run_uses() -> None:
    from runcomfy.validation import check_input

    schema = {
        "type": "object",
        "required": ["prompt", "n", "style"],
        "additionalProperties": False,
        "properties": {
            "prompt": {"type": "string", "minLength": 20, "maxLength": 30},
            "n": {"type": "integer", "minimum": 1, "maximum": 1},
            "style": {"anyOf": [{"type": "null"}, {"type": "string", "enum": ["photo", "art"]}]},
        },
    }
    assert check_input(schema, example_input(schema)) == []


@pytest.mark.parametrize(
    "schema", [None, {}, {"properties": "nope"}, {"type": "object", "properties": {"a": 3}}]
)
def test_example_input_of_an_unusable_schema_is_empty(schema: Any) -> None:
    assert example_input(schema) == {}


def test_example_input_stops_at_a_recursive_schema() -> None:
    node: dict[str, Any] = {"type": "object", "required": ["child"], "properties": {}}
    node["properties"]["child"] = node
    example = example_input(node)
    depth = 0
    while isinstance(example, dict) and "child" in example:
        example, depth = example["child"], depth + 1
    assert 1 <= depth <= 6


# --- files stay under the output directory -------------------------------------------------------------------


@pytest.mark.parametrize("subfolder", ["../x", "/etc", "~/x", "a/../../x", "a/../..", "x\0y"])
def test_a_subfolder_outside_the_output_dir_is_refused(tmp_path: Path, subfolder: str) -> None:
    with pytest.raises(InvalidInput, match="output directory"):
        _workspace(tmp_path).folder(subfolder)


def test_a_symlink_out_of_the_output_dir_is_refused(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    ws.output_dir.mkdir()
    (ws.output_dir / "link").symlink_to(tmp_path)
    with pytest.raises(InvalidInput, match="leads outside"):
        ws.folder("link/escaped")


def test_a_subfolder_inside_is_resolved_under_the_output_dir(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    assert ws.folder(None) == ws.output_dir.resolve()
    assert ws.folder(".") == ws.output_dir.resolve()
    assert ws.folder("foxes/2026") == (ws.output_dir / "foxes" / "2026").resolve()
    assert ws.relative(ws.output_dir / "foxes" / "a.png") == "foxes/a.png"


# --- answers ---------------------------------------------------------------------------------------------------


def test_an_error_answer_has_the_message_the_cli_hint_and_the_exit_class_with_the_token_masked(
    tmp_path: Path,
) -> None:
    canary = "rc-canary-0123456789abcdef"
    ws = _workspace(tmp_path, canary)
    error = NotFoundError(f"model x not found (token {canary})", status_code=404)
    answer = error_reply(error, scrub=ws.scrub)
    text = answer.content[0].text
    assert answer.is_error
    assert canary not in text and canary not in str(answer.structured_content)
    assert answer.structured_content["exit_code"] == classify(error) != 0
    assert "model x not found" in text


def test_an_input_problem_answer_lists_the_problems_and_exit_65() -> None:
    problems = [{"field": "prompt", "message": "required field is missing", "kind": "required"}]
    answer = error_reply(InputProblems("the input does not match", problems, hint="see get_model"))
    assert answer.structured_content["exit_code"] == 65
    assert answer.structured_content["problems"] == problems
    assert "hint: see get_model" in answer.content[0].text


def test_a_timeout_answer_names_the_request() -> None:
    answer = error_reply(WaitTimeout("gave up", request_id="r-1", hint="call request_result later"))
    assert answer.structured_content["request_id"] == "r-1"
    assert "request_id: r-1" in answer.content[0].text


def test_a_bug_is_one_line_without_a_traceback() -> None:
    answer = error_reply(KeyError("boom"))
    text = answer.content[0].text
    assert answer.is_error and "unexpected error (KeyError)" in text and "Traceback" not in text


def test_a_reply_is_short_text_plus_structured_content() -> None:
    answer = reply("x" * 10_000, ["a", "b"])
    assert len(answer.content[0].text) <= 4000
    assert answer.structured_content == {"result": ["a", "b"]}
    assert not answer.is_error


# --- the bearer door -------------------------------------------------------------------------------------------


async def _ok_app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer nope"}, 401),
        ({"Authorization": "bearer s3cret"}, 401),
        ({"Authorization": "Bearer s3cret "}, 401),
        ({"Authorization": "Bearer s3cret"}, 200),
    ],
)
async def test_only_the_right_bearer_token_passes(headers: dict[str, str], status: int) -> None:
    app = RequireBearer(_ok_app, "s3cret")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as http:
        response = await http.post("/mcp", headers=headers)
    assert response.status_code == status
    if status == 401:
        assert "s3cret" not in response.text


def test_an_empty_bearer_token_is_refused() -> None:
    with pytest.raises(ValueError):
        RequireBearer(_ok_app, "")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# --- workflow summaries and thumbnails --------------------------------------------------------------------------


def test_a_workflow_summary_keeps_literal_inputs_and_drops_links() -> None:
    graph = {
        "3": {
            "class_type": "KSampler",
            "inputs": {"seed": 5, "model": ["4", 0]},
            "_meta": {"title": "Sampler"},
        },
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a fox", "clip": ["4", 1]}},
        "bad": "not a node",
    }
    assert summarise_workflow(graph) == [
        {"id": "3", "class_type": "KSampler", "title": "Sampler", "inputs": {"seed": 5}},
        {"id": "6", "class_type": "CLIPTextEncode", "title": "CLIPTextEncode", "inputs": {"text": "a fox"}},
    ]


def _saved(path: Path) -> SavedFile:
    return SavedFile(path, "https://x.runcomfy.net/" + path.name, path.stat().st_size, "0" * 64)


def test_thumbnails_are_small_pngs_of_the_images_only(tmp_path: Path) -> None:
    big = tmp_path / "big.jpg"
    Image.new("RGB", (2048, 1024), "red").save(big)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"not an image")
    previews = thumbnails([_saved(text), _saved(fake), _saved(big)])
    assert len(previews) == 1
    with Image.open(io.BytesIO(base64.b64decode(previews[0].data))) as shown:
        assert shown.format == "PNG" and max(shown.size) <= 512
