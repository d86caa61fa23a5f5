"""The question a destructive command asks before it acts (``deployments delete``; the Trainer API's deletions
can use it too).

:func:`confirm` goes ahead with ``--yes``; otherwise it asks ``<question> [y/N]`` when someone can see the
question and answer it (stdin and stderr are terminals), and only ``y`` or ``yes`` goes ahead. Where no one can
answer, it refuses (:class:`~runcomfy.cli.exit_codes.ConfirmationRequired`, exit 64) rather than go ahead or
wait; any other answer is :class:`~runcomfy.cli.exit_codes.ConfirmationDeclined` (exit 1). Both as the
official CLI does.

The question is written here, not as an :class:`~runcomfy.cli.output.Output` line: it stays on the line the
answer is typed on, and it shows in every mode (even ``-q`` and json, where a hidden question would look like
a hang). The sink's two safety nets still apply: control characters are escaped and secrets masked.
"""

from __future__ import annotations

import sys
from typing import Any

from runcomfy.cli.exit_codes import ConfirmationDeclined, ConfirmationRequired
from runcomfy.cli.output import Output, escape_control, redact

YES_ANSWERS = ("y", "yes")


def confirm(out: Output, question: str, *, yes: bool, refused: str, declined: str) -> None:
    """Return when the action may go ahead; raise with ``refused`` when no one can answer ``question``, or with
    ``declined`` when the answer is not yes."""
    if yes:
        return
    if not can_ask():
        raise ConfirmationRequired(refused)
    if not ask(out, question):
        raise ConfirmationDeclined(declined)


def can_ask() -> bool:
    """Whether someone can see a question (stderr) and answer it (stdin)."""
    return _isatty(sys.stdin) and _isatty(sys.stderr)


def ask(out: Output, question: str) -> bool:
    """Ask ``question [y/N]`` on stderr and read one line of stdin; True only for ``y`` or ``yes`` (any case)."""
    prompt = redact(escape_control(f"{question} [y/N] "), out.secrets)
    try:
        sys.stderr.write(prompt)
        sys.stderr.flush()
    except OSError:
        return False
    return sys.stdin.readline().strip().lower() in YES_ANSWERS


def _isatty(stream: Any) -> bool:
    try:
        return stream is not None and bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False
