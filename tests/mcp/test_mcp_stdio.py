"""``runcomfy mcp`` over stdio, driven by the official SDK's client, against the emulator.

What an agent does: list the tools, look a model up, run it end to end and find its files, get a validation
error back as a tool error, cancel a long run from the client, and fail to do anything destructive without
``confirm``. The canary token must never show in a result, the server's log or a file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp_harness import SLOW_MODEL, McpRig, result_text

pytestmark = pytest.mark.anyio

IMAGE_MODEL = "openai/gpt-image-2/text-to-image"
DEPLOYMENT_ID = "7e57c0de-d000-4000-8000-000000000001"
DESTRUCTIVE = {"cancel_request", "cancel_deployment_request", "delete_deployment"}
EXPECTED_TOOLS = {
    "search_models",
    "list_model_categories",
    "get_model",
    "run_model",
    "submit_request",
    "request_status",
    "request_result",
    "cancel_request",
    "list_requests",
    "balance",
    "list_deployments",
    "get_deployment",
    "run_deployment",
    "deployment_status",
    "deployment_result",
    "cancel_deployment_request",
    "delete_deployment",
    "list_datasets",
    "dataset_status",
    "training_status",
    "training_result",
}


@pytest.mark.parametrize("mode", ["auto", "legacy"])  # legacy: the initialize handshake today's agents send
async def test_every_tool_is_listed_with_a_schema_a_description_and_annotations(
    rig: McpRig, mode: str
) -> None:
    async with rig.stdio(mode=mode) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == EXPECTED_TOOLS
    for name, tool in tools.items():
        assert tool.description and len(tool.description) > 20, name
        assert tool.input_schema["type"] == "object", name
        assert tool.annotations is not None, name
        assert tool.annotations.destructive_hint is (name in DESTRUCTIVE), name
        if name in DESTRUCTIVE:
            assert "confirm" in tool.input_schema["properties"], name
    run = tools["run_model"].input_schema
    assert set(run["required"]) == {"model_id", "input"}
    assert "ctx" not in run["properties"]
    assert tools["search_models"].annotations.read_only_hint is True
    assert tools["run_model"].annotations.read_only_hint is False


async def test_run_model_saves_the_files_in_the_output_dir_with_their_sha256_and_shows_a_thumbnail(
    rig: McpRig,
) -> None:
    progress: list[tuple[float, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, message))

    async with rig.stdio() as client:
        found = await client.call_tool("search_models", {"text": "gpt-image"})
        assert IMAGE_MODEL in result_text(found)
        model = await client.call_tool("get_model", {"model_id": IMAGE_MODEL})
        example = model.structured_content["example_input"]
        assert "prompt" in example
        result = await client.call_tool(
            "run_model", {"model_id": IMAGE_MODEL, "input": example}, progress_callback=on_progress
        )
        assert not result.is_error, result_text(result)
        data = result.structured_content
        history = await client.call_tool("list_requests", {})
        record = await client.read_resource(f"runcomfy://requests/{data['request_id']}")

    assert data["status"] == "completed" and data["finished"] is True
    assert data["files"], data
    for entry in data["files"]:
        path = Path(entry["path"])
        assert path.is_file()
        assert rig.output_dir.resolve() in path.parents
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
        assert path.stat().st_size == entry["bytes"]
        assert entry["relative_path"] in result_text(result)
    images = [block for block in result.content if block.type == "image"]
    assert images and images[0].mime_type == "image/png"
    assert any(message and "submitted request" in message for _, message in progress)
    values = [value for value, _ in progress]
    assert values == sorted(values) and len(values) >= 2
    assert data["request_id"] in result_text(history)
    recorded = json.loads(record.contents[0].text)
    assert recorded["status"] == "completed" and recorded["files"]


async def test_an_input_that_does_not_fit_the_schema_is_a_tool_error_and_nothing_is_submitted(
    rig: McpRig,
) -> None:
    async with rig.stdio() as client:
        result = await client.call_tool("run_model", {"model_id": IMAGE_MODEL, "input": {"promptx": "a fox"}})
    assert result.is_error
    text = result_text(result)
    assert "does not match the schema" in text and 'did you mean "prompt"' in text
    assert "hint: see its inputs with get_model" in text
    assert result.structured_content["exit_code"] == 65
    assert "Traceback" not in text
    assert rig.emulator.control.calls.list("submit") == []
    assert "Traceback" not in rig.stderr_path.read_text()


async def test_a_missing_argument_is_a_tool_error_not_a_crash(rig: McpRig) -> None:
    async with rig.stdio() as client:
        result = await client.call_tool("run_model", {"input": {}})
        still_there = await client.call_tool("balance", {})
    assert result.is_error and "model_id" in result_text(result)
    assert not still_there.is_error


async def test_cancelling_the_tool_call_cancels_the_request(rig: McpRig) -> None:
    """The Model API cancels only queued requests (as the real service), so this one is made to wait."""
    submitted: list[str] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        if message and message.startswith("submitted request "):
            submitted.append(message.removeprefix("submitted request "))

    async with rig.stdio() as client:
        for _ in range(2):  # both of the emulator's workers busy: the next request waits in the queue
            await client.call_tool("submit_request", {"model_id": SLOW_MODEL, "input": {}})
        async with anyio.create_task_group() as group:

            async def run() -> None:
                await client.call_tool(
                    "run_model", {"model_id": SLOW_MODEL, "input": {}}, progress_callback=on_progress
                )

            group.start_soon(run)
            with anyio.fail_after(30):
                while not submitted:
                    await anyio.sleep(0.02)
            group.cancel_scope.cancel()
        request_id = submitted[0]
        status = await _wait_for_status(client, request_id, {"cancelled", "canceled"})
        history = await client.call_tool("list_requests", {})
    assert status in ("cancelled", "canceled")
    assert rig.emulator.control.calls.list("cancel"), "no cancel reached the service"
    row = next(r for r in history.structured_content["requests"] if r["request_id"] == request_id)
    assert row["status"] in ("interrupted", "cancelled", "canceled", "cancel_requested")


async def _wait_for_status(client: Any, request_id: str, wanted: set[str]) -> str:
    with anyio.fail_after(30):
        while True:
            answer = await client.call_tool("request_status", {"request_id": request_id})
            status = answer.structured_content["status"]
            if status in wanted:
                return str(status)
            await anyio.sleep(0.05)


async def test_destructive_tools_do_nothing_without_confirm(rig: McpRig) -> None:
    async with rig.stdio() as client:
        submitted = await client.call_tool("submit_request", {"model_id": SLOW_MODEL, "input": {}})
        request_id = submitted.structured_content["request_id"]
        refused_cancel = await client.call_tool("cancel_request", {"request_id": request_id})
        refused_delete = await client.call_tool("delete_deployment", {"deployment_id": DEPLOYMENT_ID})
        refused_false = await client.call_tool(
            "delete_deployment", {"deployment_id": DEPLOYMENT_ID, "confirm": False}
        )
        still_running = await client.call_tool("request_status", {"request_id": request_id})
        deployments = await client.call_tool("list_deployments", {})
        confirmed = await client.call_tool("cancel_request", {"request_id": request_id, "confirm": True})
    for refused in (refused_cancel, refused_delete, refused_false):
        assert refused.is_error
        assert "confirm: true" in result_text(refused)
        assert refused.structured_content["exit_code"] == 64
    assert still_running.structured_content["status"] not in ("cancelled", "canceled")
    assert DEPLOYMENT_ID in result_text(deployments)
    assert not confirmed.is_error, result_text(confirmed)
    assert rig.emulator.control.calls.list("cancel")


async def test_files_are_never_written_outside_the_output_dir(rig: McpRig) -> None:
    outside = rig.home / "escaped"
    async with rig.stdio() as client:
        results = [
            await client.call_tool(
                "run_model", {"model_id": IMAGE_MODEL, "input": {"prompt": "x"}, "subfolder": subfolder}
            )
            for subfolder in ("../escaped", str(outside), "~/escaped", "a/../../escaped")
        ]
        inside = await client.call_tool(
            "run_model", {"model_id": IMAGE_MODEL, "input": {"prompt": "x"}, "subfolder": "foxes/1"}
        )
    for result in results:
        assert result.is_error and "output directory" in result_text(result)
    assert not outside.exists()
    assert rig.emulator.control.calls.list("submit") and len(rig.emulator.control.calls.list("submit")) == 1
    saved = Path(inside.structured_content["files"][0]["path"])
    assert saved.parent == (rig.output_dir / "foxes" / "1").resolve()


async def test_deployments_and_training_tools_answer_on_the_emulator(rig: McpRig) -> None:
    async with rig.stdio() as client:
        listed = await client.call_tool("list_deployments", {})
        described = await client.call_tool("get_deployment", {"deployment_id": DEPLOYMENT_ID})
        nodes = described.structured_content["nodes"]
        node = next(n for n in nodes if isinstance(n["inputs"].get("seed"), int))
        ran = await client.call_tool(
            "run_deployment",
            {"deployment_id": DEPLOYMENT_ID, "overrides": {node["id"]: {"inputs": {"seed": 7}}}},
        )
        wrong = await client.call_tool(
            "run_deployment",
            {"deployment_id": DEPLOYMENT_ID, "overrides": {"no-such-node": {"inputs": {"x": 1}}}},
        )
        datasets = await client.call_tool("list_datasets", {})
        balance = await client.call_tool("balance", {})
    assert DEPLOYMENT_ID in result_text(listed)
    assert nodes and all({"id", "class_type", "title", "inputs"} <= set(n) for n in nodes)
    assert not ran.is_error, result_text(ran)
    assert ran.structured_content["files"]
    assert wrong.is_error and "no-such-node" in result_text(wrong)
    assert not datasets.is_error and "datasets" in datasets.structured_content
    assert not balance.is_error and "balance_usd" in balance.structured_content


async def test_the_canary_token_never_appears_in_results_logs_or_files(rig: McpRig) -> None:
    seen: list[str] = []
    async with rig.stdio() as client:
        for name, arguments in [
            ("search_models", {}),
            ("get_model", {"model_id": IMAGE_MODEL}),
            ("run_model", {"model_id": IMAGE_MODEL, "input": {"prompt": rig.token}}),
            ("run_model", {"model_id": "runcomfy/emulator/fail", "input": {}}),
            ("get_model", {"model_id": "no/such/model"}),
            ("request_status", {"request_id": "not-a-request"}),
            ("list_requests", {}),
            ("balance", {}),
            ("get_deployment", {"deployment_id": DEPLOYMENT_ID}),
        ]:
            seen.append(result_text(await client.call_tool(name, arguments)))
        for uri in ("runcomfy://models", f"runcomfy://models/{IMAGE_MODEL}", "runcomfy://requests"):
            seen.extend(c.text for c in (await client.read_resource(uri)).contents)
    everything = "\n".join(seen)
    assert "Error:" in everything  # the failing calls were made
    assert rig.token not in everything
    assert rig.token not in rig.every_file_text()


async def test_local_mode_serves_the_embedded_emulator_without_an_account(tmp_path: Path) -> None:
    from mcp.client.stdio import StdioServerParameters, stdio_client
    from mcp_harness import RUNCOMFY

    from mcp import Client

    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("RUNCOMFY_")}
    env.update(
        {"HOME": str(home), "RUNCOMFY_STATE_DIR": str(home / "state"), "RUNCOMFY_CONFIG_DIR": str(home / "c")}
    )
    params = StdioServerParameters(
        command=RUNCOMFY, args=["--local", "mcp", "--poll-secs", "0.05"], env=env, cwd=str(home)
    )
    with (home / "err.log").open("w") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:
            tools = await client.list_tools()
            ran = await client.call_tool(
                "run_model", {"model_id": "runcomfy/emulator/echo", "input": {"x": 1}}
            )
            checked = await client.call_tool(
                "request_status", {"request_id": ran.structured_content["request_id"]}
            )
            fetched = await client.call_tool(
                "request_result", {"request_id": ran.structured_content["request_id"]}
            )
    assert len(tools.tools) == len(EXPECTED_TOOLS)
    assert not ran.is_error and ran.structured_content["output"] == {"x": 1}
    assert checked.structured_content["status"] == "completed"
    assert fetched.structured_content["output"] == {"x": 1}
    assert Path(fetched.structured_content["output_dir"]) == (home / "runcomfy-outputs").resolve()


def test_http_transport_refuses_requests_without_its_bearer_token(rig: McpRig) -> None:
    with rig.http_server("--token", "mcp-bearer-secret") as (url, _process):
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "mcp-bearer-secret"}):
            response = httpx.post(
                url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers=headers
            )
            assert response.status_code == 401, headers
            assert response.headers["www-authenticate"].startswith("Bearer")


def test_http_transport_prints_a_new_bearer_token_when_none_is_given(rig: McpRig) -> None:
    with rig.http_server() as (url, _process):
        log = (rig.home / "http-stderr.log").read_text()
    assert url.startswith("http://127.0.0.1:")
    assert "bearer token: " in log
    assert rig.token not in log


async def test_the_sdk_client_works_over_http_with_the_bearer_token(rig: McpRig) -> None:
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    from mcp import Client

    with rig.http_server("--token", "mcp-bearer-secret") as (url, _process):
        async with (
            httpx2.AsyncClient(headers={"Authorization": "Bearer mcp-bearer-secret"}, timeout=30) as http,
            Client(streamable_http_client(url, http_client=http)) as client,
        ):
            tools = await client.list_tools()
            ran = await client.call_tool("run_model", {"model_id": IMAGE_MODEL, "input": {"prompt": "x"}})
    assert {t.name for t in tools.tools} == EXPECTED_TOOLS
    assert not ran.is_error, result_text(ran)
    assert Path(ran.structured_content["files"][0]["path"]).is_file()


def _cli(rig: McpRig, *args: str) -> str:
    import subprocess

    from mcp_harness import RUNCOMFY

    done = subprocess.run(
        [RUNCOMFY, *args], env=rig.env, cwd=rig.home, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_training_tools_show_a_job_and_fetch_its_lora(rig: McpRig) -> None:
    from PIL import Image

    rig.emulator.control.request(
        "POST", "config", {"training_steps_per_s": 40, "training_queue_s": 0, "dataset_processing_s": 0.2}
    )
    images = rig.home / "cats"
    images.mkdir()
    for index in range(2):
        Image.new("RGB", (16, 16), (60 * index, 90, 200)).save(images / f"cat{index}.png")
        (images / f"cat{index}.txt").write_text(f"ohwx, a cat {index}")
    dataset = json.loads(_cli(rig, "--output", "json", "datasets", "create", "--name", "cats"))
    _cli(rig, "datasets", "upload", dataset["id"], "cats", "--wait", "--poll-secs", "1")
    (rig.home / "config.yaml").write_text(
        _cli(
            rig,
            "train",
            "init",
            "--dataset",
            "cats",
            "--trigger",
            "ohwx",
            "--steps",
            "20",
            "--name",
            "cat_lora",
        )
    )
    job = json.loads(
        _cli(
            rig,
            "--output",
            "json",
            "train",
            "submit",
            "--config",
            "config.yaml",
            "--dataset",
            dataset["id"],
            "--wait",
            "--poll-secs",
            "1",
        )
    )
    async with rig.stdio() as client:
        datasets = await client.call_tool("list_datasets", {})
        ready = await client.call_tool("dataset_status", {"dataset_id": dataset["id"]})
        status = await client.call_tool("training_status", {"job_id": job["id"]})
        fetched = await client.call_tool("training_result", {"job_id": job["id"], "subfolder": "lora"})
    assert dataset["id"] in result_text(datasets)
    assert ready.structured_content["status"] == "READY"
    assert status.structured_content["status"] == "STOPPED"
    assert not fetched.is_error, result_text(fetched)
    names = {Path(f["path"]).name for f in fetched.structured_content["files"]}
    assert "cat_lora.safetensors" in names
    for entry in fetched.structured_content["files"]:
        path = Path(entry["path"])
        assert (rig.output_dir / "lora").resolve() in path.parents
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]


async def test_a_resource_that_cannot_be_read_says_why_without_a_traceback(rig: McpRig) -> None:
    from mcp.shared.exceptions import MCPError

    async with rig.stdio() as client:
        templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
        with pytest.raises(MCPError, match="not recorded here"):
            await client.read_resource("runcomfy://requests/no-such-request")
        with pytest.raises(MCPError, match="find model ids with search_models"):
            await client.read_resource("runcomfy://models/no/such/model")
        catalog = json.loads((await client.read_resource("runcomfy://models")).contents[0].text)
    assert templates == {"runcomfy://models/{+model_id}", "runcomfy://requests/{request_id}"}
    assert any(
        m["model_id"] == IMAGE_MODEL and m["uri"] == f"runcomfy://models/{IMAGE_MODEL}"
        for m in catalog["models"]
    )
    assert "Traceback" not in rig.stderr_path.read_text()


async def test_a_cancel_that_arrives_during_the_submit_still_cancels_the_request_it_creates(
    rig: McpRig,
) -> None:
    async with rig.stdio() as client:
        for _ in range(2):  # both workers busy: the request will be queued, hence cancellable
            await client.call_tool("submit_request", {"model_id": SLOW_MODEL, "input": {}})
        before = len(rig.emulator.control.calls.list("submit"))
        rig.emulator.control.faults.add("submit", "latency", seconds=2.0)
        async with anyio.create_task_group() as group:

            async def run() -> None:
                await client.call_tool(
                    "run_model", {"model_id": SLOW_MODEL, "input": {}}, progress_callback=_ignore_progress
                )

            group.start_soon(run)
            with anyio.fail_after(30):  # the submit has reached the service and is held there
                while len(rig.emulator.control.calls.list("submit")) == before:
                    await anyio.sleep(0.02)
            group.cancel_scope.cancel()
        with anyio.fail_after(30):
            while True:
                rows = (await client.call_tool("list_requests", {})).structured_content["requests"]
                if len(rows) == 3 and rows[0]["status"] != "submitted":
                    break
                await anyio.sleep(0.05)
        status = await client.call_tool("request_status", {"request_id": rows[0]["request_id"]})
    assert status.structured_content["status"] in ("cancelled", "canceled")


async def _ignore_progress(value: float, total: float | None, message: str | None) -> None:
    return None
