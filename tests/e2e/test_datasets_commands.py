"""``runcomfy datasets create|list|status|delete|upload`` against the emulator's Trainer API.

What the official CLI prints (the next step after create, the ``ID NAME STATUS UPDATED`` table, key/value lines
and the files, the ``--wait`` lines, the json shape, exit codes 65/66/1), and what this one adds: the pre-flight
check before anything is sent, resumable uploads (``[skip] name (already uploaded)``), large files through the
signed upload URL without the token, ``--from-url`` under the download host rules, the journal row of every
dataset, Ctrl-C that only stops watching, and the token never shown.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

from cli_harness import CLI

PNG = b"\x89PNG\r\n\x1a\n"


def png_bytes() -> bytes:
    """A real (tiny) PNG the emulator can open."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def captioned(folder: Path, *stems: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    image = png_bytes()
    for stem in stems:
        (folder / f"{stem}.png").write_bytes(image)
        (folder / f"{stem}.txt").write_text(f"ohwx, {stem}")
    return folder


def create(cli: CLI, name: str = "cats") -> str:
    result = cli.run("--output", "json", "datasets", "create", "--name", name)
    assert result.returncode == 0, result.stderr
    dataset: dict[str, Any] = json.loads(result.stdout)
    assert dataset["status"] == "DRAFT"
    return str(dataset["id"])


def status(cli: CLI, dataset_id: str) -> dict[str, Any]:
    result = cli.run("--output", "json", "datasets", "status", dataset_id)
    assert result.returncode == 0, result.stderr
    dataset: dict[str, Any] = json.loads(result.stdout)
    return dataset


def test_create_upload_wait_status_list_delete(cli: CLI, tmp_path: Path) -> None:
    created = cli.run("datasets", "create", "--name", "cats")
    assert created.returncode == 0, created.stderr
    dataset_id = next(line.split()[-1] for line in created.stdout.splitlines() if line.startswith("id:"))
    assert f"runcomfy datasets upload {dataset_id} <files...> --wait" in created.stderr

    empty = cli.run("datasets", "status", dataset_id)
    assert empty.returncode == 0, empty.stderr
    assert "(no files uploaded yet)" in empty.stdout
    assert "status:" in empty.stdout and "DRAFT" in empty.stdout

    folder = captioned(tmp_path / "set", "a", "b")
    (folder / ".hidden").write_text("skipped")
    uploaded = cli.run(
        "--output", "json", "datasets", "upload", dataset_id, str(folder), "--wait", "--poll-secs", "1"
    )
    assert uploaded.returncode == 0, uploaded.stderr
    report = json.loads(uploaded.stdout)
    assert report["dataset_id"] == dataset_id
    assert report["status"] == "READY"
    assert report["skipped"] == []
    assert [(u["filename"], u["via"]) for u in report["uploaded"]] == [
        ("a.png", "multipart"),
        ("a.txt", "multipart"),
        ("b.png", "multipart"),
        ("b.txt", "multipart"),
    ]
    assert uploaded.stderr == ""  # json mode keeps stderr free of decoration

    shown = cli.run("datasets", "status", dataset_id)
    assert shown.returncode == 0
    lines = shown.stdout.splitlines()
    assert any(line.startswith("status:") and line.endswith("READY") for line in lines)
    assert lines[lines.index("FILENAME  SIZE_BYTES") + 1].split() == ["a.png", str(len(png_bytes()))]

    listed = cli.run("datasets", "list")
    assert listed.returncode == 0
    header, row = listed.stdout.splitlines()[:2]
    assert header.split() == ["ID", "NAME", "STATUS", "UPDATED"]
    assert row.split()[:3] == [dataset_id, "cats", "READY"]

    journal = cli.run("--output", "json", "requests", "list", "--all")
    assert journal.returncode == 0, journal.stderr
    rows = json.loads(journal.stdout)
    (entry,) = [r for r in rows if r.get("request_id") == dataset_id]
    assert entry["model_id"] == "dataset/cats"
    assert entry["status"] == "READY"

    refused = cli.run("datasets", "delete", dataset_id)
    assert refused.returncode == 64
    deleted = cli.run("--output", "json", "datasets", "delete", dataset_id, "-y")
    assert deleted.returncode == 0, deleted.stderr
    assert json.loads(deleted.stdout)["deleted"] is True
    assert cli.run("datasets", "list").stderr.strip().endswith("No datasets found.")
    cli.assert_no_leak(created.stdout, created.stderr, uploaded.stdout, shown.stdout, deleted.stdout)


def test_plain_progress_lines_and_resuming(cli: CLI, tmp_path: Path) -> None:
    dataset_id = create(cli)
    folder = captioned(tmp_path / "set", "a")
    first = cli.run("datasets", "upload", dataset_id, str(folder / "a.png"), str(folder / "a.txt"))
    assert first.returncode == 0, first.stderr
    assert f"[upload] a.png ({len(png_bytes())} bytes)" in first.stderr
    captioned(folder, "b")
    again = cli.run("datasets", "upload", dataset_id, str(folder))
    assert again.returncode == 0, again.stderr
    assert "[skip] a.png (already uploaded)" in again.stderr
    assert "[skip] a.txt (already uploaded)" in again.stderr
    assert "[upload] b.png" in again.stderr and "[upload] a.png" not in again.stderr
    assert sorted(f["filename"] for f in status(cli, dataset_id)["files"]) == [
        "a.png",
        "a.txt",
        "b.png",
        "b.txt",
    ]


def test_preflight_lists_every_problem_and_uploads_nothing(cli: CLI, tmp_path: Path) -> None:
    dataset_id = create(cli)
    folder = captioned(tmp_path / "set", "ok")
    (folder / "lonely.png").write_bytes(png_bytes())
    (folder / "fake.jpg").write_bytes(b"hello")
    (folder / "fake.txt").write_text("caption")
    (folder / "anim.gif").write_bytes(b"GIF89a")
    result = cli.run("datasets", "upload", dataset_id, str(folder))
    assert result.returncode == 65, result.stderr
    assert "lonely.png" in result.stderr and "lonely.txt" in result.stderr
    assert "fake.jpg" in result.stderr and "anim.gif" in result.stderr
    assert "nothing was uploaded" in result.stderr
    assert status(cli, dataset_id)["files"] == []
    as_json = cli.run("--output", "json", "datasets", "upload", dataset_id, str(folder))
    assert as_json.returncode == 65
    error = json.loads(as_json.stderr.strip().splitlines()[-1])
    assert len(error["detail"]) == 3


def test_missing_path_and_nothing_to_upload(cli: CLI, tmp_path: Path) -> None:
    dataset_id = create(cli)
    missing = cli.run("datasets", "upload", dataset_id, str(tmp_path / "nope"))
    assert missing.returncode == 66, missing.stderr
    (tmp_path / "empty").mkdir()
    nothing = cli.run("datasets", "upload", dataset_id, str(tmp_path / "empty"))
    assert nothing.returncode == 65, nothing.stderr
    assert "nothing to upload" in nothing.stderr
    usage = cli.run("datasets", "upload", dataset_id, "--filename", "x.png")
    assert usage.returncode == 64


def test_a_failed_dataset_exits_1_with_its_error(cli: CLI, tmp_path: Path) -> None:
    dataset_id = create(cli)
    folder = tmp_path / "set"
    folder.mkdir()
    (folder / "broken.png").write_bytes(PNG + b"\x00" * 40)  # the right first bytes, not a picture
    (folder / "broken.txt").write_text("ohwx")
    result = cli.run(
        "--output", "json", "datasets", "upload", dataset_id, str(folder), "--wait", "--poll-secs", "1"
    )
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["status"] == "FAILED"
    error = json.loads(result.stderr.strip().splitlines()[-1])
    assert "broken.png" in error["error"]


def test_a_large_file_goes_through_the_signed_url(cli: CLI, tmp_path: Path) -> None:
    dataset_id = create(cli)
    clip = tmp_path / "clip.mp4"
    size = 150_000_001
    with open(clip, "wb") as handle:
        handle.write(b"\x00\x00\x00\x18ftypmp42")
        handle.truncate(size)
    (tmp_path / "clip.txt").write_text("ohwx, a clip")
    result = cli.run(
        "--output", "json", "datasets", "upload", dataset_id, str(clip), str(tmp_path / "clip.txt")
    )
    assert result.returncode == 0, result.stderr
    uploaded = {u["filename"]: (u["via"], u["bytes"]) for u in json.loads(result.stdout)["uploaded"]}
    assert uploaded == {"clip.txt": ("multipart", 12), "clip.mp4": ("signed-url", size)}
    files = {f["filename"]: f["size_bytes"] for f in status(cli, dataset_id)["files"]}
    assert files["clip.mp4"] == size
    puts = [call for call in cli.calls() if call.get("method") == "PUT"]
    assert puts, cli.calls()
    cli.assert_no_leak(result.stdout, result.stderr)


def test_from_url_follows_the_download_host_rules(cli: CLI, tmp_path: Path) -> None:
    dataset_id = create(cli)
    refused = cli.run("datasets", "upload", dataset_id, "--from-url", "https://example.com/a.png")
    assert refused.returncode == 65, refused.stderr
    assert "--allow-any-host" in refused.stderr
    not_http = cli.run("datasets", "upload", dataset_id, "--from-url", "ftp://cdn.runcomfy.net/a.png")
    assert not_http.returncode == 65
    assert status(cli, dataset_id)["files"] == []


def test_ctrl_c_while_waiting_only_stops_watching(cli: CLI, tmp_path: Path) -> None:
    cli.control("POST", "config", {"dataset_processing_s": 3600})
    dataset_id = create(cli)
    folder = captioned(tmp_path / "set", "a")
    process = cli.start("datasets", "upload", dataset_id, str(folder), "--wait", "--poll-secs", "1")
    assert process.stderr is not None
    seen = []
    for line in process.stderr:
        seen.append(line)
        if line.startswith("[wait]"):
            break
    assert any("[wait] UPLOADING (2 file(s) visible)" in line for line in seen), seen
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=30)
    assert process.returncode == 130, rest
    assert "keeps processing" in rest
    assert f"runcomfy datasets status {dataset_id}" in rest
    assert len(status(cli, dataset_id)["files"]) == 2  # nothing was cancelled or deleted
