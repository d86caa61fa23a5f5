"""A file large enough to be read straight from the socket (``downloads/body.py``), end to end through the
emulator's real HTTP server: the bytes on disk, the recorded size and sha256, and a second ``result`` that
finds the file by its sha256 instead of fetching it again."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from cli_harness import CLI

from runcomfy.downloads.body import DIRECT_MIN_BYTES

SIZED = "runcomfy/emulator/sized-file"


def test_a_large_file_is_saved_whole_with_its_sha256_and_reused_by_result(cli: CLI, tmp_path: Path) -> None:
    size = DIRECT_MIN_BYTES + 12_345
    expected = (bytes(range(256)) * (size // 256 + 1))[:size]  # the sized file: byte i is i % 256
    out_dir = tmp_path / "out"

    ran = cli.run(
        "--output",
        "json",
        "run",
        SIZED,
        "--input",
        json.dumps({"size_bytes": size}),
        "--output-dir",
        str(out_dir),
        "--emit",
        "record",
    )

    assert ran.returncode == 0, ran.stderr
    record = json.loads(ran.stdout)
    [saved] = record["files"]
    assert saved["bytes"] == size
    assert saved["sha256"] == hashlib.sha256(expected).hexdigest()
    assert Path(saved["path"]).read_bytes() == expected
    assert len(cli.calls("file")) == 1

    again = cli.run("result", record["request_id"], "--output-dir", str(out_dir))

    assert again.returncode == 0, again.stderr
    assert "already saved, sha256 matches" in again.stderr
    assert len(cli.calls("file")) == 1
    assert [p.name for p in out_dir.iterdir()] == ["sized.bin"]
