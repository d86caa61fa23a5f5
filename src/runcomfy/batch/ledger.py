"""What the journal knows of one batch: the line states that make it resumable, and its locks.

A batch is "the same batch" across runs when the same identity runs the same model into the same output
directory through the same API (:func:`batch_key`). The ledger reads what an earlier run recorded for each line,
records each step of this run (``submitting``, ``submitted`` + the id, the final status with the files), records
each submitted request in the request journal (masked: a server may echo the token in an output), and holds the
inter-process locks that keep a second run off the same lines. Without a journal every method does nothing, so the
runner never asks whether there is one. It never prints and never calls the service.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from runcomfy.downloads import file_has_sha256
from runcomfy.journal import BatchItemState, Journal, JournalScope
from runcomfy.safe_text import redact


def batch_key(
    model_id: str, output_dir: str | os.PathLike[str] | None, scope: JournalScope | None = None
) -> str:
    """What identifies "the same batch" across runs: the API base and identity that run it, the model and the
    absolute output directory (so another account's progress is never taken for this one's)."""
    where = os.path.abspath(output_dir) if output_dir is not None else ""
    who = f"{scope.model_api_base}\0{scope.identity or ''}" if scope is not None else ""
    return hashlib.sha256(f"{who}\0{model_id}\0{where}".encode()).hexdigest()


class BatchLedger:
    """The journal's record of one batch (see the module docstring); ``secrets`` are masked in what it stores."""

    def __init__(
        self,
        journal: Journal | None,
        *,
        model_id: str,
        output_dir: Path | None,
        scope: JournalScope | None,
        secrets: Sequence[str],
        restart: bool = False,
    ) -> None:
        self.journal, self.model_id, self.output_dir, self.scope = journal, model_id, output_dir, scope
        self.secrets = tuple(secrets)
        self.key = batch_key(model_id, output_dir, scope)
        if journal is not None and restart:
            journal.clear_batch(self.key)
        self.previous: dict[int, BatchItemState] = journal.batch_items(self.key) if journal else {}

    def hold(self, name: str, what: str) -> contextlib.AbstractContextManager[None]:
        """An inter-process lock on ``name`` (the journal owns the lock file; no journal, no lock)."""
        if self.journal is None:
            return contextlib.nullcontext()
        return self.journal.locks.hold(name, what=what)

    def together(self) -> contextlib.AbstractContextManager[None]:
        """Make the records written inside the block one journal transaction (one commit, all or none)."""
        if self.journal is None:
            return contextlib.nullcontext()
        return self.journal.transaction()

    def save_line(
        self,
        line: int,
        request_id: str | None,
        status: str,
        digest: str,
        files: Sequence[dict[str, Any]] = (),
    ) -> None:
        """Record one step of a line."""
        if self.journal is not None:
            self.journal.save_batch_item(
                self.key, line, digest, status=status, request_id=request_id, files=files
            )

    def record_request(self, request_id: str, input: Any, *, model_api_base: str) -> None:
        """Record a just-submitted request in the request journal (before it is waited on)."""
        if self.journal is not None:
            self.journal.record(
                request_id,
                self.model_id,
                input,
                model_api_base=self.scope.model_api_base if self.scope else model_api_base,
                output_dir=self.output_dir,
                identity=self.scope.identity if self.scope else None,
            )

    def update_request(self, request_id: str, *, status: str, **fields: Any) -> None:
        """What is now known of a request: its status and, when given, its output, error and files (masked)."""
        if self.journal is None:
            return
        if "output" in fields:
            fields["output"] = self._masked(fields["output"])
        if "error" in fields:
            fields["error"] = self._masked(fields["error"])
        if "files" in fields:
            fields["files"] = [{**f, "url": redact(str(f["url"]), self.secrets)} for f in fields["files"]]
        self.journal.update(request_id, status=status, **fields)

    def recorded_output(self, request_id: str | None) -> Any:
        """The output the journal kept for a finished request (``None`` when it kept none)."""
        entry = self.journal.get(request_id) if self.journal is not None and request_id else None
        return entry.output if entry is not None else None

    def recorded_error(self, request_id: str | None) -> Any:
        """The error object the journal kept for a request (``None`` when it kept none)."""
        entry = self.journal.get(request_id) if self.journal is not None and request_id else None
        return entry.error if entry is not None else None

    def files_intact(self, previous: BatchItemState) -> bool:
        """Whether every file a finished line saved is still on disk with its recorded sha256."""
        if self.output_dir is None:
            return True
        return all(
            isinstance(f.get("path"), str)
            and isinstance(f.get("sha256"), str)
            and file_has_sha256(f["path"], f["sha256"])
            for f in previous.files
        )

    def _masked(self, value: Any) -> Any:
        if value is None or not self.secrets:
            return value
        return json.loads(redact(json.dumps(value, ensure_ascii=False), self.secrets))
