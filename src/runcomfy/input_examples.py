"""A filled example input for a model, built from its input JSON Schema.

An agent (or a person) that looks up a model wants to see an input that would be accepted, not only the
schema. The example takes, for each property, the schema's own ``examples``/``example``, else its ``default``,
else the first ``enum`` value, else a placeholder of the right type that respects ``minimum``/``minLength``;
required properties always appear, optional ones only when the schema gives them a real value (an example or a
default), so the example stays short. It is a best effort for reading, never sent by itself: callers validate
what they submit. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["example_input"]

_MAX_DEPTH = 4  # nested objects deeper than this are left as {} (a schema may be recursive)
_PLACEHOLDER_TEXT = "example text"


def example_input(schema: Mapping[str, Any] | None) -> dict[str, Any]:
    """An input object for ``schema`` (``{}`` when there is no usable schema)."""
    if not isinstance(schema, Mapping):
        return {}
    value = _object_example(schema, depth=0)
    return value if isinstance(value, dict) else {}


def _object_example(schema: Mapping[str, Any], depth: int) -> dict[str, Any]:
    properties = schema.get("properties")
    if not isinstance(properties, Mapping) or depth > _MAX_DEPTH:
        return {}
    required = schema.get("required")
    required_names = {n for n in required if isinstance(n, str)} if isinstance(required, list) else set()
    example: dict[str, Any] = {}
    for name, prop in properties.items():
        if not isinstance(name, str) or not isinstance(prop, Mapping):
            continue
        given = _given_value(prop)
        if given is not _NOTHING:
            example[name] = given
        elif name in required_names:
            example[name] = _placeholder(prop, name, depth)
    return example


_NOTHING: Any = object()


def _given_value(prop: Mapping[str, Any]) -> Any:
    """The value the schema itself offers (examples, example, default), or ``_NOTHING``."""
    examples = prop.get("examples")
    if isinstance(examples, list) and examples:
        return examples[0]
    if "example" in prop:
        return prop["example"]
    if "default" in prop:
        return prop["default"]
    return _NOTHING


def _placeholder(prop: Mapping[str, Any], name: str, depth: int) -> Any:
    """A value of the property's type, within its bounds, for a required property the schema gives none."""
    enum = prop.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    if "const" in prop:
        return prop["const"]
    for key in ("anyOf", "oneOf"):
        alternatives = [a for a in prop.get(key) or [] if isinstance(a, Mapping)]
        typed = [a for a in alternatives if a.get("type") not in (None, "null")]
        if typed:
            return _placeholder(typed[0], name, depth)
    kind = prop.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind == "integer":
        return int(_lower_bound(prop, 1))
    if kind == "number":
        return float(_lower_bound(prop, 1))
    if kind == "boolean":
        return False
    if kind == "array":
        items = prop.get("items")
        min_items = prop.get("minItems")
        count = min_items if isinstance(min_items, int) and not isinstance(min_items, bool) else 1
        item = _placeholder(items, name, depth + 1) if isinstance(items, Mapping) else _PLACEHOLDER_TEXT
        return [item] * max(count, 1)
    if kind == "object":
        return _object_example(prop, depth + 1)
    return _text_placeholder(prop, name)


def _lower_bound(prop: Mapping[str, Any], fallback: float) -> float:
    for key in ("minimum", "exclusiveMinimum"):
        bound = prop.get(key)
        if isinstance(bound, int | float) and not isinstance(bound, bool):
            return bound + (1 if key == "exclusiveMinimum" else 0)
    maximum = prop.get("maximum")
    if isinstance(maximum, int | float) and not isinstance(maximum, bool) and maximum < fallback:
        return maximum
    return fallback


def _text_placeholder(prop: Mapping[str, Any], name: str) -> str:
    lowered = name.lower()
    if prop.get("format") == "uri" or lowered.endswith("url") or lowered.endswith("_uri"):
        return "https://example.com/input.png"
    text = f"a {lowered.replace('_', ' ')}" if "prompt" in lowered else _PLACEHOLDER_TEXT
    min_length = prop.get("minLength")
    if isinstance(min_length, int) and len(text) < min_length:
        text = text.ljust(min_length, ".")
    max_length = prop.get("maxLength")
    if isinstance(max_length, int) and max_length >= 0:
        text = text[:max_length]
    return text
