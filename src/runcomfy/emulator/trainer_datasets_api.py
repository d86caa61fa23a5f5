"""The Trainer API's datasets under ``/prod/v1/trainers/datasets``, and the signed upload URLs' storage route.

| Route | Answer |
|---|---|
| ``POST /trainers/datasets`` ``{}`` or ``{"name"}`` | the dataset (``DRAFT``) |
| ``GET /trainers/datasets`` | a JSON array of the caller's datasets |
| ``GET /trainers/datasets/{id}/status`` | the dataset with its ``files`` |
| ``DELETE /trainers/datasets/{id}`` | ``{"id", "deleted": true}`` |
| ``POST /trainers/datasets/{id}/upload`` | multipart field ``file``, at most 150,000,000 bytes (else 413) |
| ``POST /trainers/datasets/{id}/get-upload-endpoint`` | ``{"filenameToByteSize": {name: size}}`` -> ``{"uploads": {name: {upload_url, method, headers}}}`` |
| ``PUT /_storage/uploads/{token}`` | no bearer token: the token in the path is the permission |

A dataset object is ``{id, name, status, created_at, updated_at, error, files: [{filename, size_bytes}]}``;
its lifecycle is :mod:`~runcomfy.emulator.datasets`'. Ownership answers as the other APIs: 401 without a
known token, 404 (``404001``) for an id that does not exist, 403 (``403003``) for another user's dataset.

Uploads never sit in memory whole: a multipart body is parsed by Starlette's parser (python-multipart), which
spools the file part to a temporary file, under a byte count that answers 413 as soon as the body passes the
limit; a PUT is written to disk chunk by chunk as it arrives (:mod:`~runcomfy.emulator.dataset_storage`). A
PUT must carry exactly the size announced for its URL (400 otherwise, before a byte is read when its
``Content-Length`` says so), before the URL expires (403). This module must never show one user's dataset to
another.
"""

from __future__ import annotations

import mimetypes
from collections.abc import AsyncIterator
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive

from runcomfy.emulator import datasets
from runcomfy.emulator.bodies import CONTROL_BODY_LIMIT, body_too_large, read_json
from runcomfy.emulator.dataset_storage import CHUNK, TooLarge, WrongSize
from runcomfy.emulator.datasets import Dataset
from runcomfy.emulator.errors import ServiceError, bad_request, not_found, validation_error
from runcomfy.emulator.routing import Endpoint, caller, iso, origin_of
from runcomfy.emulator.state import EmulatorState
from runcomfy.emulator.upload_urls import PATH_PREFIX

ROUTE_NAMES = (
    "datasets",
    "dataset-create",
    "dataset-status",
    "dataset-delete",
    "dataset-upload",
    "dataset-upload-endpoint",
    "storage-upload",
)
PREFIX = "/prod/v1/trainers/datasets"
MAX_MULTIPART_BYTES = 150_000_000  # the service's cap on one multipart file
MULTIPART_ENVELOPE_BYTES = 64 * 1024  # room for the part headers and boundaries around the file
MAX_SIGNED_UPLOAD_BYTES = 100 * 1024**3
MAX_FILES_PER_REQUEST = 1000
NOT_OWNED = 403003


def owned_dataset(state: EmulatorState, user_id: str, dataset_id: str) -> Dataset:
    """The dataset named in a path if ``user_id`` owns it; else the service's 404 or 403."""
    dataset = state.trainer.datasets.all.get(dataset_id)
    if dataset is None:
        raise not_found(f"Dataset {dataset_id} not found", "List your datasets with GET /trainers/datasets.")
    if dataset.owner != user_id:
        raise ServiceError(
            403,
            "Permission denied: the dataset belongs to another user",
            f"Dataset {dataset_id} is not owned by this token's user.",
            error_code=NOT_OWNED,
        )
    return dataset


def _problem(loc: list[Any], msg: str, kind: str = "value_error") -> dict[str, Any]:
    return {"loc": ["body", *loc], "msg": msg, "type": kind}


class DatasetsApi:
    """The handlers, bound to one state."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.trainer = state.trainer

    def _record(self, dataset: Dataset) -> dict[str, Any]:
        return self.trainer.dataset_record(dataset, iso)

    async def list(self, request: Request) -> Response:
        user = caller(self.state, request)
        with self.trainer.lock:
            return JSONResponse([self._record(d) for d in self.trainer.datasets.owned_by(user.user_id)])

    async def create(self, request: Request) -> Response:
        user = caller(self.state, request)
        body = await read_json(request, CONTROL_BODY_LIMIT)
        if not isinstance(body, dict):
            raise validation_error("the body must be an object", [_problem([], "Input should be an object")])
        name = body.get("name")
        if name is not None and (problem := datasets.name_problem(name)) is not None:
            raise validation_error("the dataset name is not valid", [_problem(["name"], problem)])
        with self.trainer.lock:
            return JSONResponse(self._record(self.trainer.create_dataset(user.user_id, name)))

    async def status(self, request: Request) -> Response:
        user = caller(self.state, request)
        with self.trainer.lock:
            dataset = owned_dataset(self.state, user.user_id, request.path_params["dataset_id"])
            return JSONResponse(self._record(dataset))

    async def delete(self, request: Request) -> Response:
        user = caller(self.state, request)
        with self.trainer.lock:
            dataset = owned_dataset(self.state, user.user_id, request.path_params["dataset_id"])
            self.trainer.delete_dataset(dataset)
            return JSONResponse({"id": dataset.id, "deleted": True})

    # -- uploads -------------------------------------------------------------------------------------------

    async def upload(self, request: Request) -> Response:
        """A multipart upload of one file (field ``file``)."""
        user = caller(self.state, request)
        dataset = owned_dataset(self.state, user.user_id, request.path_params["dataset_id"])
        limit = MAX_MULTIPART_BYTES + MULTIPART_ENVELOPE_BYTES
        if _declared_length(request) > limit:
            raise _file_too_large()
        counted = Request(request.scope, receive=_limited(request.receive, limit))
        self.trainer.receiving(dataset, True)
        try:
            async with counted.form(max_files=1, max_fields=16) as form:
                upload = form.get("file")
                if not isinstance(upload, UploadFile):
                    raise validation_error(
                        "the upload has no file",
                        [_problem(["file"], "Field required: a multipart file field named file", "missing")],
                    )
                filename = upload.filename or ""
                if (problem := datasets.filename_problem(filename)) is not None:
                    raise validation_error(
                        "the file name is not valid", [_problem(["file", "filename"], problem)]
                    )
                if upload.size is not None and upload.size > MAX_MULTIPART_BYTES:
                    raise _file_too_large()
                path = self.trainer.file_path(dataset, filename)
                try:
                    size = await self.trainer.storage.write_stream(
                        path, _chunks_of(upload), limit=MAX_MULTIPART_BYTES
                    )
                except TooLarge:
                    raise _file_too_large() from None
            readable = await run_in_threadpool(datasets.image_readable, path, filename)
            with self.trainer.lock:
                if not self.trainer.file_arrived(dataset, filename, size, readable=readable):
                    raise not_found(f"Dataset {dataset.id} not found", "It was deleted during the upload.")
        finally:
            self.trainer.receiving(dataset, False)
        return self._upload_answer(dataset, filename, size)

    def _upload_answer(self, dataset: Dataset, filename: str, size: int) -> Response:
        with self.trainer.lock:
            status = self.trainer.dataset_lifecycle(dataset).status
        return JSONResponse(
            {"dataset_id": dataset.id, "filename": filename, "size_bytes": size, "status": status}
        )

    async def upload_endpoint(self, request: Request) -> Response:
        """Signed upload URLs, one per announced file."""
        user = caller(self.state, request)
        body = await read_json(request, CONTROL_BODY_LIMIT)
        with self.trainer.lock:
            dataset = owned_dataset(self.state, user.user_id, request.path_params["dataset_id"])
        sizes = _announced_sizes(body)
        with self.trainer.lock:
            tokens = self.trainer.issue_urls(user.user_id, dataset, sizes)
        origin = origin_of(request)
        uploads = {
            name: {
                "upload_url": f"{origin}{PATH_PREFIX}/{token}",
                "method": "PUT",
                "headers": {"Content-Type": mimetypes.guess_type(name)[0] or "application/octet-stream"},
            }
            for name, token in tokens.items()
        }
        return JSONResponse({"dataset_id": dataset.id, "uploads": uploads})

    async def storage_put(self, request: Request) -> Response:
        """A file sent to a signed upload URL: no bearer token, exactly the announced size, before expiry."""
        trainer = self.trainer
        with trainer.lock:
            url = trainer.urls.find(request.path_params["token"])
            if url is None:
                raise not_found("Upload URL not found", "Ask for a new one with get-upload-endpoint.")
            if trainer.clock.now() >= url.expires_at:
                raise ServiceError(403, "Upload URL expired", "Ask for a new one with get-upload-endpoint.")
            dataset = trainer.datasets.all.get(url.dataset_id)
            if dataset is None:
                raise not_found("Dataset not found", "The dataset of this upload URL was deleted.")
        declared = _declared_length(request)
        if declared >= 0 and declared != url.size_bytes:
            raise _wrong_size(url.size_bytes, f"Content-Length is {declared}")
        path = trainer.file_path(dataset, url.filename)
        trainer.receiving(dataset, True)
        try:
            try:
                size = await trainer.storage.write_stream(
                    path, request.stream(), limit=url.size_bytes, exact=True
                )
            except TooLarge:
                raise _wrong_size(url.size_bytes, "more bytes arrived") from None
            except WrongSize as short:
                raise _wrong_size(url.size_bytes, f"{short.args[0]} bytes arrived") from None
            readable = await run_in_threadpool(datasets.image_readable, path, url.filename)
            with trainer.lock:
                if not trainer.file_arrived(dataset, url.filename, size, readable=readable):
                    raise not_found("Dataset not found", "The dataset was deleted during the upload.")
                trainer.urls.mark_used(url, trainer.clock.now())
        finally:
            trainer.receiving(dataset, False)
        return self._upload_answer(dataset, url.filename, size)


def _declared_length(request: Request) -> int:
    """The body's ``Content-Length``, or -1 when there is none (or it is not a number)."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit():
        return int(declared) if len(declared) <= 20 else 10**21
    return -1


def _limited(receive: Receive, limit: int) -> Receive:
    """``receive`` that answers 413 as soon as the body it passes on goes over ``limit`` bytes."""
    seen = 0

    async def counted() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _file_too_large()
        return message

    return counted


async def _chunks_of(upload: UploadFile) -> AsyncIterator[bytes]:
    await upload.seek(0)
    while chunk := await upload.read(CHUNK):
        yield chunk


def _file_too_large() -> ServiceError:
    error = body_too_large(MAX_MULTIPART_BYTES)
    error.detail = (
        f"A multipart upload takes at most {MAX_MULTIPART_BYTES} bytes; "
        "send larger files through get-upload-endpoint."
    )
    return error


def _wrong_size(announced: int, what: str) -> ServiceError:
    return bad_request(f"The upload must be exactly the announced {announced} bytes; {what}")


def _announced_sizes(body: Any) -> dict[str, int]:
    """``filenameToByteSize``, checked: each name a valid file name, each size a whole number of bytes."""
    mapping = body.get("filenameToByteSize") if isinstance(body, dict) else None
    if not isinstance(mapping, dict) or not mapping:
        problem = _problem(
            ["filenameToByteSize"], "Field required: an object of file name -> size", "missing"
        )
        raise validation_error("no files announced", [problem])
    if len(mapping) > MAX_FILES_PER_REQUEST:
        problem = _problem(["filenameToByteSize"], f"at most {MAX_FILES_PER_REQUEST} files per request")
        raise validation_error("too many files announced", [problem])
    problems = []
    for name, size in mapping.items():
        if (bad_name := datasets.filename_problem(name)) is not None:
            problems.append(_problem(["filenameToByteSize", name], bad_name))
        elif isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_SIGNED_UPLOAD_BYTES:
            message = f"the size must be a whole number of bytes from 0 to {MAX_SIGNED_UPLOAD_BYTES}"
            problems.append(_problem(["filenameToByteSize", name], message, "int_type"))
    if problems:
        raise validation_error("the announced files are not valid", problems)
    return dict(mapping)


def endpoints(state: EmulatorState) -> list[Endpoint]:
    """The dataset routes and the storage route of signed upload URLs."""
    api = DatasetsApi(state)
    return [
        Endpoint(PREFIX, "datasets", api.list, ("GET",)),
        Endpoint(PREFIX, "dataset-create", api.create, ("POST",)),
        Endpoint(f"{PREFIX}/{{dataset_id}}/status", "dataset-status", api.status, ("GET",)),
        Endpoint(f"{PREFIX}/{{dataset_id}}", "dataset-delete", api.delete, ("DELETE",)),
        Endpoint(f"{PREFIX}/{{dataset_id}}/upload", "dataset-upload", api.upload, ("POST",)),
        Endpoint(
            f"{PREFIX}/{{dataset_id}}/get-upload-endpoint",
            "dataset-upload-endpoint",
            api.upload_endpoint,
            ("POST",),
        ),
        Endpoint(f"{PATH_PREFIX}/{{token}}", "storage-upload", api.storage_put, ("PUT",)),
    ]
