"""Files already saved: recognising them so a second fetch of a result downloads nothing twice.

A result fetched again (``runcomfy result`` after an interrupted run, a resumed batch, a library user calling
``Client.download`` twice) names the same files; one recorded earlier and still on disk with its recorded
sha256 is kept instead of fetched. Files are matched by the URL's path: hosts and signed query strings may
differ between two fetches of one result. This module reads files (to hash them) and never writes any.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from runcomfy.downloads.fetch import SavedFile, file_has_sha256


def saved_earlier(known: Iterable[SavedFile | Mapping[str, Any]]) -> Callable[[str], SavedFile | None]:
    """A lookup for ``download_outputs(already_saved=...)``: the file recorded for a URL, if it is still on
    disk with its sha256 (``None``: fetch it)."""
    by_path: dict[str, SavedFile] = {}
    for item in known:
        saved = item if isinstance(item, SavedFile) else SavedFile.from_dict(item)
        if saved is not None:
            by_path[urlsplit(saved.url).path] = saved

    def lookup(url: str) -> SavedFile | None:
        saved = by_path.get(urlsplit(url).path)
        if saved is None or not file_has_sha256(saved.path, saved.sha256):
            return None
        return SavedFile(Path(saved.path), url, Path(saved.path).stat().st_size, saved.sha256)

    return lookup
