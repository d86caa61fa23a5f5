"""What every MCP tool shares: the CLI's application context, the output directory, the wait settings.

``runcomfy mcp`` is a command of the CLI, and its tools reuse the CLI's context (:class:`AppContext`: token
lookup, ``--local``, the client, the journal and its scope, the schema cache, trusted download origins, the
secret scrubber) and its pre-flight check, so a request an agent runs is checked, recorded, fetched and saved
exactly as ``runcomfy run`` would do it, by the same code. What this module adds is the one rule about files: an
agent can only ever make the server write under ``output_dir`` (:meth:`Workspace.folder`), whatever it asks.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runcomfy.errors import InvalidInput, JournalError

if TYPE_CHECKING:
    from runcomfy.cli.context import AppContext
    from runcomfy.client import Client

DEFAULT_OUTPUT_DIR = "runcomfy-outputs"
DEFAULT_WAIT_TIMEOUT_S = 900.0  # a tool call that waits longer than this is better split into submit + status


@dataclass
class Workspace:
    """The server's state: the CLI context ``app``, the absolute ``output_dir`` and how tools wait."""

    app: AppContext
    output_dir: Path
    poll_interval_s: float = 2.0
    wait_timeout_s: float = DEFAULT_WAIT_TIMEOUT_S

    def client(self) -> Client:
        """The signed-in client (``NotAuthenticated`` without a token, as every CLI command)."""
        return self.app.require_client()

    def scrub(self, value: Any) -> Any:
        """``value`` (text or any JSON value) with the token masked."""
        return self.app.output.scrub(value)

    def folder(self, subfolder: str | None) -> Path:
        """The directory for a tool's files: ``output_dir`` or a folder inside it, never anywhere else.

        Absolute paths, ``~``, ``..`` and a folder that resolves outside (through a symlink) are refused with
        :class:`InvalidInput`; the folder is not created here (downloads create it).
        """
        root = self.output_dir.resolve()
        if subfolder is None or subfolder.strip() in ("", "."):
            return root
        text = subfolder.strip()
        candidate = Path(text)
        if candidate.is_absolute() or text.startswith("~") or ".." in candidate.parts or "\0" in text:
            raise InvalidInput(
                f"subfolder must be a relative path inside the output directory {root}, got {text!r}"
            )
        target = (root / candidate).resolve()
        if target != root and root not in target.parents:
            raise InvalidInput(f"subfolder {text!r} leads outside the output directory {root}")
        return target

    def relative(self, path: str | os.PathLike[str]) -> str:
        """``path`` as shown to an agent: relative to the output directory when inside it."""
        resolved = Path(path).resolve()
        try:
            return str(resolved.relative_to(self.output_dir.resolve()))
        except ValueError:
            return str(resolved)

    def journal_update(self, request_id: str, **fields: Any) -> None:
        """Record what is now known of a request, secrets masked; a journal that cannot be written never
        changes a tool's answer (the result matters more than the record)."""
        for key in ("output", "error"):
            if key in fields:
                fields[key] = self.scrub(fields[key])
        with contextlib.suppress(OSError, JournalError):
            self.app.journal().update(request_id, **fields)
