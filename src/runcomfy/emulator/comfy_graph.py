"""ComfyUI API-format workflows: their shape, overrides merged into them, and ComfyUI's validation of inputs.

A workflow (``workflow_api_json``) maps node ids to ``{"class_type", "inputs", "_meta": {"title"}}``; an
input is a literal or a link ``[source_node_id, output_index]``. Two levels of checking, as on the service:

- the shape (:func:`shape_problems`, :func:`merge_overrides`) is checked when a request is submitted, and a
  problem is a 422 naming the field: a node that is not an object, a class the instances do not have, a link
  to a missing node, overrides naming a node the workflow lacks or an input its class lacks;
- the values (:func:`validation_error`) are checked by the instance, as ComfyUI validates a prompt before
  running it: a missing required input, a number out of range, a value not in a combo's list, a link of the
  wrong type. A problem there makes the request end ``failed`` with ComfyUI's error.

Overrides come in two shapes, both accepted: ``{"6": {"inputs": {"text": "a fox"}}}`` (the service's) and
``{"6": {"text": "a fox"}}`` (inputs directly). Pure functions over JSON: nothing here knows HTTP or time.
"""

from __future__ import annotations

import copy
from typing import Any

from runcomfy.emulator.comfy_nodes import NODE_CLASSES, OUTPUT_CHANNELS, input_names, input_spec
from runcomfy.emulator.models import detail

JSON = dict[str, Any]
Loc = list[Any]
MAX_NODES = 1000
LITERAL_TYPES = ("INT", "FLOAT", "STRING", "BOOLEAN")


def is_link(value: Any) -> bool:
    """Whether an input value is a link ``[node_id, output_index]``."""
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    )


def output_nodes(graph: JSON) -> list[str]:
    """The ids of the nodes whose files make up a result, in ComfyUI's order (by id, numerically)."""
    return sorted(
        (nid for nid, node in graph.items() if node["class_type"] in OUTPUT_CHANNELS), key=_id_order
    )


def _id_order(node_id: str) -> tuple[int, int, str]:
    return (0, int(node_id), "") if node_id.isdigit() else (1, 0, node_id)


def upstream(graph: JSON, node_id: str, input_name: str) -> str | None:
    """The node a link input of ``node_id`` comes from, or None if that input is not a link."""
    value = graph[node_id]["inputs"].get(input_name)
    return value[0] if is_link(value) and value[0] in graph else None


# -- shape (a 422 at submit) -----------------------------------------------------------------------------


def shape_problems(graph: Any, loc: Loc) -> list[JSON]:
    """Every problem with the shape of a whole workflow, each naming where it is."""
    if not isinstance(graph, dict) or not graph:
        return [
            detail(loc, "A workflow must be a non-empty object of node id -> node", "model_attributes_type")
        ]
    if len(graph) > MAX_NODES:
        return [detail(loc, f"A workflow may have at most {MAX_NODES} nodes", "too_long")]
    problems: list[JSON] = []
    for node_id, node in graph.items():
        problems += _node_problems(graph, node_id, node, [*loc, node_id])
    if not problems and not output_nodes(graph):
        outputs = ", ".join(sorted(OUTPUT_CHANNELS))
        problems.append(detail(loc, f"Prompt has no outputs: add one of {outputs}", "prompt_no_outputs"))
    return problems


def _node_problems(graph: JSON, node_id: str, node: Any, loc: Loc) -> list[JSON]:
    if not isinstance(node, dict):
        return [detail(loc, "A node must be an object with class_type and inputs", "model_attributes_type")]
    class_type, inputs = node.get("class_type"), node.get("inputs", {})
    if not isinstance(class_type, str) or class_type not in NODE_CLASSES:
        known = ", ".join(sorted(NODE_CLASSES))
        message = f"Unknown node class {class_type!r:.80}; the instances have {known}"
        return [detail([*loc, "class_type"], message, "node_class_unknown")]
    if not isinstance(inputs, dict):
        return [detail([*loc, "inputs"], "inputs must be an object", "model_attributes_type")]
    problems = []
    for name, value in inputs.items():
        if isinstance(value, list) and value and not _link_resolves(graph, value):
            message = "A link must be [node_id, output_index] naming a node and one of its outputs"
            problems.append(detail([*loc, "inputs", name], message, "link_invalid"))
    return problems


def _link_resolves(graph: JSON, value: list[Any]) -> bool:
    if not is_link(value) or value[0] not in graph:
        return False
    source = graph[value[0]]
    class_type = source.get("class_type") if isinstance(source, dict) else None
    outputs = NODE_CLASSES[class_type]["output"] if class_type in NODE_CLASSES else []
    return bool(0 <= value[1] < len(outputs))


def merge_overrides(graph: JSON, overrides: Any, loc: Loc) -> tuple[JSON, list[JSON]]:
    """``graph`` with ``overrides`` merged into a copy, and every problem with the overrides."""
    if not isinstance(overrides, dict):
        return graph, [
            detail(loc, "overrides must be an object of node id -> inputs", "model_attributes_type")
        ]
    merged = copy.deepcopy(graph)
    problems: list[JSON] = []
    for node_id, override in overrides.items():
        node = merged.get(node_id)
        if node is None:
            problems.append(
                detail([*loc, node_id], f"The workflow has no node {node_id!r:.40}", "node_unknown")
            )
            continue
        inputs, inputs_loc = _override_inputs(override, [*loc, node_id])
        if inputs is None:
            message = 'An override must be {"inputs": {...}} or an object of inputs'
            problems.append(detail(inputs_loc, message, "model_attributes_type"))
            continue
        known = set(input_names(node["class_type"])) | set(node["inputs"])
        for name, value in inputs.items():
            if name not in known:
                message = f"Node {node_id} ({node['class_type']}) has no input {name!r:.40}"
                problems.append(detail([*inputs_loc, name], message, "input_unknown"))
            else:
                node["inputs"][name] = value
    return merged, problems


def _override_inputs(override: Any, loc: Loc) -> tuple[JSON | None, Loc]:
    """The inputs an override sets, in either shape, and where they are in the body."""
    if not isinstance(override, dict):
        return None, loc
    if isinstance(override.get("inputs"), dict) and set(override) <= {"inputs", "class_type", "_meta"}:
        return override["inputs"], [*loc, "inputs"]
    return override, loc


# -- values (checked by the instance; a failed request) ---------------------------------------------------


def validation_error(graph: JSON) -> JSON | None:
    """ComfyUI's error for a workflow whose input values it would refuse, or None if it would run."""
    node_errors: JSON = {}
    for node_id, node in graph.items():
        errors = [
            problem
            for name in input_names(node["class_type"])
            for problem in _input_errors(graph, node, name)
        ]
        if errors:
            node_errors[node_id] = {
                "errors": errors,
                "class_type": node["class_type"],
                "dependent_outputs": [],
            }
    if not node_errors:
        return None
    first_id = next(iter(node_errors))
    first = node_errors[first_id]["errors"][0]
    return {
        "type": "prompt_outputs_failed_validation",
        "message": f"Prompt outputs failed validation: {graph[first_id]['class_type']} {first_id}: {first['details']}",
        "details": first["details"],
        "node_errors": node_errors,
    }


def _input_errors(graph: JSON, node: JSON, name: str) -> list[JSON]:
    spec = input_spec(node["class_type"], name)
    assert spec is not None
    required = name in NODE_CLASSES[node["class_type"]]["input"]["required"]
    if name not in node["inputs"]:
        return [_error("required_input_missing", "Required input is missing", name)] if required else []
    value, kind = node["inputs"][name], spec[0]
    if is_link(value):
        source = graph[value[0]]
        given = NODE_CLASSES[source["class_type"]]["output"][value[1]]
        expected = "COMBO" if isinstance(kind, list) else kind
        if given != expected:
            return [
                _error(
                    "return_type_mismatch",
                    "Return type mismatch between linked nodes",
                    f"{name}, {given} != {expected}",
                )
            ]
        return []
    return _literal_errors(name, value, kind, spec[1] if len(spec) > 1 else {})


def _literal_errors(name: str, value: Any, kind: Any, options: JSON) -> list[JSON]:
    if isinstance(kind, list):
        if value not in kind:
            return [_error("value_not_in_list", "Value not in list", f"{name}: {value!r:.80} not in {kind}")]
        return []
    if kind not in LITERAL_TYPES:  # a link-only input (MODEL, CLIP, ...) given a literal
        return [_error("invalid_input_type", "Input must be a link", f"{name} takes a {kind} link")]
    if not _is_type(value, kind):
        return [
            _error(
                "invalid_input_type",
                "Failed to convert an input value",
                f"{name}, {value!r:.80} is not {kind}",
            )
        ]
    if kind in ("INT", "FLOAT"):
        if "max" in options and value > options["max"]:
            return [
                _error(
                    "value_bigger_than_max", "Value bigger than max", f"{name}, {value} > {options['max']}"
                )
            ]
        if "min" in options and value < options["min"]:
            return [
                _error(
                    "value_smaller_than_min", "Value smaller than min", f"{name}, {value} < {options['min']}"
                )
            ]
    return []


def _is_type(value: Any, kind: str) -> bool:
    if kind == "BOOLEAN":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind == "INT":
        return isinstance(value, int)
    if kind == "FLOAT":
        return isinstance(value, int | float)
    return isinstance(value, str)


def _error(kind: str, message: str, details: str) -> JSON:
    return {"type": kind, "message": message, "details": details, "extra_info": {}}
