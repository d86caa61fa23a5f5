"""Downloading trusted files over real HTTP, against file servers this test starts on loopback.

The servers record every request they receive, so the tests assert on what a file host actually saw (headers,
hops, whether it was contacted at all) and on what is left on disk.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from runcomfy.downloads import (
    DEFAULT_MAX_DOWNLOAD_BYTES,
    READ_TIMEOUT_S,
    DownloadEvent,
    DownloadFailed,
    Origin,
    Planned,
    Progress,
    Saved,
    SavedFile,
    Skipped,
    Started,
    TrustedURL,
    check_url,
    download_file,
    download_outputs,
    file_has_sha256,
    make_download_client,
    sha256_of_file,
)
from runcomfy.errors import DownloadError, DownloadTooLarge, Interrupted

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
LARGE = bytes(range(256)) * 1024  # 256 KiB: several read chunks, so progress is reported more than once

# --- a recording file server on loopback --------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    path: str
    headers: dict[str, str]


Route = Callable[["_Handler"], None]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        files = self.server.files
        files.record(Seen(self.path, {name.lower(): value for name, value in self.headers.items()}))
        route = files.routes.get(self.path, status(404))
        try:
            route(self)
        except OSError:  # the client hung up on purpose (cap reached, refused redirect)
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    files: FileServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        return None  # a client hanging up mid-exchange is part of these tests, not a server failure


class FileServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.files = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    @property
    def origin(self) -> Origin:
        return Origin("http", "127.0.0.1", self._httpd.server_address[1])

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.origin.port}{path}"

    def record(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)

    @property
    def paths(self) -> list[str]:
        return [seen.path for seen in self.seen]

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


def serve(content: bytes, content_type: str = "image/png", headers: dict[str, str] | None = None) -> Route:
    def route(handler: _Handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(content)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(content)

    return route


def redirect(location: str | None, code: int = 302, extra: dict[str, str] | None = None) -> Route:
    page = b"<html>REDIRECT PAGE BODY</html>"

    def route(handler: _Handler) -> None:
        handler.send_response(code)
        if location is not None:
            handler.send_header("Location", location)
        for name, value in (extra or {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", str(len(page)))
        handler.end_headers()
        handler.wfile.write(page)

    return route


def status(code: int) -> Route:
    page = b"error page"

    def route(handler: _Handler) -> None:
        handler.send_response(code)
        handler.send_header("Content-Type", "text/plain")
        handler.send_header("Content-Length", str(len(page)))
        handler.end_headers()
        handler.wfile.write(page)

    return route


def chunked(chunk: bytes, count: int) -> Route:
    """A body of undeclared length (Transfer-Encoding: chunked)."""

    def route(handler: _Handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "image/png")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        for _ in range(count):
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        handler.wfile.write(b"0\r\n\r\n")

    return route


def dropped(declared: int, sent: bytes) -> Route:
    """Declares ``declared`` bytes, sends ``sent``, then closes the connection."""

    def route(handler: _Handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "image/png")
        handler.send_header("Content-Length", str(declared))
        handler.end_headers()
        handler.wfile.write(sent)
        handler.wfile.flush()
        handler.close_connection = True

    return route


@pytest.fixture
def server() -> Iterator[FileServer]:
    files = FileServer()
    try:
        yield files
    finally:
        files.close()


@pytest.fixture
def elsewhere() -> Iterator[FileServer]:
    """A second server on another port: not a trusted origin, it must never be contacted."""
    files = FileServer()
    files.routes["/steal.png"] = serve(b"stolen")
    try:
        yield files
    finally:
        files.close()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with make_download_client() as download_client:
        yield download_client


@pytest.fixture
def out(tmp_path: Path) -> Path:
    directory = tmp_path / "out"
    directory.mkdir()
    return directory


def trusted(server: FileServer, path: str) -> TrustedURL:
    decision = check_url(server.url(path), trusted_origins=(server.origin,))
    assert isinstance(decision, TrustedURL), decision
    return decision


def fetch(server: FileServer, client: httpx.Client, path: str, out: Path, **options: Any) -> SavedFile:
    return download_file(client, trusted(server, path), out, trusted_origins=(server.origin,), **options)


def files_in(directory: Path) -> list[str]:
    names = sorted(entry.name for entry in directory.iterdir())
    assert not [name for name in names if ".part" in name], names
    return names


# --- download_file ------------------------------------------------------------------------------------------


def test_saves_the_bytes_with_size_and_sha256(server: FileServer, client: httpx.Client, out: Path) -> None:
    server.routes["/files/job/out.png"] = serve(PNG)
    saved = fetch(server, client, "/files/job/out.png", out)
    assert saved.path == out / "out.png"
    assert saved.path.read_bytes() == PNG
    assert saved.bytes == len(PNG)
    assert saved.sha256 == hashlib.sha256(PNG).hexdigest()
    assert saved.url == server.url("/files/job/out.png")
    assert saved.content_type == "image/png"
    assert files_in(out) == ["out.png"]


def test_file_host_sees_no_credentials_and_identity_encoding(server: FileServer, out: Path) -> None:
    server.routes["/a.png"] = redirect("/b.png", extra={"Set-Cookie": "session=from-file-host; Path=/"})
    server.routes["/b.png"] = serve(PNG)
    leaky = httpx.Client(
        headers={"Authorization": "Bearer canary-token", "X-Api-Key": "canary"},
        cookies={"session": "canary-cookie"},
        auth=("user", "canary-password"),
    )
    with leaky:
        fetch(server, leaky, "/a.png", out)
    assert server.paths == ["/a.png", "/b.png"]
    for seen in server.seen:
        assert "authorization" not in seen.headers
        assert "cookie" not in seen.headers
        assert "x-api-key" not in seen.headers
        assert seen.headers["accept-encoding"] == "identity"
        assert "canary" not in repr(seen.headers)


def test_redirect_chain_is_followed_hop_by_hop(server: FileServer, client: httpx.Client, out: Path) -> None:
    server.routes["/start/out.png"] = redirect("/hop1", code=301)
    server.routes["/hop1"] = redirect(server.url("/hop2"), code=307)
    server.routes["/hop2"] = redirect("../final/blob?sig=1", code=303)
    server.routes["/final/blob?sig=1"] = serve(PNG)
    saved = fetch(server, client, "/start/out.png", out)
    assert server.paths == ["/start/out.png", "/hop1", "/hop2", "/final/blob?sig=1"]
    assert saved.path.read_bytes() == PNG
    assert saved.path.name == "out.png"  # named after the URL from the result, not the storage blob
    assert files_in(out) == ["out.png"]


def test_redirect_to_an_untrusted_host_is_refused_without_contacting_it(
    server: FileServer, elsewhere: FileServer, client: httpx.Client, out: Path
) -> None:
    server.routes["/a.png"] = redirect(elsewhere.url("/steal.png"))
    with pytest.raises(DownloadError) as caught:
        fetch(server, client, "/a.png", out)
    assert "redirect" in str(caught.value)
    assert caught.value.url == server.url("/a.png")
    assert elsewhere.seen == []
    assert files_in(out) == []


def test_five_redirects_are_followed(server: FileServer, client: httpx.Client, out: Path) -> None:
    for hop in range(5):
        server.routes[f"/hop/{hop}"] = redirect(f"/hop/{hop + 1}")
    server.routes["/hop/5"] = serve(PNG)
    assert fetch(server, client, "/hop/0", out).path.read_bytes() == PNG
    assert len(server.seen) == 6


def test_more_than_five_redirects_are_refused(server: FileServer, client: httpx.Client, out: Path) -> None:
    for hop in range(10):
        server.routes[f"/hop/{hop}"] = redirect(f"/hop/{hop + 1}")
    with pytest.raises(DownloadError, match="too many redirects"):
        fetch(server, client, "/hop/0", out)
    assert server.paths == [f"/hop/{hop}" for hop in range(6)]
    assert files_in(out) == []


def test_redirect_without_location_is_an_error_and_its_body_is_not_saved(
    server: FileServer, client: httpx.Client, out: Path
) -> None:
    server.routes["/a.png"] = redirect(None)
    with pytest.raises(DownloadError, match="Location"):
        fetch(server, client, "/a.png", out)
    assert files_in(out) == []


def test_https_to_http_redirect_is_refused_before_the_second_request(out: Path) -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(302, headers={"Location": "http://files.runcomfy.net/b.png"}, content=b"page")

    plain = Origin("http", "files.runcomfy.net", 80)  # even if plain http to this host were trusted
    url = check_url("https://files.runcomfy.net/a.png")
    assert isinstance(url, TrustedURL)
    mock_client = make_download_client(transport=httpx.MockTransport(handler))
    with mock_client, pytest.raises(DownloadError, match="https to http"):
        download_file(mock_client, url, out, trusted_origins=(plain,))
    assert [str(request.url) for request in requests] == ["https://files.runcomfy.net/a.png"]
    assert files_in(out) == []


@pytest.mark.parametrize("code", [400, 403, 404, 500, 503])
def test_error_status_raises_and_creates_no_file(
    server: FileServer, client: httpx.Client, out: Path, code: int
) -> None:
    server.routes["/a.png"] = status(code)
    with pytest.raises(DownloadError, match=str(code)) as caught:
        fetch(server, client, "/a.png", out)
    assert not isinstance(caught.value, DownloadTooLarge)
    assert files_in(out) == []


def test_declared_length_over_the_cap_is_refused_before_writing(
    server: FileServer, client: httpx.Client, out: Path
) -> None:
    server.routes["/big.png"] = serve(b"x" * 2000)
    progress: list[int] = []
    with pytest.raises(DownloadTooLarge, match="2000 bytes") as caught:
        fetch(
            server, client, "/big.png", out, max_bytes=1000, on_progress=lambda done, _: progress.append(done)
        )
    assert caught.value.url == server.url("/big.png")
    assert progress == []
    assert files_in(out) == []


class EndlessBody(httpx.SyncByteStream):
    """A body of undeclared length that never ends by itself (up to ``limit`` bytes, so a broken cap still
    finishes); ``pulled`` counts the bytes the client actually read."""

    def __init__(self, piece: bytes, limit: int) -> None:
        self.piece = piece
        self.limit = limit
        self.pulled = 0

    def __iter__(self) -> Iterator[bytes]:
        while self.pulled < self.limit:
            self.pulled += len(self.piece)
            yield self.piece


def test_undeclared_length_over_the_cap_is_cut_right_at_the_cap_and_deleted(
    server: FileServer, client: httpx.Client, out: Path
) -> None:
    from runcomfy.downloads.fetch import CHUNK_SIZE

    # Over real HTTP: a body half again as large as the cap is refused (a cap twice too loose would save it).
    server.routes["/stream.png"] = chunked(b"y" * 300, count=5)
    with pytest.raises(DownloadTooLarge, match="exceeded 1000 bytes"):
        fetch(server, client, "/stream.png", out, max_bytes=1000)
    assert files_in(out) == []

    # Where the stream is cut: the last bytes written are exactly the cap, and reading stops one chunk past it.
    cap = 4 * CHUNK_SIZE
    body = EndlessBody(b"z" * 4096, limit=64 * cap)
    url = check_url("https://files.runcomfy.net/endless.png")
    assert isinstance(url, TrustedURL)
    endless = httpx.MockTransport(
        lambda request: httpx.Response(200, headers={"Content-Type": "image/png"}, stream=body)
    )
    progress: list[int] = []
    with make_download_client(transport=endless) as mock_client, pytest.raises(DownloadTooLarge):
        download_file(
            mock_client, url, out, max_bytes=cap, on_progress=lambda done, _total: progress.append(done)
        )
    assert progress[-1] == cap and max(progress) == cap
    assert cap < body.pulled <= cap + CHUNK_SIZE
    assert files_in(out) == []


def test_body_exactly_at_the_cap_is_saved(server: FileServer, client: httpx.Client, out: Path) -> None:
    server.routes["/stream.png"] = chunked(b"y" * 250, count=4)
    assert fetch(server, client, "/stream.png", out, max_bytes=1000).bytes == 1000


def test_default_cap_is_two_gib() -> None:
    assert DEFAULT_MAX_DOWNLOAD_BYTES == 2 * 1024**3 == 2_147_483_648


def test_download_client_has_no_total_timeout_and_does_not_follow_redirects() -> None:
    with make_download_client() as download_client:
        assert download_client.follow_redirects is False
        assert download_client.timeout.read == READ_TIMEOUT_S == 120.0
        assert download_client.auth is None


def test_connection_dropped_mid_body_leaves_no_partial_file(
    server: FileServer, client: httpx.Client, out: Path
) -> None:
    server.routes["/cut.png"] = dropped(declared=10_000, sent=b"z" * 1000)
    with pytest.raises(DownloadError, match="connection closed"):
        fetch(server, client, "/cut.png", out)
    assert files_in(out) == []


def test_keyboard_interrupt_while_streaming_leaves_no_partial_file(
    server: FileServer, client: httpx.Client, out: Path
) -> None:
    server.routes["/a.png"] = serve(PNG)

    def interrupt(done: int, total: int | None) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fetch(server, client, "/a.png", out, on_progress=interrupt)
    assert files_in(out) == []


def test_abort_request_stops_the_download_as_interrupted(
    server: FileServer, client: httpx.Client, out: Path
) -> None:
    server.routes["/a.png"] = serve(PNG)
    with pytest.raises(Interrupted):
        fetch(server, client, "/a.png", out, should_abort=lambda: True)
    assert files_in(out) == []


class _DiskFull:
    """``os`` as the download writer sees it, with every write failing as on a full disk."""

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def write(self, fd: int, data: Any) -> int:
        raise OSError(28, "No space left on device")


@pytest.mark.parametrize("content", [PNG, bytes(range(256)) * 12 * 1024], ids=["one buffer", "3 MiB"])
def test_disk_error_while_writing_is_a_download_error_with_no_partial_file(
    server: FileServer, client: httpx.Client, out: Path, monkeypatch: pytest.MonkeyPatch, content: bytes
) -> None:
    # The small body is written by the calling thread; the larger one by the writer thread, whose error must
    # still reach the caller.
    server.routes["/a.png"] = serve(content)
    monkeypatch.setattr("runcomfy.downloads.blocks.os", _DiskFull())
    with pytest.raises(DownloadError, match="No space left on device") as caught:
        fetch(server, client, "/a.png", out)
    assert caught.value.url == server.url("/a.png")
    assert files_in(out) == []


def test_progress_is_reported_with_the_declared_total(
    server: FileServer, client: httpx.Client, out: Path
) -> None:
    server.routes["/a.png"] = serve(LARGE)
    progress: list[tuple[int, int | None]] = []
    fetch(server, client, "/a.png", out, on_progress=lambda done, total: progress.append((done, total)))
    assert len(progress) >= 2
    assert progress[-1] == (len(LARGE), len(LARGE))
    assert [done for done, _ in progress] == sorted(done for done, _ in progress)


def test_existing_file_is_not_overwritten(server: FileServer, client: httpx.Client, out: Path) -> None:
    server.routes["/a.png"] = serve(PNG)
    (out / "a.png").write_bytes(b"precious")
    saved = fetch(server, client, "/a.png", out)
    assert saved.path == out / "a-1.png"
    assert (out / "a.png").read_bytes() == b"precious"
    assert files_in(out) == ["a-1.png", "a.png"]


def test_concurrent_downloads_of_one_name_get_distinct_files(
    server: FileServer, client: httpx.Client, out: Path
) -> None:
    workers = 8
    barrier = threading.Barrier(workers, timeout=30)
    respond = serve(PNG)

    def together(handler: _Handler) -> None:
        barrier.wait()  # every request is in before any answer goes out
        respond(handler)

    server.routes["/same.png"] = together
    saved: list[SavedFile] = []
    lock = threading.Lock()

    def download() -> None:
        result = fetch(server, client, "/same.png", out)
        with lock:
            saved.append(result)

    threads = [threading.Thread(target=download) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    expected = ["same.png"] + [f"same-{index}.png" for index in range(1, workers)]
    assert sorted(item.path.name for item in saved) == sorted(expected)
    assert files_in(out) == sorted(expected)
    assert all(item.path.read_bytes() == PNG for item in saved)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/files/%2e%2e", "output.png"),
        ("/files/a%2Fb.png", "a_b.png"),
        ("/files/..%2F..%2Fescape.png", "_.._escape.png"),
        ("/files/%00%1b%5b31mred%0a.png", "__[31mred_.png"),
        ("/files/.hidden", "hidden.png"),
        ("/files/" + "n" * 400 + ".png", "n" * 196 + ".png"),
    ],
)
def test_hostile_names_land_sanitised_inside_the_output_dir(
    server: FileServer, client: httpx.Client, out: Path, path: str, expected: str
) -> None:
    server.routes[path] = serve(PNG)
    saved = fetch(server, client, path, out)
    assert saved.path == out / expected
    assert files_in(out) == [expected]
    assert files_in(out.parent) == ["out"]


def test_name_gets_an_extension_from_content_type(
    server: FileServer, client: httpx.Client, out: Path
) -> None:
    server.routes["/files/render"] = serve(b"RIFF....WEBP", content_type="image/webp")
    assert fetch(server, client, "/files/render", out).path.name == "render.webp"


def test_sha256_helpers_verify_an_existing_file(server: FileServer, client: httpx.Client, out: Path) -> None:
    server.routes["/a.png"] = serve(PNG)
    saved = fetch(server, client, "/a.png", out)
    assert sha256_of_file(saved.path) == saved.sha256
    assert file_has_sha256(saved.path, saved.sha256.upper())
    assert not file_has_sha256(saved.path, hashlib.sha256(b"other").hexdigest())
    assert not file_has_sha256(out / "missing.png", saved.sha256)
    assert not file_has_sha256(out, saved.sha256)


# --- download_outputs ---------------------------------------------------------------------------------------


def test_untrusted_urls_are_skipped_not_fetched(server: FileServer, elsewhere: FileServer, out: Path) -> None:
    server.routes["/files/a.png"] = serve(PNG)
    output = {
        "images": [server.url("/files/a.png"), elsewhere.url("/steal.png")],
        "other": "https://evil.example.com/x.png",
    }
    report = download_outputs(output, out, trusted_origins=(server.origin,))
    assert [item.path.name for item in report.saved] == ["a.png"]
    assert [url for url, _ in report.skipped] == [
        elsewhere.url("/steal.png"),
        "https://evil.example.com/x.png",
    ]
    assert all(reason for _, reason in report.skipped)
    assert report.failed == []
    assert report.ok
    assert elsewhere.seen == []


def test_output_dir_is_created_only_when_something_is_trusted(server: FileServer, tmp_path: Path) -> None:
    server.routes["/a.png"] = serve(PNG)
    untouched = tmp_path / "never"
    report = download_outputs({"url": "https://evil.example.com/a.png"}, untouched)
    assert report.saved == []
    assert len(report.skipped) == 1
    assert not untouched.exists()

    created = tmp_path / "new" / "nested"
    report = download_outputs(server.url("/a.png"), created, trusted_origins=(server.origin,))
    assert files_in(created) == ["a.png"]


def test_output_dir_that_cannot_be_created_is_a_download_error(server: FileServer, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(DownloadError, match="output"):
        download_outputs(server.url("/a.png"), blocker / "out", trusted_origins=(server.origin,))
    with pytest.raises(DownloadError, match="not a directory"):
        download_outputs(server.url("/a.png"), blocker, trusted_origins=(server.origin,))
    assert server.seen == []


def test_one_failure_does_not_stop_the_others(server: FileServer, client: httpx.Client, out: Path) -> None:
    server.routes["/good.png"] = serve(b"small enough")
    server.routes["/big.png"] = serve(b"x" * 5000)
    urls = [server.url("/missing.png"), server.url("/big.png"), server.url("/good.png")]
    report = download_outputs(urls, out, trusted_origins=(server.origin,), client=client, max_bytes=1000)
    assert [item.path.name for item in report.saved] == ["good.png"]
    assert [url for url, _ in report.failed] == urls[:2]
    assert isinstance(report.failed[1][1], DownloadTooLarge)
    assert not report.ok
    assert files_in(out) == ["good.png"]
    assert (out / "good.png").read_bytes() == b"small enough"
    assert not client.is_closed  # a caller's client is left open


def test_events_tell_the_story_in_order(server: FileServer, out: Path) -> None:
    server.routes["/a.png"] = serve(PNG)
    events: list[DownloadEvent] = []
    output = [server.url("/a.png"), "https://evil.example.com/x", server.url("/gone.png")]
    download_outputs(output, out, trusted_origins=(server.origin,), on_event=events.append)
    kinds = [type(event) for event in events if not isinstance(event, Progress)]
    assert kinds == [Skipped, Planned, Started, Saved, Started, DownloadFailed]
    planned = events[1]
    assert isinstance(planned, Planned)
    assert planned.directory == out
    assert planned.urls == [server.url("/a.png"), server.url("/gone.png")]
    started = [event for event in events if isinstance(event, Started)]
    assert [(event.index, event.count) for event in started] == [(1, 2), (2, 2)]
    assert any(isinstance(event, Progress) and event.bytes_done == len(PNG) for event in events)


# --- nothing is skipped silently ----------------------------------------------------------------------------


def test_a_call_that_skips_every_url_says_so_in_a_logged_warning(
    server: FileServer, out: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RUNCOMFY_MODEL_API_BASE", raising=False)
    server.routes["/a.png"] = serve(PNG)
    with caplog.at_level("WARNING", logger="runcomfy.downloads"):
        report = download_outputs({"images": [server.url("/a.png"), server.url("/b.png")]}, out)
    assert report.saved == [] and len(report.skipped) == 2
    [record] = caplog.records
    assert record.levelname == "WARNING"
    assert record.getMessage() == "none of the 2 file URL(s) was downloaded: host is an IP address (2)"
    assert server.seen == []


def test_a_partial_skip_names_how_many_of_how_many(
    server: FileServer, out: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server.routes["/a.png"] = serve(PNG)
    with caplog.at_level("WARNING", logger="runcomfy.downloads"):
        download_outputs(
            [server.url("/a.png"), "http://cdn.runcomfy.net/x.png"], out, trusted_origins=(server.origin,)
        )
    assert [r.getMessage() for r in caplog.records] == [
        "1 of 2 file URL(s) were not downloaded: plain http is not allowed for downloads"
    ]


def test_the_configured_model_api_base_is_trusted_by_default(
    server: FileServer, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.routes["/files/a.png"] = serve(PNG)
    monkeypatch.setenv("RUNCOMFY_MODEL_API_BASE", f"{server.url('')}/v1")
    report = download_outputs({"image": server.url("/files/a.png")}, out)
    assert [item.path.name for item in report.saved] == ["a.png"]
    assert report.skipped == []


def test_a_stale_temp_file_is_swept_unless_the_caller_already_swept(server: FileServer, out: Path) -> None:
    import subprocess
    import sys

    server.routes["/a.png"] = serve(PNG)
    out.mkdir(parents=True, exist_ok=True)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    stale = out / f".a.part-{int(dead.stdout)}-{'b' * 16}"
    stale.write_bytes(b"partial")

    download_outputs(server.url("/a.png"), out, trusted_origins=(server.origin,), sweep_stale=False)
    assert stale.exists()  # a batch sweeps once at its start, not once per item

    download_outputs(server.url("/a.png"), out, trusted_origins=(server.origin,))
    assert not stale.exists()
