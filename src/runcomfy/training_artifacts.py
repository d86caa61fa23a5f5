"""A training job's artifacts on disk: every checkpoint and sample of its result, through the download
allow-list, with a manifest that makes a second download skip what is already there.

A job's result lists its files under ``artifacts`` (``checkpoints``, ``samples``, each entry with a ``url``, a
``filename`` and the ``step`` it was written at). They are fetched by :func:`runcomfy.downloads.download_outputs`
like any result's files: only from trusted hosts, streamed, capped, never overwriting a file, never leaving a
partial one. ``runcomfy-manifest.json`` in the output directory records each file saved there (``file``,
``size``, ``sha256``, ``url``, ``step``, ``kind``); a rerun fetches only the files not listed, or listed but no
longer on disk with their sha256 (an interrupted download of a job with dozens of checkpoints resumes where it
stopped). The manifest is replaced atomically and names only plain files of its own directory. Nothing here
prints.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from runcomfy.downloads import (
    AbortCheck,
    DownloadReport,
    EventCallback,
    Origin,
    SavedFile,
    download_outputs,
    sanitize_filename,
    saved_earlier,
)
from runcomfy.downloads.naming import create_temp_file
from runcomfy.safe_text import redact

__all__ = [
    "MANIFEST_NAME",
    "Artifact",
    "ArtifactReport",
    "artifact_counts",
    "artifacts_of",
    "download_artifacts",
    "read_manifest",
]

MANIFEST_NAME = "runcomfy-manifest.json"
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class Artifact:
    """One file of a job's result: its group (``checkpoints``, ``samples``...), name, URL and step."""

    kind: str
    url: str | None
    filename: str | None = None
    step: int | None = None
    size_bytes: int | None = None


@dataclass
class ArtifactReport:
    """What :func:`download_artifacts` did: the download report, the artifacts that have no URL to fetch, and
    the manifest written (None when none was)."""

    downloads: DownloadReport
    artifacts: list[Artifact] = field(default_factory=list)
    manifest_path: Path | None = None

    @property
    def files(self) -> list[SavedFile]:
        """Every artifact file in the directory: found there already, then saved now."""
        return [*self.downloads.reused, *self.downloads.saved]

    @property
    def without_url(self) -> list[Artifact]:
        return [item for item in self.artifacts if item.url is None]


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _http(value: Any) -> str | None:
    return value if isinstance(value, str) and value[:8].lower().startswith(("http://", "https://")) else None


def artifacts_of(record: Mapping[str, Any]) -> list[Artifact]:
    """The files a job's result lists under ``artifacts``, group by group in the service's order."""
    groups = record.get("artifacts") if isinstance(record, Mapping) else None
    if not isinstance(groups, Mapping):
        return []
    found: list[Artifact] = []
    for kind, entries in groups.items():
        if not isinstance(entries, list):
            continue
        for entry in entries:
            if isinstance(entry, str):
                found.append(Artifact(str(kind), _http(entry)))
            elif isinstance(entry, Mapping):
                filename = entry.get("filename")
                found.append(
                    Artifact(
                        str(kind),
                        _http(entry.get("url")) or _http(entry.get("path")),
                        filename if isinstance(filename, str) else None,
                        _int(entry.get("step")),
                        _int(entry.get("size_bytes")),
                    )
                )
    return found


def artifact_counts(record: Mapping[str, Any]) -> tuple[int, int]:
    """How many checkpoints and samples a result lists (``(0, 0)`` when it has no ``artifacts``)."""
    groups = record.get("artifacts") if isinstance(record, Mapping) else None
    if not isinstance(groups, Mapping):
        return 0, 0

    def count(key: str) -> int:
        entries = groups.get(key)
        return len(entries) if isinstance(entries, list) else 0

    return count("checkpoints"), count("samples")


# --- the manifest ------------------------------------------------------------------------------------------------


def _plain_name(name: Any) -> bool:
    return (
        isinstance(name, str)
        and bool(name)
        and name == sanitize_filename(name)
        and "/" not in name
        and os.sep not in name
        and name != MANIFEST_NAME
    )


def read_manifest(directory: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The entries of ``directory``'s manifest that name a plain file of it; ``[]`` when there is none or it
    cannot be read (it is then rewritten from what is downloaded)."""
    path = Path(directory) / MANIFEST_NAME
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_MANIFEST_BYTES:
            return []
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    files = document.get("files") if isinstance(document, dict) else None
    if not isinstance(files, list):
        return []
    entries = []
    for entry in files:
        if not isinstance(entry, dict) or not _plain_name(entry.get("file")):
            continue
        if not isinstance(entry.get("url"), str) or not isinstance(entry.get("sha256"), str):
            continue
        entries.append(entry)
    return entries


def _known_files(directory: Path, entries: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Manifest entries as the saved-file records :func:`saved_earlier` reads (regular files only)."""
    known = []
    for entry in entries:
        path = directory / entry["file"]
        if path.is_symlink():
            continue
        known.append(
            {"path": str(path), "url": entry["url"], "bytes": entry.get("size"), "sha256": entry["sha256"]}
        )
    return known


def _entry(
    saved: SavedFile,
    directory: Path,
    by_path: Mapping[str, Artifact],
    hidden: tuple[str, ...],
    job_id: str | None,
) -> dict[str, Any]:
    artifact = by_path.get(urlsplit(saved.url).path)
    path = Path(saved.path)
    return {
        "file": path.name
        if path.parent.resolve() == directory.resolve()
        else os.path.relpath(path, directory),
        "size": saved.bytes,
        "sha256": saved.sha256,
        "url": redact(saved.url, hidden),
        "step": artifact.step if artifact else None,
        "kind": artifact.kind if artifact else None,
        "job_id": job_id,
    }


def _write_manifest(directory: Path, entries: list[dict[str, Any]]) -> Path:
    """Replace the manifest atomically (a temporary file in the directory, then a rename)."""
    document = {"version": MANIFEST_VERSION, "files": entries}
    text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    fd, temp = create_temp_file(directory, MANIFEST_NAME)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        target = directory / MANIFEST_NAME
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    return target


def _merged(old: list[dict[str, Any]], new: list[dict[str, Any]], directory: Path) -> list[dict[str, Any]]:
    """The old entries whose files are still there (another job's, in a shared directory), then this run's,
    one entry per file name (this run's wins)."""
    fresh = {entry["file"]: entry for entry in new}
    kept = [entry for entry in old if entry["file"] not in fresh and (directory / entry["file"]).is_file()]
    return [*kept, *fresh.values()]


# --- downloading -------------------------------------------------------------------------------------------------


def download_artifacts(
    record: Mapping[str, Any],
    output_dir: str | os.PathLike[str],
    *,
    trusted_origins: Iterable[Origin],
    manifest: bool = True,
    on_event: EventCallback | None = None,
    should_abort: AbortCheck | None = None,
    hidden: Iterable[str] = (),
    client: Any = None,
) -> ArtifactReport:
    """Save every artifact of a job's result ``record`` into ``output_dir`` (see the module docstring).

    Failures are in the report (``downloads.failed``), not raised, except that an output directory that cannot
    be created raises :class:`~runcomfy.errors.OutputDirectoryError`; the manifest lists what was saved even
    when another file failed, so a rerun fetches only the rest. Untrusted URLs are skipped and reported.
    """
    directory = Path(output_dir)
    secrets = tuple(hidden)
    items = artifacts_of(record)
    urls = [item.url for item in items if item.url is not None]
    previous = read_manifest(directory) if manifest else []
    downloads = download_outputs(
        urls,
        directory,
        trusted_origins=trusted_origins,
        client=client,
        on_event=on_event,
        should_abort=should_abort,
        already_saved=saved_earlier(_known_files(directory, previous)) if manifest else None,
        hidden=secrets,
    )
    report = ArtifactReport(downloads, items)
    files = report.files
    if manifest and files:
        by_path = {urlsplit(item.url).path: item for item in items if item.url is not None}
        job_id = record.get("id") if isinstance(record.get("id"), str) else None
        entries = [_entry(saved, directory, by_path, secrets, job_id) for saved in files]
        report.manifest_path = _write_manifest(directory, _merged(previous, entries, directory))
    return report
