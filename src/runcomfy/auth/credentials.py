"""The token: where it comes from, and the one safe way to store and delete it.

Owns the precedence of the official CLI (``RUNCOMFY_TOKEN``, trimmed and non-empty, wins over
``<config_dir>/token.json``), the token file format (pretty JSON, 2-space indent, the same four fields as the
official CLI) and the safe write (0700 directory, exclusive 0600 temp file, fsync, rename). A symlink at the path
is refused on write and on read, so a planted link can neither receive the token nor feed a foreign one; logout
removes the link itself, never its target. It must never print: problems worth telling the user (a token file others can read) are returned as
``warnings`` for the CLI to show. It must never put the token in a message, a ``repr`` or a log line.
"""

from __future__ import annotations

import contextlib
import errno
import hmac
import json
import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from runcomfy import config
from runcomfy.errors import InvalidTokenFile, NotAuthenticated, TokenFileError
from runcomfy.private_dirs import make_private_dirs

TOKEN_FILE_NAME = "token.json"
_MAX_TOKEN_FILE_BYTES = 64 * 1024
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)

NOT_SIGNED_IN = "not signed in — run `runcomfy login` first, or set RUNCOMFY_TOKEN"
_RELOGIN = "run `runcomfy login` (it replaces the file), or set RUNCOMFY_TOKEN"
_SOURCES = {"env": "RUNCOMFY_TOKEN", "file": "the token file", "login": "login", "argument": "the caller"}


class Token:
    """A bearer token whose ``repr`` and ``str`` never show the secret; ``reveal()`` is the one way to read it.

    ``source`` says where it came from (``"argument"``, ``"env"``, ``"file"``, ``"login"``), so the CLI can say
    for example that ``RUNCOMFY_TOKEN`` is still in effect after logout.
    """

    __slots__ = ("_value", "source")

    def __init__(self, value: str, *, source: str = "argument") -> None:
        if not isinstance(value, str) or not value.strip():
            raise NotAuthenticated("the token is empty")
        # A control character (a pasted line break) cannot go in an HTTP header: refuse it here, once, rather
        # than let every request fail in the transport and be retried as if the network were down.
        if any(ord(char) < 0x20 or ord(char) == 0x7F for char in value.strip()):
            raise NotAuthenticated(
                f"the token (from {_SOURCES.get(source, source)}) contains a control character such as a line "
                "break; set it again"
            )
        self._value = value.strip()
        self.source = source

    def reveal(self) -> str:
        """The secret itself, for the HTTP layer and the token store only."""
        return self._value

    def __repr__(self) -> str:
        return f"Token(****, source={self.source!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Token):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class TokenLookup:
    """The outcome of looking for a token: the token (or ``None``), the file consulted and any warnings."""

    token: Token | None
    path: Path
    warnings: tuple[str, ...] = ()

    @property
    def source(self) -> str | None:
        return self.token.source if self.token else None


def token_path(env: Mapping[str, str] | None = None) -> Path:
    """``<config_dir>/token.json``."""
    return config.config_dir(env) / TOKEN_FILE_NAME


def find_token(env: Mapping[str, str] | None = None) -> TokenLookup:
    """Look for a token: ``RUNCOMFY_TOKEN`` first, then the token file. Never raises when there is none.

    Raises :class:`InvalidTokenFile` when the token file exists but is unsafe, unreadable or not a token file: a
    broken file must not silently look like "signed out".
    """
    path = token_path(env)
    from_env = config.env_value(config.ENV_TOKEN, env)
    if from_env:
        return TokenLookup(Token(from_env, source="env"), path)
    token, warnings = read_token_file(path)
    return TokenLookup(token, path, tuple(warnings))


def require_token(env: Mapping[str, str] | None = None) -> Token:
    """The token by the usual precedence, or :class:`NotAuthenticated`."""
    lookup = find_token(env)
    if lookup.token is None:
        raise NotAuthenticated(NOT_SIGNED_IN)
    return lookup.token


def read_token_file(path: Path) -> tuple[Token | None, list[str]]:
    """Read ``token.json``: ``(None, [])`` when absent; warnings when others may read it.

    Only ``access_token`` is required, as in the official CLI; unknown fields are ignored.
    """
    try:
        # O_NONBLOCK: a FIFO planted at the path must not hang the command waiting for a writer.
        fd = os.open(path, os.O_RDONLY | _O_NOFOLLOW | _O_CLOEXEC | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        return None, []
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InvalidTokenFile(
                f"refusing to read {path}: it is a symbolic link",
                hint=f"remove the link ({path}), then run `runcomfy login`",
            ) from None
        raise InvalidTokenFile(f"cannot read {path}: {exc.strerror}", hint=_RELOGIN) from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):  # a directory, FIFO or device: never read, never block on it
        os.close(fd)
        raise InvalidTokenFile(
            f"{path} is not a regular file", hint=f"remove {path}, then run `runcomfy login`"
        )
    with os.fdopen(fd, "rb") as handle:
        try:
            data = handle.read(_MAX_TOKEN_FILE_BYTES + 1)
        except OSError as exc:
            raise InvalidTokenFile(f"cannot read {path}: {exc.strerror}", hint=_RELOGIN) from None
    warnings = _permission_warnings(path, mode)
    return _parse_token_file(path, data), warnings


def _permission_warnings(path: Path, mode: int) -> list[str]:
    if os.name != "posix" or not stat.S_IMODE(mode) & 0o077:
        return []
    return [
        f"token file {path} is accessible by other users (mode {stat.S_IMODE(mode):04o}); "
        f"run `chmod 600 {path}` or `runcomfy login` again"
    ]


def _parse_token_file(path: Path, data: bytes) -> Token:
    # The file content never enters a message: it is the secret.
    invalid = InvalidTokenFile(f"{path} is not a valid token file", hint=_RELOGIN)
    if len(data) > _MAX_TOKEN_FILE_BYTES:
        raise invalid
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        raise invalid from None
    access_token = document.get("access_token") if isinstance(document, dict) else None
    if not isinstance(access_token, str) or not access_token.strip():
        raise invalid
    return Token(access_token, source="file")


def token_file_text(token: Token) -> str:
    """The official CLI's format: 2-space pretty JSON, fields in its struct order, optional fields ``null``."""
    document = {"access_token": token.reveal(), "refresh_token": None, "expires_at": None, "user_email": None}
    return json.dumps(document, indent=2, ensure_ascii=False)


def save_token(token: Token | str, env: Mapping[str, str] | None = None) -> Path:
    """Store the token in ``<config_dir>/token.json`` atomically with mode 0600; return the path.

    Steps, each for a reason: the directory is made 0700 whatever the umask (``chmod`` after ``mkdir``); the
    secret goes to a fresh temp file opened with ``O_EXCL|O_NOFOLLOW`` so no stale or planted file can receive
    it; ``fsync`` then ``rename`` so a crash leaves the old token or the new one, never half of one.
    """
    if isinstance(token, str):
        token = Token(token, source="login")
    path = token_path(env)
    ensure_private_dir(path.parent)
    if path.is_symlink():
        raise TokenFileError(f"refusing to write {path}: it is a symbolic link")
    tmp = path.with_name(f".{TOKEN_FILE_NAME}.{secrets.token_hex(8)}.tmp")
    try:
        _write_private_file(tmp, token_file_text(token).encode("utf-8"))
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise TokenFileError(f"save token: cannot write {path}: {exc.strerror or exc}") from None
    _fsync_dir(path.parent)
    return path


def ensure_private_dir(directory: Path) -> None:
    """Create ``directory`` and any missing parents, each 0700 whatever the umask."""
    try:
        make_private_dirs(directory)
    except OSError as exc:
        raise TokenFileError(f"cannot create {directory}: {exc.strerror or exc}") from None


def _write_private_file(path: Path, data: bytes) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC
    fd = os.open(path, flags, 0o600)
    try:
        if os.name == "posix":
            os.fchmod(fd, 0o600)  # the umask may have removed bits from 0600; make it exact
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def delete_token(env: Mapping[str, str] | None = None) -> bool:
    """Remove ``token.json`` (a symlink there is removed, never its target); whether a file existed."""
    path = token_path(env)
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise TokenFileError(f"remove token at {path}: {exc.strerror or exc}") from None
    return True
