"""Hostless, opaque and malformed redirect targets fail one file as a refused redirect; the others are saved.

httpx parses a redirect's ``Location`` even when told not to follow it and raises ``InvalidURL`` outside its
``HTTPError`` tree; such an answer used to end every command with ``unexpected error (InvalidURL)``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from background import journal_rows
from cli_harness import CLI

from runcomfy import Client
from runcomfy.downloads import download_outputs, origin_of
from runcomfy.errors import DownloadError

IMAGE = "openai/gpt-image-2/text-to-image"
TARGETS = [
    "mailto:x@y.z",
    "data:text/plain,hi",
    "about:blank",
    "http:foo",
    "https:\\\\evil.com/x",
    "http://[::1",
]


@pytest.mark.parametrize("location", TARGETS)
def test_a_bad_redirect_target_fails_that_file_only_and_the_journal_is_updated(
    cli: CLI, tmp_path: Path, location: str
) -> None:
    cli.fault(route="file", kind="redirect", location=location, times=1)
    out = tmp_path / "out"

    result = cli.run("run", IMAGE, "prompt=two", "num_images=2", "--output-dir", str(out))

    assert result.returncode == 74, result.stderr
    assert "refused redirect" in result.stderr
    assert "unexpected error" not in result.stderr and "InvalidURL" not in result.stderr
    assert "Hint: the file host sent the download somewhere this CLI does not trust" in result.stderr
    assert "free space" not in result.stderr  # the hint fits the cause
    assert len(list(out.glob("*.png"))) == 1  # the other file was still downloaded
    (row,) = journal_rows(cli.home / "state").values()
    assert row["status"] == "completed"
    assert len(json.loads(row["files_json"])) == 1


def test_a_batch_item_meets_a_bad_redirect_and_the_other_items_finish(cli: CLI, tmp_path: Path) -> None:
    batch = tmp_path / "b.jsonl"
    batch.write_text('{"prompt": "a"}\n{"prompt": "b"}\n')
    cli.fault(route="file", kind="redirect", location="mailto:x@y.z", times=1)

    result = cli.run("run", IMAGE, "--batch", str(batch), "--output-dir", str(tmp_path / "out"))

    assert result.returncode == 1, result.stderr
    assert "download_failed" in result.stderr and "refused redirect" in result.stderr
    assert len(list((tmp_path / "out").glob("*.png"))) == 1


@pytest.mark.parametrize("location", TARGETS)
def test_the_library_reports_a_bad_redirect_instead_of_raising_an_httpx_error(
    cli: CLI, tmp_path: Path, location: str
) -> None:
    client = Client(cli.token, model_api_base=cli.server.model_api_base, web_base=cli.server.origin, env={})
    with client:
        result = client.run(IMAGE, {"prompt": "two", "num_images": 2}, poll_interval_s=1)
    cli.fault(route="file", kind="redirect", location=location, times=1)

    report = download_outputs(
        result.output, tmp_path / "out", trusted_origins=[origin_of(cli.server.model_api_base)]
    )

    assert len(report.saved) == 1
    [(_url, error)] = report.failed
    assert isinstance(error, DownloadError) and "refused redirect" in str(error)


def test_a_redirect_on_a_status_poll_is_a_clear_error_about_the_base_url(cli: CLI) -> None:
    cli.fault(route="status", kind="redirect", location="https://elsewhere.example/v1/x", times=None)

    result = cli.run("run", "runcomfy/emulator/echo", "--input", "{}")

    assert result.returncode == 69, result.stderr
    assert "redirect to https://elsewhere.example/v1/x; API calls do not follow redirects" in result.stderr
    assert "RUNCOMFY_MODEL_API_BASE" in result.stderr
    assert "check the model id" not in result.stderr
    assert len(cli.calls("status")) == 1  # not retried for minutes: it will not go away by itself
    assert "runcomfy result" in result.stderr
