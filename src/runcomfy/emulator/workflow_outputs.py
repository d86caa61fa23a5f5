"""What a ComfyUI workflow produces on an emulated instance: the files of its output nodes, drawn on demand.

A workflow is read the way ComfyUI would execute it: each output node (Save Image, Preview Image, Video
Combine) takes its images from a VAE Decode of a KSampler, whose positive prompt, seed, and Empty Latent
Image size and batch decide the picture. The prompt is drawn as the caption, and every other input that
would change a real result (seed, steps, cfg, sampler, scheduler, denoise, checkpoint, negative prompt,
motion model) changes the picture's colours and shapes, so two different requests never share bytes.

File names follow ComfyUI: ``<prefix>_00001_.png`` for Save Image (a ``/`` in the prefix makes a
subfolder), ``ComfyUI_temp_<5 letters>_00001_.png`` for Preview Image, ``<prefix>_00001.gif`` for Video
Combine. Counters start at 1 for every request, so a result is a pure function of its workflow: files are
never stored, the file route draws them again (cached a little). This module knows nothing of HTTP or time.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from runcomfy.emulator import media
from runcomfy.emulator.comfy_graph import output_nodes, upstream
from runcomfy.emulator.comfy_nodes import OUTPUT_CHANNELS
from runcomfy.emulator.models import FILE_MARKER, Production, RenderedFile, bytes_file

JSON = dict[str, Any]
MAX_IMAGE_PIXELS = 4096 * 4096
MAX_IMAGES = 64
MAX_FRAMES = 128
MAX_ANIMATION_PIXELS = 40_000_000
FILES_PATH = "/deployment-files"


class UnsupportedGraph(ValueError):
    """A workflow the emulator cannot render (a real instance might): the request fails with this reason."""


@dataclass(frozen=True)
class Scene:
    """What one output file shows."""

    prompt: str
    seed: int
    width: int
    height: int
    frames: int  # 0 for a still image
    frame_ms: int
    fmt: str


@dataclass(frozen=True)
class PlannedFile:
    """One file a workflow produces: where it is listed in ``outputs`` and what it shows."""

    node_id: str
    channel: str
    filename: str
    subfolder: str
    kind: str  # ComfyUI's ``type``: output or temp
    scene: Scene
    extra: tuple[tuple[str, Any], ...] = ()


def file_url_ref(request_id: str, filename: str) -> str:
    """The stored form of a deployment output file's URL (made absolute when rendered)."""
    return f"{FILE_MARKER}{FILES_PATH}/{request_id}/{quote(filename, safe='')}"


def produce(request_id: str, graph: JSON) -> Production:
    """The ``outputs`` of a finished request (node id -> channel -> files), or why it failed."""
    try:
        planned = plan(graph)
    except UnsupportedGraph as exc:
        return Production(error={"type": "execution_error", "message": str(exc)})
    outputs: JSON = {}
    for item in planned:
        entry = {
            "url": file_url_ref(request_id, item.filename),
            "filename": item.filename,
            "subfolder": item.subfolder,
            "type": item.kind,
            **dict(item.extra),
        }
        outputs.setdefault(item.node_id, {}).setdefault(item.channel, []).append(entry)
    return Production(output=outputs)


def render(graph: JSON, filename: str) -> RenderedFile | None:
    """The file named ``filename`` of a request that ran ``graph``, or None if it produced no such file."""
    try:
        planned = plan(graph)
    except UnsupportedGraph:
        return None
    for item in planned:
        if item.filename == filename:
            scene = item.scene
            if scene.frames:
                data = _animation(scene)
                return bytes_file(media.content_type_for(scene.fmt), data)
            return bytes_file(media.content_type_for(scene.fmt), _image(scene))
    return None


def plan(graph: JSON) -> list[PlannedFile]:
    """Every file ``graph`` produces, in ComfyUI's order; :class:`UnsupportedGraph` if it cannot be drawn."""
    files: list[PlannedFile] = []
    for node_id in output_nodes(graph):
        node = graph[node_id]
        scenes = _scenes(graph, node_id)
        if node["class_type"] == "VHS_VideoCombine":
            files.append(_animation_file(node_id, node, scenes))
        else:
            files += _image_files(node_id, node, scenes, graph)
    return files


def _image_files(node_id: str, node: JSON, scenes: list[Scene], graph: JSON) -> list[PlannedFile]:
    if node["class_type"] == "PreviewImage":
        letters = "".join(chr(97 + b % 26) for b in _digest(graph)[:5])
        subfolder, prefix, kind = "", f"ComfyUI_temp_{letters}", "temp"
    else:
        subfolder, prefix = _split_prefix(node["inputs"].get("filename_prefix", "ComfyUI"))
        kind = "output"
    channel = OUTPUT_CHANNELS[node["class_type"]]
    return [
        PlannedFile(node_id, channel, f"{prefix}_{index + 1:05}_.png", subfolder, kind, scene)
        for index, scene in enumerate(scenes)
    ]


def _animation_file(node_id: str, node: JSON, scenes: list[Scene]) -> PlannedFile:
    inputs = node["inputs"]
    fmt = "gif" if inputs.get("format", "image/gif") == "image/gif" else "webp"
    frames = len(scenes) * 2 - 2 if inputs.get("pingpong") and len(scenes) > 1 else len(scenes)
    first = scenes[0]
    if frames > MAX_FRAMES or first.width * first.height * frames > MAX_ANIMATION_PIXELS:
        raise UnsupportedGraph(
            f"the emulator draws at most {MAX_FRAMES} frames and {MAX_ANIMATION_PIXELS} pixels"
        )
    frame_rate = float(inputs.get("frame_rate", 8))
    scene = Scene(first.prompt, first.seed, first.width, first.height, frames, round(1000 / frame_rate), fmt)
    subfolder, prefix = _split_prefix(inputs.get("filename_prefix", "AnimateDiff"))
    kind = "output" if inputs.get("save_output", True) else "temp"
    extra = (("format", f"image/{fmt}"), ("frame_rate", frame_rate))
    return PlannedFile(node_id, "gifs", f"{prefix}_00001.{fmt}", subfolder, kind, scene, extra)


def _split_prefix(prefix: Any) -> tuple[str, str]:
    """``(subfolder, name)`` of a ``filename_prefix``; a prefix that could escape the output folder fails."""
    text = str(prefix)
    parts = text.split("/")
    if (
        not text
        or len(text) > 200
        or "\\" in text
        or not text.isprintable()
        or any(part in ("", ".", "..") for part in parts)
    ):
        raise UnsupportedGraph(
            f"filename_prefix {text!r:.60} is not a relative path inside the output folder"
        )
    return "/".join(parts[:-1]), parts[-1]


def _scenes(graph: JSON, output_id: str) -> list[Scene]:
    """One scene per image the output node receives (the latent batch)."""
    decode = _source(graph, output_id, "images", "VAEDecode")
    sampler = _source(graph, decode, "samples", "KSampler")
    positive = _source(graph, sampler, "positive", "CLIPTextEncode")
    latent = _source(graph, sampler, "latent_image", "EmptyLatentImage")
    sizes = graph[latent]["inputs"]
    width, height, batch = int(sizes["width"]), int(sizes["height"]), int(sizes["batch_size"])
    still = graph[output_id]["class_type"] != "VHS_VideoCombine"
    if width * height > MAX_IMAGE_PIXELS or (still and batch > MAX_IMAGES):
        raise UnsupportedGraph(f"the emulator draws at most {MAX_IMAGES} images of {MAX_IMAGE_PIXELS} pixels")
    prompt = str(graph[positive]["inputs"]["text"])
    salt = _digest({"sampler": graph[sampler]["inputs"], "models": _model_chain(graph, sampler)})
    return [
        Scene(prompt, int.from_bytes(_digest([salt.hex(), index])[:8], "big"), width, height, 0, 0, "png")
        for index in range(batch)
    ]


def _source(graph: JSON, node_id: str, input_name: str, class_type: str) -> str:
    source = upstream(graph, node_id, input_name)
    if source is None or graph[source]["class_type"] != class_type:
        raise UnsupportedGraph(
            f"node {node_id}: the emulator renders {input_name} only from a {class_type} node"
        )
    return source


def _model_chain(graph: JSON, node_id: str) -> list[JSON]:
    """The inputs of every node the sampler's model and prompts come from (checkpoint, motion model, texts)."""
    chain, seen, pending = [], set(), [node_id]
    while pending:
        current = pending.pop()
        for value in graph[current]["inputs"].values():
            if isinstance(value, list) and len(value) == 2 and value[0] in graph and value[0] not in seen:
                seen.add(value[0])
                pending.append(value[0])
                chain.append({"id": value[0], "inputs": graph[value[0]]["inputs"]})
    return sorted(chain, key=lambda item: str(item["id"]))


def _digest(value: Any) -> bytes:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).digest()


@functools.lru_cache(maxsize=32)
def _image(scene: Scene) -> bytes:
    return media.draw_image(scene.prompt, scene.seed, scene.width, scene.height, "png")


@functools.lru_cache(maxsize=8)
def _animation(scene: Scene) -> bytes:
    return media.draw_animation(
        scene.prompt, scene.seed, scene.width, scene.height, scene.frames, scene.fmt, scene.frame_ms
    )
