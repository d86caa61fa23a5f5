"""The record of one request: what the service said about it and what this machine did with it.

One type (:class:`RequestRecord`) serves ``run --emit record``, ``result --emit record``, every line of a batch
and the journal, so the same request is described the same way everywhere: every key of the service's result
record, then ours (``line``, ``model_id``, ``files`` saved with their sha256, ``skipped_urls``, ``resumed``,
``reused``). It never does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runcomfy.downloads.fetch import SavedFile
from runcomfy.journal_statuses import SUCCEEDED

if TYPE_CHECKING:
    from runcomfy.downloads.outputs import DownloadReport
    from runcomfy.results import Result

__all__ = ["SUCCESS", "RequestRecord"]

SUCCESS = tuple(sorted(SUCCEEDED))  # recorded statuses that mean the request succeeded


@dataclass
class RequestRecord:
    """One request's record. ``line`` is its input's line in a batch (``None`` for a single run); ``raw`` is the
    service's result record; ``exception`` is what a failure raised (kept for exit codes, never printed)."""

    request_id: str | None = None
    status: str = "pending"
    model_id: str | None = None
    output: Any = None
    error: Any = None
    created_at: str | None = None
    finished_at: str | None = None
    files: list[SavedFile] = field(default_factory=list)
    skipped_urls: list[str] = field(default_factory=list)
    line: int | None = None
    resumed: bool = False
    reused: bool = False
    ambiguous: bool = False
    exception: BaseException | None = field(default=None, repr=False, compare=False)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.status in SUCCESS

    @classmethod
    def from_result(
        cls, result: Result, *, model_id: str | None = None, line: int | None = None
    ) -> RequestRecord:
        """The record of a fetched result (the model id from the service's record when not given)."""
        reported = result.raw.get("model_id")
        return cls(
            request_id=result.request_id,
            status=result.status.name,
            model_id=model_id or (reported if isinstance(reported, str) else None),
            output=result.output,
            error=result.error,
            created_at=result.created_at,
            finished_at=result.finished_at,
            line=line,
            raw=result.raw,
        )

    def add_downloads(self, report: DownloadReport) -> None:
        """What the downloads did: files reused and saved, URLs skipped."""
        self.files = [*report.reused, *report.saved]
        self.skipped_urls = [url for url, _reason in report.skipped]

    def file_dicts(self) -> list[dict[str, Any]]:
        return [saved.to_dict() for saved in self.files]

    def to_dict(self) -> dict[str, Any]:
        """The JSON record: every key of the service's record, then ours."""
        return {
            **self.raw,
            "line": self.line,
            "request_id": self.request_id,
            "model_id": self.model_id,
            "status": self.status,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "output": self.output,
            "error": self.error,
            "files": self.file_dicts(),
            "skipped_urls": self.skipped_urls,
            "resumed": self.resumed,
            "reused": self.reused,
        }
