"""The SQLite store (``--db``, and the state of ``--local``) is private to its owner whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from runcomfy.emulator.state import EmulatorState
from runcomfy.emulator.store import SqliteStore


@contextmanager
def umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask", [0o000, 0o022, 0o777], ids=["umask-000", "umask-022", "umask-777"])
def test_a_new_database_is_0600_in_new_0700_directories(tmp_path: Path, mask: int) -> None:
    existing = tmp_path / "home"
    existing.mkdir()
    existing.chmod(0o755)
    db = existing / "state" / "runcomfy" / "local-emulator.db"
    with umask(mask):
        state = EmulatorState(store=SqliteStore(db))
        state.add_static_token("a-token")  # a write, so SQLite has made its -wal and -shm files too
    try:
        assert mode(existing / "state") == 0o700
        assert mode(existing / "state" / "runcomfy") == 0o700
        assert mode(db) == 0o600
        companions = list(db.parent.glob("local-emulator.db-*"))  # removed again when the store closes
        assert companions and all(mode(path) == 0o600 for path in companions), companions
        assert mode(existing) == 0o755  # a directory that already existed is not the store's to change
    finally:
        state.store.close()


def test_an_existing_database_keeps_its_mode_and_its_rows(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    store = SqliteStore(db)
    store.put("meta", "k", 1)
    store.close()
    db.chmod(0o640)

    reopened = SqliteStore(db)
    try:
        assert reopened.load("meta") == {"k": 1}
    finally:
        reopened.close()
    assert mode(db) == 0o640
