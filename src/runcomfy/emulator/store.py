"""Persistence for the emulator's state: nothing (memory) or a SQLite file (``--db PATH``).

The state object keeps everything in memory and writes each changed row through to the store, and loads the
whole store when it starts; that is enough for a restart to keep requests and tokens, and for the CLI's
``--local`` mode, where short-lived processes take turns on one database. Rows are JSON documents keyed by id,
so the schema never needs migrating as records grow fields.

Tokens are stored only as SHA-256 digests.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

TABLES = ("jobs", "tokens", "devices", "meta")


class MemoryStore:
    """Keeps nothing: the state lives and dies with the process."""

    def load(self, table: str) -> dict[str, Any]:
        """Every row of ``table`` (always empty here)."""
        return {}

    def put(self, table: str, key: str, value: Any) -> None:
        """Write one row (a no-op here)."""

    def clear(self) -> None:
        """Delete every row (a no-op here)."""

    def close(self) -> None:
        """Release resources (a no-op here)."""


class SqliteStore:
    """Rows as JSON text in one SQLite file; safe for several processes taking turns."""

    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)
        self._path.parent.mkdir(parents=True, exist_ok=True)
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
