"""Where things live and which service to talk to: config dir, state dir, cache dir, base URLs.

Owns the environment precedence of the official CLI (one function per setting) and the validation of base URLs.
Every function takes the environment as a mapping so callers and tests never mutate ``os.environ``. This module
must never create directories, read files or touch the network.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping
from pathlib import Path

from runcomfy.errors import ConfigError

DEFAULT_MODEL_API_BASE = "https://model-api.runcomfy.net/v1"
DEFAULT_WEB_BASE = "https://www.runcomfy.com"
DEFAULT_SERVERLESS_API_BASE = "https://api.runcomfy.net/prod/v2"
DEFAULT_TRAINER_API_BASE = "https://trainer-api.runcomfy.net/prod/v1"

ENV_TOKEN = "RUNCOMFY_TOKEN"
ENV_MODEL_API_BASE = "RUNCOMFY_MODEL_API_BASE"
ENV_WEB_BASE = "RUNCOMFY_WEB_BASE"
ENV_SERVERLESS_API_BASE = "RUNCOMFY_SERVERLESS_API_BASE"
ENV_TRAINER_API_BASE = "RUNCOMFY_TRAINER_API_BASE"
ENV_CONFIG_DIR = "RUNCOMFY_CONFIG_DIR"
ENV_STATE_DIR = "RUNCOMFY_STATE_DIR"
ENV_CACHE_DIR = "RUNCOMFY_CACHE_DIR"


def env_value(name: str, env: Mapping[str, str] | None = None) -> str | None:
    """The trimmed value of ``name``; empty or whitespace-only counts as unset (``None``).

    ``env`` defaults to ``os.environ`` at call time (not as a default value, which ``help()`` would print with
    any token in it).
    """
    raw = (os.environ if env is None else env).get(name)
    if raw is None:
        return None
    value = raw.strip()
    return value or None


def _home(env: Mapping[str, str] | None) -> Path:
    home = env_value("HOME", env)
    return Path(home) if home else Path.home()


def _xdg_dir(env: Mapping[str, str] | None, explicit_var: str, xdg_var: str, *fallback: str) -> Path:
    """``$<explicit_var>``, else ``$<xdg_var>/runcomfy``, else ``~/<fallback...>/runcomfy`` (empty counts as unset)."""
    explicit = env_value(explicit_var, env)
    if explicit:
        return Path(explicit)
    xdg = env_value(xdg_var, env)
    if xdg:
        return Path(xdg) / "runcomfy"
    return _home(env).joinpath(*fallback, "runcomfy")


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$RUNCOMFY_CONFIG_DIR``, else ``$XDG_CONFIG_HOME/runcomfy``, else ``~/.config/runcomfy``.

    The same path on every OS, as the official CLI, so a token saved by one is found by the other.
    """
    return _xdg_dir(env, ENV_CONFIG_DIR, "XDG_CONFIG_HOME", ".config")


def state_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$RUNCOMFY_STATE_DIR``, else ``$XDG_STATE_HOME/runcomfy``, else ``~/.local/state/runcomfy``.

    Kept apart from the config dir because the request journal is data the program writes, not settings.
    """
    return _xdg_dir(env, ENV_STATE_DIR, "XDG_STATE_HOME", ".local", "state")


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$RUNCOMFY_CACHE_DIR``, else ``$XDG_CACHE_HOME/runcomfy``, else ``~/.cache/runcomfy``.

    Holds only what can be fetched again (model schemas), so deleting it is always safe.
    """
    return _xdg_dir(env, ENV_CACHE_DIR, "XDG_CACHE_HOME", ".cache")


def model_api_base(env: Mapping[str, str] | None = None) -> str:
    """``$RUNCOMFY_MODEL_API_BASE`` (validated, no trailing ``/``) or the default Model API base."""
    return _base_from_env(ENV_MODEL_API_BASE, DEFAULT_MODEL_API_BASE, env)


def web_base(env: Mapping[str, str] | None = None) -> str:
    """``$RUNCOMFY_WEB_BASE`` (validated, no trailing ``/``) or the default web/auth base."""
    return _base_from_env(ENV_WEB_BASE, DEFAULT_WEB_BASE, env)


def serverless_api_base(env: Mapping[str, str] | None = None) -> str:
    """``$RUNCOMFY_SERVERLESS_API_BASE`` (validated, no trailing ``/``) or the default Serverless API base
    (deployments and the balance)."""
    return _base_from_env(ENV_SERVERLESS_API_BASE, DEFAULT_SERVERLESS_API_BASE, env)


def trainer_api_base(env: Mapping[str, str] | None = None) -> str:
    """``$RUNCOMFY_TRAINER_API_BASE`` (validated, no trailing ``/``) or the default Trainer API base."""
    return _base_from_env(ENV_TRAINER_API_BASE, DEFAULT_TRAINER_API_BASE, env)


def _base_from_env(name: str, default: str, env: Mapping[str, str] | None) -> str:
    value = env_value(name, env)
    if value is None:
        return default
    return normalize_base_url(value, name=name)


def normalize_base_url(value: str, *, name: str = "base URL") -> str:
    """Trim, drop trailing ``/`` and validate a base URL; raise :class:`ConfigError` when it cannot be used.

    Why so strict: the bearer token is sent to this origin, so a typo must fail loudly instead of sending the
    token somewhere unexpected. Accepted: ``http``/``https`` with a host, an optional valid port and path;
    refused: userinfo, query, fragment, whitespace, backslashes and control characters.
    """
    url = value.strip().rstrip("/")
    if not url:
        raise ConfigError(f"{name} is empty")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F or ch == "\\" for ch in url):
        raise ConfigError(f"{name} contains whitespace, a backslash or a control character")
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:  # e.g. an unclosed "[" of an IPv6 host
        raise ConfigError(f"{name} is not a valid URL") from None  # not quoted: it may hold a password
    if "@" in parts.netloc:
        # Checked first, and the URL is not quoted: it may hold a password.
        raise ConfigError(f"{name} must not contain a user name or password")
    if parts.scheme.lower() not in ("http", "https"):
        raise ConfigError(f"{name} must start with https:// (or http:// for a local emulator): {url!r}")
    if not parts.hostname:
        raise ConfigError(f"{name} has no host: {url!r}")
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise ConfigError(f"{name} must not contain a query string or fragment: {url!r}")
    try:
        parts.port  # noqa: B018 - accessing it validates the port
    except ValueError as exc:
        raise ConfigError(f"{name} has an invalid port: {url!r}") from exc
    return url


def is_loopback_base(url: str) -> bool:
    """Whether a base URL points at this machine (plain ``http`` is only reasonable there)."""
    host = (urllib.parse.urlsplit(url).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.")
