"""The local side of a dataset upload: discovery, MIME types, image sniffing and the pre-flight check."""

from __future__ import annotations

from pathlib import Path

import pytest

from runcomfy.dataset_files import (
    SMALL_UPLOAD_MAX_BYTES,
    LocalFile,
    caption_name,
    check_dataset,
    discover,
    image_format,
    mime_type,
    preflight,
)
from runcomfy.errors import InputFileNotFound, InputProblems

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32
WEBP = b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 16


def write(path: Path, data: bytes | str = b"") -> Path:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def test_a_directory_gives_its_top_level_regular_files_sorted_without_dotfiles(tmp_path: Path) -> None:
    folder = tmp_path / "set"
    folder.mkdir()
    write(folder / "b.png", PNG)
    write(folder / "a.txt", "a caption")
    write(folder / ".DS_Store", "junk")
    (folder / "nested").mkdir()
    write(folder / "nested" / "c.png", PNG)
    names = [item.name for item in discover([folder])]
    assert names == ["a.txt", "b.png"]


def test_files_and_directories_keep_the_order_given(tmp_path: Path) -> None:
    folder = tmp_path / "set"
    folder.mkdir()
    write(folder / "z.txt", "z")
    single = write(tmp_path / "a.json", "{}")
    files = discover([single, folder])
    assert [(item.name, item.size, item.mime) for item in files] == [
        ("a.json", 2, "application/json"),
        ("z.txt", 1, "text/plain"),
    ]


def test_a_missing_path_is_input_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(InputFileNotFound, match="no-such-dir"):
        discover([tmp_path / "no-such-dir"])


def test_a_dangling_link_in_a_directory_is_not_a_file(tmp_path: Path) -> None:
    folder = tmp_path / "set"
    folder.mkdir()
    (folder / "gone.png").symlink_to(tmp_path / "missing.png")
    write(folder / "x.txt", "x")
    assert [item.name for item in discover([folder])] == ["x.txt"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.PNG", "image/png"),
        ("a.jpg", "image/jpeg"),
        ("a.jpeg", "image/jpeg"),
        ("a.webp", "image/webp"),
        ("a.mp4", "video/mp4"),
        ("a.mov", "video/quicktime"),
        ("a.webm", "video/webm"),
        ("a.txt", "text/plain"),
        ("a.json", "application/json"),
        ("a.yaml", "application/yaml"),
        ("a.bin", "application/octet-stream"),
        ("noext", "application/octet-stream"),
    ],
)
def test_mime_type_comes_from_the_extension(name: str, expected: str) -> None:
    assert mime_type(name) == expected


def test_images_are_sniffed_by_their_first_bytes() -> None:
    assert image_format(PNG) == "png"
    assert image_format(JPEG) == "jpeg"
    assert image_format(WEBP) == "webp"
    assert image_format(b"RIFF\x00\x00\x00\x00WAVE") is None
    assert image_format(b"GIF89a") is None
    assert image_format(b"") is None


def test_a_file_over_the_multipart_limit_is_large() -> None:
    small = LocalFile(Path("a.mp4"), "a.mp4", SMALL_UPLOAD_MAX_BYTES, "video/mp4")
    large = LocalFile(Path("b.mp4"), "b.mp4", SMALL_UPLOAD_MAX_BYTES + 1, "video/mp4")
    assert small.small and not large.small


def test_a_good_dataset_has_no_problems(tmp_path: Path) -> None:
    write(tmp_path / "a.png", PNG)
    write(tmp_path / "a.txt", "ohwx, a cat")
    write(tmp_path / "b.jpeg", JPEG)
    write(tmp_path / "b.txt", "ohwx, a dog")
    write(tmp_path / "clip.mp4", b"\x00\x00\x00\x18ftypmp42")
    write(tmp_path / "clip.txt", "ohwx, running")
    write(tmp_path / "meta.yaml", "a: 1")
    assert preflight(discover([tmp_path])) == []
    check_dataset(discover([tmp_path]))  # does not raise


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    write(tmp_path / "a.png", PNG)  # no caption
    write(tmp_path / "b.jpg", b"not really a jpeg")  # not an image, and no caption
    write(tmp_path / "c.gif", b"GIF89a")  # unsupported
    write(tmp_path / "d.webm", b"\x1a\x45\xdf\xa3")  # a video without its caption
    write(tmp_path / "e.txt", "an orphan caption is fine")
    with pytest.raises(InputProblems) as caught:
        check_dataset(discover([tmp_path]))
    kinds = sorted((Path(p["field"]).name, p["kind"]) for p in caught.value.problems)
    assert kinds == [
        ("a.png", "no_caption"),
        ("b.jpg", "no_caption"),
        ("b.jpg", "not_an_image"),
        ("c.gif", "unsupported"),
        ("d.webm", "no_caption"),
    ]
    assert "5 problem(s)" in str(caught.value)
    assert "a.txt" in str(caught.value)  # says which caption to add


def test_a_caption_the_dataset_already_holds_counts(tmp_path: Path) -> None:
    write(tmp_path / "a.png", PNG)
    files = discover([tmp_path / "a.png"])
    assert [p["kind"] for p in preflight(files)] == ["no_caption"]
    assert preflight(files, present={"a.txt"}) == []


def test_an_unreadable_file_is_a_problem(tmp_path: Path) -> None:
    path = write(tmp_path / "a.txt", "x")
    item = LocalFile(path, "a.txt", 1, "text/plain")
    path.unlink()
    assert [p["kind"] for p in preflight([item])] == ["unreadable"]


def test_two_files_under_one_name_are_a_problem(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    write(tmp_path / "one" / "a.txt", "x")
    write(tmp_path / "two" / "a.txt", "y")
    problems = preflight(discover([tmp_path / "one", tmp_path / "two"]))
    assert [p["kind"] for p in problems] == ["duplicate"]


def test_caption_name_keeps_the_stem() -> None:
    assert caption_name("my.photo.png") == "my.photo.txt"
