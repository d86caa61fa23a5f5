"""The whole LoRA journey through the real command, in one test: a directory of captioned images becomes a
dataset (uploaded with ``--wait``), ``train init`` writes the config, ``train submit --dataset --wait`` trains it
on an accelerated clock, ``train result --download`` fetches the checkpoints and samples, and ``run`` uses the
trained LoRA: the picture changes, and a name nobody trained is refused."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

from cli_harness import CLI

MODEL = "openai/gpt-image-2/text-to-image"


def captioned_images(directory: Path, count: int = 3) -> None:
    from PIL import Image

    directory.mkdir()
    for index in range(count):
        buffer = io.BytesIO()
        Image.new("RGB", (32, 32), (40 * index, 90, 200)).save(buffer, format="PNG")
        (directory / f"cat{index}.png").write_bytes(buffer.getvalue())
        (directory / f"cat{index}.txt").write_text(f"ohwx, a cat, photo {index}")


def json_out(result: Any) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_dataset_to_trained_lora_to_a_run(cli: CLI) -> None:
    cli.control(
        "POST", "config", {"training_steps_per_s": 40, "training_queue_s": 0, "dataset_processing_s": 0.5}
    )
    captioned_images(cli.home / "cats")

    dataset = json_out(cli.run("--output", "json", "datasets", "create", "--name", "cats"))
    upload = cli.run("datasets", "upload", dataset["id"], "cats", "--wait", "--poll-secs", "1")
    assert upload.returncode == 0, upload.stderr
    assert "READY" in upload.stderr
    status = json_out(cli.run("--output", "json", "datasets", "status", dataset["id"]))
    assert sorted(f["filename"] for f in status["files"]) == sorted(
        p.name for p in (cli.home / "cats").iterdir()
    )

    init = cli.run(
        "train", "init", "--dataset", "cats", "--trigger", "ohwx", "--steps", "40", "--name", "cat_lora"
    )
    assert init.returncode == 0, init.stderr
    (cli.home / "config.yaml").write_text(init.stdout)
    submit = cli.run(
        "train", "submit", "--config", "config.yaml", "--dataset", dataset["id"], "--wait", "--poll-secs", "1"
    )
    assert submit.returncode == 0, submit.stderr
    job = json.loads(submit.stdout)
    assert job["status"] == "STOPPED" and job["progress"]["current_step"] == 40

    fetched = cli.run("train", "result", job["id"], "--download", "--output-dir", "artifacts")
    assert fetched.returncode == 0, fetched.stderr
    artifacts = cli.home / "artifacts"
    manifest = json.loads((artifacts / "runcomfy-manifest.json").read_text())
    files = {entry["file"]: entry for entry in manifest["files"]}
    assert "cat_lora.safetensors" in {Path(name).name for name in files}
    for name, entry in files.items():
        data = (artifacts / Path(name).name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    checkpoint = (artifacts / "cat_lora.safetensors").read_bytes()
    header_size = int.from_bytes(checkpoint[:8], "little")
    header = json.loads(checkpoint[8 : 8 + header_size])
    assert header["__metadata__"]["name"] == "cat_lora"
    assert any(Path(n).suffix == ".png" for n in files)  # samples were drawn

    plain = json_out(
        cli.run("--output", "json", "run", MODEL, "prompt=ohwx a cat", "seed=3", "--output-dir", "plain")
    )
    with_lora = cli.run(
        "--output",
        "json",
        "run",
        MODEL,
        "--output-dir",
        "lora",
        "--input",
        json.dumps({"prompt": "ohwx a cat", "seed": 3, "lora": {"path": "cat_lora.safetensors"}}),
    )
    assert with_lora.returncode == 0, with_lora.stderr
    assert plain  # the output was printed as JSON
    plain_png = next((cli.home / "plain").iterdir()).read_bytes()
    lora_png = next((cli.home / "lora").iterdir()).read_bytes()
    assert plain_png != lora_png  # the trained LoRA visibly changes the picture

    unknown = cli.run(
        "run",
        MODEL,
        "--no-validate",
        "--input",
        json.dumps({"prompt": "x", "lora": {"path": "nobody_trained_this.safetensors"}}),
    )
    assert unknown.returncode == 65
    assert "lora" in unknown.stderr

    listed = json_out(cli.run("--output", "json", "requests", "list"))
    kinds = {row["model_id"] for row in listed}
    assert {"dataset/cats", "training/cat_lora", MODEL} <= kinds
    cli.assert_no_leak(
        upload.stdout, upload.stderr, submit.stdout, submit.stderr, fetched.stdout, fetched.stderr
    )
    for path in artifacts.iterdir():
        cli.assert_no_leak(path.name)
