"""The download writer: buffers written and hashed beside the reading thread, errors handed back to it, the file
descriptor closed whatever happens, and never more than a pool of buffers in memory."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from runcomfy.downloads import blocks
from runcomfy.downloads.blocks import POOL, BlockWriter


def open_target(tmp_path: Path) -> tuple[int, Path]:
    path = tmp_path / "target.bin"
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), path


def fd_is_closed(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return True
    return False


def pieces(count: int, size: int) -> list[bytes]:
    return [bytes([index % 256]) * size for index in range(count)]


def feed(writer: BlockWriter, data: list[bytes]) -> set[int]:
    """Put every piece through the writer; the ids of the buffers it lent."""
    seen: set[int] = set()
    for piece in data:
        block = writer.take()
        seen.add(id(block))
        block[: len(piece)] = piece
        writer.put(block, len(piece))
    return seen


@pytest.mark.parametrize("background", [True, False], ids=["threads", "calling thread"])
def test_everything_put_is_written_in_order_and_hashed(tmp_path: Path, background: bool) -> None:
    fd, path = open_target(tmp_path)
    data = pieces(3 * POOL + 5, 1000)
    writer = BlockWriter(fd, block_bytes=1000, background=background)
    feed(writer, data)
    digest = writer.finish()
    assert path.read_bytes() == b"".join(data)
    assert digest == hashlib.sha256(b"".join(data)).hexdigest()
    assert fd_is_closed(fd)


def test_partial_buffers_and_an_empty_file(tmp_path: Path) -> None:
    fd, path = open_target(tmp_path)
    writer = BlockWriter(fd, block_bytes=64)
    block = writer.take()
    block[:3] = b"abc"
    writer.put(block, 3)
    writer.give_back(writer.take())
    assert writer.finish() == hashlib.sha256(b"abc").hexdigest()
    assert path.read_bytes() == b"abc"

    (tmp_path / "empty").mkdir()
    fd, path = open_target(tmp_path / "empty")
    assert BlockWriter(fd).finish() == hashlib.sha256(b"").hexdigest()
    assert path.read_bytes() == b""


def test_buffers_are_reused_from_a_bounded_pool(tmp_path: Path) -> None:
    fd, _ = open_target(tmp_path)
    writer = BlockWriter(fd, block_bytes=16)
    lent = feed(writer, pieces(20 * POOL, 16))
    writer.finish()
    assert len(lent) <= POOL


class _DiskFull:
    """``os`` as the writer sees it, with every write failing as on a full disk."""

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def write(self, fd: int, data: Any) -> int:
        raise OSError(28, "No space left on device")


@pytest.mark.parametrize("background", [True, False], ids=["threads", "calling thread"])
def test_a_write_error_reaches_the_reading_thread_and_the_file_is_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, background: bool
) -> None:
    monkeypatch.setattr(blocks, "os", _DiskFull())
    fd, _ = open_target(tmp_path)
    writer = BlockWriter(fd, block_bytes=100, background=background)
    with pytest.raises(OSError, match="No space left on device"):
        feed(writer, pieces(10 * POOL, 100))  # take() raises once the error is known
        writer.finish()  # else finish() does
    writer.abandon()
    assert fd_is_closed(fd)


def test_abandon_stops_the_threads_and_closes_the_file_and_may_be_repeated(tmp_path: Path) -> None:
    fd, _ = open_target(tmp_path)
    writer = BlockWriter(fd, block_bytes=100)
    feed(writer, pieces(POOL, 100))
    writer.abandon()
    writer.abandon()
    assert fd_is_closed(fd)
    assert not [thread for thread in writer._threads if thread.is_alive()]
