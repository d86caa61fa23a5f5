"""Local file names: derived from the URL, sanitised, and claimed without overwriting anything."""

from __future__ import annotations

import os
import threading
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runcomfy.downloads import TrustedURL, check_url, filename_from_url, sanitize_filename
from runcomfy.downloads.naming import (
    MAX_NAME_BYTES,
    candidate_names,
    create_temp_file,
    extension_for_content_type,
    place_file,
    split_extension,
)


def name_for(url: str, content_type: str | None = None) -> str:
    decision = check_url(url)
    assert isinstance(decision, TrustedURL), decision
    return filename_from_url(decision.url, content_type)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://x.runcomfy.net/a/b/photo.png", "photo.png"),
        ("https://x.runcomfy.net/a/b/photo.png?sig=1#frag", "photo.png"),
        ("https://x.runcomfy.net/a/my%20photo.png", "my photo.png"),
        ("https://x.runcomfy.net/a/dir/", "dir"),
        ("https://x.runcomfy.net/", "output"),
        ("https://x.runcomfy.net", "output"),
        ("https://x.runcomfy.net/a/..", "output"),
        ("https://x.runcomfy.net/a/%2e%2e", "output"),
        ("https://x.runcomfy.net/a/%2e%2e/", "output"),
        ("https://x.runcomfy.net/a/a%2Fb.png", "a_b.png"),
        ("https://x.runcomfy.net/a/..%2f..%2fetc%2fpasswd", "_.._etc_passwd"),
        ("https://x.runcomfy.net/a/..\\victim", "_victim"),
        ("https://x.runcomfy.net/a/%5c..%5cvictim.png", "_.._victim.png"),
        ("https://x.runcomfy.net/a/%01evil%0a.png", "_evil_.png"),
        ("https://x.runcomfy.net/a/con:fig%3F.txt", "con_fig_.txt"),
        ("https://x.runcomfy.net/a/.bashrc", "bashrc"),
        ("https://x.runcomfy.net/a/%20%20.hidden.png", "hidden.png"),
        ("https://x.runcomfy.net/a/trailing.%20", "trailing"),
        ("https://x.runcomfy.net/a/%E2%80%AEgnp.exe", "_gnp.exe"),
        ("https://x.runcomfy.net/a/caf%C3%A9.png", "café.png"),
        ("https://x.runcomfy.net/a/bad%FF.png", "bad\ufffd.png"),
        ("https://x.runcomfy.net/a/CON.png", "_CON.png"),
        ("https://x.runcomfy.net/a/nul.tar.gz", "_nul.tar.gz"),
    ],
)
def test_name_comes_from_the_decoded_last_segment_sanitised(url: str, expected: str) -> None:
    assert name_for(url) == expected


def test_very_long_names_are_cut_keeping_the_extension() -> None:
    name = name_for("https://x.runcomfy.net/a/" + "é" * 300 + ".webp")
    assert name.endswith(".webp")
    assert len(name.encode()) <= MAX_NAME_BYTES
    assert name.startswith("é")


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("image/png", "render.png"),
        ("image/webp; charset=binary", "render.webp"),
        ("VIDEO/MP4", "render.mp4"),
        ("image/gif", "render.gif"),
        ("application/x-unknown", "render"),
        (None, "render"),
    ],
)
def test_extension_is_added_from_content_type_only_when_missing(
    content_type: str | None, expected: str
) -> None:
    assert name_for("https://x.runcomfy.net/a/render", content_type) == expected
    assert name_for("https://x.runcomfy.net/a/render.jpeg", content_type) == "render.jpeg"


def test_empty_name_with_known_type_becomes_output_dot_ext() -> None:
    assert name_for("https://x.runcomfy.net/", "image/png") == "output.png"


def test_extension_lookup_and_split() -> None:
    assert extension_for_content_type("image/jpeg") == ".jpg"
    assert extension_for_content_type("") is None
    assert split_extension("a.tar.gz") == ("a.tar", ".gz")
    assert split_extension("v1.2 final") == ("v1.2 final", "")
    assert split_extension("noext") == ("noext", "")


def test_candidate_names_number_before_the_extension() -> None:
    names = candidate_names("a.tar.gz")
    assert [next(names) for _ in range(3)] == ["a.tar.gz", "a.tar-1.gz", "a.tar-2.gz"]
    plain = candidate_names("output")
    assert [next(plain) for _ in range(2)] == ["output", "output-1"]


@given(st.text(max_size=400))
def test_sanitised_names_are_always_safe(raw: str) -> None:
    name = sanitize_filename(raw)
    assert name
    assert name not in {".", ".."}
    assert not name.startswith((".", " "))
    assert "/" not in name
    assert "\\" not in name
    assert not any(unicodedata.category(ch).startswith("C") for ch in name)
    assert len(name.encode()) <= MAX_NAME_BYTES
    assert sanitize_filename(name) == name


# --- claiming names on disk ---------------------------------------------------------------------------------


def write_temp(directory: Path, name: str, content: bytes) -> Path:
    fd, path = create_temp_file(directory, name)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
    return path


def test_temp_file_is_hidden_new_and_private_to_its_creator(tmp_path: Path) -> None:
    fd, path = create_temp_file(tmp_path, "photo.png")
    os.close(fd)
    assert path.parent == tmp_path
    assert path.name.startswith(".photo.part-")
    _, other = create_temp_file(tmp_path, "photo.png")
    assert other != path


def test_place_file_never_overwrites(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"old")
    (tmp_path / "a-1.png").write_bytes(b"older")
    placed = place_file(write_temp(tmp_path, "a.png", b"new"), tmp_path, "a.png")
    assert placed == tmp_path / "a-2.png"
    assert placed.read_bytes() == b"new"
    assert (tmp_path / "a.png").read_bytes() == b"old"
    assert (tmp_path / "a-1.png").read_bytes() == b"older"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-1.png", "a-2.png", "a.png"]


def test_place_file_does_not_follow_a_symlink_at_the_name(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"keep me")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.png").symlink_to(victim)
    placed = place_file(write_temp(tmp_path / "out", "a.png", b"new"), tmp_path / "out", "a.png")
    assert placed.name == "a-1.png"
    assert victim.read_bytes() == b"keep me"


def test_place_file_works_where_hard_links_are_unsupported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(src: object, dst: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    (tmp_path / "a.png").write_bytes(b"old")
    placed = place_file(write_temp(tmp_path, "a.png", b"new"), tmp_path, "a.png")
    assert placed.name == "a-1.png"
    assert placed.read_bytes() == b"new"
    assert (tmp_path / "a.png").read_bytes() == b"old"
    assert not [p for p in tmp_path.iterdir() if ".part-" in p.name]


def test_concurrent_placements_of_one_name_get_distinct_names(tmp_path: Path) -> None:
    workers = 16
    temps = [write_temp(tmp_path, "same.png", f"content {i}".encode()) for i in range(workers)]
    barrier = threading.Barrier(workers)
    placed: list[Path] = []
    lock = threading.Lock()

    def place(temp: Path) -> None:
        barrier.wait()
        path = place_file(temp, tmp_path, "same.png")
        with lock:
            placed.append(path)

    threads = [threading.Thread(target=place, args=(temp,)) for temp in temps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    expected = {"same.png"} | {f"same-{i}.png" for i in range(1, workers)}
    assert {path.name for path in placed} == expected
    assert {p.name for p in tmp_path.iterdir()} == expected
    assert sorted(path.read_bytes() for path in placed) == sorted(
        f"content {i}".encode() for i in range(workers)
    )


def test_stale_temp_files_of_dead_processes_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    import subprocess
    import sys

    from runcomfy.downloads.naming import create_temp_file, remove_stale_temp_files

    fd, mine = create_temp_file(tmp_path, "photo.png")
    os.close(fd)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    stale = tmp_path / f".photo.part-{int(dead.stdout)}-{'a' * 16}"
    stale.write_bytes(b"partial")
    unrelated = tmp_path / ".photo.part-notours"
    unrelated.write_bytes(b"x")
    assert remove_stale_temp_files(tmp_path) == [stale]
    assert mine.exists() and unrelated.exists() and not stale.exists()
