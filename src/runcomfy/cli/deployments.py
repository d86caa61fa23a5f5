"""``runcomfy deployments``: ComfyUI deployments on RunComfy's Serverless API (list, get, create, update,
delete, proxy), as the official CLI has them.

The group (:data:`deployments_group`) is shared: the commands that run a deployment and follow its requests
(``run``, ``status``, ``result``, ``cancel``) live in ``deployment_requests.py`` and are added to it by
``main.py``. The hints for the Serverless API's gating errors are :mod:`~runcomfy.cli.serverless_hints`'
(re-exported here), the question before a deletion :mod:`~runcomfy.cli.confirm`'s; this module owns the
official CLI's rules for table cells and deployment summaries (:func:`cell`, :func:`show_deployment`).

Flag values are checked by click types before anything is sent (a bad one exits 64); the library
(:mod:`runcomfy.serverless`) builds every URL and body and never prints. The library is imported only inside the
commands, so ``runcomfy --help`` does not load httpx.

Decisions: ``list`` prints the service's list as JSON with ``--output json`` or an include flag (the workflow
graph and the readme do not fit a table), else a table; a half-known instance range shows ``?`` for the
missing half (``0-?``) where the official CLI writes ``0--``. ``delete`` asks only when both stdin and stderr
are terminals (someone can see the question and answer it); otherwise it needs ``--yes``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import click

from runcomfy.cli.confirm import confirm
from runcomfy.cli.context import app_context
from runcomfy.cli.output import Output
from runcomfy.cli.serverless_hints import serverless_hints as serverless_hints  # re-exported
from runcomfy.errors import InvalidInput

if TYPE_CHECKING:  # the library (httpx) is imported only when a command runs, to keep --help fast
    from runcomfy.cli.context import AppContext
    from runcomfy.client import Client

#: ``runcomfy.serverless.HARDWARE_SKUS``, named here so ``--help`` needs no httpx (a test keeps them equal).
HARDWARE_SKUS = (
    "TURING_16",
    "AMPERE_24",
    "AMPERE_48",
    "ADA_48_PLUS",
    "AMPERE_80",
    "ADA_80_PLUS",
    "HOPPER_141",
)
MIN_INSTANCES = (0, 30)
MAX_INSTANCES = (1, 60)

#: The fields ``create`` and ``update`` print in pretty mode, in the official CLI's order.
SUMMARY_FIELDS = (
    "id",
    "name",
    "status",
    "is_enabled",
    "workflow_id",
    "workflow_version",
    "hardware",
    "min_instances",
    "max_instances",
    "queue_size",
    "keep_warm_duration_in_seconds",
    "updated_at",
)
LIST_HEADERS = ("ID", "NAME", "STATUS", "ENABLED", "HARDWARE", "INSTANCES", "VERSION")

# --- cells and records ---------------------------------------------------------------------------------------


def cell(value: Any) -> str:
    """A JSON value as the official CLI shows it in a table or a key/value line: strings as they are, lists
    joined with ``,``, booleans and numbers as JSON, and ``-`` for missing, null, empty or blank."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value if value.strip() else "-"
    if isinstance(value, list):
        parts = [item if isinstance(item, str) else _compact(item) for item in value]
        return ",".join(parts) if parts else "-"
    return _compact(value)


def instances(deployment: dict[str, Any]) -> str:
    """``min-max`` (``0-1``); ``-`` when neither is known, ``?`` for an unknown half."""
    low, high = deployment.get("min_instances"), deployment.get("max_instances")
    if low is None and high is None:
        return "-"
    return f"{'?' if low is None else cell(low)}-{'?' if high is None else cell(high)}"


def list_row(deployment: dict[str, Any]) -> tuple[str, ...]:
    """One row of the ``deployments list`` table (see :data:`LIST_HEADERS`)."""
    return (
        cell(deployment.get("id")),
        cell(deployment.get("name")),
        cell(deployment.get("status")),
        cell(deployment.get("is_enabled")),
        cell(deployment.get("hardware")),
        instances(deployment),
        cell(deployment.get("workflow_version")),
    )


def show_deployment(out: Output, deployment: dict[str, Any]) -> None:
    """Json: the service's object. Pretty: key/value lines of the known fields the object has (the workflow
    graph it may carry is noise here), or the whole object when it has none of them."""
    pairs = [(key, cell(deployment[key])) for key in SUMMARY_FIELDS if key in deployment]
    if not pairs:
        out.document(deployment)
        return
    out.record(deployment, pairs)


def _compact(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


# --- flags ---------------------------------------------------------------------------------------------------


def split_ids(values: Iterable[str]) -> list[str]:
    """``--ids a,b --ids c`` as ``[a, b, c]``: each trimmed, blanks dropped."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _not_blank(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise click.BadParameter("must not be empty")
    return value


def _check_instance_range(low: int | None, high: int | None) -> None:
    if low is not None and high is not None and high < low:
        raise click.BadParameter(
            f"must be at least --min-instances ({low}), got {high}", param_hint="'--max-instances'"
        )


DEPLOYMENT_ID = click.argument("deployment_id")
HARDWARE = click.Choice(HARDWARE_SKUS)


def _include_options(command: Any) -> Any:
    command = click.option(
        "--include-readme", is_flag=True, help="Add each deployment's readme (prints JSON)."
    )(command)
    return click.option(
        "--include-payload",
        is_flag=True,
        help="Add the workflow (workflow_api_json), its default overrides and object_info_url (prints JSON).",
    )(command)


def serverless_client(app: AppContext) -> Client:
    """The client (a token is required), with the Serverless API base shown at ``-v``."""
    client = app.require_client()
    return client


# --- the commands --------------------------------------------------------------------------------------------


@click.group("deployments")
def deployments_group() -> None:
    """ComfyUI deployments (Serverless API): manage them, run them, call their instances.

    \b
    Examples:
      runcomfy deployments list
      runcomfy deployments create --name upscaler --workflow-id 0b5c...-7e21 --workflow-version v1
      runcomfy deployments get 9d2e...-41aa --include-payload
    """


@deployments_group.command("list")
@click.option(
    "--ids", "id_values", multiple=True, metavar="ID[,ID...]", help="Only these deployments (repeatable)."
)
@_include_options
def list_command(id_values: tuple[str, ...], include_payload: bool, include_readme: bool) -> None:
    """List the account's deployments as a table (JSON with --output json or an include flag).

    \b
    Examples:
      runcomfy deployments list
      runcomfy deployments list --ids 9d2e...-41aa,5f0b...-c3d9
      runcomfy deployments list --include-payload > deployments.json
      runcomfy --output json deployments list | jq -r '.[] | select(.is_enabled) | .id'
    """
    app = app_context()
    client = serverless_client(app)
    with serverless_hints():
        items = client.deployments.list(
            ids=split_ids(id_values), include_payload=include_payload, include_readme=include_readme
        )
    out = app.output
    if out.json_mode or include_payload or include_readme:
        out.document(items)
        return
    if not items:
        out.progress("info", "No deployments found.")
        return
    out.table(LIST_HEADERS, [list_row(item) for item in items])


@deployments_group.command("get")
@DEPLOYMENT_ID
@_include_options
def get_command(deployment_id: str, include_payload: bool, include_readme: bool) -> None:
    """Show a deployment as JSON (the service's whole object).

    \b
    Examples:
      runcomfy deployments get 9d2e...-41aa
      runcomfy deployments get 9d2e...-41aa --include-payload | jq .payload.overrides
    """
    app = app_context()
    client = serverless_client(app)
    with serverless_hints(deployment_id):
        deployment = client.deployments.get(
            deployment_id, include_payload=include_payload, include_readme=include_readme
        )
    app.output.document(deployment)


@deployments_group.command("create")
@click.option("--name", required=True, callback=_not_blank, help="The deployment's name.")
@click.option(
    "--workflow-id", required=True, metavar="UUID", callback=_not_blank, help="The ComfyUI workflow to serve."
)
@click.option(
    "--workflow-version", required=True, metavar="V", callback=_not_blank, help="Its version (e.g. v1)."
)
@click.option("--hardware", type=HARDWARE, default="AMPERE_48", show_default=True, help="The GPU.")
@click.option(
    "--min-instances",
    type=click.IntRange(*MIN_INSTANCES),
    default=0,
    show_default=True,
    help="Instances kept running (0-30).",
)
@click.option(
    "--max-instances",
    type=click.IntRange(*MAX_INSTANCES),
    default=1,
    show_default=True,
    help="Most instances at once (1-60, at least --min-instances).",
)
@click.option(
    "--queue-size",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Requests queued per instance before another one starts.",
)
@click.option(
    "--keep-warm-secs",
    type=click.IntRange(min=0),
    default=60,
    show_default=True,
    help="Seconds an idle instance stays up.",
)
def create_command(
    name: str,
    workflow_id: str,
    workflow_version: str,
    hardware: str,
    min_instances: int,
    max_instances: int,
    queue_size: int,
    keep_warm_secs: int,
) -> None:
    """Deploy a ComfyUI workflow version on a GPU.

    \b
    Examples:
      runcomfy deployments create --name upscaler --workflow-id 0b5c...-7e21 --workflow-version v1
      runcomfy deployments create --name sdxl --workflow-id 0b5c...-7e21 --workflow-version v3 \\
          --hardware ADA_80_PLUS --min-instances 1 --max-instances 4 --keep-warm-secs 300
      runcomfy --output json deployments create --name a --workflow-id 0b5c...-7e21 --workflow-version v1 | jq -r .id
    """
    _check_instance_range(min_instances, max_instances)
    app = app_context()
    client = serverless_client(app)
    out = app.output
    out.progress("create", f"Creating deployment `{name}`")
    with serverless_hints():
        deployment = client.deployments.create(
            name=name,
            workflow_id=workflow_id,
            workflow_version=workflow_version,
            hardware=hardware,
            min_instances=min_instances,
            max_instances=max_instances,
            queue_size=queue_size,
            keep_warm_secs=keep_warm_secs,
        )
    new_id = deployment.get("id")
    if isinstance(new_id, str) and new_id:
        out.progress("ok", f"Created deployment {new_id}")
    show_deployment(out, deployment)


UPDATE_FLAGS = (
    "--name, --workflow-version, --hardware, --min-instances, --max-instances, --queue-size, "
    "--keep-warm-secs, --enable or --disable"
)


@deployments_group.command("update")
@DEPLOYMENT_ID
@click.option("--name", callback=_not_blank, help="A new name.")
@click.option("--workflow-version", metavar="V", callback=_not_blank, help="Serve another workflow version.")
@click.option("--hardware", type=HARDWARE, help="Move to another GPU.")
@click.option("--min-instances", type=click.IntRange(*MIN_INSTANCES), help="Instances kept running (0-30).")
@click.option("--max-instances", type=click.IntRange(*MAX_INSTANCES), help="Most instances at once (1-60).")
@click.option("--queue-size", type=click.IntRange(min=1), help="Requests queued per instance.")
@click.option("--keep-warm-secs", type=click.IntRange(min=0), help="Seconds an idle instance stays up.")
@click.option(
    "--enable/--disable", "enabled", default=None, help="Accept requests again, or stop accepting them."
)
def update_command(
    deployment_id: str,
    name: str | None,
    workflow_version: str | None,
    hardware: str | None,
    min_instances: int | None,
    max_instances: int | None,
    queue_size: int | None,
    keep_warm_secs: int | None,
    enabled: bool | None,
) -> None:
    """Change a deployment: only the flags given are sent.

    \b
    Examples:
      runcomfy deployments update 9d2e...-41aa --workflow-version v4
      runcomfy deployments update 9d2e...-41aa --min-instances 1 --max-instances 8
      runcomfy deployments update 9d2e...-41aa --disable
      runcomfy --output json deployments update 9d2e...-41aa --enable | jq .is_enabled
    """
    _check_instance_range(min_instances, max_instances)
    fields = {
        "name": name,
        "workflow_version": workflow_version,
        "hardware": hardware,
        "min_instances": min_instances,
        "max_instances": max_instances,
        "queue_size": queue_size,
        "keep_warm_secs": keep_warm_secs,
    }
    if enabled is None and all(value is None for value in fields.values()):
        raise InvalidInput(f"nothing to update: pass at least one of {UPDATE_FLAGS}")
    app = app_context()
    client = serverless_client(app)
    with serverless_hints(deployment_id):
        deployment = client.deployments.update(deployment_id, enabled=enabled, **fields)
    app.output.progress("ok", f"Updated deployment {deployment_id}")
    show_deployment(app.output, deployment)


@deployments_group.command("delete")
@DEPLOYMENT_ID
@click.option("-y", "--yes", is_flag=True, help="Delete without asking (needed when not on a terminal).")
def delete_command(deployment_id: str, yes: bool) -> None:
    """Delete a deployment for good (asks first on a terminal).

    \b
    Examples:
      runcomfy deployments delete 9d2e...-41aa
      runcomfy deployments delete 9d2e...-41aa --yes
      runcomfy --output json deployments delete 9d2e...-41aa -y | jq .deleted
    """
    app = app_context()
    confirm(
        app.output,
        f"permanently delete deployment {deployment_id}?",
        yes=yes,
        refused=f"refusing to delete deployment {deployment_id} without confirmation: no terminal to ask on",
        declined=f"deployment {deployment_id} was not deleted",
    )
    client = serverless_client(app)
    with serverless_hints(deployment_id):
        response = client.deployments.delete(deployment_id)
    app.output.progress("ok", f"Deleted deployment {deployment_id}")
    app.output.record({"deleted": True, "deployment_id": deployment_id, "response": response})


@deployments_group.command("proxy")
@DEPLOYMENT_ID
@click.argument("instance_id")
@click.argument("path")
@click.option("--body", metavar="JSON", help="The JSON body to send (default {}).")
@click.option("--body-file", metavar="PATH", help="Read the JSON body from a file ('-' for stdin).")
def proxy_command(
    deployment_id: str, instance_id: str, path: str, body: str | None, body_file: str | None
) -> None:
    """POST to the ComfyUI backend of a running instance (PATH like api/free) and print its answer.

    A JSON answer is printed as JSON, any other text as it came; the path cannot leave the proxy ('..', '?'
    and '#' are refused). The instance id is in `deployments status` while a request runs.

    \b
    Examples:
      runcomfy deployments proxy 9d2e...-41aa inst-7f3a api/free --body '{"free_memory": true}'
      runcomfy deployments proxy 9d2e...-41aa inst-7f3a api/interrupt
      runcomfy --output json deployments proxy 9d2e...-41aa inst-7f3a api/free --body-file free.json
    """
    payload = _proxy_body(body, body_file)
    app = app_context()
    client = serverless_client(app)
    with serverless_hints(deployment_id):
        reply = client.deployments.proxy(deployment_id, instance_id, path, body=payload)
    out = app.output
    route = path.strip().lstrip("/")
    if not reply.content.strip():
        out.progress("ok", f"{route} returned no body")
        out.record(None)
        return
    try:
        from runcomfy.json_limits import loads_bounded

        document = loads_bounded(reply.content)
    except ValueError:
        out.data(reply.text)  # verbatim; the sink escapes control characters
        return
    out.document(document)


def _proxy_body(inline: str | None, body_file: str | None) -> Any:
    """The proxy's JSON body from ``--body`` or ``--body-file`` (any JSON value; ``None``: the default ``{}``)."""
    from runcomfy.cli.inputs import read_source
    from runcomfy.json_limits import MAX_JSON_CHARS, JSONLimitError, loads_bounded

    if inline is not None and body_file is not None:
        raise click.UsageError("--body and --body-file cannot be used together")
    if inline is None and body_file is None:
        return None
    source = "--body" if inline is not None else "--body-file"
    text = inline if inline is not None else read_source(str(body_file), source, MAX_JSON_CHARS)
    try:
        return loads_bounded(text)
    except JSONLimitError as exc:
        raise InvalidInput(f"{source}: {exc}") from None
    except ValueError as exc:
        raise InvalidInput(f"{source}: invalid JSON: {exc}") from None
