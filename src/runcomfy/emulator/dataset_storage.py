"""Where the Trainer API's files live on disk: datasets' uploaded files and training jobs' artifacts.

Uploads can be far larger than memory should hold (a signed-URL upload has no 150 MB cap), so a file is only
ever written from a stream of chunks, to a hidden part file beside its final name that replaces the old file
in one ``os.replace`` once it is complete: a reader never sees half a file, and an upload that fails (too
long, too short, the client gone) leaves nothing behind.

The root is a private temporary directory of this emulator, removed when it stops; or, with ``--db``, a
directory beside the database (``<db>.trainer-files``) so files outlive the process like the records do (the
CLI's ``--local`` mode runs one process per command). Names inside it are the records' ids and file names the
routes have already checked (no separators, no ``..``). This module knows nothing of HTTP or of records.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from runcomfy.private_dirs import make_private_dirs

CHUNK = 1024 * 1024


class TooLarge(Exception):
    """A stream went past the byte limit it was written under (nothing was kept)."""


class WrongSize(Exception):
    """A stream ended short of the size it was announced with (nothing was kept); ``args[0]``: its size."""


class Storage:
    """The files of every dataset and training job under one root directory."""

    def __init__(self, root: Path | None = None) -> None:
        """``root``: a directory to keep files in (made 0700 when first needed); None: a temporary one, made
        when first needed and removed by :meth:`close`."""
        self._root = root
        self._temporary = root is None

    @property
    def root(self) -> Path:
        """The directory every file is under (made on first use)."""
        if self._root is None:
            self._root = Path(tempfile.mkdtemp(prefix="runcomfy-emulator-trainer-"))
        else:
            make_private_dirs(self._root)
        return self._root

    def dataset_dir(self, dataset_id: str) -> Path:
        """The folder of one dataset's files."""
        return self.root / "datasets" / dataset_id

    def job_dir(self, job_id: str) -> Path:
        """The folder of one training job's artifacts."""
        return self.root / "training" / job_id

    async def write_stream(
        self, target: Path, chunks: AsyncIterator[bytes], *, limit: int, exact: bool = False
    ) -> int:
        """Write ``chunks`` to ``target`` (replacing it once complete); the number of bytes written.

        :class:`TooLarge` as soon as more than ``limit`` bytes arrive; with ``exact``, :class:`WrongSize` when
        fewer than ``limit`` arrived. Any failure keeps nothing.
        """
        part = self._part_for(target)
        size = 0
        try:
            with part.open("wb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > limit:
                        raise TooLarge(size)
                    out.write(chunk)
            if exact and size != limit:
                raise WrongSize(size)
            os.replace(part, target)
        finally:
            part.unlink(missing_ok=True)
        return size

    def write_bytes(self, target: Path, data: bytes) -> int:
        """Write a small file whole (an artifact), atomically; its size."""
        part = self._part_for(target)
        try:
            part.write_bytes(data)
            os.replace(part, target)
        finally:
            part.unlink(missing_ok=True)
        return len(data)

    def _part_for(self, target: Path) -> Path:
        make_private_dirs(target.parent)
        return target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")

    @staticmethod
    def read_range(path: Path, start: int, end: int) -> Iterator[bytes]:
        """Bytes ``start..end`` of a file, in chunks."""
        with path.open("rb") as source:
            source.seek(start)
            remaining = end - start
            while remaining > 0:
                chunk = source.read(min(CHUNK, remaining))
                if not chunk:
                    return
                remaining -= len(chunk)
                yield chunk

    @staticmethod
    def remove(path: Path) -> None:
        """Delete a file or a folder and everything in it, if it exists."""
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)

    def clear(self) -> None:
        """Delete every file (a reset)."""
        if self._root is None:
            return
        for folder in ("datasets", "training"):
            self.remove(self._root / folder)

    def close(self) -> None:
        """Remove the root if it is this emulator's temporary directory."""
        if self._temporary and self._root is not None:
            with contextlib.suppress(OSError):
                shutil.rmtree(self._root)
            self._root = None
