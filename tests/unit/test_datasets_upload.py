"""``Client.datasets``: uploads against a loopback server this test starts (a small stand-in of the Trainer API
and of a storage host), so what goes over the wire is seen byte for byte.

The server counts the bytes it receives and never keeps a body; it records each request's method, path and
whether it carried a token. Nothing sleeps for real: the client's ``sleep`` and ``clock`` are a fake clock.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fake_time import FakeClock

from runcomfy.client import Client
from runcomfy.dataset_files import SMALL_UPLOAD_MAX_BYTES
from runcomfy.datasets import UploadEvent
from runcomfy.errors import (
    InputFileNotFound,
    InputProblems,
    InvalidInput,
    PermissionDeniedError,
    ServerError,
)

TOKEN = "canary-token-7f3a9c"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
CHUNK = 1024 * 1024


@dataclass
class Seen:
    method: str
    path: str
    authorization: str | None
    content_length: int | None
    chunked: bool
    received: int = 0


@dataclass
class Storage:
    """The state of the stand-in: one dataset's files, what each request looked like, faults to inject."""

    files: dict[str, int] = field(default_factory=dict)
    status_sequence: list[str] = field(default_factory=list)
    requests: list[Seen] = field(default_factory=list)
    faults: dict[str, list[int]] = field(default_factory=dict)  # route -> statuses to answer first
    served: dict[str, bytes] = field(default_factory=dict)  # path -> body for GET (the --from-url files)
    declared_length: dict[str, int] = field(default_factory=dict)  # path -> a Content-Length that lies
    tokens: itertools.count = field(default_factory=lambda: itertools.count(1))
    outstanding: dict[str, tuple[str, int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fault(self, route: str) -> int | None:
        with self.lock:
            queue = self.faults.get(route)
            return queue.pop(0) if queue else None

    def of(self, method: str, pattern: str) -> list[Seen]:
        return [seen for seen in self.requests if seen.method == method and re.search(pattern, seen.path)]


def make_handler(storage: Storage) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            return None

        def _seen(self) -> Seen:
            length = self.headers.get("Content-Length")
            seen = Seen(
                self.command,
                self.path,
                self.headers.get("Authorization"),
                int(length) if length is not None else None,
                "chunked" in self.headers.get("Transfer-Encoding", "").lower(),
            )
            storage.requests.append(seen)
            return seen

        def _drain(self, seen: Seen, sink: Any = None) -> None:
            left = seen.content_length or 0
            while left > 0:
                chunk = self.rfile.read(min(CHUNK, left))
                if not chunk:
                    break
                left -= len(chunk)
                seen.received += len(chunk)
                if sink is not None:
                    sink(chunk)

        def _reply(
            self, status: int, body: Any = None, *, raw: bytes | None = None, length: int | None = None
        ):
            data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if raw is None else "image/png")
            self.send_header("Content-Length", str(len(data) if length is None else length))
            self.end_headers()
            self.wfile.write(data)

        def _dataset(self) -> dict[str, Any]:
            status = storage.status_sequence.pop(0) if storage.status_sequence else "UPLOADING"
            files = [{"filename": n, "size_bytes": s} for n, s in sorted(storage.files.items())]
            return {"id": "ds-1", "name": "cats", "status": status, "error": None, "files": files}

        def do_GET(self) -> None:
            seen = self._seen()
            if self.path.endswith("/trainers/datasets/ds-1/status"):
                self._reply(200, self._dataset())
            elif self.path.endswith("/trainers/datasets"):
                self._reply(200, [{"id": "ds-1", "name": "cats", "status": "DRAFT"}])
            elif self.path in storage.served:
                body = storage.served[self.path]
                self._reply(200, raw=body, length=storage.declared_length.get(self.path))
            else:
                self._reply(404, {"error_code": 404001, "error_message": "not found"})
            del seen

        def do_POST(self) -> None:
            seen = self._seen()
            if self.path.endswith("/upload"):
                self._multipart(seen)
            elif self.path.endswith("/get-upload-endpoint"):
                body = b""

                def keep(chunk: bytes) -> None:
                    nonlocal body
                    body += chunk

                self._drain(seen, keep)
                sizes = json.loads(body)["filenameToByteSize"]
                uploads = {}
                for name, size in sizes.items():
                    token = f"tok{next(storage.tokens)}"
                    storage.outstanding[token] = (name, size)
                    port = self.server.server_address[1]
                    uploads[name] = {
                        "upload_url": f"http://127.0.0.1:{port}/_storage/uploads/{token}",
                        "method": "PUT",
                        "headers": {"Content-Type": "application/octet-stream", "Authorization": "nope"},
                    }
                self._reply(200, {"uploads": uploads})
            elif self.path.endswith("/trainers/datasets"):
                self._drain(seen)
                self._reply(200, {"id": "ds-1", "name": "cats", "status": "DRAFT"})
            else:
                self._drain(seen)
                self._reply(404, {"error_code": 404001, "error_message": "not found"})

        def _multipart(self, seen: Seen) -> None:
            fault = storage.fault("upload")
            head = bytearray()
            tail = bytearray()

            def count(chunk: bytes) -> None:
                if len(head) < 4096:
                    head.extend(chunk[: 4096 - len(head)])
                tail.extend(chunk)
                del tail[:-256]

            self._drain(seen, count)
            if fault is not None:
                self._reply(fault, {"error_code": 500001, "error_message": "busy"})
                return
            boundary = self.headers["Content-Type"].split("boundary=")[1].encode()
            headers_end = bytes(head).index(b"\r\n\r\n") + 4
            name = re.search(rb'filename="([^"]+)"', bytes(head[:headers_end])).group(1).decode()
            closing = b"\r\n--" + boundary + b"--\r\n"
            assert bytes(tail).endswith(closing)
            storage.files[name] = seen.received - headers_end - len(closing)
            self._reply(200, {"filename": name, "size_bytes": storage.files[name]})

        def do_PUT(self) -> None:
            seen = self._seen()
            token = self.path.rsplit("/", 1)[-1]
            self._drain(seen)
            fault = storage.fault("put")
            if fault is not None:
                self._reply(fault, {"error_code": fault, "error_message": "refused"})
                return
            name, size = storage.outstanding[token]
            if seen.received != size or seen.content_length != size:
                self._reply(400, {"error_code": 400, "error_message": "wrong size"})
                return
            storage.files[name] = size
            self._reply(200)

        def do_DELETE(self) -> None:
            self._seen()
            self._reply(204)

    return Handler


@pytest.fixture
def storage() -> Iterator[tuple[Storage, int]]:
    state = Storage()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def client_for(port: int, clock: FakeClock) -> Client:
    return Client(
        TOKEN,
        trainer_api_base=f"http://127.0.0.1:{port}/prod/v1",
        model_api_base=f"http://127.0.0.1:{port}/v1",
        env={},
        sleep=clock.sleep,
        clock=clock,
    )


def sparse(path: Path, size: int, head: bytes = b"") -> Path:
    with open(path, "wb") as handle:
        handle.write(head)
        handle.truncate(size)
    return path


def captioned(folder: Path, *stems: str) -> Path:
    folder.mkdir(exist_ok=True)
    for stem in stems:
        (folder / f"{stem}.png").write_bytes(PNG)
        (folder / f"{stem}.txt").write_text(f"ohwx, {stem}")
    return folder


def test_small_files_go_multipart_with_the_token(storage, clock, tmp_path: Path) -> None:
    state, port = storage
    folder = captioned(tmp_path / "set", "a", "b")
    events: list[UploadEvent] = []
    with client_for(port, clock) as client:
        report = client.datasets.upload("ds-1", [folder], on_progress=events.append)
    assert [(u.filename, u.via, u.bytes) for u in report.uploaded] == [
        ("a.png", "multipart", len(PNG)),
        ("a.txt", "multipart", len("ohwx, a")),
        ("b.png", "multipart", len(PNG)),
        ("b.txt", "multipart", len("ohwx, b")),
    ]
    assert state.files == {"a.png": len(PNG), "a.txt": 7, "b.png": len(PNG), "b.txt": 7}
    uploads = state.of("POST", r"/upload$")
    assert len(uploads) == 4
    assert all(seen.authorization == f"Bearer {TOKEN}" for seen in uploads)
    assert all(seen.content_length is not None and not seen.chunked for seen in uploads)
    assert [e.kind for e in events if e.filename == "a.png"] == ["start", "progress", "done"]
    assert report.to_dict()["uploaded"][0]["response"] == {"filename": "a.png", "size_bytes": len(PNG)}
    assert report.status == "UPLOADING"


def test_a_large_file_goes_to_the_signed_url_streamed_without_the_token(storage, clock, tmp_path) -> None:
    state, port = storage
    size = SMALL_UPLOAD_MAX_BYTES + 1
    big = sparse(tmp_path / "clip.mp4", size, b"\x00\x00\x00\x18ftypmp42")
    caption = tmp_path / "clip.txt"
    caption.write_text("ohwx, a clip")
    tracemalloc.start()
    try:
        with client_for(port, clock) as client:
            report = client.datasets.upload("ds-1", [big, caption])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [(u.filename, u.via) for u in report.uploaded] == [
        ("clip.txt", "multipart"),
        ("clip.mp4", "signed-url"),
    ]
    (put,) = state.of("PUT", r"/_storage/uploads/")
    assert put.authorization is None  # neither the token nor the header the service listed
    assert put.content_length == size and not put.chunked
    assert put.received == size
    assert state.files["clip.mp4"] == size
    assert peak < 40 * 1024 * 1024, f"peak Python allocations {peak} bytes while sending {size} bytes"


def test_a_multipart_upload_is_streamed_not_read_whole(storage, clock, tmp_path) -> None:
    state, port = storage
    size = 120 * 1024 * 1024
    video = sparse(tmp_path / "v.webm", size, b"\x1a\x45\xdf\xa3")
    (tmp_path / "v.txt").write_text("ohwx")
    tracemalloc.start()
    try:
        with client_for(port, clock) as client:
            client.datasets.upload("ds-1", [video, tmp_path / "v.txt"])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert state.files["v.webm"] == size
    assert peak < 40 * 1024 * 1024, f"peak Python allocations {peak} bytes while sending {size} bytes"


def test_files_already_there_with_the_same_size_are_skipped(storage, clock, tmp_path) -> None:
    state, port = storage
    folder = captioned(tmp_path / "set", "a", "b")
    state.files = {"a.png": len(PNG), "a.txt": 7, "b.png": 3}  # b.png arrived cut short
    events: list[UploadEvent] = []
    with client_for(port, clock) as client:
        report = client.datasets.upload("ds-1", [folder], on_progress=events.append)
    assert report.skipped == ["a.png", "a.txt"]
    assert [u.filename for u in report.uploaded] == ["b.png", "b.txt"]
    assert [e.filename for e in events if e.kind == "skip"] == ["a.png", "a.txt"]
    assert len(state.of("POST", r"/upload$")) == 2
    assert state.files["b.png"] == len(PNG)
    assert report.to_dict()["skipped"] == ["a.png", "a.txt"]


def test_preflight_problems_stop_everything_before_a_byte_is_sent(storage, clock, tmp_path) -> None:
    state, port = storage
    folder = tmp_path / "set"
    folder.mkdir()
    (folder / "a.png").write_bytes(PNG)
    (folder / "b.png").write_bytes(b"not an image")
    (folder / "b.txt").write_text("ok")
    with client_for(port, clock) as client, pytest.raises(InputProblems) as caught:
        client.datasets.upload("ds-1", [folder])
    assert sorted(p["kind"] for p in caught.value.problems) == ["no_caption", "not_an_image"]
    assert state.of("POST", "") == [] and state.of("PUT", "") == []


def test_nothing_to_upload_and_a_missing_path(storage, clock, tmp_path) -> None:
    state, port = storage
    (tmp_path / "empty").mkdir()
    with client_for(port, clock) as client:
        with pytest.raises(InvalidInput, match="nothing to upload"):
            client.datasets.upload("ds-1", [tmp_path / "empty"])
        with pytest.raises(InputFileNotFound):
            client.datasets.upload("ds-1", [tmp_path / "missing"])
    assert state.requests == []


def test_a_503_is_retried_with_the_file_sent_again_whole(storage, clock, tmp_path) -> None:
    state, port = storage
    folder = captioned(tmp_path / "set", "a")
    state.faults["upload"] = [503]
    with client_for(port, clock) as client:
        report = client.datasets.upload("ds-1", [folder])
    assert [u.filename for u in report.uploaded] == ["a.png", "a.txt"]
    assert len(state.of("POST", r"/upload$")) == 3
    assert state.files["a.png"] == len(PNG)
    assert len(clock.sleeps) == 1


def test_a_500_is_not_retried_and_stops_the_rest(storage, clock, tmp_path) -> None:
    state, port = storage
    folder = captioned(tmp_path / "set", "a")
    state.faults["upload"] = [500]
    with client_for(port, clock) as client, pytest.raises(ServerError):
        client.datasets.upload("ds-1", [folder])
    assert len(state.of("POST", r"/upload$")) == 1  # a.txt was never sent
    assert state.files == {}
    assert clock.sleeps == []


def test_an_expired_upload_url_says_to_run_again(storage, clock, tmp_path) -> None:
    state, port = storage
    big = sparse(tmp_path / "clip.mp4", SMALL_UPLOAD_MAX_BYTES + 10)
    (tmp_path / "clip.txt").write_text("x")
    state.faults["put"] = [403]
    with client_for(port, clock) as client, pytest.raises(PermissionDeniedError) as caught:
        client.datasets.upload("ds-1", [big, tmp_path / "clip.txt"])
    assert "run the same command again" in (caught.value.hint or "")
    assert "tok1" not in str(caught.value)  # the signed URL's path is its credential
    assert TOKEN not in str(caught.value)


def test_a_429_on_the_signed_url_is_retried(storage, clock, tmp_path) -> None:
    state, port = storage
    big = sparse(tmp_path / "clip.mp4", SMALL_UPLOAD_MAX_BYTES + 10)
    (tmp_path / "clip.txt").write_text("x")
    state.faults["put"] = [429]
    with client_for(port, clock) as client:
        report = client.datasets.upload("ds-1", [big, tmp_path / "clip.txt"])
    assert [u.via for u in report.uploaded] == ["multipart", "signed-url"]
    assert len(state.of("PUT", "")) == 2
    assert state.files["clip.mp4"] == SMALL_UPLOAD_MAX_BYTES + 10


def test_from_url_is_fetched_without_the_token_and_uploaded_last(storage, clock, tmp_path) -> None:
    state, port = storage
    state.served["/files/d.png"] = PNG
    folder = captioned(tmp_path / "set", "a")
    (folder / "d.txt").write_text("ohwx, d")
    url = f"http://127.0.0.1:{port}/files/d.png"
    with client_for(port, clock) as client:
        report = client.datasets.upload("ds-1", [folder], from_url=url)
    assert [(u.filename, u.via) for u in report.uploaded][-1] == ("d.png", "url")
    (fetch,) = state.of("GET", r"^/files/")
    assert fetch.authorization is None
    assert state.files["d.png"] == len(PNG)


def test_from_url_with_a_filename_and_its_caption_check(storage, clock, tmp_path) -> None:
    state, port = storage
    state.served["/files/blob"] = PNG
    url = f"http://127.0.0.1:{port}/files/blob"
    with client_for(port, clock) as client:
        with pytest.raises(InputProblems, match=r"e\.txt"):
            client.datasets.upload("ds-1", [], from_url=url, filename="e.png")
        state.files["e.txt"] = 3  # the caption is in the dataset already
        report = client.datasets.upload("ds-1", [], from_url=url, filename="e.png")
    assert [(u.filename, u.via) for u in report.uploaded] == [("e.png", "url")]


def test_from_url_on_another_host_needs_allow_any_host(storage, clock, tmp_path) -> None:
    state, port = storage
    state.served["/files/f.txt"] = b"caption"
    other = f"http://localhost:{port}/files/f.txt"  # another origin than the configured 127.0.0.1
    with client_for(port, clock) as client:
        with pytest.raises(InvalidInput, match="refusing to fetch") as caught:
            client.datasets.upload("ds-1", [], from_url=other)
        assert "--allow-any-host" in (caught.value.hint or "")
        assert state.of("GET", r"^/files/") == []
        report = client.datasets.upload("ds-1", [], from_url=other, allow_any_host=True)
    assert [(u.filename, u.via) for u in report.uploaded] == [("f.txt", "url")]


def test_from_url_must_be_http_and_is_capped(storage, clock, tmp_path) -> None:
    state, port = storage
    state.served["/files/huge.txt"] = b"x"
    state.declared_length["/files/huge.txt"] = SMALL_UPLOAD_MAX_BYTES + 1
    with client_for(port, clock) as client:
        with pytest.raises(InvalidInput, match="http"):
            client.datasets.upload("ds-1", [], from_url="file:///etc/passwd")
        with pytest.raises(InvalidInput, match="larger than"):
            client.datasets.upload("ds-1", [], from_url=f"http://127.0.0.1:{port}/files/huge.txt")
    assert state.of("POST", "") == []


def test_wait_polls_until_ready(storage, clock) -> None:
    state, port = storage
    state.status_sequence = ["UPLOADING", "UPLOADING", "READY"]
    seen: list[str] = []
    with client_for(port, clock) as client:
        dataset = client.datasets.wait(
            "ds-1", poll_interval_s=7, on_update=lambda d: seen.append(d["status"])
        )
    assert dataset["status"] == "READY"
    assert seen == ["UPLOADING", "UPLOADING", "READY"]
    assert clock.sleeps == [7, 7]


def test_crud_calls(storage, clock) -> None:
    state, port = storage
    with client_for(port, clock) as client:
        assert client.datasets.create("cats")["id"] == "ds-1"
        assert [d["id"] for d in client.datasets.list()] == ["ds-1"]
        assert client.datasets.status("ds-1")["name"] == "cats"
        assert client.datasets.delete("ds-1") == {}
    assert [(s.method, s.path) for s in state.requests] == [
        ("POST", "/prod/v1/trainers/datasets"),
        ("GET", "/prod/v1/trainers/datasets"),
        ("GET", "/prod/v1/trainers/datasets/ds-1/status"),
        ("DELETE", "/prod/v1/trainers/datasets/ds-1"),
    ]
    assert all(s.authorization == f"Bearer {TOKEN}" for s in state.requests)


def test_an_id_cannot_change_the_path(storage, clock) -> None:
    _, port = storage
    with client_for(port, clock) as client, pytest.raises(InvalidInput):
        client.datasets.status("../../balance")
