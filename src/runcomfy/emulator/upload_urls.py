"""Signed upload URLs: how a large dataset file reaches the emulator without the bearer token.

``get-upload-endpoint`` issues one URL per announced file, on the emulator's own origin
(``/_storage/uploads/<token>``); the opaque token in the path is the whole permission, as on a cloud
storage's signed URL, so the PUT needs no ``Authorization``. A URL takes a PUT of exactly the announced size
until it expires (``upload_url_ttl_s`` of emulator clock); it may be used again before then (the file is
replaced), so a client that lost the answer to its PUT can retry it. Tokens are 256 random bits and only their
SHA-256 digest is kept, like the API tokens. This module knows nothing of HTTP.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import asdict, dataclass

from runcomfy.emulator.store import Store

PATH_PREFIX = "/_storage/uploads"


@dataclass
class UploadUrl:
    """One issued URL (``key``: the digest of its token)."""

    key: str
    dataset_id: str
    owner: str
    filename: str
    size_bytes: int
    issued_at: float
    expires_at: float
    used_at: float | None = None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class UploadUrls:
    """Every issued upload URL, written through to the store (table ``upload_urls``)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.all = {key: UploadUrl(**value) for key, value in store.load("upload_urls").items()}

    def reset(self) -> None:
        """Forget every URL (call after the store is cleared)."""
        self.all = {}

    def issue(
        self, owner: str, dataset_id: str, filename: str, size_bytes: int, now: float, ttl_s: float
    ) -> str:
        """A new URL's token for one announced file."""
        token = secrets.token_urlsafe(32)
        url = UploadUrl(_digest(token), dataset_id, owner, filename, size_bytes, now, now + ttl_s)
        self.all[url.key] = url
        self._store.put("upload_urls", url.key, asdict(url))
        return token

    def find(self, token: str) -> UploadUrl | None:
        """The URL a token belongs to, expired or not; None for a token never issued."""
        return self.all.get(_digest(token))

    def mark_used(self, url: UploadUrl, now: float) -> None:
        """Record that a file arrived through ``url``."""
        url.used_at = now
        self._store.put("upload_urls", url.key, asdict(url))

    def of_dataset(self, dataset_id: str) -> list[UploadUrl]:
        """The URLs issued for one dataset."""
        return [url for url in self.all.values() if url.dataset_id == dataset_id]

    def drop_dataset(self, dataset_id: str) -> None:
        """Forget the URLs of a deleted dataset (a later PUT to one is a 404)."""
        for url in self.of_dataset(dataset_id):
            del self.all[url.key]
            self._store.delete("upload_urls", url.key)
