"""The emulator's model catalog: each model's record, input JSON Schema, run time and what it produces.

Stand-ins for real catalog ids accept the documented inputs and produce real media; the test models under
``runcomfy/emulator/...`` exist to exercise clients (echo, sized files, failures, slowness). Outputs refer to
files with :data:`FILE_MARKER` paths; the routes turn them into absolute URLs on the emulator's own origin
when rendering, so a restarted emulator on another port still serves every stored result.

This module knows nothing of HTTP, queues or persistence.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator

from runcomfy.emulator import media

FILE_MARKER = "emulator-file:"
JSON = dict[str, Any]


@dataclass(frozen=True)
class RenderedFile:
    """A file ready to serve: its type, length and a reader for any byte range."""

    content_type: str
    size: int
    read: Callable[[int, int], Iterator[bytes]]
    declare_length: bool = True


@dataclass(frozen=True)
class Production:
    """What a finished run yields: an ``output`` on success, or an ``error`` object on failure."""

    output: Any = None
    error: JSON | None = None


@dataclass(frozen=True)
class Model:
    """One catalog entry and its behaviour."""

    model_id: str
    display_name: str
    categories: tuple[str, ...]
    base_price_usd: float
    price_unit: str
    description: str
    input_schema: JSON
    default_duration_s: float
    produce: Callable[[str, JSON], Production]
    render_file: Callable[[JSON, str], RenderedFile | None]
    kind: str = "model"
    extra_checks: Callable[[JSON], list[JSON]] = field(default=lambda _input: [])

    def duration_s(self, input_data: JSON) -> float:
        """Run time of one request; the slow model reads it from its input."""
        if self.model_id == SLOW_ID:
            return float(input_data.get("seconds", self.default_duration_s))
        return self.default_duration_s

    def record(self, *, include_schema: bool) -> JSON:
        """The catalog record as ``GET /v1/models`` lists it."""
        properties = self.input_schema.get("properties", {})
        record: JSON = {
            "model_id": self.model_id,
            "display_name": self.display_name,
            "description": self.description,
            "categories": list(self.categories),
            "kind": self.kind,
            "base_price_usd": self.base_price_usd,
            "price_unit": self.price_unit,
            "inputs": list(properties),
            "required_inputs": list(self.input_schema.get("required", [])),
            "model_url": f"https://www.runcomfy.com/models/{self.model_id}",
        }
        if include_schema:
            record["input_schema"] = self.input_schema
        return record


def file_ref(request_id: str, name: str) -> str:
    """The stored form of an output file URL (made absolute when rendered)."""
    return f"{FILE_MARKER}/files/{request_id}/{name}"


def _bytes_file(content_type: str, data: bytes) -> RenderedFile:
    def read(start: int, end: int) -> Iterator[bytes]:
        yield data[start:end]

    return RenderedFile(content_type=content_type, size=len(data), read=read)


# ---------------------------------------------------------------------------------------------------------
# Shared schema pieces

_SEED = {
    "type": "integer",
    "minimum": 0,
    "maximum": 4294967295,
    "description": "Random seed; same seed, same image.",
}
_ASPECT_RATIOS = ["21:9", "16:9", "4:3", "3:2", "1:1", "2:3", "3:4", "9:16", "9:21"]
_ASPECT_SIZES = {
    "21:9": (1344, 576),
    "16:9": (1216, 688),
    "4:3": (1024, 768),
    "3:2": (1152, 768),
    "1:1": (1024, 1024),
    "2:3": (768, 1152),
    "3:4": (768, 1024),
    "9:16": (688, 1216),
    "9:21": (576, 1344),
}


@functools.lru_cache(maxsize=32)
def _cached_image(prompt: str, seed: int, width: int, height: int, fmt: str) -> bytes:
    return media.draw_image(prompt, seed, width, height, fmt)


@functools.lru_cache(maxsize=16)
def _cached_edit(source: bytes | None, prompt: str, seed: int, fmt: str) -> bytes:
    return media.edit_image(source, prompt, seed, fmt)


@functools.lru_cache(maxsize=8)
def _cached_animation(prompt: str, seed: int, width: int, height: int, frames: int) -> bytes:
    return media.draw_animation(prompt, seed, width, height, frames)


# ---------------------------------------------------------------------------------------------------------
# blackforestlabs/flux-1-kontext/pro/edit

KONTEXT_ID = "blackforestlabs/flux-1-kontext/pro/edit"
_KONTEXT_SCHEMA: JSON = {
    "type": "object",
    "additionalProperties": False,
    "required": ["prompt", "image_url"],
    "properties": {
        "prompt": {"type": "string", "minLength": 1, "description": "What to change in the image."},
        "image_url": {
            "type": "string",
            "minLength": 1,
            "description": "The image to edit: an https URL or a base64 data: URI.",
        },
        "seed": _SEED,
        "aspect_ratio": {
            "type": "string",
            "enum": _ASPECT_RATIOS,
            "description": "Aspect ratio of the output.",
        },
        "guidance_scale": {
            "type": "number",
            "minimum": 1,
            "maximum": 20,
            "default": 3.5,
            "description": "How closely to follow the prompt.",
        },
        "output_format": {
            "type": "string",
            "enum": ["png", "jpeg"],
            "default": "png",
            "description": "Image file format.",
        },
        "safety_tolerance": {
            "type": "integer",
            "minimum": 1,
            "maximum": 6,
            "default": 2,
            "description": "Moderation tolerance, 1 (strict) to 6 (permissive).",
        },
    },
}


def _kontext_checks(input_data: JSON) -> list[JSON]:
    value = input_data.get("image_url")
    if not isinstance(value, str):
        return []
    if value.startswith("data:"):
        decoded = media.decode_data_uri(value)
        if decoded is None or not media.is_decodable_image(decoded[1]):
            return [
                _detail(["image_url"], "image_url data URI is not a decodable base64 image", "value_error")
            ]
        return []
    if not value.startswith(("https://", "http://")):
        return [_detail(["image_url"], "image_url must be an http(s) URL or a data: URI", "value_error")]
    return []


def _kontext_produce(request_id: str, input_data: JSON) -> Production:
    fmt = input_data.get("output_format", "png")
    return Production(output={"image": file_ref(request_id, f"edited.{'jpg' if fmt == 'jpeg' else 'png'}")})


def _kontext_file(input_data: JSON, name: str) -> RenderedFile | None:
    fmt = input_data.get("output_format", "png")
    if name != f"edited.{'jpg' if fmt == 'jpeg' else 'png'}":
        return None
    decoded = media.decode_data_uri(str(input_data.get("image_url", "")))
    source = decoded[1] if decoded else None
    data = _cached_edit(source, str(input_data["prompt"]), int(input_data.get("seed", 0)), fmt)
    return _bytes_file(media.content_type_for(fmt), data)


# ---------------------------------------------------------------------------------------------------------
# openai/gpt-image-2/text-to-image

GPT_IMAGE_ID = "openai/gpt-image-2/text-to-image"
_GPT_SIZES = {
    "auto": (1024, 1024),
    "1024x1024": (1024, 1024),
    "1536x1024": (1536, 1024),
    "1024x1536": (1024, 1536),
}
_GPT_SCHEMA: JSON = {
    "type": "object",
    "additionalProperties": False,
    "required": ["prompt"],
    "properties": {
        "prompt": {"type": "string", "minLength": 1, "maxLength": 32000, "description": "What to draw."},
        "size": {
            "type": "string",
            "enum": list(_GPT_SIZES),
            "default": "1024x1024",
            "description": "Image size.",
        },
        "quality": {
            "type": "string",
            "enum": ["auto", "low", "medium", "high"],
            "default": "auto",
            "description": "Rendering quality.",
        },
        "num_images": {
            "type": "integer",
            "minimum": 1,
            "maximum": 4,
            "default": 1,
            "description": "How many images to generate.",
        },
        "output_format": {
            "type": "string",
            "enum": ["png", "webp", "jpeg"],
            "default": "png",
            "description": "Image file format.",
        },
        "background": {
            "type": "string",
            "enum": ["auto", "transparent", "opaque"],
            "default": "auto",
            "description": "Background handling.",
        },
        "seed": _SEED,
    },
}


def _ext(fmt: str) -> str:
    return "jpg" if fmt == "jpeg" else fmt


def _gpt_produce(request_id: str, input_data: JSON) -> Production:
    fmt = input_data.get("output_format", "png")
    count = int(input_data.get("num_images", 1))
    return Production(
        output={"images": [file_ref(request_id, f"image-{i}.{_ext(fmt)}") for i in range(count)]}
    )


def _gpt_file(input_data: JSON, name: str) -> RenderedFile | None:
    fmt = input_data.get("output_format", "png")
    count = int(input_data.get("num_images", 1))
    names = {f"image-{i}.{_ext(fmt)}": i for i in range(count)}
    if name not in names:
        return None
    width, height = _GPT_SIZES[input_data.get("size", "1024x1024")]
    seed = int(input_data.get("seed", 0)) + names[name]
    return _bytes_file(
        media.content_type_for(fmt), _cached_image(str(input_data["prompt"]), seed, width, height, fmt)
    )


# ---------------------------------------------------------------------------------------------------------
# wan-ai/wan-2-2/text-to-video (an animated WebP stands in for the video)

VIDEO_ID = "wan-ai/wan-2-2/text-to-video"
_VIDEO_SIZES = {"16:9": (320, 180), "9:16": (180, 320), "1:1": (240, 240)}
_VIDEO_SCHEMA: JSON = {
    "type": "object",
    "additionalProperties": False,
    "required": ["prompt"],
    "properties": {
        "prompt": {"type": "string", "minLength": 1, "description": "What happens in the video."},
        "negative_prompt": {"type": "string", "description": "What to avoid."},
        "seed": _SEED,
        "aspect_ratio": {
            "type": "string",
            "enum": list(_VIDEO_SIZES),
            "default": "16:9",
            "description": "Aspect ratio of the video.",
        },
        "duration": {"type": "integer", "enum": [5, 8], "default": 5, "description": "Length in seconds."},
        "resolution": {
            "type": "string",
            "enum": ["480p", "720p"],
            "default": "480p",
            "description": "Output resolution.",
        },
    },
}


def _video_produce(request_id: str, input_data: JSON) -> Production:
    return Production(output={"video": file_ref(request_id, "video.webp")})


def _video_file(input_data: JSON, name: str) -> RenderedFile | None:
    if name != "video.webp":
        return None
    width, height = _VIDEO_SIZES[input_data.get("aspect_ratio", "16:9")]
    frames = 2 * int(input_data.get("duration", 5))
    data = _cached_animation(str(input_data["prompt"]), int(input_data.get("seed", 0)), width, height, frames)
    return _bytes_file("image/webp", data)


# ---------------------------------------------------------------------------------------------------------
# Test models

ECHO_ID = "runcomfy/emulator/echo"
SIZED_ID = "runcomfy/emulator/sized-file"
FAIL_ID = "runcomfy/emulator/fail"
SLOW_ID = "runcomfy/emulator/slow"

_ECHO_SCHEMA: JSON = {"type": "object", "description": "Any JSON object; the output is the input, unchanged."}
_SIZED_SCHEMA: JSON = {
    "type": "object",
    "additionalProperties": False,
    "required": ["size_bytes"],
    "properties": {
        "size_bytes": {
            "type": "integer",
            "minimum": 0,
            "maximum": 1 << 40,
            "description": "File size in bytes.",
        },
        "content_length": {
            "type": "boolean",
            "default": True,
            "description": "Declare Content-Length (false streams it chunked).",
        },
        "filename": {
            "type": "string",
            "pattern": "^[A-Za-z0-9._-]{1,100}$",
            "default": "sized.bin",
            "description": "Name of the produced file.",
        },
    },
}
_FAIL_SCHEMA: JSON = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "message": {
            "type": "string",
            "default": "the model failed (emulated)",
            "description": "Error message.",
        },
        "error_type": {"type": "string", "default": "model_error", "description": "Error type."},
    },
}
_SLOW_SCHEMA: JSON = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "seconds": {
            "type": "number",
            "minimum": 0,
            "maximum": 86400,
            "default": 30,
            "description": "How long the run takes.",
        },
    },
}


def _no_file(_input: JSON, _name: str) -> RenderedFile | None:
    return None


def _sized_produce(request_id: str, input_data: JSON) -> Production:
    return Production(output=file_ref(request_id, str(input_data.get("filename", "sized.bin"))))


def _sized_file(input_data: JSON, name: str) -> RenderedFile | None:
    if name != input_data.get("filename", "sized.bin"):
        return None
    return RenderedFile(
        content_type="application/octet-stream",
        size=int(input_data["size_bytes"]),
        read=media.sized_chunks,
        declare_length=bool(input_data.get("content_length", True)),
    )


def _fail_produce(_request_id: str, input_data: JSON) -> Production:
    return Production(
        error={
            "type": input_data.get("error_type", "model_error"),
            "message": input_data.get("message", "the model failed (emulated)"),
        }
    )


def _detail(loc: list[Any], msg: str, kind: str) -> JSON:
    return {"loc": ["body", *loc], "msg": msg, "type": kind}


def _catalog() -> dict[str, Model]:
    image_cats = ("text-to-image",)
    models = [
        Model(
            KONTEXT_ID,
            "FLUX.1 Kontext [pro] Edit",
            ("image-to-image", "image-editing"),
            0.04,
            "image",
            "Edit an image with a text instruction.",
            _KONTEXT_SCHEMA,
            3.0,
            _kontext_produce,
            _kontext_file,
            extra_checks=_kontext_checks,
        ),
        Model(
            GPT_IMAGE_ID,
            "GPT Image 2 Text to Image",
            image_cats,
            0.05,
            "image",
            "Generate images from a text prompt.",
            _GPT_SCHEMA,
            3.0,
            _gpt_produce,
            _gpt_file,
        ),
        Model(
            VIDEO_ID,
            "Wan 2.2 Text to Video",
            ("text-to-video",),
            0.40,
            "video",
            "Generate a short video from a text prompt.",
            _VIDEO_SCHEMA,
            6.0,
            _video_produce,
            _video_file,
        ),
        Model(
            ECHO_ID,
            "Emulator: echo",
            ("emulator",),
            0.0,
            "request",
            "Returns its input as the output.",
            _ECHO_SCHEMA,
            0.0,
            lambda _rid, data: Production(output=data),
            _no_file,
        ),
        Model(
            SIZED_ID,
            "Emulator: sized file",
            ("emulator",),
            0.0,
            "request",
            "Produces a file of the requested size, streamed.",
            _SIZED_SCHEMA,
            1.0,
            _sized_produce,
            _sized_file,
        ),
        Model(
            FAIL_ID,
            "Emulator: fail",
            ("emulator",),
            0.0,
            "request",
            "Always ends failed with an error object.",
            _FAIL_SCHEMA,
            1.0,
            _fail_produce,
            _no_file,
        ),
        Model(
            SLOW_ID,
            "Emulator: slow",
            ("emulator",),
            0.0,
            "request",
            "Takes `seconds` to finish, then echoes them.",
            _SLOW_SCHEMA,
            30.0,
            lambda _rid, data: Production(output={"slept_seconds": data.get("seconds", 30)}),
            _no_file,
        ),
    ]
    return {model.model_id: model for model in models}


CATALOG: dict[str, Model] = _catalog()


def validate_input(model: Model, input_data: Any) -> list[JSON]:
    """Every problem with ``input_data`` as a 422 ``detail`` list (empty when valid)."""
    if not isinstance(input_data, dict):
        return [
            {"loc": ["body"], "msg": "Input should be a valid JSON object", "type": "model_attributes_type"}
        ]
    problems: list[JSON] = []
    validator = Draft202012Validator(model.input_schema)
    for error in sorted(validator.iter_errors(input_data), key=lambda e: list(map(str, e.absolute_path))):
        problems.extend(_describe(error))
    if not problems:
        problems.extend(model.extra_checks(input_data))
    return problems


def _describe(error: Any) -> list[JSON]:
    path = list(error.absolute_path)
    if error.validator == "required":
        missing = [name for name in error.validator_value if name not in error.instance]
        return [_detail([*path, name], "Field required", "missing") for name in missing]
    if error.validator == "additionalProperties":
        allowed = set(error.schema.get("properties", {}))
        extra = [name for name in error.instance if name not in allowed]
        return [_detail([*path, name], "Extra inputs are not permitted", "extra_forbidden") for name in extra]
    kinds = {
        "type": "type_error",
        "enum": "enum",
        "minimum": "greater_than_equal",
        "maximum": "less_than_equal",
        "minLength": "string_too_short",
        "maxLength": "string_too_long",
        "pattern": "string_pattern_mismatch",
    }
    return [_detail(path, error.message, kinds.get(error.validator, "value_error"))]


def categories() -> list[str]:
    """Every category used in the catalog, sorted."""
    return sorted({category for model in CATALOG.values() for category in model.categories})
