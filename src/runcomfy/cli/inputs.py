"""Reading a request's input from ``--input``, ``--input-file PATH`` or ``--input-file -`` (stdin).

Owns the rules of the official CLI (no input means ``{}``; the input must be a JSON object) made safe: the
parser is bounded (:mod:`runcomfy.json_limits`), so a deeply nested or huge document is a clear error (exit 65),
and a missing file is exit 66. Input is read before the token is looked at, so bad JSON beats a missing login.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, BinaryIO

from runcomfy.errors import InputFileNotFound, InvalidInput
from runcomfy.json_limits import MAX_JSON_CHARS, JSONLimitError, loads_bounded
from runcomfy.safe_text import strip_controls


def parse_input_text(text: str | bytes, source: str) -> dict[str, Any]:
    """A JSON object from ``text``; ``source`` (``--input``, ``--input-file``) prefixes every error."""
    try:
        value = loads_bounded(text)
    except JSONLimitError as exc:
        raise InvalidInput(f"{source}: {exc}") from None
    except ValueError as exc:
        raise InvalidInput(f"{source}: invalid JSON: {exc}") from None
    if not isinstance(value, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
            type(value), "a number"
        )
        raise InvalidInput(f"{source} must be a JSON object, got {kind}")
    return value


def read_limited(stream: BinaryIO, limit: int) -> bytes | None:
    """At most ``limit`` bytes of ``stream``, or ``None`` if it holds more (read no further than one past it).

    Why: ``--input-file - </dev/zero`` or a huge file must end with a clear error, not with gigabytes in memory.
    """
    chunks: list[bytes] = []
    total = 0
    while total <= limit:
        chunk = stream.read(min(limit + 1 - total, 1024 * 1024))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
    return None


def read_source(source: str, option: str, limit: int) -> bytes:
    """The bytes of a file named on the command line (``-`` for stdin), bounded by ``limit``."""
    shown = strip_controls(source, max_len=200)
    try:
        if source == "-":
            data = read_limited(sys.stdin.buffer, limit)
        else:
            with Path(source).open("rb") as handle:
                data = read_limited(handle, limit)
    except FileNotFoundError:
        raise InputFileNotFound(f"{option}: {shown}: no such file") from None
    except IsADirectoryError:
        raise InvalidInput(f"{option}: {shown} is a directory") from None
    except OSError as exc:
        raise InvalidInput(f"{option}: cannot read {shown}: {exc.strerror or exc}") from None
    if data is None:
        where = "stdin" if source == "-" else shown
        raise InvalidInput(
            f"{option}: {where} holds more than {limit // (1024 * 1024)} MiB; nothing was sent"
        )
    return data


def read_input(inline: str | None, input_file: str | None) -> dict[str, Any]:
    """The request body from the command-line options (``{}`` when neither is given)."""
    if inline is not None:
        return parse_input_text(inline, "--input")
    if input_file is None:
        return {}
    return parse_input_text(read_source(input_file, "--input-file", MAX_JSON_CHARS), "--input-file")


def check_model_id(model_id: str) -> str:
    """The official CLI's check: a model id is slash-separated (``owner/model/...``)."""
    if "/" not in model_id.strip("/"):
        raise InvalidInput(
            f"`{model_id}` is not a valid model_id (expected slash-separated, e.g. "
            "`blackforestlabs/flux-1-kontext/pro/edit`). Find model_ids at https://www.runcomfy.com/models"
        )
    return model_id.strip("/")
