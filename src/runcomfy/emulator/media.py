"""Real media for the emulator's stand-in models: images and animations drawn with Pillow, and sized files.

Everything here is a pure function of its inputs (prompt, seed, size, format, LoRA): the same input gives the
same bytes, so outputs never need storing; the file routes draw them again on demand. A LoRA shows on the
picture as a colour cast chosen by its name, as strong as its scale, and a label naming it. Sized files are computed
arithmetically from the byte offset, so a 2 GiB+ file is streamed without being held in memory or on disk.
"""

from __future__ import annotations

import base64
import binascii
import colorsys
import hashlib
import io
import random
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from PIL import Image, ImageDraw, ImageFont

SIZED_BLOCK = bytes(range(256)) * 4096  # 1 MiB; byte at offset i of a sized file is i % 256
_CONTENT_TYPES = {"png": "image/png", "webp": "image/webp", "jpeg": "image/jpeg", "gif": "image/gif"}


MAX_SOURCE_PIXELS = 50_000_000  # an input image to edit: any camera's photo, but not a decompression bomb
LORA_TINT_PER_SCALE = 0.25  # scale 1 (the default) is a clear cast; 4, the top, is near the cap
MAX_LORA_TINT = 0.8  # even at the top scale the scene stays visible under the cast


@dataclass(frozen=True)
class Lora:
    """A LoRA applied to a picture: its file name or URL and its strength (0..4). Frozen, so it can be part of
    a cache key."""

    path: str
    scale: float = 1.0

    @property
    def name(self) -> str:
        """What the label shows: the file name, also for a URL (its last path segment)."""
        if "://" in self.path:
            segment = unquote(urlsplit(self.path).path.rstrip("/").rpartition("/")[2])
            return segment or self.path
        return self.path


def content_type_for(fmt: str) -> str:
    """MIME type of an image format name (``png``, ``webp``, ``jpeg``)."""
    return _CONTENT_TYPES.get(fmt, "application/octet-stream")


def _rng(prompt: str, seed: int, salt: str = "") -> random.Random:
    digest = hashlib.sha256(f"{salt}\x00{seed}\x00{prompt}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _colour(rng: random.Random) -> tuple[int, int, int]:
    return (rng.randrange(256), rng.randrange(256), rng.randrange(256))


def _paint_scene(image: Image.Image, prompt: str, rng: random.Random, *, frame: int = 0) -> None:
    """Draw a gradient sky, a few shapes and the prompt text: recognisably "about" the prompt, cheaply."""
    width, height = image.size
    draw = ImageDraw.Draw(image)
    top, bottom = _colour(rng), _colour(rng)
    for y in range(0, height, 4):
        t = y / max(height - 1, 1)
        row = tuple(int(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
        draw.rectangle((0, y, width, y + 3), fill=row)
    for _ in range(6):
        x, y = rng.randrange(width), rng.randrange(height)
        r = rng.randrange(max(width // 20, 4), max(width // 5, 8))
        x += (frame * r) // 6
        box = (x - r, y - r, x + r, y + r)
        if rng.random() < 0.5:
            draw.ellipse(box, fill=_colour(rng), outline=(0, 0, 0))
        else:
            draw.rectangle(box, fill=_colour(rng), outline=(0, 0, 0))
    _caption(draw, prompt, width, height)


def _caption(draw: ImageDraw.ImageDraw, prompt: str, width: int, height: int) -> None:
    font = ImageFont.load_default(size=max(12, width // 32))
    text = prompt if len(prompt) <= 80 else prompt[:77] + "..."
    draw.rectangle((0, height - height // 8, width, height), fill=(0, 0, 0))
    draw.text((8, height - height // 8 + 4), text, fill=(255, 255, 255), font=font)


def _apply_lora(image: Image.Image, lora: Lora | None) -> Image.Image:
    """The picture under a colour cast picked by the LoRA's name, as strong as its scale, with a label on top
    naming it: a LoRA visibly changes the result, and two LoRAs (or two scales) differ."""
    if lora is None:
        return image
    hue = hashlib.sha256(lora.path.encode()).digest()[0] / 255
    red, green, blue = (int(255 * c) for c in colorsys.hsv_to_rgb(hue, 0.85, 1.0))  # vivid, never grey
    tint = Image.new("RGB", image.size, (red, green, blue))
    tinted = Image.blend(image, tint, min(MAX_LORA_TINT, LORA_TINT_PER_SCALE * lora.scale))
    width, height = tinted.size
    draw = ImageDraw.Draw(tinted)
    font = ImageFont.load_default(size=max(12, width // 40))
    name = "".join(ch for ch in lora.name if ch.isprintable())
    label = f"LoRA {name if len(name) <= 60 else name[:57] + '...'} (scale {lora.scale:g})"
    band = max(20, height // 16)
    draw.rectangle((0, 0, width, band), fill=(red // 4, green // 4, blue // 4))
    draw.text((8, band // 6), label, fill=(255, 255, 255), font=font)
    return tinted


def _encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    if fmt == "jpeg":
        image.convert("RGB").save(buffer, format="JPEG", quality=90)
    elif fmt == "webp":
        image.save(buffer, format="WEBP", lossless=True)
    else:
        image.save(buffer, format="PNG", compress_level=1)  # fast: the emulator draws one per request
    return buffer.getvalue()


def draw_image(
    prompt: str, seed: int, width: int, height: int, fmt: str = "png", lora: Lora | None = None
) -> bytes:
    """A deterministic image for ``prompt`` and ``seed`` (and ``lora``, when one is applied)."""
    image = Image.new("RGB", (width, height))
    _paint_scene(image, prompt, _rng(prompt, seed))
    return _encode(_apply_lora(image, lora), fmt)


def edit_image(
    source: bytes | None, prompt: str, seed: int, fmt: str = "png", lora: Lora | None = None
) -> bytes:
    """A deterministic "edit" of ``source``: the original with shapes and the instruction painted over it.

    Without a decodable source (a remote URL the emulator must not fetch) a placeholder base is drawn.
    """
    if source is not None:
        with Image.open(io.BytesIO(source)) as original:
            base = original.convert("RGB")
    else:
        base = Image.new("RGB", (768, 768))
        _paint_scene(base, "source image", _rng(prompt, seed, "base"))
    rng = _rng(prompt, seed, "edit")
    draw = ImageDraw.Draw(base)
    width, height = base.size
    for _ in range(3):
        x, y = rng.randrange(width), rng.randrange(height)
        r = rng.randrange(max(width // 16, 4), max(width // 6, 8))
        draw.ellipse((x - r, y - r, x + r, y + r), outline=_colour(rng), width=max(2, width // 100))
    _caption(draw, f"edit: {prompt}", width, height)
    return _encode(_apply_lora(base, lora), fmt)


def draw_animation(
    prompt: str, seed: int, width: int, height: int, frames: int, fmt: str = "webp", frame_ms: int = 125
) -> bytes:
    """A deterministic animation standing in for a generated video: an animated WebP, or a GIF (``fmt``)."""
    images = []
    for frame in range(frames):
        image = Image.new("RGB", (width, height))
        _paint_scene(image, prompt, _rng(prompt, seed), frame=frame)
        images.append(image)
    buffer = io.BytesIO()
    options: dict[str, object] = {"lossless": False, "quality": 60} if fmt == "webp" else {"optimize": False}
    images[0].save(
        buffer,
        format="GIF" if fmt == "gif" else "WEBP",
        save_all=True,
        append_images=images[1:],
        duration=frame_ms,
        loop=0,
        **options,
    )
    return buffer.getvalue()


def decode_data_uri(value: str) -> tuple[str, bytes] | None:
    """``(mime, bytes)`` of a base64 ``data:`` URI, or None if ``value`` is not one or does not decode."""
    if not value.startswith("data:") or "," not in value:
        return None
    header, _, payload = value[5:].partition(",")
    if not header.endswith(";base64"):
        return None
    try:
        return header[: -len(";base64")] or "application/octet-stream", base64.b64decode(
            payload, validate=True
        )
    except (binascii.Error, ValueError):
        return None


def is_decodable_image(data: bytes) -> bool:
    """Whether Pillow can decode ``data`` whole as an image of at most :data:`MAX_SOURCE_PIXELS` (used to
    validate ``image_url`` data URIs).

    The pixels are decoded, not just the container checked: an image whose compressed data is corrupt passes
    ``verify()`` and would fail only later, when its edited output is drawn for a download.
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_SOURCE_PIXELS:
                return False
            image.load()
    except Exception:
        return False
    return True


def sized_chunks(start: int, end: int, chunk_size: int = len(SIZED_BLOCK)) -> Iterator[bytes]:
    """Bytes ``start..end`` (end exclusive) of the sized file, produced chunk by chunk."""
    offset = start
    while offset < end:
        block_offset = offset % len(SIZED_BLOCK)
        take = min(chunk_size, len(SIZED_BLOCK) - block_offset, end - offset)
        yield SIZED_BLOCK[block_offset : block_offset + take]
        offset += take
