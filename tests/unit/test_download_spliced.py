"""Splicing a large plain-TCP download into its file (``downloads/spliced.py``), over real HTTP on loopback: the
same bytes and sha256, the buffered path whenever the file or the system cannot take a splice, and every failure
(a dropped or silent connection, a full disk, a failed read back, Ctrl-C) ending as the buffered path ends it,
with no file left behind and no thread left running."""

from __future__ import annotations

import errno
import hashlib
import itertools
import os
import socket
import ssl
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from file_server import FileServer, fetch, running_file_server, serve

from runcomfy.downloads import body as body_module
from runcomfy.downloads import fetch as fetch_module
from runcomfy.downloads import spliced as spliced_module
from runcomfy.downloads.fetch import DISK_HINT, make_download_client
from runcomfy.downloads.spliced import open_spliced
from runcomfy.errors import DownloadError, Interrupted

pytestmark = pytest.mark.skipif(not hasattr(os, "splice"), reason="os.splice exists on Linux only")

PATTERN = bytes(range(256)) * 4096  # 1 MiB
CONTENT = PATTERN * 3 + b"tail"  # several pipefuls, and not a whole number of them


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FileServer]:
    monkeypatch.setattr(body_module, "DIRECT_MIN_BYTES", 1000)
    with running_file_server() as httpd:
        yield httpd


@pytest.fixture
def writers(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The writer each download used (``SplicedWriter`` or ``BlockWriter``)."""
    kinds: list[str] = []

    def spy(fd: int, body: Any) -> Any:
        opened = open_spliced(fd, body)
        kinds.append(type(opened).__name__ if opened is not None else "BlockWriter")
        return opened

    monkeypatch.setattr(fetch_module, "open_spliced", spy)
    return kinds


def hash_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "runcomfy-download-hash"]


def is_regular(fd: int) -> bool:
    return stat.S_ISREG(os.fstat(fd).st_mode)


def splice_failing_into_files(error: int, *, after_bytes: int = 0) -> Callable[..., int]:
    """``os.splice``, failing with ``error`` once more than ``after_bytes`` went into regular files."""
    real = os.splice
    moved = [0]

    def fake(src: int, dst: int, count: int, *args: Any) -> int:
        if is_regular(dst):
            if moved[0] + count > after_bytes:
                raise OSError(error, os.strerror(error))
            got = real(src, dst, count, *args)
            moved[0] += got
            return got
        return real(src, dst, count, *args)

    return fake


def test_a_large_plain_body_is_spliced_with_the_same_bytes_sha256_and_progress(
    server: FileServer, writers: list[str], tmp_path: Path
) -> None:
    server.routes["/big.bin"] = serve(CONTENT)
    progress: list[tuple[int, int | None]] = []
    with make_download_client() as client:
        saved = fetch(server, client, "/big.bin", tmp_path, on_progress=lambda n, t: progress.append((n, t)))
    assert writers == ["SplicedWriter"]
    assert saved.bytes == len(CONTENT)
    assert saved.sha256 == hashlib.sha256(CONTENT).hexdigest()
    assert saved.path.read_bytes() == CONTENT
    assert progress[-1] == (len(CONTENT), len(CONTENT))
    assert all(a[0] < b[0] for a, b in itertools.pairwise(progress))
    assert [p.name for p in tmp_path.iterdir()] == [saved.path.name]  # no temp file left
    assert hash_threads() == []


def test_a_file_that_refuses_a_splice_gets_the_buffered_path_with_nothing_lost(
    server: FileServer, writers: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "splice", splice_failing_into_files(errno.EINVAL))
    server.routes["/big.bin"] = serve(CONTENT)
    with make_download_client() as client:
        saved = fetch(server, client, "/big.bin", tmp_path)
    assert writers == ["BlockWriter"]
    assert saved.path.read_bytes() == CONTENT  # the first piece, tried and refused, was not lost
    assert saved.sha256 == hashlib.sha256(CONTENT).hexdigest()


def test_without_os_splice_the_buffered_path_is_used(
    server: FileServer, writers: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delattr(os, "splice")
    server.routes["/big.bin"] = serve(CONTENT)
    with make_download_client() as client:
        saved = fetch(server, client, "/big.bin", tmp_path)
    assert writers == ["BlockWriter"]
    assert saved.sha256 == hashlib.sha256(CONTENT).hexdigest()


def test_a_full_disk_midway_is_a_disk_error_with_no_file_left(
    server: FileServer, writers: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "splice", splice_failing_into_files(errno.ENOSPC, after_bytes=len(PATTERN)))
    server.routes["/big.bin"] = serve(CONTENT)
    with make_download_client() as client, pytest.raises(DownloadError) as caught:
        fetch(server, client, "/big.bin", tmp_path)
    assert writers == ["SplicedWriter"]
    assert "No space left on device" in str(caught.value) and caught.value.hint == DISK_HINT
    assert list(tmp_path.iterdir()) == []
    assert hash_threads() == []


def test_a_connection_dropped_mid_body_is_a_download_error_with_no_file_left(
    server: FileServer, writers: list[str], tmp_path: Path
) -> None:
    server.routes["/cut.bin"] = serve(PATTERN, declared=3 * len(PATTERN))
    with make_download_client() as client, pytest.raises(DownloadError, match="connection closed"):
        fetch(server, client, "/cut.bin", tmp_path)
    assert writers == ["SplicedWriter"]
    assert list(tmp_path.iterdir()) == []
    assert hash_threads() == []


def test_a_silent_connection_is_a_timeout(
    server: FileServer, writers: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The socket's own 120 s wait is replaced by one that reports "nothing came" at once.
    waits: list[float | None] = []

    def nothing_came(fd: int, timeout_s: float | None) -> bool:
        waits.append(timeout_s)
        return False

    real = os.splice

    def socket_dry_after_first(src: int, dst: int, count: int, *args: Any) -> int:
        if not is_regular(dst) and not stat.S_ISFIFO(os.fstat(src).st_mode):
            raise BlockingIOError(errno.EAGAIN, "no data")
        return real(src, dst, count, *args)

    monkeypatch.setattr(spliced_module, "_readable", nothing_came)
    monkeypatch.setattr(os, "splice", socket_dry_after_first)
    server.routes["/big.bin"] = serve(CONTENT)
    with make_download_client() as client, pytest.raises(DownloadError, match="timeout"):
        fetch(server, client, "/big.bin", tmp_path)
    assert writers == ["SplicedWriter"]
    assert waits == [fetch_module.READ_TIMEOUT_S]
    assert list(tmp_path.iterdir()) == []


def test_asked_to_stop_midway_leaves_no_file(server: FileServer, writers: list[str], tmp_path: Path) -> None:
    checks = [0]

    def stop_on_third_check() -> bool:
        checks[0] += 1
        return checks[0] >= 3

    server.routes["/big.bin"] = serve(CONTENT)
    with make_download_client() as client, pytest.raises(Interrupted):
        fetch(server, client, "/big.bin", tmp_path, should_abort=stop_on_third_check)
    assert writers == ["SplicedWriter"]
    assert list(tmp_path.iterdir()) == []
    assert hash_threads() == []


def test_a_failed_read_back_is_a_disk_error_with_no_file_left(
    server: FileServer, writers: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_preadv(fd: int, buffers: Any, offset: int) -> int:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "preadv", broken_preadv)
    server.routes["/big.bin"] = serve(CONTENT)
    with make_download_client() as client, pytest.raises(DownloadError) as caught:
        fetch(server, client, "/big.bin", tmp_path)
    assert writers == ["SplicedWriter"]
    assert "Input/output error" in str(caught.value) and caught.value.hint == DISK_HINT
    assert list(tmp_path.iterdir()) == []


def test_tls_bodies_and_bodies_without_a_first_piece_are_never_spliced(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    try:
        assert open_spliced(fd, body_module.ChunkBody(iter([b"x"]))) is None
        with (
            socket.socket() as plain,
            context.wrap_socket(socket.socket(), do_handshake_on_connect=False) as tls,
        ):
            assert open_spliced(fd, body_module.SocketBody(tls, iter(()), b"first", remaining=10)) is None
            assert open_spliced(fd, body_module.SocketBody(plain, iter(()), b"", remaining=10)) is None
        assert os.fstat(fd).st_size == 0
    finally:
        os.close(fd)


class _PutInterrupted:
    """A queue whose first ``put(None)`` is cut short by a Ctrl-C, as if it landed in the middle of a stop."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.cut = False

    def put(self, item: Any) -> None:
        if item is None and not self.cut:
            self.cut = True
            raise KeyboardInterrupt
        self.real.put(item)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_abandoning_after_a_finish_cut_short_by_ctrl_c_still_ends_the_hashing_thread(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT)
    left, right = socket.socketpair()
    with left, right:
        writer = open_spliced(fd, body_module.SocketBody(left, iter(()), b"first", remaining=0))
        assert writer is not None
        writer.copy(lambda count: None)
        writer._posts = _PutInterrupted(writer._posts)  # type: ignore[assignment]
        with pytest.raises(KeyboardInterrupt):
            writer.finish()
        stopper = threading.Thread(target=writer.abandon, daemon=True)
        stopper.start()
        stopper.join(30)  # a guard against a hang, not a timing: abandon returns at once when it works
        assert not stopper.is_alive() and hash_threads() == []
    assert (tmp_path / "f").read_bytes() == b"first"
