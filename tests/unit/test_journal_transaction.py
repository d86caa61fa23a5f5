"""Journal.transaction(): the writes of a block are kept together or not at all, with one commit."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from runcomfy import journal as journal_module
from runcomfy.journal import Journal

BASE = "https://model-api.runcomfy.net/v1"
KEY = "k" * 64


def journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "state" / "requests.sqlite3")


def test_a_line_and_its_request_are_kept_together(tmp_path: Path) -> None:
    j = journal(tmp_path)
    with j.transaction():
        j.save_batch_item(KEY, 1, "sha256:x", status="submitted", request_id="req-1")
        j.record("req-1", "a/b", {"prompt": "x"}, model_api_base=BASE)

    assert j.batch_items(KEY)[1].request_id == "req-1"
    entry = j.get("req-1")
    assert entry is not None and entry.status == "submitted"


def test_a_failure_inside_keeps_none_of_the_block(tmp_path: Path) -> None:
    j = journal(tmp_path)
    j.save_batch_item(KEY, 1, "sha256:x", status="submitting")
    with pytest.raises(RuntimeError), j.transaction():
        j.save_batch_item(KEY, 1, "sha256:x", status="submitted", request_id="req-1")
        j.record("req-1", "a/b", {"prompt": "x"}, model_api_base=BASE)
        raise RuntimeError("killed between the two")

    assert j.batch_items(KEY)[1].status == "submitting"
    assert j.get("req-1") is None
    j.save_batch_item(KEY, 1, "sha256:x", status="submitted", request_id="req-1")  # writes work again
    assert j.batch_items(KEY)[1].status == "submitted"


def test_other_connections_see_the_block_only_once_it_ends(tmp_path: Path) -> None:
    j = journal(tmp_path)
    j.record("req-0", "a/b", {}, model_api_base=BASE)
    other = Journal(j.path)
    assert other.get("req-0") is not None  # opened (and its schema checked) before the block takes the lock
    with j.transaction():
        j.update("req-0", status="completed")
        before = other.get("req-0")
    after = other.get("req-0")

    assert before is not None and before.status == "submitted"
    assert after is not None and after.status == "completed"


def test_record_returns_the_row_as_it_is_stored(tmp_path: Path) -> None:
    j = journal(tmp_path)
    entry = j.record(
        "req-1", "a/b", {"prompt": "x"}, model_api_base=BASE, output_dir=tmp_path / "out", identity="id-1"
    )
    assert entry == j.get("req-1")


def test_a_read_inside_a_block_sees_what_the_block_wrote(tmp_path: Path) -> None:
    j = journal(tmp_path)
    with j.transaction():
        j.save_batch_item(KEY, 1, "sha256:x", status="submitted", request_id="req-1")
        assert j.batch_items(KEY)[1].request_id == "req-1"  # the same connection as the block's writes
        j.record("req-1", "a/b", {"prompt": "x"}, model_api_base=BASE)
        entry = j.get("req-1")
        assert entry is not None and entry.status == "submitted"


def test_threads_of_one_process_take_turns_without_sqlite_s_busy_retries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With no busy timeout, SQLite refuses at once ("database is locked") a second writer: so every write
    # succeeding shows the threads queued on the process's own lock rather than racing for SQLite's.
    monkeypatch.setattr(journal_module, "_BUSY_TIMEOUT_S", 0.0)
    j = journal(tmp_path)
    j.save_batch_item(KEY, 0, "sha256:x", status="submitting")  # created before the threads start
    failures: list[BaseException] = []
    start = threading.Barrier(16)

    def work(worker: int) -> None:
        try:
            start.wait()
            for n in range(20):
                line = 1 + worker * 100 + n
                with j.transaction():
                    j.save_batch_item(KEY, line, "sha256:x", status="submitted", request_id=f"r{line}")
                    j.record(f"r{line}", "a/b", {"n": line}, model_api_base=BASE)
                j.update(f"r{line}", status="completed")
        except BaseException as exc:  # reported below, with the thread's error
            failures.append(exc)
        finally:
            j.close()

    threads = [threading.Thread(target=work, args=(w,)) for w in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    reader = Journal(j.path)
    assert len(reader.batch_items(KEY)) == 1 + 16 * 20
    for line in (1, 1019, 1520):
        entry = reader.get(f"r{line}")
        assert entry is not None and entry.status == "completed"


def test_a_closed_journal_writes_again_through_a_new_connection(tmp_path: Path) -> None:
    j = journal(tmp_path)
    j.save_batch_item(KEY, 1, "sha256:x", status="submitting")
    j.close()
    j.save_batch_item(KEY, 1, "sha256:x", status="submitted", request_id="req-1")
    assert journal(tmp_path).batch_items(KEY)[1].status == "submitted"
