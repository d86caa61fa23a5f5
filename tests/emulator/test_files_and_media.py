"""Output files: real media, deterministic bytes, Content-Length/Type, Range, and the 2 GiB+ sized file."""

from __future__ import annotations

import base64
import io

import pytest
from emulator_harness import Emulator
from PIL import Image

from runcomfy.emulator.media import SIZED_BLOCK, sized_chunks


def output_of(emulator: Emulator, model: str, body: dict):
    emulator.control("POST", "config", {"durations": {"*": 0}})
    rid = emulator.submit_ok(model, body)
    result = emulator.result(rid).json()
    assert result["status"] == "completed", result
    return result["output"]


def test_generated_image_is_a_real_png_of_the_requested_size(emulator: Emulator) -> None:
    url = output_of(
        emulator, "openai/gpt-image-2/text-to-image", {"prompt": "a red fox", "size": "1536x1024"}
    )["images"][0]
    response = emulator.http.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert int(response.headers["content-length"]) == len(response.content)
    with Image.open(io.BytesIO(response.content)) as image:
        assert image.format == "PNG" and image.size == (1536, 1024)


def test_same_prompt_and_seed_give_the_same_bytes_and_another_seed_differs(emulator: Emulator) -> None:
    model = "openai/gpt-image-2/text-to-image"
    first = emulator.http.get(output_of(emulator, model, {"prompt": "fox", "seed": 7})["images"][0]).content
    again = emulator.http.get(output_of(emulator, model, {"prompt": "fox", "seed": 7})["images"][0]).content
    other = emulator.http.get(output_of(emulator, model, {"prompt": "fox", "seed": 8})["images"][0]).content
    assert first == again and first != other


def test_webp_output_format_is_served_as_webp(emulator: Emulator) -> None:
    url = output_of(emulator, "openai/gpt-image-2/text-to-image", {"prompt": "x", "output_format": "webp"})[
        "images"
    ][0]
    response = emulator.http.get(url)
    assert url.endswith(".webp") and response.headers["content-type"] == "image/webp"
    assert Image.open(io.BytesIO(response.content)).format == "WEBP"


def test_kontext_edits_the_data_uri_image_it_was_given(emulator: Emulator) -> None:
    source = io.BytesIO()
    Image.new("RGB", (300, 200), (0, 128, 255)).save(source, format="PNG")
    uri = "data:image/png;base64," + base64.b64encode(source.getvalue()).decode()
    url = output_of(
        emulator,
        "blackforestlabs/flux-1-kontext/pro/edit",
        {"prompt": "add a red hat", "image_url": uri, "seed": 7},
    )["image"]
    with Image.open(io.BytesIO(emulator.http.get(url).content)) as edited:
        assert edited.size == (300, 200)
        assert edited.getpixel((1, 1)) == (0, 128, 255)  # the original shows through the edit


def test_video_stand_in_is_an_animated_image(emulator: Emulator) -> None:
    url = output_of(emulator, "wan-ai/wan-2-2/text-to-video", {"prompt": "waves", "duration": 5})["video"]
    response = emulator.http.get(url)
    with Image.open(io.BytesIO(response.content)) as video:
        assert video.format == "WEBP" and video.n_frames == 10 and video.is_animated


def test_range_requests_return_206_with_content_range(emulator: Emulator) -> None:
    url = output_of(emulator, "runcomfy/emulator/sized-file", {"size_bytes": 1000})
    whole = emulator.http.get(url)
    assert whole.headers["accept-ranges"] == "bytes" and len(whole.content) == 1000
    part = emulator.http.get(url, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.headers["content-range"] == "bytes 10-19/1000"
    assert part.content == whole.content[10:20] and part.headers["content-length"] == "10"
    tail = emulator.http.get(url, headers={"Range": "bytes=-5"})
    assert tail.status_code == 206 and tail.content == whole.content[-5:]
    open_end = emulator.http.get(url, headers={"Range": "bytes=995-"})
    assert open_end.content == whole.content[995:]
    beyond = emulator.http.get(url, headers={"Range": "bytes=1000-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == "bytes */1000"
    ignored = emulator.http.get(url, headers={"Range": "pages=1-2"})
    assert ignored.status_code == 200 and len(ignored.content) == 1000


def test_head_reports_length_and_type_without_a_body(emulator: Emulator) -> None:
    url = output_of(emulator, "runcomfy/emulator/sized-file", {"size_bytes": 4096})
    head = emulator.http.head(url)
    assert head.status_code == 200 and head.headers["content-length"] == "4096" and head.content == b""


def test_sized_file_without_declared_length_is_streamed_chunked(emulator: Emulator) -> None:
    url = output_of(emulator, "runcomfy/emulator/sized-file", {"size_bytes": 3000, "content_length": False})
    response = emulator.http.get(url)
    assert "content-length" not in response.headers
    assert response.headers.get("transfer-encoding") == "chunked" and len(response.content) == 3000


def test_unknown_file_and_unfinished_request_files_are_404(emulator: Emulator) -> None:
    url = output_of(emulator, "runcomfy/emulator/sized-file", {"size_bytes": 10})
    assert emulator.http.get(url.rsplit("/", 1)[0] + "/other.bin").status_code == 404
    assert emulator.http.get(f"{emulator.web}/files/nope/sized.bin").status_code == 404


def test_sized_chunks_follow_the_offset_pattern_for_any_range() -> None:
    data = b"".join(sized_chunks(len(SIZED_BLOCK) - 3, len(SIZED_BLOCK) + 5))
    assert data == bytes((i % 256) for i in range(len(SIZED_BLOCK) - 3, len(SIZED_BLOCK) + 5))


@pytest.mark.parametrize("declared", [True, False])
def test_a_file_beyond_2_gib_streams_completely_without_being_stored(
    emulator: Emulator, declared: bool
) -> None:
    size = 2 * 1024**3 + 12345
    url = output_of(
        emulator, "runcomfy/emulator/sized-file", {"size_bytes": size, "content_length": declared}
    )
    total, last = 0, b""
    with emulator.http.stream("GET", url) as response:
        assert response.status_code == 200
        assert response.headers.get("content-length") == (str(size) if declared else None)
        for chunk in response.iter_raw(1024 * 1024):
            total += len(chunk)
            last = chunk
    assert total == size
    assert last[-1] == (size - 1) % 256
