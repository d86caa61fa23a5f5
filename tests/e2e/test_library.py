"""The library as a Python user drives it (no CLI): run, download, typed errors, run_many."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from cli_harness import CLI

from runcomfy import Client
from runcomfy.downloads import origin_of
from runcomfy.errors import AuthenticationError, DownloadError, RequestFailed


def client_for(cli: CLI, token: str | None = None) -> Client:
    return Client(
        token or cli.token, model_api_base=cli.server.model_api_base, web_base=cli.server.origin, env={}
    )


def test_run_then_download_saves_each_file_with_its_sha256(cli: CLI, tmp_path: Path) -> None:
    with client_for(cli) as client:
        result = client.run(
            "openai/gpt-image-2/text-to-image", {"prompt": "fox", "num_images": 2}, poll_interval_s=1
        )
        saved = client.download(result, tmp_path / "out")
    assert result.ok and len(saved) == 2
    for item in saved:
        assert item.url in result.output["images"]
        assert item.bytes == item.path.stat().st_size
        assert item.sha256 == hashlib.sha256(item.path.read_bytes()).hexdigest()


def test_download_takes_the_output_value_as_well_as_the_result(cli: CLI, tmp_path: Path) -> None:
    with client_for(cli) as client:
        result = client.run("openai/gpt-image-2/text-to-image", {"prompt": "owl"}, poll_interval_s=1)
        saved = client.download(result.output, tmp_path / "out")
    assert [item.path.name for item in saved] == ["image-0.png"]
    assert saved[0].path.read_bytes()[:4] == b"\x89PNG"


def test_run_many_trusts_the_clients_own_origin_without_being_told(cli: CLI, tmp_path: Path) -> None:
    with client_for(cli) as client:
        records = client.run_many(
            "runcomfy/emulator/sized-file", [{"size_bytes": 10}], output_dir=tmp_path / "b"
        )
    assert [r.status for r in records] == ["completed"]
    assert [f.path.name for f in records[0].files] == ["001-sized.bin"]
    assert records[0].skipped_urls == []


def test_download_of_a_file_that_cannot_be_saved_raises_and_leaves_nothing(cli: CLI, tmp_path: Path) -> None:
    with client_for(cli) as client:
        result = client.run("runcomfy/emulator/sized-file", {"size_bytes": 1000}, poll_interval_s=1)
        cli.fault(route="file", kind="drop")
        with pytest.raises(DownloadError) as caught:
            client.download(result, tmp_path / "out")
    assert caught.value.request_id == result.request_id
    assert list((tmp_path / "out").iterdir()) == []


def test_failed_request_and_bad_token_raise_typed_errors_with_context(cli: CLI) -> None:
    with client_for(cli) as client, pytest.raises(RequestFailed) as failed:
        client.run("runcomfy/emulator/fail", {"message": "boom"}, poll_interval_s=1)
    assert failed.value.request_id and failed.value.error == {"type": "model_error", "message": "boom"}
    with client_for(cli, "wrong-token") as client, pytest.raises(AuthenticationError) as denied:
        client.submit("runcomfy/emulator/echo", {})
    assert denied.value.status_code == 401 and denied.value.error_code == 401001
    assert "wrong-token" not in str(denied.value) and "wrong-token" not in repr(client)


def test_run_many_returns_records_in_input_order_and_resumes_from_the_journal(
    cli: CLI, tmp_path: Path
) -> None:
    from runcomfy.journal import Journal

    inputs = [{"size_bytes": 100 + n, "filename": f"f{n}.bin"} for n in range(12)]
    journal = Journal(tmp_path / "journal.sqlite3")
    options = {
        "output_dir": tmp_path / "out",
        "journal": journal,
        "poll_interval_s": 1,
        "trusted_origins": [origin_of(cli.server.model_api_base)],
    }
    with client_for(cli) as client:
        events = []
        records = client.run_many(
            "runcomfy/emulator/sized-file", inputs, concurrency=5, on_update=events.append, **options
        )
        assert [r.line for r in records] == list(range(1, 13)) and all(r.ok for r in records)
        assert [r.files[0].path.name for r in records][:2] == ["001-f0.bin", "002-f1.bin"]
        assert sorted(e.line for e in events if e.kind == "submitted") == list(range(1, 13))
        again = client.run_many("runcomfy/emulator/sized-file", inputs, concurrency=5, **options)
    assert all(r.reused for r in again)
    assert len(cli.calls("submit")) == 12


def test_download_twice_with_what_the_first_returned_fetches_nothing_again(cli: CLI, tmp_path: Path) -> None:
    with client_for(cli) as client:
        result = client.run("openai/gpt-image-2/text-to-image", {"prompt": "owl"}, poll_interval_s=1)
        first = client.download(result, tmp_path / "out")
        second = client.download(result, tmp_path / "out", known_files=first)
    assert [f.path for f in second] == [f.path for f in first]
    assert len(cli.calls("file")) == 1
    assert len(list((tmp_path / "out").iterdir())) == 1


def test_run_many_of_no_inputs_returns_at_once_and_of_some_returns_each_record(cli: CLI) -> None:
    with client_for(cli) as client:
        assert client.run_many("runcomfy/emulator/echo", []) == []  # nothing to wait for: join must not block
        records = client.run_many(
            "runcomfy/emulator/echo",
            [{"prompt": f"p{n}"} for n in range(5)],
            concurrency=3,
            poll_interval_s=0.05,
        )
    assert [record.line for record in records] == [1, 2, 3, 4, 5]
    assert all(record.status == "completed" for record in records)
