"""Training samples: deterministic PNGs of the prompt's scene, capped in size, with the LoRA showing more as
the run goes on and the step written on them."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, ImageChops, ImageStat

from runcomfy.emulator import media
from runcomfy.emulator.training_media import (
    FINAL_LORA_SCALE,
    MAX_SAMPLE_SIDE,
    lora_scale,
    sample_image,
    sample_size,
)


def sample(
    prompt: str = "ohwx, a portrait",
    step: int = 250,
    *,
    total_steps: int = 1000,
    lora_name: str = "my_lora",
    seed: int = 42,
    width: int = 1024,
    height: int = 768,
) -> bytes:
    return sample_image(
        prompt, step=step, total_steps=total_steps, lora_name=lora_name, seed=seed, width=width, height=height
    )


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    return image.convert("RGB")


def difference(a: bytes, b: bytes) -> float:
    """Mean absolute per-channel difference of two same-sized images (0..255)."""
    diff = ImageChops.difference(decode(a), decode(b))
    return sum(ImageStat.Stat(diff).mean) / 3


def test_a_sample_is_a_png_capped_at_the_max_side_with_the_aspect_kept() -> None:
    assert decode(sample()).size == (512, 384)
    assert decode(sample(width=256, height=320)).size == (256, 320)
    assert decode(sample(width=64, height=2048)).size == (16, 512)


def test_a_sample_is_deterministic_in_every_input() -> None:
    reference = sample()
    assert sample() == reference
    for changed in [
        sample(prompt="another prompt"),
        sample(step=500),
        sample(total_steps=2000),
        sample(lora_name="other_lora"),
        sample(seed=43),
        sample(width=1024, height=1024),
    ]:
        assert changed != reference


def test_the_lora_shows_more_as_training_goes_on() -> None:
    start = sample(step=0)
    distances = [difference(start, sample(step=step)) for step in (100, 400, 700, 1000)]
    assert distances == sorted(distances)
    assert distances[0] > 0
    assert distances[-1] > 3 * distances[0]
    assert distances[-1] > 20, "the last sample is visibly different from the first"


def test_the_final_sample_carries_the_lora_colour_cast() -> None:
    """At the end of the run the sample is the scene blended toward the LoRA's colour, as a Model API image
    made with the LoRA at the final scale is (labels aside: compare the middle of the picture)."""
    final = decode(sample(step=1000, width=512, height=512))
    direct = decode(
        media.draw_image("ohwx, a portrait", 42, 512, 512, lora=media.Lora("my_lora", FINAL_LORA_SCALE))
    )
    box = (0, 100, 512, 400)
    assert ImageChops.difference(final.crop(box), direct.crop(box)).getbbox() is None


def test_the_step_is_written_on_the_sample() -> None:
    """1/2 and 500/1000 are the same share of training (same LoRA strength); only the label differs."""
    one = sample(step=1, total_steps=2)
    other = sample(step=500, total_steps=1000)
    bbox = ImageChops.difference(decode(one), decode(other)).getbbox()
    assert bbox is not None
    left, top, right, bottom = bbox
    assert left > 512 // 2 and top > 0 and right <= 512 and bottom < 384 // 3, "the label is at the top right"


def test_the_lora_scale_is_linear_in_the_share_done_and_clamped() -> None:
    assert lora_scale(0, 1000) == 0
    assert lora_scale(500, 1000) == FINAL_LORA_SCALE / 2
    assert lora_scale(1000, 1000) == FINAL_LORA_SCALE
    assert lora_scale(5000, 1000) == FINAL_LORA_SCALE
    assert lora_scale(-3, 1000) == 0


@pytest.mark.parametrize(("width", "height", "total"), [(0, 10, 10), (10, -1, 10), (10, 10, 0)])
def test_nonsense_sizes_and_totals_are_refused(width: int, height: int, total: int) -> None:
    with pytest.raises(ValueError):
        sample(width=width, height=height, total_steps=total)


@given(st.integers(1, 8192), st.integers(1, 8192))
def test_any_size_is_capped_with_its_aspect_kept(width: int, height: int) -> None:
    capped_width, capped_height = sample_size(width, height)
    assert 1 <= capped_width <= MAX_SAMPLE_SIDE and 1 <= capped_height <= MAX_SAMPLE_SIDE
    if max(width, height) <= MAX_SAMPLE_SIDE:
        assert (capped_width, capped_height) == (width, height)
    else:
        assert max(capped_width, capped_height) == MAX_SAMPLE_SIDE
        factor = MAX_SAMPLE_SIDE / max(width, height)
        for capped, side in ((capped_width, width), (capped_height, height)):
            assert abs(capped - side * factor) <= 0.5 + 1e-9 or capped == 1  # rounded, never below 1 px


@given(prompt=st.text(max_size=200), step=st.integers(0, 100), seed=st.integers(0, 2**32))
def test_any_prompt_draws(prompt: str, step: int, seed: int) -> None:
    image = decode(sample(prompt, step=step, total_steps=100, seed=seed, width=128, height=96))
    assert image.size == (128, 96)
