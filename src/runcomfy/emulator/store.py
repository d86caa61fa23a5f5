"""Persistence for the emulator's state: nothing (memory) or a SQLite file (``--db PATH``).

The state object keeps everything in memory and writes each changed row through to the store, and loads the
whole store when it starts; that is enough for a restart to keep requests and tokens, and for the CLI's
``--local`` mode, where short-lived processes take turns on one database. Rows are JSON documents keyed by id,
so the schema never needs migrating as records grow fields.

Tokens are stored only as SHA-256 digests. The database holds those digests and every request's inputs and
outputs (the CLI's ``--local`` mode keeps it in the user's state directory), so a new database file is made
readable by its owner only (0600) and missing parent directories are created 0700, whatever the umask.
SQLite gives its ``-wal`` and ``-shm`` files the database file's permissions.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

from runcomfy.private_dirs import make_private_dirs

TABLES = (
    "jobs",
    "tokens",
    "devices",
    "meta",
    "deployments",
    "deployment_requests",
    "instances",
    "balances",
    "charges",
    "datasets",
    "upload_urls",
    "training_jobs",
)
PRIVATE_FILE_MODE = 0o600


class MemoryStore:
    """Keeps nothing: the state lives and dies with the process."""

    def load(self, table: str) -> dict[str, Any]:
        """Every row of ``table`` (always empty here)."""
        return {}

    def put(self, table: str, key: str, value: Any) -> None:
        """Write one row (a no-op here)."""

    def delete(self, table: str, key: str) -> None:
        """Delete one row (a no-op here)."""

    def clear(self) -> None:
        """Delete every row (a no-op here)."""

    def close(self) -> None:
        """Release resources (a no-op here)."""


class SqliteStore:
    """Rows as JSON text in one SQLite file; safe for several processes taking turns."""

    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)
        make_private_dirs(self._path.parent)
        _create_private_file(self._path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self._path), timeout=30, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        for table in TABLES:
            self._db.execute(
                f"CREATE TABLE IF NOT EXISTS {table} (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
            )

    def load(self, table: str) -> dict[str, Any]:
        """Every row of ``table`` as ``{key: value}``."""
        with self._lock:
            rows = self._db.execute(f"SELECT key, value FROM {table}").fetchall()
        return {key: json.loads(value) for key, value in rows}

    def put(self, table: str, key: str, value: Any) -> None:
        """Insert or replace one row."""
        text = json.dumps(value, separators=(",", ":"))
        with self._lock:
            self._db.execute(f"INSERT OR REPLACE INTO {table} (key, value) VALUES (?, ?)", (key, text))

    def delete(self, table: str, key: str) -> None:
        """Delete one row, if it exists."""
        with self._lock:
            self._db.execute(f"DELETE FROM {table} WHERE key = ?", (key,))

    def clear(self) -> None:
        """Delete every row of every table."""
        with self._lock:
            for table in TABLES:
                self._db.execute(f"DELETE FROM {table}")

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()


Store = MemoryStore | SqliteStore


def _create_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (an empty file is a valid new SQLite database).

    Creating it here with ``O_EXCL`` makes creation and the choice of mode one step, so the file is never
    readable by others, even for a moment; SQLite would create it with the umask's mode.
    """
    with contextlib.suppress(FileExistsError):
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
        try:
            os.fchmod(descriptor, PRIVATE_FILE_MODE)  # the umask may have removed bits from the mode
        finally:
            os.close(descriptor)
