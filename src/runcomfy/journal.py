"""The local request journal: a SQLite record of every submitted request, so a paid result is never lost.

Owns the database in the state directory: one row per request id with the model, a digest of the input (never
the input itself), when it was submitted, the last known status, the output directory and API base, the
identity that submitted it, and later the output, error and saved files. Written in WAL mode with short
transactions and a busy timeout, so several ``runcomfy`` processes can record at once. Each thread keeps one
connection; no lock is held between calls.

Identity: a row is only reused (batch resume, ``result`` reuse, ``requests list``) by the same API base and the
same identity, so a token of another account never sees "already done" for work it did not pay for. The
identity is an HMAC of the token under a random key kept in the database (:meth:`Journal.scope_for`): it tells
tokens apart without storing anything from which a token could be recovered.

It must never print, never store the token, and never raise anything but :class:`JournalError` for its own
failures.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from runcomfy import config
from runcomfy.errors import JournalError
from runcomfy.journal_statuses import STATUS_FILTERS
from runcomfy.json_limits import digest
from runcomfy.locks import ProcessLocks
from runcomfy.private_dirs import make_private_dirs

JOURNAL_FILE_NAME = "requests.sqlite3"
LOCK_FILE_NAME = "requests.lock"  # the byte-range locks that keep two processes off the same work
_SCHEMA_VERSION = 3
_BUSY_TIMEOUT_S = 10.0
_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    request_id     TEXT PRIMARY KEY,
    model_id       TEXT NOT NULL,
    input_digest   TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    status         TEXT NOT NULL,
    output_dir     TEXT,
    model_api_base TEXT NOT NULL,
    output_json    TEXT,
    error_json     TEXT,
    files_json     TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS requests_created ON requests (created_at DESC);
CREATE TABLE IF NOT EXISTS batch_items (
    batch_key      TEXT NOT NULL,
    line           INTEGER NOT NULL,
    input_digest   TEXT NOT NULL,
    request_id     TEXT,
    status         TEXT NOT NULL,
    files_json     TEXT NOT NULL DEFAULT '[]',
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (batch_key, line)
);
CREATE TABLE IF NOT EXISTS meta (
    key            TEXT PRIMARY KEY,
    value          TEXT NOT NULL
);
"""
# Columns added after the first release, with the statement that adds them to an older database.
_MIGRATIONS = {"identity": "ALTER TABLE requests ADD COLUMN identity TEXT"}
_UNSET: Any = object()


class TokenHolder(Protocol):
    """What :meth:`Journal.scope_for` needs of a client: its base, and a keyed fingerprint of its token."""

    model_api_base: str

    def token_fingerprint(self, key: bytes) -> str | None: ...


def default_journal_path(env: Mapping[str, str] | None = None) -> Path:
    """``<state_dir>/requests.sqlite3``."""
    return config.state_dir(env) / JOURNAL_FILE_NAME


def input_digest(value: Any) -> str:
    """``sha256:<hex>`` of the canonical JSON of the input: recognises a repeat without keeping the input."""
    return digest(value)


@dataclass(frozen=True)
class JournalScope:
    """Whose rows may be reused: the API base and the identity (token fingerprint; ``None`` with no token)."""

    model_api_base: str
    identity: str | None


@dataclass(frozen=True)
class JournalEntry:
    """One recorded request. ``files`` holds dicts with ``path``, ``url``, ``bytes`` and ``sha256``."""

    request_id: str
    model_id: str
    input_digest: str
    created_at: str
    updated_at: str
    status: str
    output_dir: str | None
    model_api_base: str
    output: Any = None
    error: Any = None
    files: list[dict[str, Any]] = field(default_factory=list)
    identity: str | None = None

    def in_scope(self, scope: JournalScope) -> bool:
        """Whether this row was made through the same API base by the same identity."""
        return self.model_api_base == scope.model_api_base and self.identity == scope.identity

    def to_dict(self) -> dict[str, Any]:
        """The row as JSON (``requests list --output json``, the MCP server's history): never the identity."""
        return {
            "request_id": self.request_id,
            "model_id": self.model_id,
            "status": self.status,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "output_dir": self.output_dir,
            "model_api_base": self.model_api_base,
            "input_digest": self.input_digest,
            "files": self.files,
            "error": self.error,
        }


@dataclass(frozen=True)
class BatchItemState:
    """What a batch recorded about one input line: enough to resume it without submitting it twice.

    ``status`` is ``submitting`` (a submit was sent; no id came back before the process stopped), ``submitted``
    (the id is known), or the request's final status once it finished and its files were saved.
    """

    line: int
    input_digest: str
    request_id: str | None
    status: str
    files: list[dict[str, Any]] = field(default_factory=list)


_WRITER_LOCKS: dict[str, threading.Lock] = {}
_WRITER_LOCKS_GUARD = threading.Lock()


def _writer_lock(path: Path) -> threading.Lock:
    """The lock this process's threads take, in turn, to write the journal at ``path``.

    Why: SQLite lets one connection write at a time and makes the others retry, sleeping 1 to 100 ms between
    tries. A batch's sixteen workers, each with its own connection, write three times per item: they spent their
    time failing to take SQLite's lock and sleeping (about ten sleeps per item). Queued on a lock of this
    process instead, each starts as soon as the previous one commits. Other processes still meet SQLite's own
    lock and its busy timeout.
    """
    key = os.path.abspath(path)
    with _WRITER_LOCKS_GUARD:
        lock = _WRITER_LOCKS.get(key)
        if lock is None:
            lock = _WRITER_LOCKS[key] = threading.Lock()
        return lock


class Journal:
    """The journal at ``path`` (default: in the state dir), created 0600 in a 0700 directory on first use."""

    def __init__(
        self,
        path: Path | None = None,
        *,
        env: Mapping[str, str] | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.path = path if path is not None else default_journal_path(os.environ if env is None else env)
        self._now = now
        self._ready = False
        self._local = threading.local()
        self._writer: sqlite3.Connection | None = None
        self._writer_lock = _writer_lock(self.path)
        self._key: bytes | None = None
        self.locks = ProcessLocks(self.path.with_name(LOCK_FILE_NAME))

    def __repr__(self) -> str:
        return f"Journal(path={str(self.path)!r})"

    def record(
        self,
        request_id: str,
        model_id: str,
        input: Any,
        *,
        model_api_base: str,
        output_dir: str | os.PathLike[str] | None = None,
        status: str = "submitted",
        identity: str | None = None,
    ) -> JournalEntry:
        """Record a just-submitted request (before polling starts). Recording the same id again replaces it.

        ``identity`` is the submitting token's fingerprint (:meth:`scope_for`), never the token.
        """
        stamp = self._stamp()
        row = (
            request_id,
            model_id,
            input_digest(input),
            stamp,
            stamp,
            status,
            None if output_dir is None else os.path.abspath(output_dir),
            model_api_base,
            identity,
        )
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO requests (request_id, model_id, input_digest, created_at, updated_at,"
                " status, output_dir, model_api_base, identity) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
        return JournalEntry(*row[:8], identity=identity)  # as just written: no output, error or files yet

    def update(
        self,
        request_id: str,
        *,
        status: str | None = None,
        output: Any = _UNSET,
        error: Any = _UNSET,
        files: Sequence[Any] | None = None,
        output_dir: str | os.PathLike[str] | None = None,
    ) -> bool:
        """Update what is known about a request; only the given fields change. Whether the row existed."""
        changes: dict[str, Any] = {"updated_at": self._stamp()}
        if status is not None:
            changes["status"] = status
        if output is not _UNSET:
            changes["output_json"] = _to_json(output)
        if error is not _UNSET:
            changes["error_json"] = _to_json(error)
        if files is not None:
            changes["files_json"] = _to_json([_file_record(item) for item in files])
        if output_dir is not None:
            changes["output_dir"] = os.path.abspath(output_dir)
        assignments = ", ".join(f"{column} = ?" for column in changes)
        with self._write() as db:
            cursor = db.execute(
                f"UPDATE requests SET {assignments} WHERE request_id = ?", (*changes.values(), request_id)
            )
            return cursor.rowcount > 0

    def get(self, request_id: str, *, scope: JournalScope | None = None) -> JournalEntry | None:
        """The entry for ``request_id``, or ``None`` (also when ``scope`` is given and the row is not in it)."""
        with self._read() as db:
            row = db.execute("SELECT * FROM requests WHERE request_id = ?", (request_id,)).fetchone()
        entry = None if row is None else _entry(row)
        if entry is not None and scope is not None and not entry.in_scope(scope):
            return None
        return entry

    def list(
        self,
        limit: int = 20,
        *,
        status: str | None = None,
        model: str | None = None,
        scope: JournalScope | None = None,
    ) -> list[JournalEntry]:
        """Entries newest first, optionally only one status (a key of :data:`STATUS_FILTERS`, or any recorded
        spelling, case-insensitive), one model id, or one scope (``None``: every identity and API base)."""
        clauses: list[str] = []
        params: list[str | None] = []
        if status is not None:
            spellings = STATUS_FILTERS.get(status.lower(), (status,))
            clauses.append(f"lower(status) IN ({', '.join('?' * len(spellings))})")
            params.extend(s.lower() for s in spellings)
        if model is not None:
            clauses.append("model_id = ?")
            params.append(model)
        if scope is not None:
            clauses.append("model_api_base = ? AND identity IS ?")
            params.extend([scope.model_api_base, scope.identity])
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        query = f"SELECT * FROM requests {where} ORDER BY created_at DESC, rowid DESC LIMIT ?"
        with self._read() as db:
            rows = db.execute(query, (*params, max(int(limit), 0))).fetchall()
        return [_entry(row) for row in rows]

    def count(self) -> int:
        """How many requests are recorded, in every scope."""
        with self._read() as db:
            return int(db.execute("SELECT count(*) FROM requests").fetchone()[0])

    def scope_for(self, client: TokenHolder, *, service: str | None = None) -> JournalScope:
        """The scope of ``client``: its API base (or ``service``, a stable name for a service whose address
        changes, such as an embedded emulator on a new port each time) and an HMAC of its token under this
        journal's own key."""
        base = service or client.model_api_base
        return JournalScope(base, client.token_fingerprint(self._identity_key()))

    def _identity_key(self) -> bytes:
        """This journal's random key for identity fingerprints (made once, kept in the ``meta`` table)."""
        if self._key is not None:
            return self._key
        with self._write() as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'identity_key'").fetchone()
            if row is None:
                value = secrets.token_hex(32)
                db.execute("INSERT INTO meta (key, value) VALUES ('identity_key', ?)", (value,))
            else:
                value = row[0]
        self._key = bytes.fromhex(value)
        return self._key

    def close(self) -> None:
        """Close this thread's connection and the writing one (other threads' connections close when their
        threads end; a write in progress in another thread finishes first)."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
        if self._open_write() is not None:
            return  # asked from inside this thread's own write: the writing connection stays until it ends
        with self._writer_lock:
            writer, self._writer = self._writer, None
            if writer is not None:
                writer.close()

    # --- batches ------------------------------------------------------------------------------------------------

    def batch_items(self, batch_key: str) -> dict[int, BatchItemState]:
        """Every recorded line of a batch, by line number."""
        with self._read() as db:
            rows = db.execute("SELECT * FROM batch_items WHERE batch_key = ?", (batch_key,)).fetchall()
        return {
            row["line"]: BatchItemState(
                row["line"],
                row["input_digest"],
                row["request_id"],
                row["status"],
                _from_json(row["files_json"]) or [],
            )
            for row in rows
        }

    def save_batch_item(
        self,
        batch_key: str,
        line: int,
        input_digest: str,
        *,
        status: str,
        request_id: str | None = None,
        files: Sequence[Any] = (),
    ) -> None:
        """Record (or replace) what is known about one line of a batch."""
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO batch_items (batch_key, line, input_digest, request_id, status, files_json,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    batch_key,
                    line,
                    input_digest,
                    request_id,
                    status,
                    _to_json([_file_record(f) for f in files]),
                    self._stamp(),
                ),
            )

    def clear_batch(self, batch_key: str) -> int:
        """Forget a batch's lines (``--restart``); how many were recorded."""
        with self._write() as db:
            return db.execute("DELETE FROM batch_items WHERE batch_key = ?", (batch_key,)).rowcount

    # --- connections --------------------------------------------------------------------------------------------

    def _stamp(self) -> str:
        return (
            datetime.fromtimestamp(self._now(), UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
        )

    @contextlib.contextmanager
    def _connect(self, *, writer: bool = False) -> Iterator[sqlite3.Connection]:
        try:
            db = self._writer_connection() if writer else self._connection()
        except (OSError, sqlite3.Error) as exc:
            raise JournalError(f"cannot open the request journal {self.path}: {exc}") from None
        try:
            yield db
        except sqlite3.Error as exc:
            raise JournalError(f"request journal {self.path}: {exc}") from None

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use and kept (a batch writes thousands of times; opening
        a connection per write cost more than the writes). Between transactions it holds no lock."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = self._open(shared=False)
        return db

    def _open(self, *, shared: bool) -> sqlite3.Connection:
        """A new connection; ``shared``: usable from any thread (one at a time)."""
        self._prepare()
        db = sqlite3.connect(
            self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=not shared
        )
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across crashes of this process
        return db

    def _writer_connection(self) -> sqlite3.Connection:
        """The one connection this journal writes through, used by one thread at a time (under the writer lock).

        Why one: every write through another connection made the others' page caches stale, so each write
        began by reading back pages from disk (about thirty reads per batch item with sixteen connections).
        """
        if self._writer is None:
            self._writer = self._open(shared=True)
        return self._writer

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Make the writes of this thread inside the block one transaction: all of them or none are kept,
        with one commit (a batch records a line's step and its request together)."""
        with self._write():
            yield

    def _open_write(self) -> sqlite3.Connection | None:
        """The connection of this thread's write in progress, if it is inside one."""
        db: sqlite3.Connection | None = getattr(self._local, "write_db", None)
        return db

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        if (open_write := self._open_write()) is not None:  # inside transaction(): part of the open one
            yield open_write
            return
        with self._writer_lock, self._connect(writer=True) as db:
            db.execute("BEGIN IMMEDIATE")
            self._local.write_db = db
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            finally:
                self._local.write_db = None
            db.execute("COMMIT")

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        if (open_write := self._open_write()) is not None:  # inside a write: see what it wrote so far
            yield open_write
            return
        with self._connect() as db:
            yield db

    def _prepare(self) -> None:
        """First use: private directory and file, WAL mode, schema. Idempotent and safe to race."""
        if self._ready:
            return
        make_private_dirs(self.path.parent)
        # Create the file 0600 if it is missing. Never open and close an existing database file here: closing
        # any descriptor of a file drops every POSIX lock this process holds on it, including the locks of an
        # open SQLite connection, which can corrupt a database other processes are writing.
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        except FileExistsError:
            if self.path.is_symlink():
                raise JournalError(
                    f"refusing to use the request journal {self.path}: it is a symlink"
                ) from None
        else:
            os.close(fd)
        db = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            columns = {row[1] for row in db.execute("PRAGMA table_info(requests)")}
            for column, statement in _MIGRATIONS.items():
                if column not in columns:
                    with contextlib.suppress(sqlite3.OperationalError):  # another process added it first
                        db.execute(statement)
            db.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
        finally:
            db.close()
        self._ready = True


def _to_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _from_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _file_record(item: Any) -> dict[str, Any]:
    """A saved file as stored: a mapping or an object with ``path``, ``url``, ``bytes``, ``sha256``."""
    record: dict[str, Any] = {}
    for key in ("path", "url", "bytes", "sha256"):
        value = item.get(key) if isinstance(item, Mapping) else getattr(item, key, None)
        record[key] = os.fspath(value) if isinstance(value, os.PathLike) else value
    if isinstance(record["path"], str) and record["path"]:
        record["path"] = os.path.abspath(record["path"])  # so `runcomfy result` finds it from any directory
    return record


def _entry(row: sqlite3.Row) -> JournalEntry:
    return JournalEntry(
        request_id=row["request_id"],
        model_id=row["model_id"],
        input_digest=row["input_digest"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        status=row["status"],
        output_dir=row["output_dir"],
        model_api_base=row["model_api_base"],
        output=_from_json(row["output_json"]),
        error=_from_json(row["error_json"]),
        files=_from_json(row["files_json"]) or [],
        identity=row["identity"],
    )
