"""Reading a request's input from ``--input``, ``--input-file PATH`` or ``--input-file -`` (stdin).

Owns the rules of the official CLI (no input means ``{}``; the input must be a JSON object) made safe: the
parser is bounded (:mod:`runcomfy.json_limits`), so a deeply nested or huge document is a clear error (exit 65),
and a missing file is exit 66. Input is read before the token is looked at, so bad JSON beats a missing login.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from runcomfy.errors import InputFileNotFound, InvalidInput
from runcomfy.json_limits import JSONLimitError, loads_bounded


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


def read_input(inline: str | None, input_file: str | None) -> dict[str, Any]:
    """The request body from the command-line options (``{}`` when neither is given)."""
    if inline is not None:
        return parse_input_text(inline, "--input")
    if input_file is None:
        return {}
    if input_file == "-":
        return parse_input_text(sys.stdin.buffer.read(), "--input-file")
    path = Path(input_file)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputFileNotFound(f"--input-file: {input_file}: no such file") from None
    except IsADirectoryError:
        raise InvalidInput(f"--input-file: {input_file} is a directory") from None
    except OSError as exc:
        raise InvalidInput(f"--input-file: cannot read {input_file}: {exc.strerror or exc}") from None
    return parse_input_text(data, "--input-file")


def check_model_id(model_id: str) -> str:
    """The official CLI's check: a model id is slash-separated (``owner/model/...``)."""
    if "/" not in model_id.strip("/"):
        raise InvalidInput(
            f"`{model_id}` is not a valid model_id (expected slash-separated, e.g. "
            "`blackforestlabs/flux-1-kontext/pro/edit`). Find model_ids at https://www.runcomfy.com/models"
        )
    return model_id.strip("/")
