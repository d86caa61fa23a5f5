"""The ComfyUI node classes the emulator's instances have, described as ComfyUI's ``/object_info`` does.

Each class says its inputs (``required`` and ``optional``: a type name such as ``INT`` with its limits, a
list of allowed values for a combo, or the type of a link such as ``MODEL``), its outputs, and whether it is
an output node. The same descriptions serve three purposes: the instance proxy answers ``api/object_info``
with them, a deployment's payload points at them (``object_info_url``), and
:mod:`~runcomfy.emulator.comfy_graph` checks a workflow's inputs against them as ComfyUI validates a prompt.

These are the classes the example workflows use (core ComfyUI nodes, plus AnimateDiff's loader and Video
Helper Suite's combine node for the animation), with the values ComfyUI itself shows for their limits and
defaults. Data only: this module knows nothing of HTTP, graphs or rendering.
"""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]
MAX_RESOLUTION = 16384
MAX_SEED = 0xFFFFFFFFFFFFFFFF

CHECKPOINTS = ["v1-5-pruned-emaonly.safetensors", "dreamshaper_8.safetensors", "sd_xl_base_1.0.safetensors"]
MOTION_MODELS = ["mm_sd_v15_v2.ckpt", "v3_sd15_mm.ckpt"]
BETA_SCHEDULES = ["autoselect", "sqrt_linear (AnimateDiff)", "linear (HotshotXL/default)", "use existing"]
SAMPLERS = [
    "euler",
    "euler_ancestral",
    "heun",
    "dpm_2",
    "dpmpp_2m",
    "dpmpp_2m_sde",
    "dpmpp_sde",
    "ddim",
    "uni_pc",
]
SCHEDULERS = ["normal", "karras", "exponential", "sgm_uniform", "simple", "ddim_uniform", "beta"]
ANIMATION_FORMATS = ["image/gif", "image/webp"]


def _int(default: int, low: int, high: int, **extra: Any) -> list[Any]:
    return ["INT", {"default": default, "min": low, "max": high, **extra}]


def _float(default: float, low: float, high: float, step: float) -> list[Any]:
    return ["FLOAT", {"default": default, "min": low, "max": high, "step": step, "round": 0.01}]


def _combo(values: list[str]) -> list[Any]:
    return [list(values), {"default": values[0]}]


def _node(
    name: str,
    display_name: str,
    category: str,
    required: JSON,
    outputs: list[str],
    *,
    optional: JSON | None = None,
    output_names: list[str] | None = None,
    output_node: bool = False,
    python_module: str = "nodes",
    description: str = "",
) -> JSON:
    inputs: JSON = {"required": required}
    order: JSON = {"required": list(required)}
    if optional:
        inputs["optional"], order["optional"] = optional, list(optional)
    return {
        "input": inputs,
        "input_order": order,
        "output": outputs,
        "output_is_list": [False] * len(outputs),
        "output_name": output_names or outputs,
        "name": name,
        "display_name": display_name,
        "description": description,
        "python_module": python_module,
        "category": category,
        "output_node": output_node,
    }


NODE_CLASSES: dict[str, JSON] = {
    "CheckpointLoaderSimple": _node(
        "CheckpointLoaderSimple",
        "Load Checkpoint",
        "loaders",
        {"ckpt_name": _combo(CHECKPOINTS)},
        ["MODEL", "CLIP", "VAE"],
        description="Loads a diffusion model checkpoint.",
    ),
    "CLIPTextEncode": _node(
        "CLIPTextEncode",
        "CLIP Text Encode (Prompt)",
        "conditioning",
        {"text": ["STRING", {"multiline": True, "dynamicPrompts": True}], "clip": ["CLIP"]},
        ["CONDITIONING"],
        description="Encodes a text prompt for the sampler.",
    ),
    "EmptyLatentImage": _node(
        "EmptyLatentImage",
        "Empty Latent Image",
        "latent",
        {
            "width": _int(512, 16, MAX_RESOLUTION, step=8),
            "height": _int(512, 16, MAX_RESOLUTION, step=8),
            "batch_size": _int(1, 1, 4096),
        },
        ["LATENT"],
        description="Empty latent images to be denoised.",
    ),
    "KSampler": _node(
        "KSampler",
        "KSampler",
        "sampling",
        {
            "model": ["MODEL"],
            "seed": _int(0, 0, MAX_SEED, control_after_generate=True),
            "steps": _int(20, 1, 10000),
            "cfg": _float(8.0, 0.0, 100.0, 0.1),
            "sampler_name": _combo(SAMPLERS),
            "scheduler": _combo(SCHEDULERS),
            "positive": ["CONDITIONING"],
            "negative": ["CONDITIONING"],
            "latent_image": ["LATENT"],
            "denoise": _float(1.0, 0.0, 1.0, 0.01),
        },
        ["LATENT"],
        description="Denoises a latent image with a model and conditioning.",
    ),
    "VAEDecode": _node(
        "VAEDecode",
        "VAE Decode",
        "latent",
        {"samples": ["LATENT"], "vae": ["VAE"]},
        ["IMAGE"],
        description="Decodes latent images back into pixel space.",
    ),
    "SaveImage": _node(
        "SaveImage",
        "Save Image",
        "image",
        {"images": ["IMAGE"], "filename_prefix": ["STRING", {"default": "ComfyUI"}]},
        [],
        output_node=True,
        description="Saves the input images to the ComfyUI output directory.",
    ),
    "PreviewImage": _node(
        "PreviewImage",
        "Preview Image",
        "image",
        {"images": ["IMAGE"]},
        [],
        output_node=True,
        description="Saves the input images to the temporary directory.",
    ),
    "ADE_AnimateDiffLoaderGen1": _node(
        "ADE_AnimateDiffLoaderGen1",
        "AnimateDiff Loader 🎭🅐🅓①",
        "Animate Diff 🎭🅐🅓/① Gen1 nodes ①",
        {
            "model": ["MODEL"],
            "model_name": _combo(MOTION_MODELS),
            "beta_schedule": _combo(BETA_SCHEDULES),
        },
        ["MODEL"],
        optional={"context_options": ["CONTEXT_OPTIONS"], "motion_lora": ["MOTION_LORA"]},
        python_module="custom_nodes.ComfyUI-AnimateDiff-Evolved",
        description="Injects a motion model into the diffusion model.",
    ),
    "VHS_VideoCombine": _node(
        "VHS_VideoCombine",
        "Video Combine 🎥🅥🅗🅢",
        "Video Helper Suite 🎥🅥🅗🅢",
        {
            "images": ["IMAGE"],
            "frame_rate": ["FLOAT", {"default": 8, "min": 1, "max": 120, "step": 1}],
            "loop_count": _int(0, 0, 100),
            "filename_prefix": ["STRING", {"default": "AnimateDiff"}],
            "format": _combo(ANIMATION_FORMATS),
            "pingpong": ["BOOLEAN", {"default": False}],
            "save_output": ["BOOLEAN", {"default": True}],
        },
        ["VHS_FILENAMES"],
        optional={"audio": ["AUDIO"], "vae": ["VAE"]},
        output_names=["Filenames"],
        output_node=True,
        python_module="custom_nodes.ComfyUI-VideoHelperSuite",
        description="Combines images into an animation.",
    ),
}
# Where each output node's files appear in a result: ``outputs[node_id][channel]``.
OUTPUT_CHANNELS = {"SaveImage": "images", "PreviewImage": "images", "VHS_VideoCombine": "gifs"}


def input_spec(class_type: str, name: str) -> list[Any] | None:
    """The ``[type, options]`` of input ``name`` of a class (required or optional), or None if it has none."""
    inputs = NODE_CLASSES[class_type]["input"]
    spec: list[Any] | None = inputs["required"].get(name)
    if spec is None:
        spec = inputs.get("optional", {}).get(name)
    return spec


def input_names(class_type: str) -> list[str]:
    """Every input a class takes, required first."""
    inputs = NODE_CLASSES[class_type]["input"]
    return [*inputs["required"], *inputs.get("optional", {})]


def object_info(class_types: list[str] | None = None) -> JSON:
    """``/object_info`` for the given classes (every class by default), in a stable order."""
    names = sorted(NODE_CLASSES) if class_types is None else sorted(set(class_types) & set(NODE_CLASSES))
    return {name: NODE_CLASSES[name] for name in names}
