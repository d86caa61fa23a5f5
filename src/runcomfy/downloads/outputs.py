"""Downloading every trusted file of a result, one after another.

Owns: splitting a result's URLs into trusted and skipped, creating the output directory (only when something
will be fetched), the per-file loop and the :class:`DownloadReport`, and the typed events a caller (the CLI's
progress display) receives along the way.

Must never: fetch a skipped URL, print anything, or stop the loop for one file's failure. A failure to create
the output directory raises :class:`OutputDirectoryError` at once, since nothing could be saved;
``KeyboardInterrupt`` and :class:`Interrupted` always propagate.

Skipped URLs are never silent: they are in the report, and a ``logging`` warning on the ``runcomfy.downloads``
logger names how many and why (a script that saves nothing must be able to see that it saved nothing). Without
an explicit ``trusted_origins``, the origin of the configured ``RUNCOMFY_MODEL_API_BASE`` is trusted, as the
CLI does: a client pointed at an emulator downloads the emulator's files.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from runcomfy import config
from runcomfy.downloads.fetch import (
    DEFAULT_MAX_DOWNLOAD_BYTES,
    AbortCheck,
    SavedFile,
    download_file,
    make_download_client,
)
from runcomfy.downloads.naming import create_temp_file, remove_stale_temp_files
from runcomfy.downloads.urls import (
    MAX_WALK_DEPTH,
    MAX_WALK_NODES,
    Origin,
    Rejection,
    TrustedURL,
    check_url,
    origin_of,
    scan_urls,
)
from runcomfy.errors import ConfigError, DownloadError, OutputDirectoryError

log = logging.getLogger("runcomfy.downloads")


@dataclass(frozen=True)
class Skipped:
    """A URL outside the allow-list: reported, never fetched."""

    url: str
    reason: str


@dataclass(frozen=True)
class Planned:
    """Emitted once, after the output directory exists, before the first file."""

    directory: Path
    urls: list[str]


@dataclass(frozen=True)
class Started:
    """File ``index`` (1-based) of ``count`` is about to be fetched."""

    url: str
    index: int
    count: int


@dataclass(frozen=True)
class Progress:
    url: str
    bytes_done: int
    total: int | None


@dataclass(frozen=True)
class Saved:
    file: SavedFile


@dataclass(frozen=True)
class DownloadFailed:
    url: str
    error: DownloadError


DownloadEvent = Skipped | Planned | Started | Progress | Saved | DownloadFailed
EventCallback = Callable[[DownloadEvent], None]


@dataclass
class DownloadReport:
    """What happened to each URL of a result."""

    saved: list[SavedFile] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, DownloadError]] = field(default_factory=list)
    reused: list[SavedFile] = field(default_factory=list)
    complete: bool = True  # False when a limit stopped the scan of the output: some files were not looked at

    @property
    def ok(self) -> bool:
        """True when every trusted file was saved and the whole output was looked at (skipped URLs do not
        count as failures)."""
        return not self.failed and self.complete


def partition_urls(
    urls: Iterable[str], *, trusted_origins: Iterable[Origin] = ()
) -> tuple[list[TrustedURL], list[Rejection]]:
    """Split ``urls`` into those :func:`check_url` trusts and those it rejects, keeping their order."""
    origins = frozenset(trusted_origins)
    trusted: list[TrustedURL] = []
    rejected: list[Rejection] = []
    for url in urls:
        decision = check_url(url, trusted_origins=origins)
        if isinstance(decision, TrustedURL):
            trusted.append(decision)
        else:
            rejected.append(decision)
    return trusted, rejected


def configured_origins(env: Mapping[str, str] | None = None) -> tuple[Origin, ...]:
    """The origin of the configured ``RUNCOMFY_MODEL_API_BASE`` (the user chose to talk to it, so its files are
    trusted too), or none when it is unset or unusable."""
    base = config.env_value(config.ENV_MODEL_API_BASE, env)
    if base is None:
        return ()
    try:
        return (origin_of(config.normalize_base_url(base)),)
    except (ConfigError, ValueError):
        return ()


def download_outputs(
    output: Any,
    output_dir: str | os.PathLike[str],
    *,
    trusted_origins: Iterable[Origin] | None = None,
    client: httpx.Client | None = None,
    max_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
    on_event: EventCallback | None = None,
    should_abort: AbortCheck | None = None,
    name_prefix: str = "",
    already_saved: Callable[[str], SavedFile | None] | None = None,
    hidden: Iterable[str] = (),
    sweep_stale: bool = True,
) -> DownloadReport:
    """Download every trusted URL found in a result's ``output`` into ``output_dir``.

    The directory is created only if there is something to fetch. Per-file failures are collected in the
    report; the caller decides the exit code. ``client`` defaults to a fresh :func:`make_download_client`.
    ``trusted_origins`` defaults to the configured Model API base's origin (:func:`configured_origins`).
    ``already_saved(url)`` may return a file saved earlier (checked by the caller, e.g. by sha256): it is
    reported in ``report.reused`` and not fetched again. Skipped URLs are logged as a warning. ``hidden``
    values (the token) never become part of a file name. ``sweep_stale=False`` skips the sweep of temporary
    files left by killed processes: a batch sweeps its directory once at its start, and a sweep per item would
    make a batch's cost grow with the square of its size.
    """
    emit = on_event or _ignore
    origins = frozenset(configured_origins() if trusted_origins is None else trusted_origins)
    scan = scan_urls(output)
    trusted, rejected = partition_urls(scan.urls, trusted_origins=origins)
    report = DownloadReport(skipped=[(item.url, item.reason) for item in rejected], complete=scan.complete)
    if not scan.complete:
        log.warning(
            "the output is too large or too deeply nested to look through completely; files past the first "
            "%d values or %d levels were not looked at",
            MAX_WALK_NODES,
            MAX_WALK_DEPTH,
        )
    for rejection in rejected:
        emit(Skipped(rejection.url, rejection.reason))
    if rejected:
        _warn_skipped(rejected, total=len(rejected) + len(trusted))
    if already_saved is not None:
        fresh: list[TrustedURL] = []
        for candidate in trusted:
            previous = already_saved(candidate.text)
            if previous is None:
                fresh.append(candidate)
            else:
                report.reused.append(previous)
        trusted = fresh
    if not trusted:
        return report
    directory = _ensure_directory(Path(output_dir))
    if sweep_stale:
        remove_stale_temp_files(
            directory
        )  # left by a download killed with SIGKILL, which nothing could clean up
    emit(Planned(directory, [item.text for item in trusted]))
    own_client = client is None
    plan = _Plan(
        client or make_download_client(),
        directory,
        origins,
        max_bytes,
        should_abort,
        name_prefix,
        tuple(hidden),
    )
    try:
        for index, url in enumerate(trusted, start=1):
            emit(Started(url.text, index, len(trusted)))
            _download_one(plan, url, report, emit)
    finally:
        if own_client:
            plan.client.close()
    return report


@dataclass(frozen=True)
class _Plan:
    """Everything each file's download shares."""

    client: httpx.Client
    directory: Path
    origins: frozenset[Origin]
    max_bytes: int
    should_abort: AbortCheck | None
    name_prefix: str
    hidden: tuple[str, ...]


def _download_one(plan: _Plan, url: TrustedURL, report: DownloadReport, emit: EventCallback) -> None:
    def progress(done: int, total: int | None) -> None:
        emit(Progress(url.text, done, total))

    try:
        saved = download_file(
            plan.client,
            url,
            plan.directory,
            max_bytes=plan.max_bytes,
            trusted_origins=plan.origins,
            on_progress=progress,
            should_abort=plan.should_abort,
            name_prefix=plan.name_prefix,
            hidden=plan.hidden,
        )
    except DownloadError as exc:
        report.failed.append((url.text, exc))
        emit(DownloadFailed(url.text, exc))
        return
    report.saved.append(saved)
    emit(Saved(saved))


def _warn_skipped(rejected: list[Rejection], *, total: int) -> None:
    reasons: dict[str, int] = {}
    for item in rejected:
        reasons[item.reason] = reasons.get(item.reason, 0) + 1
    why = "; ".join(f"{reason} ({count})" if count > 1 else reason for reason, count in reasons.items())
    if len(rejected) == total:
        log.warning("none of the %d file URL(s) was downloaded: %s", total, why)
    else:
        log.warning("%d of %d file URL(s) were not downloaded: %s", len(rejected), total, why)


def check_output_directory(directory: str | os.PathLike[str]) -> Path:
    """Prove that files can be saved in ``directory`` before anything is paid for, leaving no trace.

    Directories that are missing are created to prove they can be, a file is created and removed in the
    deepest one, and the directories created here are removed again (downloads create them when there is
    something to save). Raises :class:`OutputDirectoryError` when the path is a file, cannot be created, or
    cannot be written.
    """
    path = Path(directory)
    missing: list[Path] = []
    probe = path.absolute()
    while not os.path.lexists(probe) and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    if not probe.is_dir():
        raise OutputDirectoryError(f"output path {path} cannot be used: {probe} is not a directory")
    created: list[Path] = []
    try:
        for folder in reversed(missing):
            try:
                folder.mkdir()
            except OSError as exc:
                reason = exc.strerror or type(exc).__name__
                raise OutputDirectoryError(f"cannot create output directory {path}: {reason}") from exc
            created.append(folder)
        _probe_write(path)
    finally:
        for folder in reversed(created):
            with contextlib.suppress(OSError):
                folder.rmdir()
    return path


def _probe_write(path: Path) -> None:
    try:
        fd, probe = create_temp_file(path, "write-check")
    except OSError as exc:
        raise OutputDirectoryError(f"cannot write in output directory {path}: {exc.strerror or exc}") from exc
    os.close(fd)
    with contextlib.suppress(OSError):
        probe.unlink()


def _ensure_directory(directory: Path) -> Path:
    if directory.exists() and not directory.is_dir():
        raise OutputDirectoryError(f"output path {directory} exists and is not a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise OutputDirectoryError(f"cannot create output directory {directory}: {reason}") from exc
    return directory


def _ignore(event: DownloadEvent) -> None:
    return None
