"""Downloads end to end: what the real command fetches, how, and what it leaves on disk.

Untrusted URLs are listed and never fetched; redirects are checked hop by hop; file hosts never see the token;
nothing is overwritten; no partial file survives a failure; the 2 GiB cap holds whether or not the length is
declared; and a trusted file that cannot be saved makes the command exit 74.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_harness import CLI

SIZED = "runcomfy/emulator/sized-file"
ECHO = "runcomfy/emulator/echo"
IMAGE = "openai/gpt-image-2/text-to-image"
CAP_BYTES = 2 * 1024**3
IO_ERROR = 74


def sized(size: int, **options: Any) -> str:
    return json.dumps({"size_bytes": size, **options})


def expected_bytes(size: int) -> bytes:
    """The emulator's sized file: the byte at offset i is i % 256."""
    return bytes(i % 256 for i in range(size))


def file_url(cli: CLI, request_id: str, name: str = "sized.bin") -> str:
    return f"{cli.server.origin}/files/{request_id}/{name}"


def only_request_id(cli: CLI) -> str:
    requests = cli.control("GET", "requests").json()["requests"]
    assert len(requests) == 1, requests
    request_id: str = requests[0]["request_id"]
    return request_id


def test_untrusted_url_is_listed_as_skipped_and_not_fetched(cli: CLI, tmp_path: Path) -> None:
    untrusted = "https://evil.example.com/a.png"
    out_dir = tmp_path / "out"
    payload = json.dumps({"images": [untrusted]})

    result = cli.run("run", ECHO, "--input", payload, "--output-dir", str(out_dir))

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"images": [untrusted]}
    assert "[skip]" in result.stderr
    assert f"(not downloaded) {untrusted}" in result.stderr
    assert not out_dir.exists()  # nothing to fetch, so not even the directory was made
    assert cli.calls("file") == []


def test_record_lists_skipped_urls_next_to_saved_files(cli: CLI, tmp_path: Path) -> None:
    untrusted = "https://evil.example.com/a.png"
    trusted = cli.run("--output", "json", "run", SIZED, "--input", sized(100), "--no-download")
    assert trusted.returncode == 0, trusted.stderr
    trusted_url = json.loads(trusted.stdout)
    payload = json.dumps({"files": [trusted_url, untrusted]})
    out_dir = tmp_path / "out"

    result = cli.run(
        "--output", "json", "run", ECHO, "--input", payload, "--output-dir", str(out_dir), "--emit", "record"
    )

    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["skipped_urls"] == [untrusted]
    assert [(f["url"], f["bytes"]) for f in record["files"]] == [(trusted_url, 100)]
    assert Path(record["files"][0]["path"]).read_bytes() == expected_bytes(100)


def test_file_host_never_receives_the_token(cli: CLI, tmp_path: Path) -> None:
    result = cli.run("run", IMAGE, "--input", '{"prompt": "a lighthouse"}', "--output-dir", str(tmp_path))

    assert result.returncode == 0, result.stderr
    file_calls = cli.calls("file")
    assert file_calls, "the image was not downloaded"
    assert all(call["authorized"] is False for call in file_calls)
    # The same log does see the token on the API routes, so the check above can tell the difference.
    assert all(call["authorized"] for call in cli.calls("status"))


def test_redirect_to_an_untrusted_host_is_refused(cli: CLI, tmp_path: Path) -> None:
    cli.fault(route="file", kind="redirect", location="https://evil.example.com/sized.bin", times=1)
    out_dir = tmp_path / "out"

    result = cli.run("run", SIZED, "--input", sized(1000), "--output-dir", str(out_dir))

    assert result.returncode == IO_ERROR, result.stderr
    assert "refused redirect" in result.stderr
    assert list(out_dir.iterdir()) == []
    assert len(cli.calls("file")) == 1  # the redirect itself; nothing else was fetched from the emulator


def test_redirect_to_a_url_with_userinfo_is_refused(cli: CLI, tmp_path: Path) -> None:
    # A hop that smuggles credentials in the authority is refused even on the emulator's own host and port.
    location = f"http://user:pw@{cli.server.origin.removeprefix('http://')}/files/x/sized.bin"
    cli.fault(route="file", kind="redirect", location=location, times=1)
    out_dir = tmp_path / "out"

    result = cli.run("run", SIZED, "--input", sized(1000), "--output-dir", str(out_dir))

    assert result.returncode == IO_ERROR, result.stderr
    assert list(out_dir.iterdir()) == []
    assert len(cli.calls("file")) == 1


def test_redirect_to_another_trusted_url_is_followed(cli: CLI, tmp_path: Path) -> None:
    first = cli.run("run", SIZED, "--input", sized(1000, filename="first.bin"), "--no-download")
    assert first.returncode == 0, first.stderr
    target = json.loads(first.stdout)  # the output is one URL, printed as a JSON string
    assert target.startswith(cli.server.origin)
    cli.fault(route="file", kind="redirect", location=target, times=1)
    out_dir = tmp_path / "out"

    result = cli.run("run", SIZED, "--input", sized(5000), "--output-dir", str(out_dir))

    assert result.returncode == 0, result.stderr
    hops = cli.calls("file")
    assert [call["fault"] for call in hops] == ["redirect", None]
    assert hops[1]["path"].endswith("/first.bin")
    saved = cli.files_under(out_dir)
    assert len(saved) == 1
    assert saved[0].read_bytes() == expected_bytes(1000)  # the redirect target's content, not the original's


def test_a_second_run_into_the_same_directory_does_not_overwrite(cli: CLI, tmp_path: Path) -> None:
    out_dir = tmp_path / "out"

    first = cli.run("run", SIZED, "--input", sized(1000), "--output-dir", str(out_dir))
    second = cli.run("run", SIZED, "--input", sized(2000), "--output-dir", str(out_dir))

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert sorted(p.name for p in out_dir.iterdir()) == ["sized-1.bin", "sized.bin"]
    assert (out_dir / "sized.bin").read_bytes() == expected_bytes(1000)
    assert (out_dir / "sized-1.bin").read_bytes() == expected_bytes(2000)


def test_dropped_download_leaves_no_partial_file_and_exits_74(cli: CLI, tmp_path: Path) -> None:
    cli.fault(route="file", kind="drop", times=1)
    out_dir = tmp_path / "out"

    result = cli.run("run", SIZED, "--input", sized(1000), "--output-dir", str(out_dir))

    assert result.returncode == IO_ERROR, result.stderr
    assert list(out_dir.iterdir()) == []
    request_id = only_request_id(cli)
    assert f"runcomfy result {request_id}" in result.stderr  # the paid result can be fetched again

    cli.control("DELETE", "faults")
    again = cli.run("result", request_id, "--output-dir", str(out_dir))

    assert again.returncode == 0, again.stderr
    assert [p.read_bytes() for p in cli.files_under(out_dir)] == [expected_bytes(1000)]


def test_file_over_the_cap_with_declared_length_is_refused_before_writing(cli: CLI, tmp_path: Path) -> None:
    out_dir = tmp_path / "out"

    result = cli.run("run", SIZED, "--input", sized(CAP_BYTES + 1), "--output-dir", str(out_dir))

    assert result.returncode == IO_ERROR, result.stderr
    assert f"refusing to download {CAP_BYTES + 1} bytes" in result.stderr
    assert list(out_dir.iterdir()) == []


def test_file_over_the_cap_without_declared_length_is_cut_off_and_deleted(cli: CLI, tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    payload = sized(CAP_BYTES + 1, content_length=False)

    result = cli.run("run", SIZED, "--input", payload, "--output-dir", str(out_dir), timeout=110)

    assert result.returncode == IO_ERROR, result.stderr
    assert f"stream exceeded {CAP_BYTES} bytes" in result.stderr
    assert list(out_dir.iterdir()) == []


@pytest.mark.parametrize(
    "where", ["under-a-file", "is-a-file", "proc"], ids=["parent-is-a-file", "path-is-a-file", "/proc/nope"]
)
def test_an_output_dir_that_cannot_be_used_exits_73_before_anything_is_submitted(
    cli: CLI, tmp_path: Path, where: str
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    target = {"under-a-file": blocker / "sub", "is-a-file": blocker, "proc": Path("/proc/nope")}[where]

    result = cli.run("run", SIZED, "--input", sized(1000), "--output-dir", str(target))

    assert result.returncode == 73, result.stderr
    assert "output" in result.stderr and str(target) in result.stderr
    assert "Traceback" not in result.stderr
    assert blocker.read_text() == "not a directory\n"
    assert cli.calls("submit") == []  # nothing was paid for


def test_the_output_dir_check_leaves_no_directory_behind_when_nothing_is_saved(
    cli: CLI, tmp_path: Path
) -> None:
    target = tmp_path / "new" / "deeper"

    result = cli.run("run", ECHO, "--input", "{}", "--output-dir", str(target))

    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "new").exists()  # created to prove it could be, then removed: nothing to save


def test_a_batch_checks_its_output_dir_before_the_first_submit(cli: CLI, tmp_path: Path) -> None:
    batch = tmp_path / "b.jsonl"
    batch.write_text('{"size_bytes": 10}\n{"size_bytes": 20}\n')
    blocker = tmp_path / "a-file"
    blocker.write_text("x")

    result = cli.run("run", SIZED, "--batch", str(batch), "--output-dir", str(blocker))

    assert result.returncode == 73, result.stderr
    assert cli.calls("submit") == []
