"""Moving a large plain-TCP download from the socket to the file inside the kernel, and hashing what reached
the file.

Why: for a body read into Python (``blocks.py``) every byte is copied twice, from the socket into a buffer and
from the buffer into the file, and the thread that copies also runs the Python loop around each read. On Linux,
``splice`` moves the bytes from the socket into a pipe and from the pipe into the file without either copy
passing through Python, so the calling thread does little but wait for the network. A second thread reads
back what has reached the file (from the page cache, in large reads) and computes the sha256 meanwhile, so the
recorded sha256 is that of the bytes on disk. Measured on 2 cores over loopback, a 1 GiB body took about 0.8 s
this way against 1.1 s for the buffered path and for ``curl -o``, with less CPU.

Only where it is known to work: a body that :mod:`~runcomfy.downloads.body` reads straight from a plain TCP
socket (never TLS: the kernel only sees ciphertext there), on a system with ``os.splice``, and a file that
accepts a splice. The last is tried with the first piece of the body, which httpx has already read: it goes
through the pipe into the file, and if the file refuses it nothing has been taken from the socket, so the
caller falls back to the buffered path with the body untouched.

Errors keep the meanings the buffered path gives them: the socket's failures are raised as the httpx errors
``body.py`` raises (a broken connection, 120 s without a byte), the file's as ``OSError`` (a full disk). The
hashing thread owns the file descriptor once it runs and closes it after its last read, so a caller giving up
(an error, Ctrl-C) never closes a descriptor that thread may still read.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import mmap
import os
import queue
import select
import socket
import threading
from collections.abc import Callable

import httpx

from runcomfy.downloads.body import Body, SocketBody

PIPE_BYTES = 1024 * 1024  # asked of the pipe; the most one round moves (the kernel may grant less)
HASH_BYTES = 1024 * 1024  # the hashing thread's read size, and how far the file runs ahead before it wakes
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
_F_GETPIPE_SZ = getattr(fcntl, "F_GETPIPE_SZ", 1032)


def open_spliced(fd: int, body: Body) -> SplicedWriter | None:
    """A writer splicing ``body`` into ``fd`` (an empty file opened for reading and writing), or None where
    splicing is not possible here. On None, and if this raises, nothing was taken from the body and ``fd`` is
    still the caller's to close."""
    splice = getattr(os, "splice", None)
    if splice is None or not isinstance(body, SocketBody) or type(body.sock) is not socket.socket:
        return None
    first = body.first
    if not first:
        return None  # nothing to try the file with; the buffered path is as correct
    read_end, write_end = os.pipe()
    try:
        with contextlib.suppress(OSError):  # a user's pipe quota may refuse; the default size still works
            fcntl.fcntl(write_end, _F_SETPIPE_SZ, PIPE_BYTES)
        capacity = fcntl.fcntl(write_end, _F_GETPIPE_SZ)
        if len(first) > capacity or not _first_into_file(fd, first, read_end, write_end):
            _close_all(read_end, write_end)
            return None
    except BaseException:
        _close_all(read_end, write_end)
        raise
    body.first_taken()
    return SplicedWriter(fd, body.sock, body.remaining, (read_end, write_end), capacity, first)


def _first_into_file(fd: int, first: bytes, read_end: int, write_end: int) -> bool:
    """Put ``first`` into the file through the pipe; False (and the file still empty) if the file cannot take
    a splice."""
    os.write(write_end, first)  # fits: the pipe is empty and at least this large
    moved = 0
    while moved < len(first):
        try:
            moved += os.splice(read_end, fd, len(first) - moved)
        except OSError as exc:
            if moved or exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EBADF):
                raise  # a real failure of this file (a full disk), not a file that cannot be spliced into
            return False
    return True


def _close_all(*fds: int) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


class SplicedWriter:
    """``copy(account)`` moves the rest of the body into the file; ``finish`` waits for the hash of everything
    in the file, closes it and returns the sha256 (hex); ``abandon`` stops without waiting for the hash."""

    def __init__(
        self,
        fd: int,
        sock: socket.socket,
        remaining: int,
        pipe: tuple[int, int],
        capacity: int,
        first: bytes,
    ) -> None:
        self.first_bytes = len(first)
        self._fd: int | None = fd
        self._sock = sock
        self._timeout_s = sock.gettimeout()
        self._remaining = remaining
        self._pipe: tuple[int, int] | None = pipe
        self._capacity = capacity
        self._digest = hashlib.sha256()
        self._error: BaseException | None = None
        self._in_file = len(first)  # bytes in the file so far (the calling thread's count)
        self._posted = 0  # the last such count told to the hashing thread
        self._dropping = False  # abandoned: what is not hashed yet never will be
        # The calling thread tells the hashing thread how far the file goes (an int), then that nothing more will
        # come (None). A queue rather than a lock the two share: a Ctrl-C raised in the calling thread at any
        # bytecode can never leave it holding a lock or half-way through a notify.
        self._posts: queue.SimpleQueue[int | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._hash_all, name="runcomfy-download-hash", daemon=True)
        self._thread.start()

    def copy(self, account: Callable[[int], None]) -> None:
        """Move the rest of the body from the socket into the file, one pipeful at a time; ``account(n)`` is
        called with each amount before it reaches the file (first with the piece already there) and may raise
        to stop (the size cap, Ctrl-C)."""
        assert self._pipe is not None, "copy after finish"
        read_end, write_end = self._pipe
        account(self.first_bytes)
        source = self._sock.fileno()
        while self._remaining > 0:
            got = self._from_socket(source, write_end, min(self._capacity, self._remaining))
            account(got)
            self._into_file(read_end, got)
            self._remaining -= got
            self._in_file += got
            if self._in_file - self._posted >= HASH_BYTES:
                self._post()
            if self._error is not None:  # reading the file back failed: no use fetching the rest
                raise self._error

    def finish(self) -> str:
        """Wait until everything in the file is hashed, close it, and return the hex sha256; raise what failed
        (a read back, or the close, where a network file system reports a deferred write error)."""
        self._stop(dropping=False)
        if self._error is not None:
            raise self._error
        return self._digest.hexdigest()

    def abandon(self) -> None:
        """Stop hashing and close the file (safe after ``finish``, and twice)."""
        self._stop(dropping=True)

    # -- the calling thread ------------------------------------------------------------------------------------

    def _from_socket(self, source: int, write_end: int, wanted: int) -> int:
        """Splice up to ``wanted`` bytes from the socket into the (empty) pipe; raise httpx's errors for a
        closed, broken or silent connection."""
        while True:
            try:
                got = os.splice(source, write_end, wanted)
            except BlockingIOError:  # the socket has a timeout, so it is non-blocking: wait for it here
                if not _readable(source, self._timeout_s):
                    raise httpx.ReadTimeout("timed out") from None
                continue
            except OSError as exc:  # reset by the peer, and the like
                raise httpx.ReadError(exc.strerror or type(exc).__name__) from exc
            if got == 0:
                raise httpx.RemoteProtocolError(
                    "peer closed connection without sending complete message body"
                )
            return got

    def _into_file(self, read_end: int, count: int) -> None:
        moved = 0
        while moved < count:
            step = os.splice(read_end, self._fd_or_fail(), count - moved)  # OSError: a full disk, say
            if step == 0:
                raise OSError(errno.EIO, "the pipe ran dry before the file got its bytes")
            moved += step

    def _fd_or_fail(self) -> int:
        assert self._fd is not None, "write after close"
        return self._fd

    def _post(self) -> None:
        self._posted = self._in_file
        self._posts.put(self._in_file)

    def _stop(self, *, dropping: bool) -> None:
        pipe, self._pipe = self._pipe, None
        if pipe is not None:
            _close_all(*pipe)
        self._dropping = self._dropping or dropping
        if not self._dropping:
            self._post()
        # Every time, not once: a Ctrl-C between a first stop's steps must not leave the thread waiting for
        # its end. The thread stops at the first None; any later ones are never read.
        self._posts.put(None)
        self._thread.join()

    # -- the hashing thread ------------------------------------------------------------------------------------

    def _hash_all(self) -> None:
        hashed = upto = 0
        ended = False
        try:
            # Page-aligned (an anonymous map), not a bytearray: the kernel copies page-aligned file pages into
            # it, and on the project's AMD benchmark machine reading 1 GiB from the page cache into a buffer that
            # starts 16 bytes into a page (where a large bytearray's data lands) took 0.6 s, into an aligned one
            # 0.1 s (a hashing thread's CPU, not the download's wall time, which did not move).
            with mmap.mmap(-1, HASH_BYTES) as buffer, memoryview(buffer) as whole:
                while not ended:
                    upto, ended = self._next_post(upto)
                    while hashed < upto and not self._dropping:
                        with whole[: min(HASH_BYTES, upto - hashed)] as view:
                            got = os.preadv(self._fd_or_fail(), [view], hashed)
                            if got <= 0:
                                raise OSError(errno.EIO, "the file is shorter than what was written to it")
                            with view[:got] as read:
                                self._digest.update(read)
                        hashed += got
        except BaseException as exc:  # raised in the calling thread, by copy() or finish()
            self._error = exc
            while not ended:  # the calling thread may still be splicing into the file: close it after
                _, ended = self._next_post(upto)
        finally:
            self._close_file()

    def _next_post(self, upto: int) -> tuple[int, bool]:
        """Wait for news from the calling thread, and take all there is: how far the file goes, and whether
        that is all."""
        post = self._posts.get()
        while True:
            if post is None:
                return upto, True
            upto = post
            try:
                post = self._posts.get_nowait()
            except queue.Empty:
                return upto, False

    def _close_file(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.close(fd)
        except OSError as exc:
            if self._error is None and not self._dropping:
                self._error = exc


def _readable(fd: int, timeout_s: float | None) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI)
    return bool(poller.poll(None if timeout_s is None else timeout_s * 1000))
