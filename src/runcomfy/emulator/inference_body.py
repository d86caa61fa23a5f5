"""What a deployment inference asks for: the workflow to run, the webhook to call, and extra data; checked.

The body is ``{"overrides"?, "workflow_api_json"?, "extra_data"?}`` (each an object), plus the legacy
``webhook`` and ``webhook_intermediate_status`` fields the service still accepts in the body; the query
string's ``webhook`` and ``webhook_intermediate_status=true`` win over them. The workflow is the
deployment's own graph, or the whole ``workflow_api_json`` sent, with ``overrides`` merged in (see
:mod:`~runcomfy.emulator.comfy_graph` for both override shapes). Every problem is reported at once in one
422 naming each field. This module knows nothing of deployments' state.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runcomfy.emulator.comfy_graph import merge_overrides, shape_problems
from runcomfy.emulator.deployment_fields import not_an_object
from runcomfy.emulator.errors import validation_error
from runcomfy.emulator.models import detail
from runcomfy.emulator.webhooks import target_problem

JSON = dict[str, Any]
FIELDS = ("overrides", "workflow_api_json", "extra_data", "webhook", "webhook_intermediate_status")
TRUE_WORDS = ("true", "1", "yes")


@dataclass(frozen=True)
class Inference:
    """A checked inference: the graph to run and where to send callbacks."""

    graph: JSON
    extra_data: JSON = field(default_factory=dict)
    webhook: str | None = None
    webhook_intermediate: bool = False


def parse_inference(body: Any, query: Mapping[str, str], graph: JSON, *, any_webhook_host: bool) -> Inference:
    """The inference ``body`` and ``query`` ask for, over the deployment's ``graph``; a 422 if they are wrong."""
    if not isinstance(body, dict):
        raise validation_error("the body must be a JSON object", not_an_object())
    problems = [
        detail([name], "Extra inputs are not permitted", "extra_forbidden")
        for name in body
        if name not in FIELDS
    ]
    for name in ("overrides", "workflow_api_json", "extra_data"):
        if name in body and not isinstance(body[name], dict):
            problems.append(detail([name], f"{name} must be a JSON object", "model_attributes_type"))
    if problems:
        raise validation_error("the inference body is not valid", problems)
    if "workflow_api_json" in body:
        problems += shape_problems(body["workflow_api_json"], ["workflow_api_json"])
        graph = body["workflow_api_json"]
    run = copy.deepcopy(graph)
    if "overrides" in body and not problems:
        run, problems = merge_overrides(run, body["overrides"], ["overrides"])
    webhook, webhook_problems = _webhook(body, query, any_webhook_host)
    problems += webhook_problems
    if problems:
        raise validation_error("the inference is not valid", problems)
    intermediate = query.get("webhook_intermediate_status", "").strip().lower() in TRUE_WORDS
    intermediate = intermediate or body.get("webhook_intermediate_status") is True
    return Inference(run, dict(body.get("extra_data", {})), webhook, intermediate and webhook is not None)


def _webhook(body: JSON, query: Mapping[str, str], any_host: bool) -> tuple[str | None, list[JSON]]:
    in_query = "webhook" in query
    url = query["webhook"] if in_query else body.get("webhook")
    if url is None or url == "":
        return None, []
    loc: list[Any] = ["query", "webhook"] if in_query else ["body", "webhook"]
    problem = (
        "the webhook must be a URL string"
        if not isinstance(url, str)
        else target_problem(url, any_host=any_host)
    )
    if problem is not None:
        return None, [{"loc": loc, "msg": problem, "type": "webhook_refused"}]
    return url, []
