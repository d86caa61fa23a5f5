"""The one sink for every line the CLI writes (docs/decisions.md, "Output").

:class:`Output` knows the mode and decides, per kind of line, where it goes and whether it shows at all:

===============  =======  ====================================================================================
method           stream   shown when
===============  =======  ====================================================================================
``data``         stdout   always (pretty: indented JSON or plain text; json: one compact document)
``document``     stdout   always: JSON in both modes (indented or compact), even for a bare string
``kv``/``table`` stdout   always (json mode writes the same facts as one compact document)
``record``       stdout   always (json: the value; pretty: key/value lines of chosen pairs, or nothing)
``progress``     stderr   pretty mode and not ``-q``; emoji on a colour-capable TTY, else ``[tag] text``
``detail``       stderr   as ``progress``; three-space indent
``warning``      stderr   pretty mode and not ``-q``
``verbose``      stderr   pretty mode, not ``-q``, ``-v`` count >= level
``trace``        stderr   pretty mode, not ``-q``, ``-vv``
``always``       stderr   every mode, even ``-q`` and json (login's verification URL and user code)
``error``        stderr   every mode (json: one compact line ``{"error": "...", "exit_code": N, ...}``)
===============  =======  ====================================================================================

Two safety nets apply to everything written, whoever calls: control characters (C0, DEL, C1, bidi
overrides, line separators) from server-provided text are escaped so a hostile server cannot drive the
terminal, and every registered secret (the token) is replaced by ``****``, as is the credential of any
``Authorization: Bearer`` header.

Decisions: json mode keeps stderr free of decoration, so ``-v``/``-vv`` and warnings are silent there
(the official CLI lets ``[v]`` lines through; we deliberately do not). A message that must survive ``-q``
or json mode goes through :meth:`Output.error` or :meth:`Output.always`. All JSON has sorted keys, like the
official CLI (its serde maps are BTreeMaps), so scripts comparing output byte for byte keep working.
``NO_COLOR`` disables emoji whenever it is present, even empty, as the official CLI does.

This module must never decide exit codes (``exit_codes.py`` does), never exit, and never read anything but the
environment mapping and the stderr TTY flag it is given. Every process builds an Output, ``--version`` too, so
``json`` and the exit-code table are imported by the methods that use them, not by the module.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, TextIO

from runcomfy.safe_text import MASK
from runcomfy.safe_text import redact as safe_redact

Mode = Literal["pretty", "json"]

#: Emoji per progress tag (the official CLI's). A tag missing here is always shown as ``[tag]``.
EMOJI: dict[str, str] = {
    "submit": "⏳",
    "poll": "⏳",
    "wait": "⏳",
    "requested": "⏳",
    "create": "⏳",
    "ok": "✅",
    "cancel": "⏹",
    "detach": "⏹",
    "download": "📥",
    "skip": "⚠",
    "auth": "🔑",
    "user": "📛",
    "info": "ℹ",
    "model": "📦",
    "result": "📦",
    "batch": "📦",
    "upload": "📤",
}

REDACTED = MASK
# An Authorization header however it is printed: a trace line, a dict repr, a JSON object.
_BEARER = re.compile(r"""(?i)(authorization["']?\s*[:=]\s*["']?bearer\s+)[^\s"',;}]+""")

_UNSAFE_CODEPOINTS: tuple[int, ...] = (
    *range(0x00, 0x20),
    *range(0x7F, 0xA0),
    *range(0x202A, 0x202F),  # bidi embeddings and overrides
    *range(0x2066, 0x206A),  # bidi isolates
    0x2028,
    0x2029,
)
_NAMED_ESCAPES = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}


def _text_escape(codepoint: int) -> str:
    if codepoint in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[codepoint]
    return f"\\x{codepoint:02x}" if codepoint < 0x100 else f"\\u{codepoint:04x}"


_TERMINAL_TABLE: dict[int, str] = {cp: _text_escape(cp) for cp in _UNSAFE_CODEPOINTS}
_MULTILINE_TABLE: dict[int, str] = {cp: esc for cp, esc in _TERMINAL_TABLE.items() if cp not in (0x09, 0x0A)}
# json.dumps already escapes C0; these are the characters it leaves raw that a terminal may still act on.
_JSON_TABLE: dict[int, str] = {cp: f"\\u{cp:04x}" for cp in _UNSAFE_CODEPOINTS if cp >= 0x7F}


def escape_control(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with every control character written as a visible escape (``\\x1b``, ``\\n``, ``\\u202e``).

    With ``keep_newlines`` newlines and tabs pass through, for multi-line plain-text payloads.
    """
    return text.translate(_MULTILINE_TABLE if keep_newlines else _TERMINAL_TABLE)


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with each secret, and the credential of any ``Authorization: Bearer`` header, as ``****``.

    The secrets are masked by the library's own rule (:func:`runcomfy.safe_text.redact`); the header pattern is
    the CLI's extra net for trace lines.
    """
    return _BEARER.sub(lambda m: m.group(1) + REDACTED, safe_redact(text, secrets))


def to_json(value: Any, *, pretty: bool) -> str:
    """``value`` as strict JSON with sorted keys, 2-space indented or compact on one line; terminal-safe.

    A non-finite float (which no parsed reply holds, but a caller might pass) is written as a string
    (``"Infinity"``), never as the ``Infinity`` literal that JSON parsers refuse.
    """
    import json

    layout: dict[str, Any] = {"indent": 2} if pretty else {"separators": (",", ":")}
    try:
        text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str, allow_nan=False, **layout)
    except ValueError:
        finite = json.loads(json.dumps(value, default=str), parse_constant=str)
        text = json.dumps(finite, sort_keys=True, ensure_ascii=False, allow_nan=False, **layout)
    # Only inside strings can these characters occur, where a \u escape denotes the same value.
    return text.translate(_JSON_TABLE)


def _silence(stream: TextIO) -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def _stream_is_tty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class Output:
    """Every line the CLI writes, in the chosen mode (see the module docstring for the rules)."""

    def __init__(
        self,
        mode: Mode = "pretty",
        *,
        quiet: bool = False,
        verbose: int = 0,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
        env: Mapping[str, str] | None = None,
        stderr_isatty: bool | None = None,
    ) -> None:
        """Streams default to ``sys.stdout``/``sys.stderr`` looked up at write time (so click's test runner
        sees them); ``stderr_isatty`` defaults to asking the stderr stream now; ``env`` to ``os.environ``."""
        if mode not in ("pretty", "json"):
            raise ValueError(f"unknown output mode: {mode!r}")
        self.mode: Mode = mode
        self.quiet = quiet
        self.verbosity = verbose
        self._stdout = stdout
        self._stderr = stderr
        self._secrets: set[str] = set()
        self._closed: set[TextIO] = set()
        self.broken_pipe = False
        environ = os.environ if env is None else env
        err = self._err
        is_tty = (err is not None and _stream_is_tty(err)) if stderr_isatty is None else stderr_isatty
        self.use_emoji = (
            mode == "pretty"
            and "NO_COLOR" not in environ
            and environ.get("TERM", "").strip() != "dumb"
            and is_tty
        )

    # -- configuration -------------------------------------------------------------------------------------

    @property
    def json_mode(self) -> bool:
        return self.mode == "json"

    @property
    def chatty(self) -> bool:
        """Whether progress, details and warnings are shown (pretty mode without ``-q``)."""
        return self.mode == "pretty" and not self.quiet

    def add_secret(self, secret: str | None) -> None:
        """Register a value (the token) that must never be written; empty or whitespace values are ignored."""
        if secret and secret.strip():
            import json

            self._secrets.add(secret)
            self._secrets.add(secret.strip())
            self._secrets.add(json.dumps(secret)[1:-1])
            self._secrets.add(escape_control(secret))

    @property
    def secrets(self) -> tuple[str, ...]:
        """The registered secrets, for code that must keep them out of what it makes (file names)."""
        return tuple(self._secrets)

    def scrub(self, value: Any) -> Any:
        """``value`` (any JSON value) with every registered secret masked, for what is stored, not shown
        (the journal keeps the server's output and error, which a server may have filled with the token)."""
        if not self._secrets or value is None:
            return value
        import json

        return json.loads(redact(json.dumps(value, ensure_ascii=False), self._secrets))

    # -- stderr --------------------------------------------------------------------------------------------

    def progress(self, tag: str, message: str) -> None:
        """A step of the command: ``<emoji> message`` on a capable TTY, else ``[tag] message``."""
        if not self.chatty:
            return
        emoji = EMOJI.get(tag) if self.use_emoji else None
        prefix = emoji if emoji else f"[{tag}]"
        self._line(self._err, f"{prefix} {escape_control(message)}")

    def detail(self, message: str) -> None:
        """A line under the last progress step, indented three spaces."""
        if self.chatty:
            self._line(self._err, f"   {escape_control(message)}")

    def warning(self, message: str) -> None:
        """Something the user should know that is neither data nor an error."""
        if self.chatty:
            self._line(self._err, f"warning: {escape_control(message)}")

    def verbose(self, message: str, level: int = 1) -> None:
        """``[v] message`` when ``-v`` was given at least ``level`` times."""
        if self.chatty and self.verbosity >= level:
            self._line(self._err, f"[v] {escape_control(message)}")

    def trace(self, line: str) -> None:
        """One line of the ``-vv`` HTTP trace; secrets are masked here as everywhere."""
        if self.chatty and self.verbosity >= 2:
            self._line(self._err, f"[trace] {escape_control(line)}")

    def always(self, message: str) -> None:
        """A line that shows in every mode, even ``-q`` and json (login's verification URL and user code)."""
        self._line(self._err, escape_control(message))

    def error(
        self,
        message: str,
        *,
        hint: str | None = None,
        exit_code: int | None = None,
        request_id: str | None = None,
        detail: Any = None,
        headline: str | None = None,
        lines: Sequence[str] = (),
        **extra: Any,
    ) -> None:
        """The failure of the command, in every mode.

        Pretty: ``Error: <message>`` (or ``<headline>`` followed by ``lines``, one problem each), then
        ``Request id: <id>`` and ``Hint: <hint>`` when given. Json: one compact line with ``error`` (always a
        string, the whole message), and when given ``exit_code``, ``request_id``, ``hint``, ``detail`` (real
        JSON: the server's error object or the list of input problems) and the ``extra`` keys.
        """
        if self.json_mode:
            fields: dict[str, Any] = {k: v for k, v in extra.items() if v is not None}
            pairs = (("exit_code", exit_code), ("request_id", request_id), ("hint", hint), ("detail", detail))
            for key, value in pairs:
                if value is not None:
                    fields[key] = value
            fields["error"] = str(message)
            self._line(self._err, to_json(fields, pretty=False))
            return
        if headline is not None and lines:
            self._line(self._err, f"Error: {escape_control(headline)}")
            for line in lines:
                self._line(self._err, f"  {escape_control(line)}")
        else:
            self._line(self._err, f"Error: {escape_control(message)}")
        if request_id:
            self._line(self._err, f"Request id: {escape_control(request_id)}")
        if hint:
            self._line(self._err, f"Hint: {escape_control(hint)}")

    def exception(self, exc: BaseException) -> int:
        """Report ``exc`` as the command's error and return the exit code it maps to."""
        from runcomfy.cli.exit_codes import classify, hint_for
        from runcomfy.errors import InputProblems, problem_text

        code = classify(exc)
        request_id = getattr(exc, "request_id", None)
        message = "interrupted" if isinstance(exc, KeyboardInterrupt) else (str(exc) or type(exc).__name__)
        problems = exc if isinstance(exc, InputProblems) else None
        self.error(
            message,
            hint=hint_for(exc),
            exit_code=code,
            request_id=request_id if isinstance(request_id, str) else None,
            detail=getattr(exc, "detail", None),
            headline=problems.headline if problems else None,
            lines=[problem_text(p) for p in problems.problems] if problems else (),
        )
        return code

    # -- stdout --------------------------------------------------------------------------------------------

    def data(self, value: Any) -> None:
        """The command's data: text as is (pretty) or any JSON value, indented (pretty) or compact (json)."""
        if self.json_mode:
            self._line(self._out, to_json(value, pretty=False))
        elif isinstance(value, str):
            self._line(self._out, escape_control(value, keep_newlines=True).rstrip("\n"))
        else:
            self._line(self._out, to_json(value, pretty=True))

    def document(self, value: Any) -> None:
        """A JSON document in every mode (pretty: indented; json: compact), even a bare string or number, so
        ``| jq`` always works on what ``run`` and ``result`` print."""
        self._line(self._out, to_json(value, pretty=not self.json_mode))

    def record(self, value: Any, pairs: Sequence[tuple[str, Any]] | None = None) -> None:
        """Data whose pretty form differs from its JSON form, so commands never branch on the mode.

        Json mode writes ``value``; pretty mode writes ``pairs`` as :meth:`kv` lines, or nothing when
        ``pairs`` is None (the command has already told the user through progress lines).
        """
        if self.json_mode:
            self.data(value)
        elif pairs is not None:
            self.kv(pairs)

    def kv(self, pairs: Sequence[tuple[str, Any]]) -> None:
        """``key:`` padded to the longest key plus one, a space, the value; None values are left out.

        Json mode writes the pairs as one object instead.
        """
        shown = [(key, value) for key, value in pairs if value is not None]
        if self.json_mode:
            self.data(dict(shown))
            return
        if not shown:
            return
        width = max(len(key) for key, _ in shown) + 1
        for key, value in shown:
            self._line(self._out, f"{key + ':':<{width}} {escape_control(str(value))}")

    def table(self, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """Columns separated by two spaces, the last unpadded, trailing spaces trimmed.

        Json mode writes a list of objects keyed by header instead.
        """
        raw_rows = [list(row) for row in rows]
        if self.json_mode:
            self.data([dict(zip(headers, row, strict=False)) for row in raw_rows])
            return
        cells = [[escape_control("" if cell is None else str(cell)) for cell in row] for row in raw_rows]
        lines = [list(headers), *cells]
        ncols = max(len(line) for line in lines)
        widths = [max((len(line[i]) for line in lines if i < len(line)), default=0) for i in range(ncols)]
        for line in lines:
            padded = [cell.ljust(widths[i]) if i < len(line) - 1 else cell for i, cell in enumerate(line)]
            self._line(self._out, "  ".join(padded).rstrip())

    # -- writing -------------------------------------------------------------------------------------------

    @property
    def _out(self) -> TextIO | None:
        # None when the process was started with the descriptor closed (``runcomfy ... >&-``).
        return self._stdout if self._stdout is not None else sys.stdout

    @property
    def _err(self) -> TextIO | None:
        return self._stderr if self._stderr is not None else sys.stderr

    def _line(self, stream: TextIO | None, text: str) -> None:
        if stream is None:  # a closed stream reads like a reader that went away: nothing to write to
            self.broken_pipe = True
            return
        if stream in self._closed:
            return
        text = redact(text, self._secrets) + "\n"
        try:
            try:
                stream.write(text)
            except UnicodeEncodeError:
                encoding = getattr(stream, "encoding", None) or "ascii"
                stream.write(text.encode(encoding, errors="backslashreplace").decode(encoding))
            stream.flush()
        except BrokenPipeError:
            # The reader went away (`runcomfy ... | head`): stop writing there, and point the descriptor at
            # /dev/null so the interpreter's final flush does not complain either.
            self._closed.add(stream)
            self.broken_pipe = True
            _silence(stream)
