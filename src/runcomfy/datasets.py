"""RunComfy's Trainer API, datasets: create, list, status, delete, upload, and waiting until one is processed.

``Client.datasets`` is a :class:`Datasets`. A LoRA is trained on a dataset: images or videos, each with a
same-stem ``.txt`` caption, uploaded to the service, which processes them (``DRAFT -> UPLOADING -> READY`` or
``FAILED``). This module owns the Trainer API's dataset URLs and the upload itself:

- files up to 150,000,000 bytes go as one multipart ``file`` field, streamed from disk; larger ones through a
  signed upload URL the service hands out, sent with ``Content-Length`` and the headers it names, streamed from
  disk, and **never** with the API token: that URL belongs to a storage host, so it is sent by a separate client
  that has no token at all (the session would attach it when the URL happens to be on an API origin, as the
  emulator's is);
- ``from_url``: an http(s) file fetched without the token, capped at 150 MB, into a temporary file first, only
  from the hosts downloads trust (RunComfy's, the configured API origins) unless ``allow_any_host``;
- resuming: the files the dataset already holds under the same name and size are skipped, so an interrupted
  upload run again sends only what is missing;
- the pre-flight check (:mod:`runcomfy.dataset_files`) before anything is sent.

Retries: the status, list and fetch calls ride out transient failures; creating, deleting and uploading are
retried only when nothing reached the service or on 429/503 (the file is opened again for each try). It never
prints, prompts or exits; progress is a callback.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, cast

import httpx

from runcomfy.api_urls import url_for_messages
from runcomfy.auth.credentials import NOT_SIGNED_IN
from runcomfy.dataset_files import (
    SMALL_UPLOAD_MAX_BYTES,
    LocalFile,
    check_dataset,
    discover,
    mime_type,
)
from runcomfy.errors import (
    APIConnectionError,
    APIResponseError,
    APITimeoutError,
    DownloadTooLarge,
    InvalidInput,
    NotAuthenticated,
    ServerError,
    WaitTimeout,
)
from runcomfy.http import (
    MAX_REPLY_BYTES,
    HttpSession,
    Reply,
    build_client,
    join_url,
    json_of_reply,
    quote_request_id,
    redirect_location,
    refuse_echoed_token,
    should_retry_submit,
    status_error,
)
from runcomfy.json_limits import loads_bounded
from runcomfy.lifecycle.context import CallContext
from runcomfy.safe_text import redact, strip_controls

__all__ = [
    "DATASET_PREFIX",
    "FINAL_DATASET_STATUSES",
    "Datasets",
    "UploadEvent",
    "UploadReport",
    "UploadedFile",
    "dataset_status",
    "should_retry_upload",
]

#: How a dataset is named in the journal where a model id would stand: ``dataset/<name>``.
DATASET_PREFIX = "dataset/"
FINAL_DATASET_STATUSES = frozenset({"READY", "FAILED"})
CHUNK_SIZE = 1024 * 1024
# The upload host's answer is read whole but never needs to be large.
_UPLOAD_TIMEOUT = httpx.Timeout(connect=30.0, read=300.0, write=120.0, pool=30.0)
# Headers of a signed upload that are ours to set (or never to send), whatever the service lists.
_OWN_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "host", "content-length", "transfer-encoding"}
)
_UPLOAD_METHODS = ("PUT", "POST")

Via = Literal["multipart", "signed-url", "url"]


@dataclass(frozen=True)
class UploadedFile:
    """A file the service accepted: its name in the dataset, its size, how it went and what the service said."""

    filename: str
    bytes: int
    via: Via
    response: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {"filename": self.filename, "bytes": self.bytes, "via": self.via, "response": self.response}


@dataclass
class UploadReport:
    """What :meth:`Datasets.upload` did: the files sent, the files skipped (already in the dataset with the same
    size), and the dataset as it stood afterwards (``status`` its status word)."""

    dataset_id: str
    uploaded: list[UploadedFile] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    dataset: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str | None:
        return dataset_status(self.dataset) or None

    def to_dict(self) -> dict[str, Any]:
        """The official CLI's json shape, plus ``skipped``."""
        return {
            "dataset_id": self.dataset_id,
            "uploaded": [item.to_dict() for item in self.uploaded],
            "skipped": list(self.skipped),
            "status": self.status,
        }


@dataclass(frozen=True)
class UploadEvent:
    """A step of an upload, for a progress display.

    ``kind``: ``fetch`` (the ``from_url`` file is being fetched), ``skip`` (already uploaded), ``start``,
    ``progress`` (``sent`` of ``total`` bytes went out) or ``done``; ``via`` how the file goes.
    """

    kind: Literal["fetch", "skip", "start", "progress", "done"]
    filename: str
    total: int
    sent: int = 0
    via: Via | None = None


UploadHook = Callable[[UploadEvent], None]
DatasetHook = Callable[[dict[str, Any]], None]


def dataset_status(dataset: Mapping[str, Any]) -> str:
    """The dataset's status in upper case (the API compares it case-insensitively); ``""`` when absent."""
    value = dataset.get("status")
    return value.strip().upper() if isinstance(value, str) else ""


def dataset_files(dataset: Mapping[str, Any]) -> dict[str, int | None]:
    """The files a dataset holds, name -> size in bytes (``None`` when the service did not say)."""
    held: dict[str, int | None] = {}
    files = dataset.get("files")
    for item in files if isinstance(files, list) else []:
        if isinstance(item, Mapping) and isinstance(item.get("filename"), str):
            size = item.get("size_bytes")
            held[item["filename"]] = size if isinstance(size, int) and not isinstance(size, bool) else None
    return held


def should_retry_upload(exc: BaseException) -> bool:
    """Whether an upload may be sent again: nothing reached the service, or it said 429 or 503 (it did not
    take the file)."""
    if should_retry_submit(exc):
        return True
    return isinstance(exc, ServerError) and exc.status_code == 503


class Datasets:
    """The Trainer API's dataset calls of one client (they share its session, retries and clock).

    ``api_bases`` are the client's configured API bases: their origins are trusted for ``from_url`` besides
    RunComfy's own hosts. ``upload_transport`` is a seam for tests (the token-free client of signed uploads and
    ``from_url`` fetches).
    """

    def __init__(
        self,
        ctx: CallContext,
        *,
        api_bases: Iterable[str] = (),
        upload_transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.ctx = ctx
        self.api_bases = tuple(dict.fromkeys([ctx.base, *api_bases]))
        self._upload_transport = upload_transport

    def __repr__(self) -> str:
        return f"Datasets(base={self.ctx.base!r})"

    # --- CRUD ----------------------------------------------------------------------------------------------

    def create(self, name: str | None = None) -> dict[str, Any]:
        """``POST /trainers/datasets`` (``{}`` or ``{"name": ...}``): a new, empty dataset."""
        body: dict[str, Any] = {} if name is None else {"name": name}
        url = self._url()
        return self.ctx.retrying(
            lambda: self.ctx.request_json("POST", url, json_body=body), retry_if=should_retry_submit
        )

    def list(self) -> list[dict[str, Any]]:
        """``GET /trainers/datasets``: the account's datasets (an array, or ``{"datasets": [...]}``)."""
        url = self._url()
        answer = self.ctx.retrying(lambda: self._get_any(url))
        if isinstance(answer, Mapping) and isinstance(answer.get("datasets"), list):
            answer = answer["datasets"]
        if not isinstance(answer, list):
            raise APIResponseError(f"GET {url_for_messages(url)}: expected a list of datasets")
        return [item for item in answer if isinstance(item, dict)]

    def status(
        self, dataset_id: str, *, retry: bool = True, timeout_s: float | None = None
    ) -> dict[str, Any]:
        """``GET /trainers/datasets/{id}/status``: the dataset with its ``files``."""
        url = self._url(dataset_id, "status")
        return self.ctx.get_json(url, request_id=dataset_id, retry=retry, timeout_s=timeout_s)

    def delete(self, dataset_id: str) -> dict[str, Any]:
        """``DELETE /trainers/datasets/{id}``; the service's answer (``{}`` when it sent none)."""
        url = self._url(dataset_id)
        return self.ctx.retrying(
            lambda: self.ctx.request_json("DELETE", url, allow_empty=True, request_id=dataset_id),
            retry_if=should_retry_submit,
            request_id=dataset_id,
        )

    # --- waiting -------------------------------------------------------------------------------------------

    def wait(
        self,
        dataset_id: str,
        *,
        poll_interval_s: float = 5.0,
        timeout: float | None = None,
        on_update: DatasetHook | None = None,
    ) -> dict[str, Any]:
        """Poll the status every ``poll_interval_s`` until the dataset is ``READY`` or ``FAILED``; return it.

        ``on_update`` hears every status answer. A ``FAILED`` dataset is returned, not raised (its ``error``
        says which files). Raises :class:`WaitTimeout` when ``timeout`` seconds pass first.
        """
        deadline = None if timeout is None else self.ctx.clock() + timeout
        while True:
            dataset = self.status(dataset_id)
            if on_update is not None:
                on_update(dataset)
            if dataset_status(dataset) in FINAL_DATASET_STATUSES:
                return dataset
            pause = max(poll_interval_s, 0.0)
            if deadline is not None:
                left = deadline - self.ctx.clock()
                if left <= 0:
                    raise WaitTimeout(
                        f"dataset {dataset_id} is still {dataset_status(dataset) or 'processing'} after "
                        f"{timeout:g} s",
                        request_id=dataset_id,
                    )
                pause = min(pause, left)
            self.ctx.sleep(pause)

    # --- uploading -----------------------------------------------------------------------------------------

    def upload(
        self,
        dataset_id: str,
        paths: Iterable[str | Path] = (),
        *,
        from_url: str | None = None,
        filename: str | None = None,
        allow_any_host: bool = False,
        on_progress: UploadHook | None = None,
        on_status: DatasetHook | None = None,
    ) -> UploadReport:
        """Upload files and directories (a directory's top-level files) and optionally one URL's file.

        First the pre-flight check of every file (a missing caption, an unreadable or unsupported file: all
        listed at once in :class:`~runcomfy.errors.InputProblems`, nothing sent); files the dataset already
        holds with the same name and size are skipped; then the small files, the large ones, and the URL's file,
        the first failure stopping the rest. ``on_status`` hears the dataset as it stood before anything was sent
        (the place to record it). Raises :class:`~runcomfy.errors.InputFileNotFound` for a missing
        path and :class:`~runcomfy.errors.InvalidInput` when there is nothing to upload.
        """
        quote_request_id(dataset_id)
        if filename is not None and from_url is None:
            raise InvalidInput("a file name (--filename) is only used with a URL (--from-url)")
        if filename is not None:
            _check_upload_name(filename)
        files = discover(paths)
        if not files and from_url is None:
            raise InvalidInput("nothing to upload: no files in the paths given (and no --from-url)")
        hook = on_progress or _ignore
        report = UploadReport(dataset_id)
        before = self.status(dataset_id)
        if on_status is not None:
            on_status(before)
        held = dataset_files(before)
        with tempfile.TemporaryDirectory(prefix="runcomfy-upload-") as scratch:
            fetched: LocalFile | None = None
            if from_url is not None:
                fetched = self._fetch(from_url, filename, allow_any_host, Path(scratch), hook)
            check_dataset([*files, *([fetched] if fetched else [])], present=held)
            plan: list[tuple[LocalFile, Via]] = [(item, "multipart") for item in files if item.small]
            plan += [(item, "signed-url") for item in files if not item.small]
            if fetched is not None:
                plan.append((fetched, "url"))
            todo: list[tuple[LocalFile, Via]] = []
            for item, via in plan:
                if held.get(item.name, -1) == item.size:
                    report.skipped.append(item.name)
                    hook(UploadEvent("skip", item.name, item.size, item.size, via))
                else:
                    todo.append((item, via))
            large = [item for item, via in todo if via == "signed-url"]
            targets = self._upload_targets(dataset_id, large) if large else {}
            with self._plain_client() as plain:
                for item, via in todo:
                    hook(UploadEvent("start", item.name, item.size, 0, via))
                    if via == "signed-url":
                        answer = self._put(plain, targets[item.name], item, via, hook)
                    else:
                        answer = self._post(dataset_id, item, via, hook)
                    report.uploaded.append(UploadedFile(item.name, item.size, via, answer))
                    hook(UploadEvent("done", item.name, item.size, item.size, via))
        report.dataset = self.status(dataset_id)
        return report

    def _post(self, dataset_id: str, item: LocalFile, via: Via, hook: UploadHook) -> Any:
        """The multipart upload of one file, streamed from disk; retried only when it was not taken."""
        url = self._url(dataset_id, "upload")
        return self.ctx.retrying(
            lambda: _post_multipart(self.ctx.http, url, item, via, hook, self.ctx.secrets),
            retry_if=should_retry_upload,
            request_id=dataset_id,
        )

    def _upload_targets(self, dataset_id: str, files: Sequence[LocalFile]) -> dict[str, dict[str, Any]]:
        """``POST .../get-upload-endpoint``: where each large file goes (URL, method, headers)."""
        url = self._url(dataset_id, "get-upload-endpoint")
        body = {"filenameToByteSize": {item.name: item.size for item in files}}
        answer = self.ctx.retrying(
            lambda: self.ctx.request_json("POST", url, json_body=body, request_id=dataset_id),
            retry_if=should_retry_upload,
            request_id=dataset_id,
        )
        uploads = answer.get("uploads")
        targets: dict[str, dict[str, Any]] = {}
        for item in files:
            target = uploads.get(item.name) if isinstance(uploads, Mapping) else None
            if not isinstance(target, Mapping) or not isinstance(target.get("upload_url"), str):
                raise APIResponseError(
                    f"POST {url_for_messages(url)}: no upload URL for {item.name}", request_id=dataset_id
                )
            targets[item.name] = dict(target)
        return targets

    def _put(
        self, client: httpx.Client, target: Mapping[str, Any], item: LocalFile, via: Via, hook: UploadHook
    ) -> Any:
        """One large file to its signed URL, streamed from disk, with no token; retried only when not taken."""
        return self.ctx.retrying(
            lambda: _put_signed(client, target, item, via, hook, self.ctx.secrets),
            retry_if=should_retry_upload,
        )

    def _fetch(
        self, url: str, filename: str | None, allow_any_host: bool, scratch: Path, hook: UploadHook
    ) -> LocalFile:
        """The URL's file, fetched without the token into ``scratch`` (at most the multipart limit)."""
        from runcomfy.downloads import Rejection, check_url, download_file, origin_of

        if not url.strip().lower().startswith(("http://", "https://")):
            raise InvalidInput(f"--from-url must be an http(s) URL, got {strip_controls(url, max_len=200)}")
        trusted = []
        for base in self.api_bases:
            with contextlib.suppress(ValueError):
                trusted.append(origin_of(base))
        if allow_any_host:
            try:
                trusted.append(origin_of(url.strip()))
            except (ValueError, httpx.InvalidURL):
                raise InvalidInput(f"--from-url is not a usable URL: {url_for_messages(url)}") from None
        decision = check_url(url.strip(), trusted_origins=trusted)
        if isinstance(decision, Rejection):
            raise InvalidInput(
                f"refusing to fetch {strip_controls(url_for_messages(url), max_len=200)}: {decision.reason}",
                hint="only RunComfy's hosts and the configured API origins are fetched; pass --allow-any-host "
                "if you trust this one",
            )
        shown = filename or Path(decision.url.path).name or "download"
        hook(UploadEvent("fetch", shown, 0))
        try:
            with self._plain_client() as client:
                saved = download_file(
                    client,
                    decision,
                    scratch,
                    max_bytes=SMALL_UPLOAD_MAX_BYTES,
                    trusted_origins=trusted,
                    hidden=self.ctx.secrets,
                )
        except DownloadTooLarge as exc:
            raise InvalidInput(
                f"the file at {url_for_messages(url)} is larger than {SMALL_UPLOAD_MAX_BYTES:,} bytes "
                f"(the --from-url limit): {exc}"
            ) from None
        name = filename or saved.path.name
        return LocalFile(saved.path, name, saved.bytes, mime_type(name))

    # --- plumbing ------------------------------------------------------------------------------------------

    def _plain_client(self) -> httpx.Client:
        """A client with no token and no redirects: for storage hosts and ``from_url`` (never an API call)."""
        client = build_client(timeout=_UPLOAD_TIMEOUT, transport=self._upload_transport)
        client.event_hooks["response"].append(_no_token_sent_check)
        return client

    def _url(self, *segments: str) -> str:
        """A URL under ``/trainers/datasets``; ids escaped as one path segment each."""
        return join_url(self.ctx.base, "trainers", "datasets", *(quote_request_id(s) for s in segments))

    def _get_any(self, url: str) -> Any:
        """One GET whose JSON answer may be an array (the dataset list)."""
        reply = self.ctx.http.send("GET", url)
        if reply.is_success and reply.content.lstrip().startswith(b"["):
            try:
                items = loads_bounded(reply.content, max_chars=MAX_REPLY_BYTES)
            except ValueError:
                raise APIResponseError(f"{reply.label}: the answer is not valid JSON") from None
            for item in items if isinstance(items, list) else []:
                if isinstance(item, Mapping):
                    refuse_echoed_token(item, reply.label, self.ctx.secrets)
            return items
        return json_of_reply(reply, self.ctx.secrets)


def _ignore(_event: UploadEvent) -> None:
    return None


def _no_token_sent_check(response: httpx.Response) -> None:
    """A guard on the token-free client: it must never carry an ``Authorization`` header."""
    if "authorization" in response.request.headers:
        raise RuntimeError("the upload client sent an Authorization header")


def _check_upload_name(name: str) -> None:
    if not name.strip() or name in (".", "..") or "/" in name or "\\" in name or name != name.strip():
        raise InvalidInput(f"--filename must be a plain file name, got {name!r}")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name):
        raise InvalidInput("--filename must not contain control characters")


class _CountingReader:
    """A file object for httpx's multipart encoder: reads in chunks and reports each one."""

    def __init__(self, handle: IO[bytes], report: Callable[[int], None]) -> None:
        self._handle = handle
        self._report = report
        self._sent = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._handle.read(size if size and size > 0 else CHUNK_SIZE)
        if chunk:
            self._sent += len(chunk)
            self._report(self._sent)
        return chunk

    def seek(self, offset: int, whence: int = 0) -> int:
        self._sent = 0 if (offset, whence) == (0, 0) else self._sent
        return self._handle.seek(offset, whence)

    def tell(self) -> int:
        return self._handle.tell()

    def fileno(self) -> int:
        return self._handle.fileno()


def _file_chunks(item: LocalFile, report: Callable[[int], None]) -> Iterator[bytes]:
    """Exactly ``item.size`` bytes of the file, a chunk at a time (a file that shrank is an error)."""
    left = item.size
    sent = 0
    with open(item.path, "rb") as handle:
        while left > 0:
            chunk = handle.read(min(CHUNK_SIZE, left))
            if not chunk:
                raise InvalidInput(f"{item.path} changed while it was being uploaded (it got shorter)")
            left -= len(chunk)
            sent += len(chunk)
            report(sent)
            yield chunk


def _post_multipart(
    http: HttpSession, url: str, item: LocalFile, via: Via, hook: UploadHook, secrets: Sequence[str]
) -> Any:
    if http.token is None:
        raise NotAuthenticated(NOT_SIGNED_IN)

    def report(sent: int) -> None:
        hook(UploadEvent("progress", item.name, item.size, sent, via))

    label = f"POST {url_for_messages(url)}"
    try:
        handle = open(item.path, "rb")  # noqa: SIM115 - closed below, after httpx has streamed it
    except OSError as exc:
        raise InvalidInput(f"cannot read {item.path}: {exc.strerror or type(exc).__name__}") from None
    with handle:
        reader = cast(IO[bytes], _CountingReader(handle, report))  # read(), seek(), tell(), fileno()
        files = {"file": (item.name, reader, item.mime)}
        # The session scopes the token to the API origins; the multipart body streams from the file object.
        auth = http._auth  # the session's own token scoping, for a streamed body
        reply = _send(http.client, label, secrets, lambda c: c.build_request("POST", url, files=files), auth)
    return _answer(reply, secrets)


def _put_signed(
    client: httpx.Client,
    target: Mapping[str, Any],
    item: LocalFile,
    via: Via,
    hook: UploadHook,
    secrets: Sequence[str],
) -> Any:
    url = str(target.get("upload_url", ""))
    method = str(target.get("method") or "PUT").upper()
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        raise APIResponseError(f"the service sent an unusable upload URL for {item.name}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host or method not in _UPLOAD_METHODS:
        raise APIResponseError(f"the service sent an unusable upload URL or method for {item.name}")
    headers = {"Content-Type": item.mime}
    given = target.get("headers")
    for name, value in given.items() if isinstance(given, Mapping) else ():
        if isinstance(name, str) and isinstance(value, str) and name.lower() not in _OWN_HEADERS:
            headers[name] = value
    headers["Content-Length"] = str(item.size)  # with a length, httpx sends no chunked encoding

    def report(sent: int) -> None:
        hook(UploadEvent("progress", item.name, item.size, sent, via))

    # The signed URL's path and query are its credential: messages name only its origin.
    shown = f"{parsed.scheme}://{parsed.netloc.decode('ascii', 'replace')}/..."
    reply = _send(
        client,
        f"{method} {shown} (upload URL of {item.name})",
        secrets,
        lambda c: c.build_request(method, parsed, headers=headers, content=_file_chunks(item, report)),
        None,
        shown_url=shown,
    )
    if not reply.is_success:
        error = status_error(reply, secrets=secrets)
        error.hint = (
            "the upload URL was refused or has expired; run the same command again (files already in the "
            "dataset are skipped)"
        )
        raise error
    return _body(reply)


def _send(
    client: httpx.Client,
    label: str,
    secrets: Sequence[str],
    build: Callable[[httpx.Client], httpx.Request],
    auth: httpx.Auth | None,
    *,
    shown_url: str | None = None,
) -> Reply:
    """Send a streamed-body request and read its (small) answer; httpx failures become the library's errors."""
    hidden = tuple(secrets)
    try:
        request = build(client)
        response = client.send(request, auth=auth, stream=True)
        try:
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_REPLY_BYTES:
                    raise APIResponseError(f"{label}: reply larger than {MAX_REPLY_BYTES} bytes")
        finally:
            response.close()
    except httpx.TimeoutException as exc:
        raise APITimeoutError(f"{label}: timed out ({type(exc).__name__})") from exc
    except (httpx.RequestError, httpx.InvalidURL, httpx.StreamError) as exc:
        reason = redact(strip_controls(str(exc) or type(exc).__name__, max_len=200), hidden)
        raise APIConnectionError(f"{label}: {reason}") from exc
    return Reply(
        request.method,
        shown_url or str(request.url),
        response.status_code,
        response.reason_phrase,
        response.headers,
        bytes(body),
        location=redirect_location(response),
    )


def _answer(reply: Reply, secrets: Sequence[str]) -> Any:
    """An API upload's answer through the error funnel (an empty 2xx body is ``{}``)."""
    return json_of_reply(reply, secrets, allow_empty=True)


def _body(reply: Reply) -> Any:
    """A storage host's answer: its JSON when it sent some, else ``None`` (S3 answers an empty 200)."""
    if not reply.content.strip():
        return None
    try:
        return loads_bounded(reply.content, max_chars=MAX_REPLY_BYTES)
    except ValueError:
        return None
