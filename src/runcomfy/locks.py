"""Locks between ``runcomfy`` processes, so two of them never do the same paid work at once.

Two identical batches started together would both submit every line; two ``result`` commands on one request
would both download its files. Each such piece of work takes a named lock first, and a second process finds it
taken and stops (:class:`~runcomfy.errors.AlreadyRunning`, exit 75) instead of paying or writing twice.

How: one lock file beside the request journal, and a POSIX byte-range lock (``lockf``) on one byte per name, at
an offset taken from the name's hash. One file serves any number of names, so no lock files pile up; the kernel
drops a dead process's locks, so a crash never leaves one stale. Byte-range locks belong to the process, not the
thread, so threads of one process never block each other: they do not need to (a batch's workers never work on
the same line). Where ``fcntl`` does not exist (Windows), locking is skipped.

This module never prints; it raises :class:`~runcomfy.errors.AlreadyRunning` or a
:class:`~runcomfy.errors.JournalError` when the lock file cannot be used.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from runcomfy.errors import AlreadyRunning, JournalError
from runcomfy.private_dirs import make_private_dirs

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX
    fcntl = None  # type: ignore[assignment]

_SLOTS = 1 << 40  # offsets of the one-byte ranges; two names share one by chance about once in 10**12


def slot_of(name: str) -> int:
    """The byte offset that stands for ``name``."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") % _SLOTS


class ProcessLocks:
    """Named locks between processes, in the file at ``path`` (created 0600 on first use)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._guard = threading.Lock()

    def __repr__(self) -> str:
        return f"ProcessLocks(path={str(self.path)!r})"

    @contextlib.contextmanager
    def hold(self, name: str, *, what: str) -> Iterator[None]:
        """Hold the lock ``name`` for the block, or raise :class:`AlreadyRunning` at once if another process
        holds it; ``what`` names the work in that message ("this batch", "request 3f1c...")."""
        if fcntl is None:
            yield
            return
        fd = self._file()
        offset = slot_of(name)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset, os.SEEK_SET)
        except OSError as exc:
            raise AlreadyRunning(
                f"{what} is being worked on by another runcomfy process; nothing was done twice",
                hint="wait for the other process to finish, then run the same command again",
            ) from exc
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                fcntl.lockf(fd, fcntl.LOCK_UN, 1, offset, os.SEEK_SET)

    def close(self) -> None:
        """Close the lock file (which releases every lock this process holds in it)."""
        with self._guard:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def _file(self) -> int:
        # One descriptor for the life of the process: closing any descriptor of the file would drop every
        # byte-range lock this process holds on it.
        with self._guard:
            if self._fd is None:
                try:
                    make_private_dirs(self.path.parent)
                    flags = (
                        os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
                    )
                    self._fd = os.open(self.path, flags, 0o600)
                except OSError as exc:
                    raise JournalError(
                        f"cannot open the lock file {self.path}: {exc.strerror or exc}"
                    ) from None
            return self._fd
