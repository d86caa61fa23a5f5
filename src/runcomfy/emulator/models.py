"""The emulator's model catalog: each model's record, input JSON Schema, run time and what it produces.

Stand-ins for real catalog ids accept the documented inputs and produce real media; the test models under
``runcomfy/emulator/...`` exist to exercise clients (echo, sized files, failures, slowness). Outputs refer to
files with :data:`FILE_MARKER` paths; the routes turn them into absolute URLs on the emulator's own origin
when rendering, so a restarted emulator on another port still serves every stored result.

The catalog itself (which models exist) is built in :mod:`~runcomfy.emulator.catalog`, from the modules that
define models with the types here; this module must never import them, or importing any one of them first
would be a circular import. It knows nothing of HTTP, queues or persistence.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator

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


@dataclass(frozen=True, kw_only=True)
class Model:
    """One catalog entry and its behaviour (keyword-only: a dozen fields, several of the same type)."""

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
    duration_input: str | None = None  # an input field that sets the run time (the slow model's `seconds`)

    def duration_s(self, input_data: JSON) -> float:
        """Run time of one request: the model's own, or the value of its ``duration_input`` field."""
        if self.duration_input is not None and self.duration_input in input_data:
            return float(input_data[self.duration_input])
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


def with_origin(origin: str, value: Any) -> Any:
    """Stored output with its file references made absolute URLs on ``origin`` (``http://host:port``)."""
    if isinstance(value, str):
        return origin + value[len(FILE_MARKER) :] if value.startswith(FILE_MARKER) else value
    if isinstance(value, list):
        return [with_origin(origin, item) for item in value]
    if isinstance(value, dict):
        return {key: with_origin(origin, item) for key, item in value.items()}
    return value


def bytes_file(content_type: str, data: bytes) -> RenderedFile:
    """A file served from bytes in memory."""

    def read(start: int, end: int) -> Iterator[bytes]:
        yield data[start:end]

    return RenderedFile(content_type=content_type, size=len(data), read=read)


def detail(loc: list[Any], msg: str, kind: str) -> JSON:
    """One entry of a 422 ``detail`` list, naming the field."""
    return {"loc": ["body", *loc], "msg": msg, "type": kind}


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
        return [detail([*path, name], "Field required", "missing") for name in missing]
    if error.validator == "additionalProperties":
        allowed = set(error.schema.get("properties", {}))
        extra = [name for name in error.instance if name not in allowed]
        return [detail([*path, name], "Extra inputs are not permitted", "extra_forbidden") for name in extra]
    kinds = {
        "type": "type_error",
        "enum": "enum",
        "minimum": "greater_than_equal",
        "maximum": "less_than_equal",
        "minLength": "string_too_short",
        "maxLength": "string_too_long",
        "pattern": "string_pattern_mismatch",
    }
    return [detail(path, error.message, kinds.get(error.validator, "value_error"))]
