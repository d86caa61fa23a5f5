"""Overrides of a deployment's ComfyUI workflow: the ``NODE.INPUT=VALUE`` shorthand, and the check of an
overrides object against the workflow before anything is sent.

A deployment serves a ComfyUI API-format graph: node id -> ``{class_type, inputs, _meta: {title}}``. An
inference request's ``overrides`` are node id -> ``{"inputs": {input name: value}}``, laid over that graph by
the service. A node id or input name the graph lacks is a mistake the service reports late (after queueing) or
not at all, so it is caught here, from the graph ``GET /deployments/{id}?includes=payload`` returns: one call,
where the mistake would otherwise cost a paid run.

The shorthand (``--override``):

- ``NODE.INPUT=VALUE``: ``VALUE`` converted by the type of the input's current value in the graph (an integer
  stays an integer, ``true``/``false`` for a boolean, text otherwise);
- ``NODE.INPUT:=JSON``: any JSON value, as written.

``NODE`` is a node id (``6``) or, when exactly one node has it, a node's title (``Positive Prompt``) or class
type (``KSampler``). The input name is what follows the last dot. This module never sends, prints or reads files.
"""

from __future__ import annotations

import copy
import difflib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from runcomfy.errors import InvalidInput
from runcomfy.safe_text import strip_controls
from runcomfy.shorthand import convert_text, parse_json_text

__all__ = [
    "apply_overrides",
    "describe_node",
    "merge_overrides",
    "override_problems",
    "parse_overrides",
    "workflow_of",
]

Graph = Mapping[str, Any]
Overrides = dict[str, dict[str, Any]]
DID_YOU_MEAN_CUTOFF = 0.6
EXAMPLE = 'e.g. 6.text="a fox" or KSampler.seed=42'


def workflow_of(deployment: Mapping[str, Any]) -> dict[str, Any] | None:
    """The API-format graph in a deployment fetched with its payload, or ``None`` when it has none we can read
    (the graph may also come as a JSON string)."""
    payload = deployment.get("payload")
    graph = payload.get("workflow_api_json") if isinstance(payload, Mapping) else None
    if isinstance(graph, str):
        try:
            graph = json.loads(graph)
        except ValueError:
            return None
    if not isinstance(graph, dict) or not graph:
        return None
    return {str(node_id): node for node_id, node in graph.items() if isinstance(node, Mapping)} or None


def parse_overrides(args: Sequence[str], graph: Graph | None, *, strict: bool = True) -> Overrides:
    """The overrides set by ``NODE.INPUT=VALUE`` / ``NODE.INPUT:=JSON`` arguments (a repeated input: the last
    wins). With ``graph``, node names are resolved to ids and values converted by the input's current type;
    without it, ``NODE`` must be an id and values stay text unless given as JSON. Not ``strict`` (the check
    against the workflow is skipped), a ``NODE`` that names no node of ``graph`` is sent as the node id it
    was written as, for the service to judge."""
    overrides: Overrides = {}
    for arg in args:
        equals = arg.find("=")
        if equals < 0:
            raise InvalidInput(f"--override {_shown(arg)}: expected NODE.INPUT=VALUE ({EXAMPLE})")
        raw_json = equals > 0 and arg[equals - 1] == ":"
        key, text = (arg[: equals - 1] if raw_json else arg[:equals]), arg[equals + 1 :]
        node_ref, dot, input_name = key.rpartition(".")
        if not dot or not node_ref.strip() or not input_name.strip():
            raise InvalidInput(f"--override {_shown(arg)}: expected NODE.INPUT=VALUE ({EXAMPLE})")
        if graph is not None and (strict or _names_a_node(node_ref, graph)):
            node_id = resolve_node(node_ref, graph)
        else:
            node_id = node_ref
        shown = f"--override {arg}"
        if raw_json:
            value = parse_json_text(shown, text)
        else:
            current = _inputs_of(graph.get(node_id)).get(input_name) if graph is not None else None
            value = convert_text(shown, text, _type_of(current))
        overrides.setdefault(node_id, {"inputs": {}})["inputs"][input_name] = value
    return overrides


def resolve_node(ref: str, graph: Graph) -> str:
    """The id of the node ``ref`` names: an id, else the one node with that title or class type."""
    if ref in graph:
        return ref
    for attribute in (_title, _class_type):
        matches = [node_id for node_id, node in graph.items() if attribute(node) == ref]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            listed = ", ".join(describe_node(node_id, graph[node_id]) for node_id in matches)
            raise InvalidInput(
                f"--override: {_shown(ref)} names {len(matches)} nodes ({listed}); use the node id"
            )
    raise InvalidInput(f"--override: the workflow has no node {_shown(ref)}{_node_suggestion(ref, graph)}")


def _names_a_node(ref: str, graph: Graph) -> bool:
    """True when ``ref`` is a node id of ``graph`` or the title or class type of one of its nodes."""
    return ref in graph or any(ref in (_title(node), _class_type(node)) for node in graph.values())


def merge_overrides(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` laid over it node by node: the inputs of a node in both are merged (``extra``
    wins), so ``--override 3.seed=1`` keeps the other inputs ``--overrides`` gave node 3."""
    merged: dict[str, Any] = copy.deepcopy(dict(base))
    for node_id, value in extra.items():
        current = merged.get(node_id)
        if isinstance(current, Mapping) and isinstance(current.get("inputs"), Mapping) and _is_entry(value):
            merged[node_id] = {**current, "inputs": {**current["inputs"], **value["inputs"]}}
        else:
            merged[node_id] = copy.deepcopy(value)
    return merged


def apply_overrides(graph: Graph, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``graph`` with ``overrides`` written into its nodes' inputs (for a whole workflow sent as
    ``workflow_api_json``, where the service applies no overrides of its own)."""
    problems = override_problems(overrides, graph)
    if problems:
        raise InvalidInput("--override: " + "; ".join(f"{p['field']}: {p['message']}" for p in problems))
    applied = copy.deepcopy(dict(graph))
    for node_id, value in overrides.items():
        node = applied[node_id]
        node["inputs"] = {**_inputs_of(node), **value["inputs"]}
    return applied


def override_problems(overrides: Any, graph: Graph) -> list[dict[str, Any]]:
    """What in ``overrides`` does not fit ``graph``, each as ``{"field", "message", "kind"}``: nodes the graph
    lacks, entries not shaped ``{"inputs": {...}}``, input names a node lacks (with a did-you-mean)."""
    if not isinstance(overrides, Mapping):
        return [_problem("overrides", 'must be a JSON object: node id -> {"inputs": {...}}', "type")]
    problems = []
    for node_id, value in overrides.items():
        field = f"overrides.{node_id}"
        node = graph.get(node_id)
        if node is None:
            problems.append(_problem(field, f"the workflow has no node {_shown(node_id)}", "unknown_node"))
            problems[-1]["message"] += _node_suggestion(str(node_id), graph)
            continue
        if not _is_entry(value):
            problems.append(_problem(field, _shape_message(node_id, value, node), "shape"))
            continue
        known = list(_inputs_of(node))
        for name in value["inputs"]:
            if name not in known:
                close = difflib.get_close_matches(name, known, n=1, cutoff=DID_YOU_MEAN_CUTOFF)
                where = describe_node(node_id, node)
                message = f"node {where} has no input {_shown(name)}"
                message += (
                    f'; did you mean "{_shown(close[0])}"?' if close else f" (its inputs: {_list(known)})"
                )
                problems.append(_problem(f"{field}.inputs.{name}", message, "unknown_input"))
    return problems


def describe_node(node_id: str, node: Any) -> str:
    """``6 (CLIPTextEncode "Positive Prompt")``: an id with what it is, for messages."""
    kind, title = _class_type(node), _title(node)
    shown_title = f'"{_shown(title)}"' if title and title != kind else None
    label = " ".join(part for part in (_shown(kind) if kind else None, shown_title) if part)
    return f"{_shown(node_id)} ({label})" if label else _shown(node_id)


# --- helpers ----------------------------------------------------------------------------------------------------


def _is_entry(value: Any) -> bool:
    return isinstance(value, Mapping) and set(value) == {"inputs"} and isinstance(value["inputs"], Mapping)


def _shape_message(node_id: str, value: Any, node: Any) -> str:
    message = 'expected {"inputs": {...}}'
    if isinstance(value, Mapping) and value and set(value) <= set(_inputs_of(node)):
        flat = json.dumps({node_id: {"inputs": dict(value)}}, ensure_ascii=False)
        message += f"; did you mean {_shown(flat)}?"
    return message


def _node_suggestion(ref: str, graph: Graph) -> str:
    """The node whose id, title or class type is closest to ``ref`` (compared without case), else the list."""
    names: dict[str, str] = {}
    for node_id, node in graph.items():
        for name in (node_id, _title(node), _class_type(node)):
            if name:
                names.setdefault(name.lower(), node_id)
    close = difflib.get_close_matches(ref.lower(), list(names), n=1, cutoff=DID_YOU_MEAN_CUTOFF)
    if close:
        node_id = names[close[0]]
        return f"; did you mean {describe_node(node_id, graph[node_id])}?"
    return f" (its nodes: {_list(describe_node(node_id, node) for node_id, node in graph.items())})"


def _inputs_of(node: Any) -> dict[str, Any]:
    inputs = node.get("inputs") if isinstance(node, Mapping) else None
    return dict(inputs) if isinstance(inputs, Mapping) else {}


def _title(node: Any) -> str | None:
    meta = node.get("_meta") if isinstance(node, Mapping) else None
    title = meta.get("title") if isinstance(meta, Mapping) else None
    return title if isinstance(title, str) and title else None


def _class_type(node: Any) -> str | None:
    kind = node.get("class_type") if isinstance(node, Mapping) else None
    return kind if isinstance(kind, str) and kind else None


def _type_of(current: Any) -> dict[str, str] | None:
    """The schema type a shorthand value is converted to: that of the input's current value (a link, a list
    ``[node id, slot]``, or a missing input: none, the text is kept)."""
    if isinstance(current, bool):
        return {"type": "boolean"}
    if isinstance(current, int):
        return {"type": "integer"}
    if isinstance(current, float):
        return {"type": "number"}
    if isinstance(current, Mapping):
        return {"type": "object"}
    return None


def _problem(field: str, message: str, kind: str) -> dict[str, Any]:
    return {"field": field, "message": message, "kind": kind}


def _list(items: Any, limit: int = 12) -> str:
    names = [str(item) for item in items]
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "") if names else "none"


def _shown(text: Any) -> str:
    return strip_controls(str(text), max_len=120)
