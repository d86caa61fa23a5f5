"""Shorthand for the Trainer API's contract tests: dataset and training job calls over real loopback HTTP, a
config builder, and a READY dataset in one call.

Kept apart from ``conftest.py`` under a unique module name, like ``emulator_harness.py``."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import httpx
import yaml
from emulator_harness import Emulator
from PIL import Image

JOBS = "/trainers/ai-toolkit/jobs"


def png(colour: tuple[int, int, int] = (200, 40, 40), size: tuple[int, int] = (16, 16)) -> bytes:
    """A small valid PNG."""
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="PNG")
    return out.getvalue()


def config(
    dataset: str = "faces",
    *,
    name: str = "my_lora",
    steps: int = 1000,
    save_every: int | None = 250,
    sample_every: int | None = 500,
    prompts: list[str] | None = None,
    **process: Any,
) -> str:
    """An AI Toolkit config in the shape ``train init`` writes."""
    entry: dict[str, Any] = {
        "type": "sd_trainer",
        "training_folder": "/app/ai-toolkit/output",
        "device": "cuda:0",
        "trigger_word": "ohwx",
        "network": {"type": "lora", "linear": 16, "linear_alpha": 16},
        "save": {"dtype": "float16", "max_step_saves_to_keep": 4},
        "datasets": [{"folder_path": f"/app/ai-toolkit/datasets/{dataset}", "caption_ext": "txt"}],
        "train": {"batch_size": 1, "steps": steps, "optimizer": "adamw8bit", "lr": 0.0001},
        "model": {"name_or_path": "black-forest-labs/FLUX.1-dev", "is_flux": True},
        "sample": {"width": 256, "height": 256, "seed": 42, "prompts": prompts or ["ohwx, a portrait"]},
    }
    if save_every is not None:
        entry["save"]["save_every"] = save_every
    if sample_every is not None:
        entry["sample"]["sample_every"] = sample_every
    entry.update(process)
    document = {"job": "extension", "config": {"name": name, "process": [entry]}, "meta": {"name": "[name]"}}
    return yaml.safe_dump(document, sort_keys=False)


@dataclass
class Trainer:
    """The Trainer API of one test's emulator."""

    emulator: Emulator

    @property
    def base(self) -> str:
        return self.emulator.running.trainer_api_base

    @property
    def http(self) -> httpx.Client:
        return self.emulator.http

    def auth(self, token: str | None = None) -> dict[str, str]:
        return self.emulator.auth(token)

    def advance(self, seconds: float) -> None:
        self.emulator.advance(seconds)

    def settings(self, **values: Any) -> dict[str, Any]:
        answer: dict[str, Any] = self.emulator.running.control.call("POST", "config", values)
        return answer

    # -- datasets --------------------------------------------------------------------------------------

    def create(self, name: str | None = None, token: str | None = None) -> httpx.Response:
        body = {} if name is None else {"name": name}
        return self.http.post(f"{self.base}/trainers/datasets", json=body, headers=self.auth(token))

    def create_ok(self, name: str | None = None, token: str | None = None) -> str:
        response = self.create(name, token)
        assert response.status_code == 200, response.text
        return str(response.json()["id"])

    def dataset(self, dataset_id: str, token: str | None = None) -> httpx.Response:
        return self.http.get(f"{self.base}/trainers/datasets/{dataset_id}/status", headers=self.auth(token))

    def dataset_ok(self, dataset_id: str) -> dict[str, Any]:
        response = self.dataset(dataset_id)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def upload(self, dataset_id: str, filename: str, data: bytes, token: str | None = None) -> httpx.Response:
        return self.http.post(
            f"{self.base}/trainers/datasets/{dataset_id}/upload",
            files={"file": (filename, data, "application/octet-stream")},
            headers=self.auth(token),
        )

    def upload_ok(self, dataset_id: str, filename: str, data: bytes) -> dict[str, Any]:
        response = self.upload(dataset_id, filename, data)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def upload_endpoint(self, dataset_id: str, sizes: Any, token: str | None = None) -> httpx.Response:
        return self.http.post(
            f"{self.base}/trainers/datasets/{dataset_id}/get-upload-endpoint",
            json={"filenameToByteSize": sizes},
            headers=self.auth(token),
        )

    def upload_urls(self, dataset_id: str, sizes: dict[str, int]) -> dict[str, dict[str, Any]]:
        response = self.upload_endpoint(dataset_id, sizes)
        assert response.status_code == 200, response.text
        uploads: dict[str, dict[str, Any]] = response.json()["uploads"]
        return uploads

    def ready_dataset(self, name: str = "faces", token: str | None = None, images: int = 2) -> str:
        """A dataset of captioned images, READY."""
        dataset_id = self.create_ok(name, token)
        for index in range(images):
            for filename, data in ((f"img{index}.png", png()), (f"img{index}.txt", b"ohwx, a face")):
                response = self.upload(dataset_id, filename, data, token)
                assert response.status_code == 200, response.text
        self.advance(self.emulator.running.control.call("GET", "config")["dataset_processing_s"])
        assert self.dataset(dataset_id, token).json()["status"] == "READY"
        return dataset_id

    # -- jobs --------------------------------------------------------------------------------------------

    def submit(self, body: Any, token: str | None = None) -> httpx.Response:
        return self.http.post(f"{self.base}{JOBS}", json=body, headers=self.auth(token))

    def submit_ok(self, config_file: str, token: str | None = None, **fields: Any) -> str:
        body = {"config_file_format": "yaml", "config_file": config_file, "gpu_type": "ADA_80_PLUS", **fields}
        response = self.submit(body, token)
        assert response.status_code == 200, response.text
        return str(response.json()["id"])

    def call(self, verb: str, job_id: str, token: str | None = None, body: Any = None) -> httpx.Response:
        url = f"{self.base}{JOBS}/{job_id}/{verb}"
        if verb in ("status", "result"):
            return self.http.get(url, headers=self.auth(token))
        return self.http.post(url, json=body, headers=self.auth(token))

    def status(self, job_id: str) -> dict[str, Any]:
        response = self.call("status", job_id)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def result(self, job_id: str) -> dict[str, Any]:
        response = self.call("result", job_id)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def control(self, job_id: str, action: str, body: Any = None) -> httpx.Response:
        return self.emulator.running.control.request("POST", f"training/{job_id}/{action}", body or {})

    def balance(self, token: str | None = None) -> float:
        response = self.http.get(
            f"{self.emulator.running.serverless_api_base}/balance", headers=self.auth(token)
        )
        assert response.status_code == 200, response.text
        return float(response.json()["balance_usd"])
