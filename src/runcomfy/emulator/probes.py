"""Test models under ``runcomfy/emulator/...``: they exist to exercise clients, not to draw anything.

``echo`` returns its input, ``sized-file`` streams a file of any size computed from the byte offset (never
stored), ``fail`` ends ``failed`` with an error object, and ``slow`` takes ``seconds`` to finish.
"""

from __future__ import annotations

from runcomfy.emulator import media
from runcomfy.emulator.models import JSON, Model, Production, RenderedFile, file_ref

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


ECHO_MODEL = Model(
    model_id=ECHO_ID,
    display_name="Emulator: echo",
    categories=("emulator",),
    base_price_usd=0.0,
    price_unit="request",
    description="Returns its input as the output.",
    input_schema=_ECHO_SCHEMA,
    default_duration_s=0.0,
    produce=lambda _rid, data: Production(output=data),
    render_file=_no_file,
)


SIZED_MODEL = Model(
    model_id=SIZED_ID,
    display_name="Emulator: sized file",
    categories=("emulator",),
    base_price_usd=0.0,
    price_unit="request",
    description="Produces a file of the requested size, streamed.",
    input_schema=_SIZED_SCHEMA,
    default_duration_s=1.0,
    produce=_sized_produce,
    render_file=_sized_file,
)


FAIL_MODEL = Model(
    model_id=FAIL_ID,
    display_name="Emulator: fail",
    categories=("emulator",),
    base_price_usd=0.0,
    price_unit="request",
    description="Always ends failed with an error object.",
    input_schema=_FAIL_SCHEMA,
    default_duration_s=1.0,
    produce=_fail_produce,
    render_file=_no_file,
)


SLOW_MODEL = Model(
    model_id=SLOW_ID,
    display_name="Emulator: slow",
    categories=("emulator",),
    base_price_usd=0.0,
    price_unit="request",
    description="Takes `seconds` to finish, then echoes them.",
    input_schema=_SLOW_SCHEMA,
    default_duration_s=30.0,
    produce=lambda _rid, data: Production(output={"slept_seconds": data.get("seconds", 30)}),
    render_file=_no_file,
    duration_input="seconds",
)


def models() -> list[Model]:
    """The test models of the catalog."""
    return [ECHO_MODEL, SIZED_MODEL, FAIL_MODEL, SLOW_MODEL]
