"""Shorthand inputs: the ``key=value`` arguments of ``runcomfy run MODEL_ID key=value ...`` turned into JSON.

The forms:

- ``key=value``: converted by the type the model's schema gives the (top-level) field: ``integer`` (``7``; not
  ``7.5``), ``number``, ``boolean`` (``true/false``, ``1/0``, ``yes/no``, ``on/off``, any case), ``array`` (a
  JSON array, else comma-separated items converted by ``items.type``, surrounding spaces dropped), ``object`` (a
  JSON object); a string field, a field the schema does not know, or no schema at all: the text as it is. For a
  type list such as ``["integer", "null"]`` the first non-null type counts; ``null`` itself needs ``:=``.
- ``key:=JSON``: any JSON value, as written (``seed:=7``, ``prompt:='"@not-a-file"'``, ``mask:=null``).
- ``key=@path``: the file, sent inline as a Base64 ``data:<mime>;base64,...`` URI (media inputs accept a URL
  or a data URI); the MIME type comes from the file's first bytes, else its name. ``key=@-`` reads stdin.

Files are limited to :data:`MAX_INLINE_FILE_BYTES` (10 MiB): a data URI is a third larger than the file and
travels in the request body, so a larger file should be hosted somewhere and passed as its https URL. Keys are
top-level field names only (a dot is part of the name); a repeated key: the last one wins.

This module owns that syntax, the conversions and the MIME sniffing. It must never send anything, never print,
and never read a file past the size limit.
"""

from __future__ import annotations

import base64
import math
import mimetypes
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from runcomfy.errors import InputFileNotFound, InvalidInput
from runcomfy.json_limits import loads_bounded
from runcomfy.safe_text import strip_controls

__all__ = [
    "MAX_INLINE_FILE_BYTES",
    "convert_text",
    "data_uri",
    "merge_input",
    "parse_assignments",
    "parse_json_text",
    "sniff_mime",
]

MAX_INLINE_FILE_BYTES = 10 * 1024 * 1024
STDIN_MARKER = "-"

_INTEGER = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_BOOLEANS = {
    "true": True,
    "1": True,
    "yes": True,
    "on": True,
    "false": False,
    "0": False,
    "no": False,
    "off": False,
}


class _ConversionError(ValueError):
    """A value that does not fit its field's type; the message says what was expected."""


def parse_assignments(
    args: Sequence[str], schema: Mapping[str, Any] | None, *, stdin: BinaryIO | None = None
) -> dict[str, Any]:
    """The input fields set by ``args`` (see the module docstring), converted by ``schema`` (the model's
    ``input_schema``; ``None`` takes every value as a string).

    Raises :class:`InvalidInput` naming the argument, or :class:`InputFileNotFound` for a missing ``@file``.
    """
    properties = schema.get("properties") if isinstance(schema, Mapping) else None
    properties = properties if isinstance(properties, Mapping) else {}
    fields: dict[str, Any] = {}
    stdin_used = False
    for arg in args:
        key, raw_json, value = _split(arg)
        if raw_json:
            fields[key] = _parse_json(key, value)
        elif value.startswith("@"):
            if value == "@" + STDIN_MARKER:
                if stdin_used:
                    raise InvalidInput(f"{_shown(arg)}: only one argument can read stdin (@-)")
                stdin_used = True
                fields[key] = data_uri(_read_stdin(key, stdin))
            else:
                path = value[1:]
                fields[key] = data_uri(_read_file(key, path), os.path.basename(path))
        else:
            fields[key] = _convert_arg(key, value, properties.get(key))
    return fields


def merge_input(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` laid over it, top-level keys only (a nested object is replaced, not merged)."""
    return {**base, **overrides}


def data_uri(data: bytes, name: str | None = None) -> str:
    """``data:<mime>;base64,<data>``; the MIME type from the bytes, else from ``name``."""
    return f"data:{sniff_mime(data, name)};base64,{base64.b64encode(data).decode('ascii')}"


def sniff_mime(data: bytes, name: str | None = None) -> str:
    """The MIME type by magic bytes, then by the file name's extension, then ``application/octet-stream``.

    Why bytes first: the name lies often (a ``.png`` that is a JPEG) and stdin has none.
    """
    for test, mime in _SIGNATURES:
        if test(data):
            return _media_container_mime(data) if mime == "ftyp" else mime
    guessed = mimetypes.guess_type(name)[0] if name else None
    return guessed or "application/octet-stream"


def _media_container_mime(data: bytes) -> str:
    brand = data[8:12]
    if brand == b"qt  ":
        return "video/quicktime"
    if brand in (b"M4A ", b"M4B "):
        return "audio/mp4"
    if brand in (b"heic", b"heix", b"mif1", b"msf1"):
        return "image/heic"
    return "image/avif" if brand in (b"avif", b"avis") else "video/mp4"


def _riff(kind: bytes) -> Callable[[bytes], bool]:
    return lambda data: data[:4] == b"RIFF" and data[8:12] == kind


def _prefix(*prefixes: bytes) -> Callable[[bytes], bool]:
    return lambda data: data.startswith(prefixes)


def _is_mp3(data: bytes) -> bool:
    # An ID3 tag, or an MPEG audio frame header (11 sync bits, layer III).
    return data.startswith(b"ID3") or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE6 == 0xE2)


def _is_matroska(data: bytes) -> bool:
    return data.startswith(b"\x1a\x45\xdf\xa3")


_SIGNATURES: list[tuple[Callable[[bytes], bool], str]] = [
    (_prefix(b"\x89PNG\r\n\x1a\n"), "image/png"),
    (_prefix(b"\xff\xd8\xff"), "image/jpeg"),
    (_prefix(b"GIF87a", b"GIF89a"), "image/gif"),
    (_riff(b"WEBP"), "image/webp"),
    (_riff(b"WAVE"), "audio/wav"),
    (_riff(b"AVI "), "video/x-msvideo"),
    (lambda data: data[4:8] == b"ftyp", "ftyp"),
    (lambda data: _is_matroska(data) and b"webm" in data[:64], "video/webm"),
    (_is_matroska, "video/x-matroska"),
    (_prefix(b"%PDF-"), "application/pdf"),
    (_prefix(b"OggS"), "audio/ogg"),
    (_prefix(b"fLaC"), "audio/flac"),
    (_prefix(b"II*\x00", b"MM\x00*"), "image/tiff"),
    (_is_mp3, "audio/mpeg"),
]


# --- one argument -----------------------------------------------------------------------------------------------


def _split(arg: str) -> tuple[str, bool, str]:
    """``(key, is_json, value)`` of ``key=value`` / ``key:=JSON``."""
    equals = arg.find("=")
    if equals < 0:
        raise InvalidInput(f"{_shown(arg)}: expected key=value, key:=JSON or key=@file")
    raw_json = equals > 0 and arg[equals - 1] == ":"
    key = arg[: equals - 1] if raw_json else arg[:equals]
    if not key.strip():
        raise InvalidInput(f"{_shown(arg)}: the field name before '=' is empty")
    return key, raw_json, arg[equals + 1 :]


def _parse_json(key: str, text: str) -> Any:
    try:
        return loads_bounded(text)
    except ValueError as exc:
        raise InvalidInput(f"{_shown(key + ':=' + text)}: not valid JSON ({_shown(str(exc))})") from None


def convert_text(shown: str, value: str, prop: Any) -> Any:
    """``value`` converted to the type the property schema ``prop`` declares (``None``: kept as text).

    Raises :class:`InvalidInput` naming ``shown`` (the argument as the user wrote it) when it does not fit.
    """
    try:
        return _convert(value, prop)
    except _ConversionError as exc:
        raise InvalidInput(f"{_shown(shown)}: {exc}") from None


def parse_json_text(shown: str, text: str) -> Any:
    """The JSON value of a ``:=`` argument; :class:`InvalidInput` naming ``shown`` when it is not JSON."""
    try:
        return loads_bounded(text)
    except ValueError as exc:
        raise InvalidInput(f"{_shown(shown)}: not valid JSON ({_shown(str(exc))})") from None


def _convert_arg(key: str, value: str, prop: Any) -> Any:
    try:
        return _convert(value, prop)
    except _ConversionError as exc:
        raise InvalidInput(f"{_shown(key + '=' + value)}: {exc}") from None


def _convert(value: str, prop: Any) -> Any:
    """``value`` converted to the type ``prop`` (a property schema) declares."""
    kind = _effective_type(prop)
    if kind == "integer":
        return _to_integer(value)
    if kind == "number":
        return _to_number(value)
    if kind == "boolean":
        return _to_boolean(value)
    if kind == "array":
        return _to_array(value, prop.get("items") if isinstance(prop, Mapping) else None)
    if kind == "object":
        return _to_object(value)
    return value


def _effective_type(prop: Any) -> str | None:
    """The first non-null type of a property (its ``type``, else its ``anyOf``/``oneOf`` alternatives)."""
    if not isinstance(prop, Mapping):
        return None
    declared = prop.get("type")
    names = [declared] if isinstance(declared, str) else declared if isinstance(declared, list) else []
    for name in names:
        if isinstance(name, str) and name != "null":
            return name
    for key in ("anyOf", "oneOf"):
        for alternative in prop.get(key) or []:
            found = _effective_type(alternative)
            if found is not None:
                return found
    return None


def _to_integer(value: str) -> int:
    text = value.strip()
    if not _INTEGER.fullmatch(text):
        raise _ConversionError("expected an integer")
    return int(text)


def _to_number(value: str) -> int | float:
    text = value.strip()
    if _INTEGER.fullmatch(text):
        return int(text)
    if not _NUMBER.fullmatch(text) or not math.isfinite(number := float(text)):
        raise _ConversionError("expected a number")
    return number


def _to_boolean(value: str) -> bool:
    try:
        return _BOOLEANS[value.strip().lower()]
    except KeyError:
        raise _ConversionError("expected a boolean (true/false, yes/no, on/off, 1/0)") from None


def _to_array(value: str, items: Any) -> list[Any]:
    if value.lstrip().startswith("["):
        try:
            parsed = loads_bounded(value)
        except ValueError:
            parsed = None
        if isinstance(parsed, list):
            return parsed
    if not value.strip():
        return []
    converted = []
    for index, item in enumerate(value.split(","), start=1):
        try:
            converted.append(_convert(item.strip(), items))
        except _ConversionError as exc:
            raise _ConversionError(f"item {index}: {exc}") from None
    return converted


def _to_object(value: str) -> dict[str, Any]:
    try:
        parsed = loads_bounded(value)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise _ConversionError('expected a JSON object, e.g. {"key": "value"}')
    return parsed


# --- files and stdin --------------------------------------------------------------------------------------------


def _read_file(key: str, path: str) -> bytes:
    shown = _shown(f"{key}=@{path}")
    if not path:
        raise InvalidInput(f"{shown}: no file name after '@'")
    try:
        with Path(path).expanduser().open("rb") as file:
            size = os.fstat(file.fileno()).st_size
            if size > MAX_INLINE_FILE_BYTES:
                raise InvalidInput(_too_large(shown, size))
            data = file.read(MAX_INLINE_FILE_BYTES + 1)
    except FileNotFoundError:
        raise InputFileNotFound(f"{shown}: no such file") from None
    except IsADirectoryError:
        raise InvalidInput(f"{shown}: is a directory, not a file") from None
    except OSError as exc:
        raise InvalidInput(f"{shown}: cannot read the file ({_shown(exc.strerror or str(exc))})") from None
    if len(data) > MAX_INLINE_FILE_BYTES:  # it grew, or it is a pipe or device whose size says nothing
        raise InvalidInput(_too_large(shown, None))
    return data


def _read_stdin(key: str, stdin: BinaryIO | None) -> bytes:
    stream = stdin if stdin is not None else sys.stdin.buffer
    chunks: list[bytes] = []
    total = 0
    while total <= MAX_INLINE_FILE_BYTES:
        chunk = stream.read(MAX_INLINE_FILE_BYTES + 1 - total)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    if total > MAX_INLINE_FILE_BYTES:
        raise InvalidInput(_too_large(_shown(f"{key}=@-"), None))
    return b"".join(chunks)


def _too_large(shown: str, size: int | None) -> str:
    limit_mib = MAX_INLINE_FILE_BYTES // (1024 * 1024)
    actual = f" ({size / (1024 * 1024):.1f} MiB)" if size is not None else ""
    return (
        f"{shown}: the file is larger than the {limit_mib} MiB limit for files sent inline{actual}. "
        "Upload it somewhere it can be downloaded and pass its https URL instead "
        f"(e.g. {shown.split('=', 1)[0]}=https://example.com/file)."
    )


def _shown(text: str) -> str:
    return strip_controls(text, max_len=120)
