"""The SQLite request journal: recorded before polling, updated later, safe across processes."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import runcomfy.journal
from runcomfy.errors import JournalError
from runcomfy.journal import Journal, default_journal_path, input_digest

BASE = "https://model-api.runcomfy.net/v1"


class Ticker:
    """A wall clock that moves one second per reading, so ordering never depends on real time."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        self.now += 1
        return self.now


def journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "state" / "requests.sqlite3", now=Ticker())


def test_record_then_get_returns_what_was_recorded(tmp_path: Path) -> None:
    j = journal(tmp_path)
    entry = j.record("req-1", "a/b", {"prompt": "x"}, model_api_base=BASE, output_dir=tmp_path / "out")
    assert entry.request_id == "req-1" and entry.model_id == "a/b" and entry.status == "submitted"
    assert entry.output_dir == str(tmp_path / "out")
    assert entry.input_digest == input_digest({"prompt": "x"})
    assert entry.created_at.endswith("Z") and entry.files == []
    assert j.get("req-1") == entry
    assert j.get("missing") is None


def test_input_digest_ignores_key_order_but_not_values() -> None:
    assert input_digest({"a": 1, "b": [1, 2]}) == input_digest({"b": [1, 2], "a": 1})
    assert input_digest({"a": 1}) != input_digest({"a": 2})
    assert input_digest({}).startswith("sha256:")


def test_update_changes_only_the_given_fields(tmp_path: Path) -> None:
    j = journal(tmp_path)
    j.record("req-1", "a/b", {}, model_api_base=BASE)
    files = [{"path": "out/a.png", "url": "https://f.runcomfy.net/a.png", "bytes": 10, "sha256": "ab" * 32}]
    assert j.update("req-1", status="completed", output={"images": ["u"]}, files=files)
    entry = j.get("req-1")
    assert entry is not None
    assert (entry.status, entry.output, entry.error, entry.files) == (
        "completed",
        {"images": ["u"]},
        None,
        [{**files[0], "path": os.path.abspath("out/a.png")}],  # stored absolute: found from any directory
    )
    assert entry.updated_at > entry.created_at
    assert j.update("req-1", error={"message": "late"})
    again = j.get("req-1")
    assert again is not None and again.output == {"images": ["u"]} and again.error == {"message": "late"}
    assert not j.update("nope", status="failed")


def test_file_records_may_be_objects_with_path_like_paths(tmp_path: Path) -> None:
    class Saved:
        path = tmp_path / "a.png"
        url = "https://f.runcomfy.net/a.png"
        bytes = 3
        sha256 = "00"

    j = journal(tmp_path)
    j.record("r", "a/b", {}, model_api_base=BASE)
    j.update("r", files=[Saved()])
    entry = j.get("r")
    assert entry is not None and entry.files == [
        {"path": str(tmp_path / "a.png"), "url": Saved.url, "bytes": 3, "sha256": "00"}
    ]


def test_list_is_newest_first_and_filters_by_status_and_model(tmp_path: Path) -> None:
    j = journal(tmp_path)
    for i, model in enumerate(["a/b", "c/d", "a/b", "c/d"]):
        j.record(f"r{i}", model, {"i": i}, model_api_base=BASE)
    j.update("r2", status="Completed")
    assert [e.request_id for e in j.list()] == ["r3", "r2", "r1", "r0"]
    assert [e.request_id for e in j.list(limit=2)] == ["r3", "r2"]
    assert [e.request_id for e in j.list(status="completed")] == ["r2"]
    assert [e.request_id for e in j.list(model="c/d")] == ["r3", "r1"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_database_is_private_and_in_wal_mode(tmp_path: Path) -> None:
    j = journal(tmp_path)
    j.record("r", "a/b", {}, model_api_base=BASE)
    assert stat.S_IMODE(j.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(j.path.parent.stat().st_mode) == 0o700
    with sqlite3.connect(j.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "requests.sqlite3"
    Journal(path).list()  # create the schema once
    script = (
        "import sys; from pathlib import Path; from runcomfy.journal import Journal\n"
        "j = Journal(Path(sys.argv[1]))\n"
        "for i in range(25): j.record(f'{sys.argv[2]}-{i}', 'a/b', {'i': i}, model_api_base='x')\n"
    )
    source_root = str(Path(runcomfy.journal.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": source_root}
    procs = [subprocess.Popen([sys.executable, "-c", script, str(path), f"p{n}"], env=env) for n in range(3)]
    errors: list[BaseException] = []

    def thread_writer() -> None:
        try:
            j = Journal(path)
            for i in range(25):
                j.record(f"t-{i}", "a/b", {}, model_api_base="x")
                j.update(f"t-{i}", status="completed")
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=thread_writer)
    thread.start()
    thread.join()
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    assert errors == []
    assert len(Journal(path).list(limit=1000)) == 100


def test_an_unusable_path_is_a_journal_error(tmp_path: Path) -> None:
    (tmp_path / "dir.sqlite3").mkdir()
    with pytest.raises(JournalError):
        Journal(tmp_path / "dir.sqlite3").record("r", "a/b", {}, model_api_base=BASE)


def test_default_path_is_in_the_state_dir(tmp_path: Path) -> None:
    assert default_journal_path({"RUNCOMFY_STATE_DIR": str(tmp_path)}) == tmp_path / "requests.sqlite3"
    assert Journal(env={"XDG_STATE_HOME": str(tmp_path)}).path == tmp_path / "runcomfy" / "requests.sqlite3"
