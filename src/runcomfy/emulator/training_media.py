"""The sample images a stand-in training run draws: the same scene at every step, with the LoRA showing more.

A real run renders its sample prompts at every ``sample_every`` step, and watching the LoRA take hold over
those samples is how people judge a run. Here each sample is the prompt's scene from :mod:`media` (same prompt
and seed: same scene at every step) under the LoRA's colour cast at a strength growing with the share of the
training done, labelled with the step, so samples of one run visibly differ from step to step. Pure, like
:mod:`media`: the file route draws a sample again on demand. Drawn at most :data:`MAX_SAMPLE_SIDE` pixels a
side (the config's aspect kept): the emulator stays fast whatever size the config asks for.
"""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFont

from runcomfy.emulator import media

MAX_SAMPLE_SIDE = 512
FINAL_LORA_SCALE = 2.0  # a finished run's samples: a strong cast (half tint), the scene still visible


def sample_size(width: int, height: int) -> tuple[int, int]:
    """``(width, height)`` scaled down, aspect kept, so neither side is over :data:`MAX_SAMPLE_SIDE`."""
    if width < 1 or height < 1:
        raise ValueError("width and height must be positive")
    factor = min(1.0, MAX_SAMPLE_SIDE / max(width, height))
    return max(1, round(width * factor)), max(1, round(height * factor))


def lora_scale(step: int, total_steps: int) -> float:
    """How strongly the LoRA shows at ``step`` of ``total_steps``: 0 at the start, :data:`FINAL_LORA_SCALE`
    at the end, linear between (steps outside 0..total are clamped)."""
    if total_steps < 1:
        raise ValueError("total_steps must be at least 1")
    return FINAL_LORA_SCALE * min(max(step, 0), total_steps) / total_steps


def sample_image(
    prompt: str, *, step: int, total_steps: int, lora_name: str, seed: int, width: int, height: int
) -> bytes:
    """A PNG sample of ``prompt`` at ``step`` of a run training ``lora_name``: deterministic in its inputs."""
    size = sample_size(width, height)
    scale = lora_scale(step, total_steps)
    image = Image.new("RGB", size)
    # media's private helpers, on purpose: the same scene and LoRA cast as a Model API image, plus a step label
    media._paint_scene(image, prompt, media._rng(prompt, seed))
    image = media._apply_lora(image, media.Lora(path=lora_name, scale=round(scale, 3)))
    _label_step(image, step, total_steps)
    return media._encode(image, "png")


def _label_step(image: Image.Image, step: int, total_steps: int) -> None:
    """``step N/M`` in a dark box under the LoRA band, at the top right."""
    width, height = image.size
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=max(12, width // 24))
    text = f"step {step}/{total_steps}"
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    band = max(20, height // 16)
    pad = 4
    x = max(0, width - (right - left) - 2 * pad - 4)
    y = band + 4
    draw.rectangle((x, y, x + (right - left) + 2 * pad, y + (bottom - top) + 2 * pad), fill=(0, 0, 0))
    draw.text((x + pad - left, y + pad - top), text, fill=(255, 255, 0), font=font)
