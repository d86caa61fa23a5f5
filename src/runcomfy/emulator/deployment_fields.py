"""The fields of a deployment as a create (``POST``) or update (``PATCH``) body gives them, checked.

Each problem is a 422 ``detail`` entry naming its field (``{"loc": ["body", "min_instances"], "msg",
"type"}``), and every problem of a body is reported at once. The rules:

- ``name``: a non-blank string of at most 128 characters; required by create and, as on the service, by
  every update too;
- ``workflow_id`` and ``workflow_version``: a workflow the emulator knows (see
  :mod:`~runcomfy.emulator.workflows`); required by create; an update may change the version only;
- ``hardware``: a list of exactly one SKU (the service takes a list but refuses more than one for now);
- ``min_instances`` 0-30, ``max_instances`` 1-60 and at least ``min_instances``, ``queue_size`` 1-1000,
  ``keep_warm_duration_in_seconds`` 0-86400: integers (a boolean is not one);
- ``is_enabled``: a boolean;
- any other field is refused (``extra_forbidden``), as the emulator is strict everywhere.

Create fills what is not given with the official CLI's defaults (``AMPERE_48``, 0, 1, 1, 60, enabled).
Pure functions over JSON: nothing here knows HTTP or the store.
"""

from __future__ import annotations

from typing import Any

from runcomfy.emulator import workflows
from runcomfy.emulator.hardware import DEFAULT_SKU, SKUS
from runcomfy.emulator.models import detail

JSON = dict[str, Any]
MAX_NAME_CHARS = 128
RANGES = {
    "min_instances": (0, 30),
    "max_instances": (1, 60),
    "queue_size": (1, 1000),
    "keep_warm_duration_in_seconds": (0, 86400),
}
DEFAULTS: JSON = {
    "hardware": [DEFAULT_SKU],
    "min_instances": 0,
    "max_instances": 1,
    "queue_size": 1,
    "keep_warm_duration_in_seconds": 60,
    "is_enabled": True,
}
CREATE_FIELDS = ("name", "workflow_id", "workflow_version", *DEFAULTS)
UPDATE_FIELDS = tuple(field for field in CREATE_FIELDS if field != "workflow_id")


def not_an_object() -> list[JSON]:
    """The problem of a body that is not a JSON object."""
    return [{"loc": ["body"], "msg": "Input should be a valid JSON object", "type": "model_attributes_type"}]


def create_fields(body: Any) -> tuple[JSON, list[JSON]]:
    """The fields of a new deployment (defaults filled in), and every problem with ``body``."""
    if not isinstance(body, dict):
        return {}, not_an_object()
    problems = _unknown(body, CREATE_FIELDS)
    problems += [
        detail([name], "Field required", "missing") for name in CREATE_FIELDS[:3] if name not in body
    ]
    fields = {**DEFAULTS, **body}
    problems += _value_problems(body)
    if "workflow_id" in body and "workflow_version" in body:
        problems += _workflow_problems(body["workflow_id"], body["workflow_version"])
    problems += _range_order(fields)
    return fields, problems


def update_fields(body: Any, current: JSON) -> tuple[JSON, list[JSON]]:
    """The fields an update changes, and every problem with ``body`` (``current``: the deployment's fields)."""
    if not isinstance(body, dict):
        return {}, not_an_object()
    changes = dict(body)
    if changes.get("workflow_id", current["workflow_id"]) == current["workflow_id"]:
        changes.pop("workflow_id", None)  # naming the same workflow is no change
    problems = _unknown(changes, UPDATE_FIELDS)
    if "name" not in body:
        problems.append(detail(["name"], "Field required (an update always names the deployment)", "missing"))
    problems += _value_problems(changes)
    if "workflow_version" in changes:
        problems += _workflow_problems(current["workflow_id"], changes["workflow_version"])
    problems += _range_order({**current, **changes})
    return changes, problems


def _unknown(body: JSON, allowed: tuple[str, ...]) -> list[JSON]:
    return [
        detail([name], _FIXED.get(name, "Extra inputs are not permitted"), "extra_forbidden")
        for name in body
        if name not in allowed
    ]


_FIXED = {"workflow_id": "workflow_id cannot change; create a new deployment"}


def _value_problems(body: JSON) -> list[JSON]:
    problems: list[JSON] = []
    if "name" in body:
        name = body["name"]
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_CHARS:
            message = f"name must be a non-blank string of at most {MAX_NAME_CHARS} characters"
            problems.append(detail(["name"], message, "string_type"))
    for field in ("workflow_id", "workflow_version"):
        if field in body and not isinstance(body[field], str):
            problems.append(detail([field], "Input should be a valid string", "string_type"))
    if "hardware" in body:
        problems += _hardware_problems(body["hardware"])
    for field, (low, high) in RANGES.items():
        if field in body and not _integer_in(body[field], low, high):
            problems.append(detail([field], f"{field} must be an integer from {low} to {high}", "int_range"))
    if "is_enabled" in body and not isinstance(body["is_enabled"], bool):
        problems.append(detail(["is_enabled"], "Input should be a valid boolean", "bool_type"))
    return problems


def _hardware_problems(hardware: Any) -> list[JSON]:
    if not isinstance(hardware, list) or len(hardware) != 1:
        message = "hardware must be a list of exactly one SKU (only one is supported for now)"
        return [detail(["hardware"], message, "list_type")]
    if hardware[0] not in SKUS:
        message = f"Unknown hardware SKU {hardware[0]!r:.40}; one of {', '.join(SKUS)}"
        return [detail(["hardware", 0], message, "enum")]
    return []


def _integer_in(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _workflow_problems(workflow_id: Any, version: Any) -> list[JSON]:
    if not isinstance(workflow_id, str) or not isinstance(version, str):
        return []  # already reported as a type problem
    if workflow_id not in workflows.known_ids():
        return [detail(["workflow_id"], f"Unknown workflow {workflow_id!r:.60}", "workflow_not_found")]
    if workflows.find(workflow_id, version) is None:
        versions = ", ".join(workflows.versions_of(workflow_id))
        message = f"Workflow {workflow_id} has no version {version!r:.40}; it has {versions}"
        return [detail(["workflow_version"], message, "workflow_version_not_found")]
    return []


def _range_order(fields: JSON) -> list[JSON]:
    low, high = fields.get("min_instances"), fields.get("max_instances")
    valid = _integer_in(low, *RANGES["min_instances"]) and _integer_in(high, *RANGES["max_instances"])
    if valid and int(str(high)) < int(str(low)):
        return [detail(["max_instances"], "max_instances must be at least min_instances", "value_error")]
    return []
