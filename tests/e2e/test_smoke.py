"""The first thing a user does: run a model and get a file."""

from __future__ import annotations

import json

from cli_harness import CLI


def test_run_saves_the_image_and_prints_the_output(cli: CLI) -> None:
    result = cli.run("run", "openai/gpt-image-2/text-to-image", "--input", '{"prompt": "a lighthouse"}')
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert output["images"][0].startswith(cli.server.origin)
    saved = cli.files_under(cli.home)
    pngs = [p for p in saved if p.suffix == ".png"]
    assert len(pngs) == 1 and pngs[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "[ok] completed" in result.stderr
    cli.assert_no_leak(result.stdout, result.stderr)
