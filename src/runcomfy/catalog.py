"""The model catalog on this side of the wire: a short-lived local cache of model records, a model's inputs
as table rows and its price as text.

Owns the cache's file layout (one JSON file per model, named by the sha256 of the API base and the model id, in
a 0700 directory, replaced atomically) and its rule that a cache must never break a run: every I/O or parsing
problem reads as "not cached" and a failed write is dropped. It stores catalog records only, never a token or
anything else from the client. It must never make HTTP calls (the :class:`~runcomfy.client.Client` fetches) and
never print.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from runcomfy.json_limits import loads_bounded
from runcomfy.private_dirs import make_private_dirs
from runcomfy.safe_text import strip_controls

__all__ = ["DEFAULT_SCHEMA_TTL_S", "InputRow", "SchemaCache", "input_rows", "price_label"]

DEFAULT_SCHEMA_TTL_S = 600.0
MAX_CACHE_FILE_BYTES = 8 * 1024 * 1024
_CACHE_FORMAT = 1


class SchemaCache:
    """Model records kept on disk for ``ttl_s`` seconds.

    ``clock`` is wall-clock time (records outlive the process); a record stamped in the future (the clock went
    back) counts as expired.
    """

    def __init__(
        self, directory: Path, *, ttl_s: float = DEFAULT_SCHEMA_TTL_S, clock: Callable[[], float] = time.time
    ) -> None:
        self.directory = Path(directory)
        self.ttl_s = ttl_s
        self._clock = clock

    def __repr__(self) -> str:
        return f"SchemaCache(directory={str(self.directory)!r}, ttl_s={self.ttl_s!r})"

    def path_for(self, namespace: str, model_id: str) -> Path:
        """The file of one record: the names say nothing about which models were looked at."""
        key = hashlib.sha256(f"{namespace}\n{model_id}".encode()).hexdigest()
        return self.directory / f"{key}.json"

    def get(self, namespace: str, model_id: str) -> dict[str, Any] | None:
        """The cached record, or ``None`` when missing, expired, unreadable or corrupt."""
        entry = read_cache_entry(self.path_for(namespace, model_id))
        if entry is None:
            return None
        record, saved_at = entry.get("record"), entry.get("saved_at")
        if (
            entry.get("format") != _CACHE_FORMAT
            or entry.get("namespace") != namespace
            or entry.get("model_id") != model_id
            or not isinstance(record, dict)
            or not isinstance(saved_at, int | float)
            or isinstance(saved_at, bool)
        ):
            return None
        age = self._clock() - saved_at
        return record if 0 <= age < self.ttl_s else None

    def put(self, namespace: str, model_id: str, record: Mapping[str, Any]) -> None:
        """Store ``record`` (temp file + rename, so a reader never sees half a file); failures are dropped."""
        entry = {
            "format": _CACHE_FORMAT,
            "namespace": namespace,
            "model_id": model_id,
            "saved_at": self._clock(),
            "record": dict(record),
        }
        write_cache_entry(self.path_for(namespace, model_id), entry)


def read_cache_entry(path: Path) -> dict[str, Any] | None:
    """The JSON object stored at ``path``, or ``None`` when it is missing, too big, unreadable or not an
    object: for a cache, every such problem simply means "not cached"."""
    try:
        with path.open("rb") as file:
            content = file.read(MAX_CACHE_FILE_BYTES + 1)
        entry = loads_bounded(content)
    except (OSError, ValueError):
        return None
    if len(content) > MAX_CACHE_FILE_BYTES or not isinstance(entry, dict):
        return None
    return entry


def write_cache_entry(path: Path, entry: Mapping[str, Any]) -> None:
    """Store ``entry`` as JSON at ``path`` through a temp file and a rename, so a reader never sees half a
    file; the directory is created 0700. Any failure is dropped: a cache that cannot be written is no cache."""
    try:
        content = json.dumps(entry, ensure_ascii=False, allow_nan=False).encode("utf-8")
        make_private_dirs(path.parent)
        descriptor, temp_name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(content)
            os.replace(temp_name, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp_name)
            raise
    except (OSError, TypeError, ValueError, RecursionError):
        return


@dataclass(frozen=True)
class InputRow:
    """One input of a model, ready for a table: every field is display text except ``default`` (the raw
    schema default, ``None`` when there is none)."""

    name: str
    type: str
    required: bool
    default: Any
    allowed: str
    description: str


def input_rows(record: Mapping[str, Any]) -> list[InputRow]:
    """One row per property of ``record["input_schema"]``, in schema order; ``[]`` when there is no schema."""
    schema = record.get("input_schema")
    if not isinstance(schema, Mapping):
        return []
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return []
    required = schema.get("required")
    required_names = (
        {name for name in required if isinstance(name, str)} if isinstance(required, list) else set()
    )
    rows = []
    for name, prop in properties.items():
        prop = prop if isinstance(prop, Mapping) else {}
        rows.append(
            InputRow(
                name=_clean(str(name)),
                type=type_label(prop),
                required=name in required_names,
                default=prop.get("default"),
                allowed=allowed_label(prop),
                description=_clean(prop.get("description")),
            )
        )
    return rows


def type_label(prop: Mapping[str, Any]) -> str:
    """``string``, ``array of string``, ``string|null``, ``integer|string`` (``anyOf``), ``any`` when unknown."""
    declared = prop.get("type")
    names = [declared] if isinstance(declared, str) else [t for t in declared or [] if isinstance(t, str)]
    if not names:
        alternatives = [sub for key in ("anyOf", "oneOf") for sub in prop.get(key) or []]
        labels = [type_label(sub) for sub in alternatives if isinstance(sub, Mapping)]
        return _clean("|".join(dict.fromkeys(labels))) or ("enum" if "enum" in prop else "any")
    items = prop.get("items")
    if "array" in names and isinstance(items, Mapping) and items.get("type"):
        names = [f"array of {type_label(items)}" if name == "array" else name for name in names]
    return _clean("|".join(names))


def allowed_label(prop: Mapping[str, Any]) -> str:
    """Enums as ``a, b, c``; bounds as ``0..4294967295``, ``>= 1``, ``1..32000 chars``; parts joined by ``; ``."""
    parts: list[str] = []
    if isinstance(prop.get("enum"), list):
        parts.append(", ".join(_value_text(value) for value in prop["enum"]))
    if "const" in prop:
        parts.append(_value_text(prop["const"]))
    parts.append(_numeric_bounds(prop))
    parts.append(_size_bounds(prop, "minLength", "maxLength", "chars"))
    parts.append(_size_bounds(prop, "minItems", "maxItems", "items"))
    if isinstance(prop.get("pattern"), str):
        parts.append(f"pattern {prop['pattern']}")
    return _clean("; ".join(part for part in parts if part))


def _numeric_bounds(prop: Mapping[str, Any]) -> str:
    low, high = _number(prop.get("minimum")), _number(prop.get("maximum"))
    low_x, high_x = _number(prop.get("exclusiveMinimum")), _number(prop.get("exclusiveMaximum"))
    if low is not None and high is not None:
        return f"{_value_text(low)}..{_value_text(high)}"
    lower = (
        f">= {_value_text(low)}"
        if low is not None
        else f"> {_value_text(low_x)}"
        if low_x is not None
        else ""
    )
    upper = (
        f"<= {_value_text(high)}"
        if high is not None
        else f"< {_value_text(high_x)}"
        if high_x is not None
        else ""
    )
    return ", ".join(part for part in (lower, upper) if part)


def _size_bounds(prop: Mapping[str, Any], low_key: str, high_key: str, unit: str) -> str:
    low, high = _number(prop.get(low_key)), _number(prop.get(high_key))
    if low is not None and high is not None:
        return f"{_value_text(low)}..{_value_text(high)} {unit}"
    if low is not None and low > 0:
        return "non-empty" if low == 1 else f">= {_value_text(low)} {unit}"
    return f"<= {_value_text(high)} {unit}" if high is not None else ""


def price_label(record: Mapping[str, Any]) -> str:
    """``$0.40/video``, ``$0.005/image``, ``$3.00``; ``""`` when the record has no numeric price.

    Money reads best with two decimals, but a sub-cent price must keep every digit it has: the amount is
    padded to two decimals, never rounded.
    """
    price, unit = _number(record.get("base_price_usd")), record.get("price_unit")
    if price is None or (isinstance(price, float) and not math.isfinite(price)):
        return ""
    amount = f"${_money(price)}"
    return f"{amount}/{_clean(unit)}" if isinstance(unit, str) and unit.strip() else amount


def _money(price: int | float) -> str:
    text = format(Decimal(repr(price)), "f")  # repr: the shortest text that reads back as the same float
    whole, _, decimals = text.partition(".")
    return f"{whole}.{decimals.ljust(2, '0')}"


def _number(value: Any) -> int | float | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _value_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _clean(text: Any) -> str:
    """Whitespace runs folded to one space (a description's newlines included), control characters dropped."""
    if not isinstance(text, str):
        return ""
    return strip_controls(" ".join(text.split()), max_len=2000)
