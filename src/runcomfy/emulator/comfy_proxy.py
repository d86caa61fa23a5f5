"""The instance proxy: ``POST /prod/v2/deployments/{id}/instances/{instance_id}/proxy/{comfy_path}`` answers as
the ComfyUI backend of a warm (idle or busy) instance would.

Paths answered (with or without ComfyUI's ``api/`` prefix; a leading ``/`` is ignored):

- ``api/free``: ``{}`` (ComfyUI unloads models and frees memory);
- ``api/object_info`` and ``api/object_info/{class}``: the node classes of
  :mod:`~runcomfy.emulator.comfy_nodes`;
- ``api/queue``: ``{"queue_running": [...], "queue_pending": []}``, the request the instance runs as ComfyUI
  lists a prompt (``[number, prompt_id, prompt, extra_data, outputs_to_execute]``); the deployment's queue
  lives outside the instance, so its pending list is empty;
- ``api/system_stats``: the system and one CUDA device with the SKU's VRAM.

Any other path is a 404, and so is an instance that does not belong to the deployment, is still booting
(a cold start) or has stopped. The body must be JSON (default ``{}``) and is otherwise ignored. Ownership is
the deployment's. This module must never reach a real ComfyUI or anything outside the emulator.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from runcomfy.emulator import comfy_nodes
from runcomfy.emulator.bodies import CONTROL_BODY_LIMIT, read_json
from runcomfy.emulator.comfy_graph import output_nodes
from runcomfy.emulator.deployment_access import owned_deployment
from runcomfy.emulator.errors import not_found
from runcomfy.emulator.hardware import GIB, HARDWARE
from runcomfy.emulator.instances import Instance
from runcomfy.emulator.routing import Endpoint, caller
from runcomfy.emulator.state import EmulatorState

ROUTE_NAMES = ("proxy",)
JSON = dict[str, Any]
COMFYUI_VERSION = "0.3.40"
RAM_BYTES = 64 * GIB


class ComfyProxy:
    """The proxy handler, bound to one state."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.serverless = state.serverless

    async def proxy(self, request: Request) -> Response:
        user = caller(self.state, request)
        await read_json(request, CONTROL_BODY_LIMIT)  # checked like every body, then unused
        params = request.path_params
        path = params["comfy_path"].strip("/").removeprefix("api/")
        with self.serverless.lock:
            self.serverless.advance()
            deployment = owned_deployment(self.state, user.user_id, params["deployment_id"])
            instance = self.serverless.scheduler.instances.get(params["instance_id"])
            if instance is None or instance.deployment_id != deployment.id or not instance.warm:
                raise not_found(
                    "Instance not found or not running",
                    "Instance ids come from the status of a request in progress; a booting or stopped "
                    "instance does not answer.",
                )
            answer = self._answer(path, instance)
        if answer is None:
            raise not_found(
                f"ComfyUI path /{path} is not emulated",
                "Emulated: api/free, api/object_info, api/queue, api/system_stats.",
            )
        return JSONResponse(answer)

    def _answer(self, path: str, instance: Instance) -> JSON | None:
        if path.startswith("object_info/"):
            return comfy_nodes.object_info([path.removeprefix("object_info/")])
        answers: dict[str, Callable[[Instance], JSON]] = {
            "free": lambda _instance: {},
            "object_info": lambda _instance: comfy_nodes.object_info(),
            "queue": self._queue,
            "system_stats": _system_stats,
        }
        answer = answers.get(path)
        return answer(instance) if answer is not None else None

    def _queue(self, instance: Instance) -> JSON:
        running: list[Any] = []
        if instance.request_id is not None:
            job = self.serverless.scheduler.requests[instance.request_id]
            running.append(
                [0, job.request_id, job.workflow, {"client_id": "runcomfy"}, output_nodes(job.workflow)]
            )
        return {"queue_running": running, "queue_pending": []}


def _system_stats(instance: Instance) -> JSON:
    hardware = HARDWARE[instance.sku]
    used = 3 * GIB if instance.request_id is not None else 0
    return {
        "system": {
            "os": "posix",
            "ram_total": RAM_BYTES,
            "ram_free": RAM_BYTES - 8 * GIB,
            "comfyui_version": COMFYUI_VERSION,
            "python_version": "3.11.9 (main, Apr  6 2024, 17:59:24) [GCC 11.4.0]",
            "pytorch_version": "2.5.1+cu124",
            "embedded_python": False,
            "argv": ["main.py", "--listen", "0.0.0.0", "--port", "8188"],
        },
        "devices": [
            {
                "name": f"cuda:0 {hardware.gpu} : cudaMallocAsync",
                "type": "cuda",
                "index": 0,
                "vram_total": hardware.vram_bytes,
                "vram_free": hardware.vram_bytes - used,
                "torch_vram_total": used,
                "torch_vram_free": 0,
            }
        ],
    }


def endpoints(state: EmulatorState) -> list[Endpoint]:
    """The proxy route."""
    proxy = ComfyProxy(state)
    path = "/prod/v2/deployments/{deployment_id}/instances/{instance_id}/proxy/{comfy_path:path}"
    return [Endpoint(path, "proxy", proxy.proxy, ("POST",))]
