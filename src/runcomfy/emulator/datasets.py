"""The Trainer API's datasets: their records, their lifecycle and the check that decides READY or FAILED.

A dataset is ``DRAFT`` until something happens to it; ``UPLOADING`` while a file is arriving, while one of its
signed upload URLs is outstanding (issued, not used, not expired), and for ``dataset_processing_s`` after the
last upload ended (or the last unused URL expired); then ``READY`` or ``FAILED``, decided by :func:`verdict`
on the files it holds. A new file makes a READY or FAILED dataset UPLOADING again. Like the other queues the
status is a pure function of the records and the clock (:func:`lifecycle`), so reading more or less often
gives the same answers, and a restart with ``--db`` loses nothing.

The verdict: every image (``.png .jpg .jpeg .webp``) and video (``.mp4 .mov .webm``) needs a caption with the
same stem and ``.txt``; an image Pillow cannot read, a dataset with no files or with no image or video at
all, is FAILED, and ``error`` names the files. Whether an image is readable is found out once, when it
arrives (:func:`image_readable`), never while answering a status.

This module knows nothing of HTTP or where the files are kept.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from runcomfy.emulator.store import Store

DRAFT, UPLOADING, READY, FAILED = "DRAFT", "UPLOADING", "READY", "FAILED"
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp"})
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".webm"})
MAX_NAME_CHARS = 128
MAX_FILENAME_CHARS = 255
MAX_LISTED_IN_ERROR = 20


@dataclass
class Dataset:
    """One dataset. ``files`` maps each file name to ``{"size_bytes", "uploaded_at", "readable"}``."""

    id: str
    owner: str
    name: str
    created_at: float
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    last_upload_at: float | None = None
    seq: int = 0  # creation order (a frozen clock gives many the same created_at)

    def file_list(self) -> list[dict[str, Any]]:
        """The files as the service lists them, by name."""
        return [
            {"filename": name, "size_bytes": self.files[name]["size_bytes"]} for name in sorted(self.files)
        ]


@dataclass(frozen=True)
class Lifecycle:
    """Where a dataset stands at one moment."""

    status: str
    error: str | None
    updated_at: float


def lifecycle(
    dataset: Dataset,
    urls: Iterable[tuple[float, float, float | None]],
    now: float,
    processing_s: float,
    *,
    receiving: bool = False,
) -> Lifecycle:
    """The dataset's status at ``now``.

    ``urls``: ``(issued_at, expires_at, used_at)`` of each upload URL issued for it; ``receiving``: a file is
    arriving right now.
    """
    issued = list(urls)
    activity = [dataset.created_at, *(at for at, _, _ in issued)]
    if dataset.last_upload_at is not None:
        activity.append(dataset.last_upload_at)
    outstanding = any(used is None and expires > now for _, expires, used in issued)
    if receiving or outstanding:
        return Lifecycle(UPLOADING, None, max(activity))
    if dataset.last_upload_at is None and not issued:
        return Lifecycle(DRAFT, None, dataset.created_at)
    expired = [expires for _, expires, used in issued if used is None and expires <= now]
    settle_from = max([at for at in (dataset.last_upload_at, *expired) if at is not None], default=now)
    decided_at = settle_from + processing_s
    if now < decided_at:
        return Lifecycle(UPLOADING, None, max(activity))
    error = verdict(dataset.files)
    return Lifecycle(FAILED if error else READY, error, max(decided_at, *activity))


def verdict(files: dict[str, dict[str, Any]]) -> str | None:
    """Why a dataset of these files cannot be trained on (naming the files), or None when it can."""
    if not files:
        return "The dataset has no files: upload images or videos with a .txt caption each."
    names = sorted(files)
    media = [name for name in names if is_media(name)]
    if not media:
        return "The dataset has no image or video (.png .jpg .jpeg .webp .mp4 .mov .webm): " + _listed(names)
    problems = []
    uncaptioned = [name for name in media if caption_for(name) not in files]
    if uncaptioned:
        problems.append(
            f"{len(uncaptioned)} file(s) without a same-name .txt caption: {_listed(uncaptioned)}"
        )
    unreadable = [name for name in names if not files[name].get("readable", True)]
    if unreadable:
        problems.append(f"{len(unreadable)} image(s) that cannot be read: {_listed(unreadable)}")
    return "; ".join(problems) or None


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:MAX_LISTED_IN_ERROR])
    more = len(names) - MAX_LISTED_IN_ERROR
    return f"{shown} and {more} more" if more > 0 else shown


def is_media(filename: str) -> bool:
    """Whether a file is an image or a video (and so needs a caption)."""
    suffix = PurePosixPath(filename).suffix.lower()
    return suffix in IMAGE_SUFFIXES or suffix in VIDEO_SUFFIXES


def caption_for(filename: str) -> str:
    """The caption file name an image or video needs: the same stem with ``.txt``."""
    return f"{PurePosixPath(filename).stem}.txt"


def image_readable(path: Path, filename: str) -> bool:
    """Whether a file is readable as what its name says (only images are checked)."""
    if PurePosixPath(filename).suffix.lower() not in IMAGE_SUFFIXES:
        return True
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.verify()
    except Exception:  # Pillow raises many kinds for a file that is not an image
        return False
    return True


def name_problem(name: Any) -> str | None:
    """Why ``name`` cannot name a dataset (it becomes a folder name in a training config), or None."""
    if not isinstance(name, str):
        return "name must be a string"
    if not 0 < len(name.strip()) <= MAX_NAME_CHARS:
        return f"name must be 1 to {MAX_NAME_CHARS} characters"
    if name != name.strip() or "/" in name or "\\" in name or not name.isprintable():
        return "name must not hold slashes, control characters or edge spaces"
    return None


def filename_problem(filename: Any) -> str | None:
    """Why ``filename`` cannot name a file of a dataset, or None."""
    if not isinstance(filename, str) or not 0 < len(filename) <= MAX_FILENAME_CHARS:
        return f"a file name must be 1 to {MAX_FILENAME_CHARS} characters"
    if "/" in filename or "\\" in filename or not filename.isprintable():
        return "a file name must not hold slashes or control characters"
    if filename.startswith(".") or filename != filename.strip():
        return "a file name must not start with a dot or a space, or end with a space"
    return None


class Datasets:
    """Every dataset, written through to the store (table ``datasets``)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.all = {key: Dataset(**value) for key, value in store.load("datasets").items()}

    def reset(self) -> None:
        """Forget every dataset (call after the store is cleared)."""
        self.all = {}

    def create(self, owner: str, name: str | None, now: float) -> Dataset:
        """A new, empty dataset (named ``dataset-<id prefix>`` unless named)."""
        dataset_id = str(uuid.uuid4())
        seq = max((d.seq for d in self.all.values()), default=0) + 1
        dataset = Dataset(dataset_id, owner, name or f"dataset-{dataset_id[:8]}", now, seq=seq)
        self.all[dataset_id] = dataset
        self.save(dataset)
        return dataset

    def save(self, dataset: Dataset) -> None:
        """Write a changed dataset through."""
        self._store.put("datasets", dataset.id, asdict(dataset))

    def add_file(self, dataset: Dataset, filename: str, size: int, now: float, *, readable: bool) -> None:
        """Record a file that has arrived (replacing one of the same name)."""
        dataset.files[filename] = {"size_bytes": size, "uploaded_at": now, "readable": readable}
        dataset.last_upload_at = now
        self.save(dataset)

    def delete(self, dataset: Dataset) -> None:
        """Forget a dataset."""
        self.all.pop(dataset.id, None)
        self._store.delete("datasets", dataset.id)

    def owned_by(self, owner: str) -> list[Dataset]:
        """A user's datasets, oldest first."""
        return sorted((d for d in self.all.values() if d.owner == owner), key=lambda d: d.seq)
