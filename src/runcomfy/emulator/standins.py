"""Stand-ins for real catalog models: they accept the documented inputs and produce real media.

``openai/gpt-image-2/text-to-image`` draws images, ``blackforestlabs/flux-1-kontext/pro/edit`` paints over the
image it is given (a data URI; a remote URL is never fetched: a placeholder is drawn), and
``wan-ai/wan-2-2/text-to-video`` makes an animated WebP. The two image models take the optional ``lora`` input
the service documents for base models (``{"path": "my_lora_3000.safetensors", "scale": 1}``) and show it on
the picture. Everything is a pure function of the input, cached a little because the file routes draw it
again for every download.
"""

from __future__ import annotations

import functools

from runcomfy.emulator import media
from runcomfy.emulator.models import JSON, Model, Production, RenderedFile, bytes_file, detail, file_ref

# ---------------------------------------------------------------------------------------------------------
# Shared schema pieces

_SEED = {
    "type": "integer",
    "minimum": 0,
    "maximum": 4294967295,
    "description": "Random seed; same seed, same image.",
}
_ASPECT_RATIOS = ["21:9", "16:9", "4:3", "3:2", "1:1", "2:3", "3:4", "9:16", "9:21"]
_ASPECT_SIZES = {
    "21:9": (1344, 576),
    "16:9": (1216, 688),
    "4:3": (1024, 768),
    "3:2": (1152, 768),
    "1:1": (1024, 1024),
    "2:3": (768, 1152),
    "3:4": (768, 1024),
    "9:16": (688, 1216),
    "9:21": (576, 1344),
}


_LORA: JSON = {
    "type": "object",
    "additionalProperties": False,
    "required": ["path"],
    "properties": {
        "path": {
            "type": "string",
            "minLength": 1,
            "maxLength": 2048,
            "description": "The LoRA: a file name (my_lora_3000.safetensors) or an https URL.",
        },
        "scale": {
            "type": "number",
            "minimum": 0,
            "maximum": 4,
            "default": 1,
            "description": "How strongly the LoRA applies.",
        },
    },
    "description": "A LoRA to apply: {path, scale}.",
}


def _lora_checks(input_data: JSON) -> list[JSON]:
    """What the schema cannot say about ``lora.path``: not blank, and a URL only over https."""
    lora = input_data.get("lora")
    path = lora.get("path") if isinstance(lora, dict) else None
    if not isinstance(path, str):
        return []
    if not path.strip():
        return [detail(["lora", "path"], "lora.path must not be blank", "value_error")]
    if "://" in path and not path.startswith("https://"):
        return [detail(["lora", "path"], "lora.path must be a file name or an https URL", "value_error")]
    return []


def _lora_of(input_data: JSON) -> media.Lora | None:
    lora = input_data.get("lora")
    if not isinstance(lora, dict):
        return None
    return media.Lora(str(lora["path"]), float(lora.get("scale", 1)))


@functools.lru_cache(maxsize=32)
def _cached_image(
    prompt: str, seed: int, width: int, height: int, fmt: str, lora: media.Lora | None
) -> bytes:
    return media.draw_image(prompt, seed, width, height, fmt, lora)


@functools.lru_cache(maxsize=16)
def _cached_edit(source: bytes | None, prompt: str, seed: int, fmt: str, lora: media.Lora | None) -> bytes:
    return media.edit_image(source, prompt, seed, fmt, lora)


@functools.lru_cache(maxsize=8)
def _cached_animation(prompt: str, seed: int, width: int, height: int, frames: int) -> bytes:
    return media.draw_animation(prompt, seed, width, height, frames)


# ---------------------------------------------------------------------------------------------------------
# blackforestlabs/flux-1-kontext/pro/edit

KONTEXT_ID = "blackforestlabs/flux-1-kontext/pro/edit"
_KONTEXT_SCHEMA: JSON = {
    "type": "object",
    "additionalProperties": False,
    "required": ["prompt", "image_url"],
    "properties": {
        "prompt": {"type": "string", "minLength": 1, "description": "What to change in the image."},
        "image_url": {
            "type": "string",
            "minLength": 1,
            "description": "The image to edit: an https URL or a base64 data: URI.",
        },
        "seed": _SEED,
        "aspect_ratio": {
            "type": "string",
            "enum": _ASPECT_RATIOS,
            "description": "Aspect ratio of the output.",
        },
        "guidance_scale": {
            "type": "number",
            "minimum": 1,
            "maximum": 20,
            "default": 3.5,
            "description": "How closely to follow the prompt.",
        },
        "output_format": {
            "type": "string",
            "enum": ["png", "jpeg"],
            "default": "png",
            "description": "Image file format.",
        },
        "safety_tolerance": {
            "type": "integer",
            "minimum": 1,
            "maximum": 6,
            "default": 2,
            "description": "Moderation tolerance, 1 (strict) to 6 (permissive).",
        },
        "lora": _LORA,
    },
}


def _kontext_checks(input_data: JSON) -> list[JSON]:
    return _image_url_checks(input_data) + _lora_checks(input_data)


def _image_url_checks(input_data: JSON) -> list[JSON]:
    value = input_data.get("image_url")
    if not isinstance(value, str):
        return []
    if value.startswith("data:"):
        decoded = media.decode_data_uri(value)
        if decoded is None or not media.is_decodable_image(decoded[1]):
            return [
                detail(["image_url"], "image_url data URI is not a decodable base64 image", "value_error")
            ]
        return []
    if not value.startswith(("https://", "http://")):
        return [detail(["image_url"], "image_url must be an http(s) URL or a data: URI", "value_error")]
    return []


def _kontext_produce(request_id: str, input_data: JSON) -> Production:
    fmt = input_data.get("output_format", "png")
    return Production(output={"image": file_ref(request_id, f"edited.{'jpg' if fmt == 'jpeg' else 'png'}")})


def _kontext_file(input_data: JSON, name: str) -> RenderedFile | None:
    fmt = input_data.get("output_format", "png")
    if name != f"edited.{'jpg' if fmt == 'jpeg' else 'png'}":
        return None
    decoded = media.decode_data_uri(str(input_data.get("image_url", "")))
    source = decoded[1] if decoded else None
    prompt, seed = str(input_data["prompt"]), int(input_data.get("seed", 0))
    data = _cached_edit(source, prompt, seed, fmt, _lora_of(input_data))
    return bytes_file(media.content_type_for(fmt), data)


# ---------------------------------------------------------------------------------------------------------
# openai/gpt-image-2/text-to-image

GPT_IMAGE_ID = "openai/gpt-image-2/text-to-image"
_GPT_SIZES = {
    "auto": (1024, 1024),
    "1024x1024": (1024, 1024),
    "1536x1024": (1536, 1024),
    "1024x1536": (1024, 1536),
}
_GPT_SCHEMA: JSON = {
    "type": "object",
    "additionalProperties": False,
    "required": ["prompt"],
    "properties": {
        "prompt": {"type": "string", "minLength": 1, "maxLength": 32000, "description": "What to draw."},
        "size": {
            "type": "string",
            "enum": list(_GPT_SIZES),
            "default": "1024x1024",
            "description": "Image size.",
        },
        "quality": {
            "type": "string",
            "enum": ["auto", "low", "medium", "high"],
            "default": "auto",
            "description": "Rendering quality.",
        },
        "num_images": {
            "type": "integer",
            "minimum": 1,
            "maximum": 4,
            "default": 1,
            "description": "How many images to generate.",
        },
        "output_format": {
            "type": "string",
            "enum": ["png", "webp", "jpeg"],
            "default": "png",
            "description": "Image file format.",
        },
        "background": {
            "type": "string",
            "enum": ["auto", "transparent", "opaque"],
            "default": "auto",
            "description": "Background handling.",
        },
        "seed": _SEED,
        "lora": _LORA,
    },
}


def _ext(fmt: str) -> str:
    return "jpg" if fmt == "jpeg" else fmt


def _gpt_produce(request_id: str, input_data: JSON) -> Production:
    fmt = input_data.get("output_format", "png")
    count = int(input_data.get("num_images", 1))
    return Production(
        output={"images": [file_ref(request_id, f"image-{i}.{_ext(fmt)}") for i in range(count)]}
    )


def _gpt_file(input_data: JSON, name: str) -> RenderedFile | None:
    fmt = input_data.get("output_format", "png")
    count = int(input_data.get("num_images", 1))
    names = {f"image-{i}.{_ext(fmt)}": i for i in range(count)}
    if name not in names:
        return None
    width, height = _GPT_SIZES[input_data.get("size", "1024x1024")]
    seed = int(input_data.get("seed", 0)) + names[name]
    data = _cached_image(str(input_data["prompt"]), seed, width, height, fmt, _lora_of(input_data))
    return bytes_file(media.content_type_for(fmt), data)


# ---------------------------------------------------------------------------------------------------------
# wan-ai/wan-2-2/text-to-video (an animated WebP stands in for the video)

VIDEO_ID = "wan-ai/wan-2-2/text-to-video"
_VIDEO_SIZES = {"16:9": (320, 180), "9:16": (180, 320), "1:1": (240, 240)}
_VIDEO_SCHEMA: JSON = {
    "type": "object",
    "additionalProperties": False,
    "required": ["prompt"],
    "properties": {
        "prompt": {"type": "string", "minLength": 1, "description": "What happens in the video."},
        "negative_prompt": {"type": "string", "description": "What to avoid."},
        "seed": _SEED,
        "aspect_ratio": {
            "type": "string",
            "enum": list(_VIDEO_SIZES),
            "default": "16:9",
            "description": "Aspect ratio of the video.",
        },
        "duration": {"type": "integer", "enum": [5, 8], "default": 5, "description": "Length in seconds."},
        "resolution": {
            "type": "string",
            "enum": ["480p", "720p"],
            "default": "480p",
            "description": "Output resolution.",
        },
    },
}


def _video_produce(request_id: str, input_data: JSON) -> Production:
    return Production(output={"video": file_ref(request_id, "video.webp")})


def _video_file(input_data: JSON, name: str) -> RenderedFile | None:
    if name != "video.webp":
        return None
    width, height = _VIDEO_SIZES[input_data.get("aspect_ratio", "16:9")]
    frames = 2 * int(input_data.get("duration", 5))
    data = _cached_animation(str(input_data["prompt"]), int(input_data.get("seed", 0)), width, height, frames)
    return bytes_file("image/webp", data)


KONTEXT_MODEL = Model(
    model_id=KONTEXT_ID,
    display_name="FLUX.1 Kontext [pro] Edit",
    categories=("image-to-image", "image-editing"),
    base_price_usd=0.04,
    price_unit="image",
    description="Edit an image with a text instruction.",
    input_schema=_KONTEXT_SCHEMA,
    default_duration_s=3.0,
    produce=_kontext_produce,
    render_file=_kontext_file,
    extra_checks=_kontext_checks,
)


GPT_IMAGE_MODEL = Model(
    model_id=GPT_IMAGE_ID,
    display_name="GPT Image 2 Text to Image",
    categories=("text-to-image",),
    base_price_usd=0.05,
    price_unit="image",
    description="Generate images from a text prompt.",
    input_schema=_GPT_SCHEMA,
    default_duration_s=3.0,
    produce=_gpt_produce,
    render_file=_gpt_file,
    extra_checks=_lora_checks,
)


VIDEO_MODEL = Model(
    model_id=VIDEO_ID,
    display_name="Wan 2.2 Text to Video",
    categories=("text-to-video",),
    base_price_usd=0.40,
    price_unit="video",
    description="Generate a short video from a text prompt.",
    input_schema=_VIDEO_SCHEMA,
    default_duration_s=6.0,
    produce=_video_produce,
    render_file=_video_file,
)


def models() -> list[Model]:
    """The stand-in models of the catalog."""
    return [KONTEXT_MODEL, GPT_IMAGE_MODEL, VIDEO_MODEL]
