"""Text that came from outside (a server, a URL, a file) made safe to show, and secrets kept out of it.

This module owns two small rules used everywhere a foreign string may reach a terminal or an exception message:
control characters are removed (no ANSI escapes, no bidi overrides, no fake newlines) and the length is
bounded; known secrets are replaced by ``****``. It must never decide *whether* to show something; callers do.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable

MASK = "****"


def strip_controls(text: str, *, max_len: int = 300) -> str:
    """Drop control and format characters (Unicode category C*, line/paragraph separators) and bound the length.

    Why: a hostile server could embed terminal escape sequences or right-to-left overrides in a status, a
    user code or an error message, and these strings end up printed by the CLI.
    """
    if text.isascii() and text.isprintable():  # no control character to drop (most text): skip the scan
        cleaned = text
    else:
        cleaned = "".join([ch for ch in text if not _is_control(ch)])
    if len(cleaned) > max_len:
        return cleaned[: max(max_len - 1, 0)] + "…"
    return cleaned


def _is_control(ch: str) -> bool:
    category = unicodedata.category(ch)
    return category.startswith("C") or category in ("Zl", "Zp")


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each non-empty secret by ``****``, ignoring case.

    Why: error messages quote what the server said, and a server may echo the token back; the token must never
    reach output, logs or exceptions. Case is ignored because a status or id may be lowercased before it is
    shown: a lowercased token is still the token.
    """
    pattern = _pattern(frozenset(s for s in secrets if s))
    return text if pattern is None else pattern.sub(MASK, text)


def contains_secret(text: str, secrets: Iterable[str]) -> bool:
    """Whether ``text`` holds any of the non-empty ``secrets``, ignoring case."""
    pattern = _pattern(frozenset(s for s in secrets if s))
    return pattern is not None and pattern.search(text) is not None


@functools.lru_cache(maxsize=32)
def _pattern(secrets: frozenset[str]) -> re.Pattern[str] | None:
    if not secrets:
        return None
    ordered = sorted(secrets, key=len, reverse=True)  # longest first: a secret inside another is masked whole
    return re.compile("|".join(re.escape(secret) for secret in ordered), re.IGNORECASE)
