"""The cloud-saved workflows the emulator knows: real ComfyUI API-format graphs a deployment can serve.

Two examples, each a ``workflow_id`` (a UUID, as on the service) and a version:

- **text to image** (``7e57c0de-0000-4000-8000-000000000001``, versions ``v1`` and ``v2``): ComfyUI's
  default graph. ``"3"`` KSampler (seed, steps, cfg, sampler), ``"4"`` Load Checkpoint, ``"5"`` Empty Latent
  Image (width, height, batch_size), ``"6"`` positive prompt, ``"7"`` negative prompt, ``"8"`` VAE Decode,
  ``"9"`` Save Image: one PNG per batch item under ``outputs["9"]["images"]``. ``v2`` is the same graph at
  768x768 with 25 steps.
- **text to animation** (``7e57c0de-0000-4000-8000-000000000002``, ``v1``): an AnimateDiff graph.
  ``"1"`` Load Checkpoint, ``"2"`` AnimateDiff Loader, ``"3"`` positive prompt, ``"4"`` negative prompt,
  ``"5"`` Empty Latent Image (``batch_size`` is the number of frames), ``"6"`` KSampler, ``"7"`` VAE Decode,
  ``"8"`` Video Combine: one animated GIF (or WebP, by ``format``) under ``outputs["8"]["gifs"]``.

Each version also carries the overrides the service shows as a deployment's defaults, a README, and the run
time of one request on an instance. Data and lookups only; this module knows nothing of HTTP.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

JSON = dict[str, Any]

TEXT_TO_IMAGE_ID = "7e57c0de-0000-4000-8000-000000000001"
ANIMATION_ID = "7e57c0de-0000-4000-8000-000000000002"


@dataclass(frozen=True)
class Workflow:
    """One version of a cloud-saved workflow."""

    workflow_id: str
    version: str
    name: str
    description: str
    graph: JSON
    overrides: JSON
    run_s: float  # how long one request runs on a warm instance (unless the emulator is told otherwise)

    def readme(self) -> str:
        """The README a deployment of this version shows (``includes=readme``)."""
        nodes = "\n".join(
            f"| `{node_id}` | {node['class_type']} | {node['_meta']['title']} | {', '.join(_literal_inputs(node))} |"
            for node_id, node in self.graph.items()
        )
        return (
            f"# {self.name} ({self.version})\n\n{self.description}\n\n"
            'Send `overrides` keyed by node id, e.g. `{"<node id>": {"inputs": {"<input>": <value>}}}`.\n\n'
            "| Node | Class | Title | Inputs you can override |\n|---|---|---|---|\n"
            f"{nodes}\n"
        )

    def record(self) -> JSON:
        """How the control plane lists this version."""
        return {
            "workflow_id": self.workflow_id,
            "workflow_version": self.version,
            "name": self.name,
            "description": self.description,
            "workflow_api_json": self.graph,
            "overrides": self.overrides,
            "run_s": self.run_s,
        }


def _literal_inputs(node: JSON) -> list[str]:
    return [name for name, value in node["inputs"].items() if not isinstance(value, list)]


def _node(class_type: str, title: str, **inputs: Any) -> JSON:
    return {"inputs": inputs, "class_type": class_type, "_meta": {"title": title}}


def _text_to_image_graph(*, size: int, steps: int) -> JSON:
    return {
        "3": _node(
            "KSampler",
            "KSampler",
            seed=156680208700286,
            steps=steps,
            cfg=8,
            sampler_name="euler",
            scheduler="normal",
            denoise=1,
            model=["4", 0],
            positive=["6", 0],
            negative=["7", 0],
            latent_image=["5", 0],
        ),
        "4": _node("CheckpointLoaderSimple", "Load Checkpoint", ckpt_name="v1-5-pruned-emaonly.safetensors"),
        "5": _node("EmptyLatentImage", "Empty Latent Image", width=size, height=size, batch_size=1),
        "6": _node(
            "CLIPTextEncode",
            "CLIP Text Encode (Positive Prompt)",
            text="beautiful scenery nature glass bottle landscape, purple galaxy bottle",
            clip=["4", 1],
        ),
        "7": _node(
            "CLIPTextEncode", "CLIP Text Encode (Negative Prompt)", text="text, watermark", clip=["4", 1]
        ),
        "8": _node("VAEDecode", "VAE Decode", samples=["3", 0], vae=["4", 2]),
        "9": _node("SaveImage", "Save Image", filename_prefix="ComfyUI", images=["8", 0]),
    }


def _animation_graph() -> JSON:
    return {
        "1": _node("CheckpointLoaderSimple", "Load Checkpoint", ckpt_name="dreamshaper_8.safetensors"),
        "2": _node(
            "ADE_AnimateDiffLoaderGen1",
            "AnimateDiff Loader",
            model=["1", 0],
            model_name="mm_sd_v15_v2.ckpt",
            beta_schedule="autoselect",
        ),
        "3": _node(
            "CLIPTextEncode",
            "CLIP Text Encode (Positive Prompt)",
            text="a paper boat drifting on a calm lake, soft morning light",
            clip=["1", 1],
        ),
        "4": _node(
            "CLIPTextEncode",
            "CLIP Text Encode (Negative Prompt)",
            text="blurry, low quality, watermark",
            clip=["1", 1],
        ),
        "5": _node("EmptyLatentImage", "Empty Latent Image", width=512, height=512, batch_size=16),
        "6": _node(
            "KSampler",
            "KSampler",
            seed=42,
            steps=20,
            cfg=7.5,
            sampler_name="euler_ancestral",
            scheduler="normal",
            denoise=1,
            model=["2", 0],
            positive=["3", 0],
            negative=["4", 0],
            latent_image=["5", 0],
        ),
        "7": _node("VAEDecode", "VAE Decode", samples=["6", 0], vae=["1", 2]),
        "8": _node(
            "VHS_VideoCombine",
            "Video Combine",
            images=["7", 0],
            frame_rate=8,
            loop_count=0,
            filename_prefix="AnimateDiff",
            format="image/gif",
            pingpong=False,
            save_output=True,
        ),
    }


def _overrides(graph: JSON, wanted: dict[str, list[str]]) -> JSON:
    return {
        nid: {"inputs": {name: graph[nid]["inputs"][name] for name in names}} for nid, names in wanted.items()
    }


def _build() -> dict[tuple[str, str], Workflow]:
    image_v1 = _text_to_image_graph(size=512, steps=20)
    image_v2 = _text_to_image_graph(size=768, steps=25)
    animation = _animation_graph()
    image_wanted = {"6": ["text"], "3": ["seed"], "5": ["width", "height"]}
    about_image = "Text to image with ComfyUI's default graph: a checkpoint, a prompt, KSampler, Save Image."
    about_animation = "Text to animation with AnimateDiff: batch_size frames, combined into an animated GIF."
    workflows = [
        Workflow(
            TEXT_TO_IMAGE_ID,
            "v1",
            "Text to Image",
            about_image,
            image_v1,
            _overrides(image_v1, image_wanted),
            4.0,
        ),
        Workflow(
            TEXT_TO_IMAGE_ID,
            "v2",
            "Text to Image",
            about_image,
            image_v2,
            _overrides(image_v2, image_wanted),
            6.0,
        ),
        Workflow(
            ANIMATION_ID,
            "v1",
            "Text to Animation (AnimateDiff)",
            about_animation,
            animation,
            _overrides(animation, {"3": ["text"], "6": ["seed"], "5": ["batch_size"]}),
            12.0,
        ),
    ]
    return {(workflow.workflow_id, workflow.version): workflow for workflow in workflows}


WORKFLOWS: dict[tuple[str, str], Workflow] = _build()


def find(workflow_id: str, version: str) -> Workflow | None:
    """One version of a workflow, or None."""
    return WORKFLOWS.get((workflow_id, version))


def known_ids() -> set[str]:
    """Every workflow id (of any version)."""
    return {workflow_id for workflow_id, _ in WORKFLOWS}


def versions_of(workflow_id: str) -> list[str]:
    """The versions of a workflow, oldest first."""
    return [version for wid, version in WORKFLOWS if wid == workflow_id]


def graph_copy(workflow: Workflow) -> JSON:
    """A copy of a workflow's graph, safe to change."""
    return copy.deepcopy(workflow.graph)
