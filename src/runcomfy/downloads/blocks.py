"""Writing a download's bytes to disk and hashing them, each in its own thread, from a few reused buffers.

Why: for a large file, reading the socket, writing to disk and computing sha256 each cost about as much as
the others; done one after another in one thread they add up, and a 1 GiB download took several times as long
as ``curl -o``. Here the calling thread only reads: each buffer it fills is written by one thread and hashed by
another, at the same time (``os.write`` and ``hashlib`` release the GIL), and goes back to the pool when both
are done. Measured on 2 cores, this beat both other splits (writing in the reading thread; writing and hashing
in one second thread), each of which left one thread doing two of the three jobs. Buffers are small enough to
stay in the CPU cache, made on demand up to :data:`POOL` and then reused (no allocation per chunk), and are
written and hashed through memoryviews (no copy), so memory stays flat whatever the file's size.

A body that fits in one buffer is written and hashed in the calling thread: threads per small file would cost
more than they save (a batch fetches thousands of them).

Once a writing thread exists it owns the file descriptor and closes it after its last write, so a caller giving
up (an error, Ctrl-C) never closes a descriptor the thread may still write to. Nothing here is fsynced: see
``fetch.py``.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading

BLOCK_BYTES = 128 * 1024
POOL = 16  # buffers (2 MiB in all): one being filled, the others being written and hashed or waiting to be

_Item = tuple[bytearray, int] | None


class BlockWriter:
    """``take`` a buffer, fill it, ``put`` it; ``finish`` waits for the last write, closes the file and returns
    the sha256 (hex) of everything put."""

    def __init__(self, fd: int, *, block_bytes: int = BLOCK_BYTES, background: bool = True) -> None:
        self.block_bytes = block_bytes
        self._fd: int | None = fd
        self._digest = hashlib.sha256()
        self._error: BaseException | None = None
        self._dropping = False  # abandoned: what is still queued is neither written nor hashed
        self._made = 0
        self._free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
        self._users: dict[int, int] = {}  # id(buffer) -> threads still using it
        self._users_lock = threading.Lock()
        self._to_write: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._to_hash: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        if background:
            for target, name in ((self._write_all, "write"), (self._hash_all, "hash")):
                thread = threading.Thread(target=target, name=f"runcomfy-download-{name}", daemon=True)
                thread.start()
                self._threads.append(thread)

    def take(self) -> bytearray:
        """A buffer to fill: a new one while fewer than :data:`POOL` exist, else the next one done with.

        Raises the writing thread's error (a full disk) as soon as it is known, so the download stops early.
        """
        self._raise_error()
        try:
            return self._free.get_nowait()
        except queue.Empty:
            pass
        if self._made < POOL or not self._threads:
            self._made += 1
            return bytearray(self.block_bytes)
        block = self._free.get()
        self._raise_error()
        return block

    def put(self, block: bytearray, length: int) -> None:
        """Write and hash the first ``length`` bytes of ``block`` (in the background when there are threads)."""
        if not self._threads:
            self._write(block, length)
            self._raise_error()
            self._hash(block, length)
            self._free.put(block)
            return
        with self._users_lock:
            self._users[id(block)] = 2
        self._to_write.put((block, length))
        self._to_hash.put((block, length))

    def give_back(self, block: bytearray) -> None:
        """Return a buffer that was taken but not filled."""
        self._free.put(block)

    def finish(self) -> str:
        """Wait for every buffer to be written and hashed, close the file, and return the hex sha256; raise what
        failed (a write, or the close, where a network file system reports a deferred write error)."""
        self._stop()
        self._raise_error()
        return self._digest.hexdigest()

    def abandon(self) -> None:
        """Stop without writing what is still queued, and close the file (safe after ``finish``, and twice)."""
        self._dropping = True
        self._stop()

    # -- the threads -------------------------------------------------------------------------------------------

    def _write_all(self) -> None:
        try:
            while (item := self._to_write.get()) is not None:
                block, length = item
                if self._error is None and not self._dropping:
                    self._write(block, length)
                self._release(block)  # even after a failure: the reading thread may be waiting for a buffer
        finally:
            self._close()

    def _hash_all(self) -> None:
        while (item := self._to_hash.get()) is not None:
            block, length = item
            if not self._dropping:
                self._hash(block, length)
            self._release(block)

    def _release(self, block: bytearray) -> None:
        with self._users_lock:
            left = self._users[id(block)] - 1
            if left:
                self._users[id(block)] = left
                return
            del self._users[id(block)]
        self._free.put(block)

    def _write(self, block: bytearray, length: int) -> None:
        try:
            with memoryview(block) as whole, whole[:length] as view:
                written = 0
                while written < length:
                    assert self._fd is not None, "write after close"
                    written += os.write(self._fd, view[written:])
        except BaseException as exc:  # raised in the reading thread, by take(), put() or finish()
            self._error = exc

    def _hash(self, block: bytearray, length: int) -> None:
        with memoryview(block) as whole, whole[:length] as view:
            self._digest.update(view)

    def _stop(self) -> None:
        if not self._threads:
            self._close()
            return
        for thread, work in zip(self._threads, (self._to_write, self._to_hash), strict=True):
            if thread.is_alive():
                work.put(None)
        for thread in self._threads:
            thread.join()
        self._close()  # when the writing thread never ran to its end (it always does; this is belt and braces)

    def _close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.close(fd)
        except OSError as exc:
            if self._error is None and not self._dropping:
                self._error = exc

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error
