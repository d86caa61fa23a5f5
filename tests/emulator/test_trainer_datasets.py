"""The Trainer API's datasets over loopback: create, list, status, delete; uploads by multipart and by signed
URL (a 150 MB+ file streamed, counted, never held in memory); the DRAFT -> UPLOADING -> READY/FAILED lifecycle
and its caption check; auth, ownership and error bodies."""

from __future__ import annotations

import json
import socket
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from emulator_harness import Emulator, started_emulator
from serverless_harness import assert_error, locs
from trainer_harness import Trainer, png

from runcomfy.emulator import trainer_datasets_api

PROCESSING_S = 2.0
BIG = 150_000_000 + 1_048_577  # over the multipart cap
CHUNK = b"\x5a" * (1024 * 1024)


@pytest.fixture
def trainer(emulator: Emulator) -> Trainer:
    return Trainer(emulator)


def dataset_dir(trainer: Trainer, dataset_id: str) -> Path:
    return trainer.emulator.running.state.trainer.storage.dataset_dir(dataset_id)


# -- create, list, status, delete --------------------------------------------------------------------------


def test_create_list_status_and_delete(trainer: Trainer) -> None:
    named = trainer.create("faces")
    assert named.status_code == 200, named.text
    body = named.json()
    assert set(body) == {"id", "name", "status", "created_at", "updated_at", "error", "files"}
    assert (
        body["name"] == "faces"
        and body["status"] == "DRAFT"
        and body["files"] == []
        and body["error"] is None
    )
    unnamed = trainer.create_ok()
    assert trainer.dataset_ok(unnamed)["name"] == f"dataset-{unnamed[:8]}"
    theirs = trainer.create_ok("theirs", token=trainer.emulator.other_token)

    listed = trainer.http.get(f"{trainer.base}/trainers/datasets", headers=trainer.auth())
    assert listed.status_code == 200
    assert [d["id"] for d in listed.json()] == [body["id"], unnamed]  # a bare array, only the caller's
    assert theirs not in {d["id"] for d in listed.json()}

    deleted = trainer.http.delete(f"{trainer.base}/trainers/datasets/{body['id']}", headers=trainer.auth())
    assert deleted.status_code == 200 and deleted.json() == {"id": body["id"], "deleted": True}
    assert_error(trainer.dataset(body["id"]), 404, 404001)
    assert [
        d["id"] for d in trainer.http.get(f"{trainer.base}/trainers/datasets", headers=trainer.auth()).json()
    ] == [unnamed]


@pytest.mark.parametrize("name", ["", "   ", "a/b", "x" * 129, 7, "tab\there"])
def test_a_bad_dataset_name_is_a_422_naming_the_field(trainer: Trainer, name: object) -> None:
    response = trainer.http.post(
        f"{trainer.base}/trainers/datasets", json={"name": name}, headers=trainer.auth()
    )
    assert locs(response) == [["body", "name"]]


def test_every_dataset_route_needs_a_known_token_and_the_owner(trainer: Trainer) -> None:
    mine = trainer.create_ok("mine")
    base = f"{trainer.base}/trainers/datasets"
    calls = [
        ("GET", base, None),
        ("POST", base, {}),
        ("GET", f"{base}/{mine}/status", None),
        ("DELETE", f"{base}/{mine}", None),
        ("POST", f"{base}/{mine}/get-upload-endpoint", {"filenameToByteSize": {"a.txt": 1}}),
        ("POST", f"{base}/{mine}/upload", None),
    ]
    for method, url, body in calls:
        for headers in ({}, {"Authorization": "Bearer not-a-token"}):
            response = trainer.http.request(method, url, json=body, headers=headers)
            assert_error(response, 401, 401001)
    other = trainer.emulator.other_token
    for method, url, body in calls[2:]:
        assert_error(trainer.http.request(method, url, json=body, headers=trainer.auth(other)), 403, 403003)
    missing = "00000000-0000-4000-8000-000000000000"
    for method, url, body in calls[2:]:
        url = url.replace(mine, missing)
        assert_error(trainer.http.request(method, url, json=body, headers=trainer.auth()), 404, 404001)
    assert trainer.dataset_ok(mine)["name"] == "mine"  # the refused delete deleted nothing


# -- lifecycle and the caption check --------------------------------------------------------------------------


def test_the_lifecycle_draft_uploading_ready_and_uploading_again(trainer: Trainer) -> None:
    dataset_id = trainer.create_ok("faces")
    assert trainer.dataset_ok(dataset_id)["status"] == "DRAFT"
    answer = trainer.upload_ok(dataset_id, "a.png", png())
    assert answer["status"] == "UPLOADING" and answer["filename"] == "a.png"
    trainer.upload_ok(dataset_id, "a.txt", b"ohwx, a face")
    trainer.advance(PROCESSING_S - 0.5)
    assert trainer.dataset_ok(dataset_id)["status"] == "UPLOADING"
    trainer.advance(0.5)
    ready = trainer.dataset_ok(dataset_id)
    assert ready["status"] == "READY" and ready["error"] is None
    assert ready["files"] == [
        {"filename": "a.png", "size_bytes": len(png())},
        {"filename": "a.txt", "size_bytes": len(b"ohwx, a face")},
    ]
    assert ready["updated_at"] > ready["created_at"]

    trainer.upload_ok(dataset_id, "a.txt", b"ohwx, a face in soft light")  # the same name replaces
    again = trainer.dataset_ok(dataset_id)
    assert again["status"] == "UPLOADING"
    assert [f["size_bytes"] for f in again["files"] if f["filename"] == "a.txt"] == [26]
    assert len(again["files"]) == 2
    trainer.advance(PROCESSING_S)
    assert trainer.dataset_ok(dataset_id)["status"] == "READY"


def test_images_and_videos_without_captions_fail_naming_the_files(trainer: Trainer) -> None:
    dataset_id = trainer.create_ok("faces")
    for name, data in (
        ("a.png", png()),
        ("a.txt", b"ok"),
        ("b.jpg", png()),
        ("c.mp4", b"\x00\x00\x00\x18ftypmp42"),
        ("notes.json", b"{}"),
    ):
        trainer.upload_ok(dataset_id, name, data)
    trainer.advance(PROCESSING_S)
    failed = trainer.dataset_ok(dataset_id)
    assert failed["status"] == "FAILED"
    assert "b.jpg" in failed["error"] and "c.mp4" in failed["error"] and "caption" in failed["error"]
    assert "a.png" not in failed["error"] and "notes.json" not in failed["error"]
    trainer.upload_ok(dataset_id, "b.txt", b"ok")
    trainer.upload_ok(dataset_id, "c.txt", b"ok")
    assert trainer.dataset_ok(dataset_id)["status"] == "UPLOADING"  # a new file reopens a FAILED dataset
    trainer.advance(PROCESSING_S)
    assert trainer.dataset_ok(dataset_id)["status"] == "READY"


def test_an_unreadable_image_fails_naming_it(trainer: Trainer) -> None:
    dataset_id = trainer.create_ok("faces")
    for name, data in (
        ("good.png", png()),
        ("good.txt", b"x"),
        ("broken.png", b"not a png"),
        ("broken.txt", b"x"),
    ):
        trainer.upload_ok(dataset_id, name, data)
    trainer.advance(PROCESSING_S)
    failed = trainer.dataset_ok(dataset_id)
    assert failed["status"] == "FAILED"
    assert "broken.png" in failed["error"] and "cannot be read" in failed["error"]
    assert "good.png" not in failed["error"]


def test_captions_alone_fail_and_an_empty_dataset_fails_once_its_url_expires(trainer: Trainer) -> None:
    captions = trainer.create_ok("captions")
    trainer.upload_ok(captions, "a.txt", b"x")
    empty = trainer.create_ok("empty")
    trainer.upload_urls(empty, {"a.png": 10})
    trainer.advance(PROCESSING_S)
    failed = trainer.dataset_ok(captions)
    assert (
        failed["status"] == "FAILED" and "no image or video" in failed["error"] and "a.txt" in failed["error"]
    )
    assert trainer.dataset_ok(empty)["status"] == "UPLOADING"  # its upload URL is outstanding
    trainer.advance(3600 + PROCESSING_S)
    gone = trainer.dataset_ok(empty)
    assert gone["status"] == "FAILED" and "no files" in gone["error"]


# -- multipart uploads ----------------------------------------------------------------------------------------


def test_a_multipart_upload_without_a_file_or_with_a_bad_name_is_a_422(trainer: Trainer) -> None:
    dataset_id = trainer.create_ok("faces")
    url = f"{trainer.base}/trainers/datasets/{dataset_id}/upload"
    no_file = trainer.http.post(url, data={"other": "x"}, headers=trainer.auth())
    assert locs(no_file) == [["body", "file"]]
    not_multipart = trainer.http.post(url, json={"file": "x"}, headers=trainer.auth())
    assert locs(not_multipart) == [["body", "file"]]
    for bad in (".hidden.png", "a\\b.png"):
        response = trainer.upload(dataset_id, bad, b"x")
        assert locs(response) == [["body", "file", "filename"]], bad
    assert trainer.dataset_ok(dataset_id) == {
        **trainer.dataset_ok(dataset_id),
        "status": "DRAFT",
        "files": [],
    }


def test_a_multipart_file_over_the_cap_is_a_413_and_keeps_nothing(
    trainer: Trainer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(trainer_datasets_api, "MAX_MULTIPART_BYTES", 1000)
    dataset_id = trainer.create_ok("faces")
    assert trainer.upload(dataset_id, "small.txt", b"x" * 1000).status_code == 200
    body = assert_error(trainer.upload(dataset_id, "big.txt", b"x" * 1001), 413, 413001)
    assert "get-upload-endpoint" in body["detail"]
    huge = trainer.upload(dataset_id, "huge.txt", b"x" * 200_000)  # past the envelope: refused mid-body
    assert_error(huge, 413, 413001)
    assert [f["filename"] for f in trainer.dataset_ok(dataset_id)["files"]] == ["small.txt"]
    assert sorted(p.name for p in dataset_dir(trainer, dataset_id).iterdir()) == ["small.txt"]


def test_a_declared_length_over_the_cap_is_refused_before_the_body(trainer: Trainer) -> None:
    """Announced, never sent: an emulator that read the body first would wait, and the socket would time out."""
    dataset_id = trainer.create_ok("faces")
    port = trainer.emulator.server.port
    head = (
        f"POST /prod/v1/trainers/datasets/{dataset_id}/upload HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {trainer.emulator.token}\r\n"
        f"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: {BIG}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head.encode())
        reader = sock.makefile("rb")
        assert int(reader.readline().split()[1]) == 413
        headers = {}
        while (line := reader.readline().strip()) != b"":
            name, _, value = line.decode().partition(":")
            headers[name.lower()] = value.strip()
        body = json.loads(reader.read(int(headers["content-length"])))
    assert body["error_code"] == 413001


# -- signed upload URLs ---------------------------------------------------------------------------------------


def test_a_signed_url_takes_a_put_without_a_token_and_the_dataset_becomes_ready(trainer: Trainer) -> None:
    dataset_id = trainer.create_ok("faces")
    image, caption = png(), b"ohwx, a face"
    uploads = trainer.upload_urls(dataset_id, {"a.png": len(image), "a.txt": len(caption)})
    assert set(uploads) == {"a.png", "a.txt"}
    for name, data in (("a.png", image), ("a.txt", caption)):
        upload = uploads[name]
        assert upload["method"] == "PUT"
        assert upload["upload_url"].startswith(f"{trainer.emulator.web}/_storage/uploads/")
        assert trainer.emulator.token not in upload["upload_url"]
        assert trainer.dataset_ok(dataset_id)["status"] == "UPLOADING"
        response = trainer.http.put(upload["upload_url"], content=data, headers=upload["headers"])  # no token
        assert response.status_code == 200, response.text
        assert response.json()["size_bytes"] == len(data)
    assert uploads["a.png"]["headers"] == {"Content-Type": "image/png"}
    trainer.advance(PROCESSING_S)
    ready = trainer.dataset_ok(dataset_id)
    assert ready["status"] == "READY"
    assert {f["filename"]: f["size_bytes"] for f in ready["files"]} == {
        "a.png": len(image),
        "a.txt": len(caption),
    }


def test_a_put_of_the_wrong_size_is_a_400_and_keeps_nothing(trainer: Trainer) -> None:
    dataset_id = trainer.create_ok("faces")
    url = trainer.upload_urls(dataset_id, {"a.txt": 10})["a.txt"]["upload_url"]
    assert_error(trainer.http.put(url, content=b"x" * 9), 400, 400001)
    assert_error(trainer.http.put(url, content=b"x" * 11), 400, 400001)

    def short() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b"x" * 4

    def long() -> Iterator[bytes]:
        yield b"x" * 6
        yield b"x" * 6

    assert_error(trainer.http.put(url, content=short()), 400, 400001)
    assert_error(trainer.http.put(url, content=long()), 400, 400001)
    assert trainer.dataset_ok(dataset_id)["files"] == []
    assert (
        not dataset_dir(trainer, dataset_id).exists()
        or list(dataset_dir(trainer, dataset_id).iterdir()) == []
    )
    assert trainer.http.put(url, content=b"x" * 10).status_code == 200  # the URL still works


def test_an_expired_or_unknown_upload_url_is_refused(trainer: Trainer) -> None:
    trainer.settings(upload_url_ttl_s=60)
    dataset_id = trainer.create_ok("faces")
    url = trainer.upload_urls(dataset_id, {"a.txt": 1})["a.txt"]["upload_url"]
    trainer.advance(59)
    assert trainer.http.put(url, content=b"x").status_code == 200  # used once, still valid: replaced on retry
    trainer.advance(1)
    assert_error(trainer.http.put(url, content=b"y"), 403, 403001)
    assert_error(trainer.http.put(f"{trainer.emulator.web}/_storage/uploads/nope", content=b"x"), 404, 404001)
    deleted = trainer.create_ok("deleted")
    late = trainer.upload_urls(deleted, {"a.txt": 1})["a.txt"]["upload_url"]
    trainer.http.delete(f"{trainer.base}/trainers/datasets/{deleted}", headers=trainer.auth())
    assert_error(trainer.http.put(late, content=b"x"), 404, 404001)


@pytest.mark.parametrize(
    ("sizes", "loc"),
    [
        (None, ["body", "filenameToByteSize"]),
        ({}, ["body", "filenameToByteSize"]),
        ({"../a.png": 1}, ["body", "filenameToByteSize", "../a.png"]),
        ({"a.png": -1}, ["body", "filenameToByteSize", "a.png"]),
        ({"a.png": 1.5}, ["body", "filenameToByteSize", "a.png"]),
        ({"a.png": True}, ["body", "filenameToByteSize", "a.png"]),
        ({"a.png": "10"}, ["body", "filenameToByteSize", "a.png"]),
    ],
)
def test_bad_announced_files_are_a_422(trainer: Trainer, sizes: object, loc: list[str]) -> None:
    dataset_id = trainer.create_ok("faces")
    assert locs(trainer.upload_endpoint(dataset_id, sizes)) == [loc]


def test_a_file_over_150_mb_streams_through_a_signed_url_without_being_held_in_memory(
    trainer: Trainer,
) -> None:
    dataset_id = trainer.create_ok("big")
    url = trainer.upload_urls(dataset_id, {"clip.mp4": BIG})["clip.mp4"]["upload_url"]
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        remaining = BIG
        while remaining:
            piece = CHUNK if remaining >= len(CHUNK) else CHUNK[:remaining]
            remaining -= len(piece)
            sent += len(piece)
            yield piece

    tracemalloc.start()
    try:
        with httpx.Client(timeout=60) as client:
            response = client.put(url, content=body(), headers={"content-length": str(BIG)})
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 200, response.text
    assert sent == BIG and response.json()["size_bytes"] == BIG  # counted by the server as it arrived
    stored = dataset_dir(trainer, dataset_id) / "clip.mp4"
    assert stored.stat().st_size == BIG
    with stored.open("rb") as file:
        assert file.read(16) == CHUNK[:16]
    assert peak < 32 * 1024 * 1024, f"peak traced memory {peak} bytes during a {BIG}-byte upload"
    assert trainer.dataset_ok(dataset_id)["files"] == [{"filename": "clip.mp4", "size_bytes": BIG}]


# -- files on disk -----------------------------------------------------------------------------------------


def test_files_live_in_a_temporary_directory_removed_at_stop() -> None:
    with started_emulator() as emulator:
        trainer = Trainer(emulator)
        dataset_id = trainer.create_ok("faces")
        trainer.upload_ok(dataset_id, "a.txt", b"x")
        root = emulator.running.state.trainer.storage.root
        assert (root / "datasets" / dataset_id / "a.txt").read_bytes() == b"x"
        trainer.http.delete(f"{trainer.base}/trainers/datasets/{dataset_id}", headers=trainer.auth())
        assert not (root / "datasets" / dataset_id).exists()
    assert not root.exists()


def test_with_a_database_datasets_and_their_files_outlive_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    token = "canary-persist"
    with started_emulator(db=db, token=token) as emulator:
        trainer = Trainer(emulator)
        dataset_id = trainer.ready_dataset("faces")
        url = trainer.upload_urls(dataset_id, {"late.txt": 3})["late.txt"]["upload_url"]
        path = url.removeprefix(emulator.web)
    assert (tmp_path / "state.db.trainer-files" / "datasets" / dataset_id / "img0.png").is_file()
    with started_emulator(db=db, token=token) as emulator:
        trainer = Trainer(emulator)
        again = trainer.dataset_ok(dataset_id)
        assert again["status"] == "UPLOADING"  # the URL issued before the restart is still outstanding
        assert trainer.http.put(f"{emulator.web}{path}", content=b"abc").status_code == 200
        trainer.advance(PROCESSING_S)
        assert trainer.dataset_ok(dataset_id)["status"] == "READY"
        assert len(trainer.dataset_ok(dataset_id)["files"]) == 5
