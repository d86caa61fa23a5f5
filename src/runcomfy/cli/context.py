"""What every command shares: the Output sink, the environment, the Client, the journal, ``--local``.

Built once per process by ``main()`` and handed to click as ``obj``. Expensive pieces (the HTTP client, the
embedded emulator, the journal) are made on first use, so ``--help`` and ``completion`` stay fast, and closed
by :meth:`AppContext.close` whatever happens.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import ExitStack
from typing import TYPE_CHECKING

import click

from runcomfy import config
from runcomfy.cli.output import Output
from runcomfy.errors import ConfigError

DEFAULT_RETRY_WINDOW_S = 300.0
SCHEMA_TTL_S = 600.0  # model schemas change rarely; ten minutes spares repeated runs the catalog call

if TYPE_CHECKING:
    from runcomfy.catalog import SchemaCache
    from runcomfy.client import Client
    from runcomfy.downloads import Origin
    from runcomfy.journal import Journal


class AppContext:
    """Per-process state of the CLI."""

    def __init__(self, output: Output, env: Mapping[str, str] | None = None) -> None:
        self.output = output
        self._base_env: Mapping[str, str] = os.environ if env is None else env
        self.local = False
        self._env: dict[str, str] | None = None
        self._client: Client | None = None
        self._journal: Journal | None = None
        self._stack = ExitStack()

    @property
    def env(self) -> dict[str, str]:
        """The environment commands see (in ``--local`` mode, pointed at the embedded emulator)."""
        if self._env is None:
            env = dict(self._base_env)
            if self.local:
                from runcomfy.cli.local import embedded_emulator, local_environment

                service = self._stack.enter_context(embedded_emulator(self._base_env))
                self.output.verbose(
                    f"--local: embedded emulator at {service.web_base} (state {service.db_path})"
                )
                env = local_environment(self._base_env, service)
            self._env = env
        return self._env

    def client(self, *, web_base: str | None = None) -> Client:
        """The library client, with the token registered as a secret and its warnings shown."""
        if self._client is None:
            from runcomfy.auth.credentials import find_token
            from runcomfy.client import Client

            env = self.env
            lookup = find_token(env)
            for warning in lookup.warnings:
                self.output.warning(warning)
            if lookup.token is not None:
                self.output.add_secret(lookup.token.reveal())
            trace = self.output.trace if self.output.verbosity >= 2 else None
            self._client = Client(
                lookup.token,
                env=env,
                web_base=web_base,
                trace=trace,
                on_retry=self._on_retry,
                retry_window_s=retry_window(env),
            )
            self.output.verbose(f"Model API base: {self._client.model_api_base}")
            self._stack.callback(self._client.close)
        return self._client

    def _on_retry(self, error: Exception, attempt: int, delay_s: float) -> None:
        """Shown with ``-v``: the library is riding out a transient failure."""
        self.output.verbose(f"{error} (attempt {attempt}); retrying in {delay_s:.1f}s")

    def journal(self) -> Journal:
        """The local request journal in the state directory."""
        if self._journal is None:
            from runcomfy.journal import Journal, default_journal_path

            self._journal = Journal(default_journal_path(self.env if self.local else self._base_env))
            self._stack.callback(self._journal.close)
        return self._journal

    def schema_cache(self) -> SchemaCache:
        """The local cache of model records (schemas), so repeated runs do not refetch them."""
        from runcomfy.catalog import SchemaCache

        return SchemaCache(config.cache_dir(self._base_env) / "models", ttl_s=SCHEMA_TTL_S)

    def cache_namespace(self) -> str:
        """Whose catalog a cached record belongs to: the Model API base (the embedded emulator's changes port
        with every ``--local`` process, so it has a fixed name)."""
        return "local-emulator" if self.local else self.client().model_api_base

    def trusted_origins(self) -> list[Origin]:
        """Download origins trusted beyond RunComfy's hosts: the configured Model API base's own origin."""
        from runcomfy.downloads import origin_of

        base = self.env.get(config.ENV_MODEL_API_BASE, "").strip()
        if not base:
            return []
        try:
            return [origin_of(config.normalize_base_url(base))]
        except ValueError:
            return []

    def close(self) -> None:
        """Close the client and stop the embedded emulator."""
        self._stack.close()


def retry_window(env: Mapping[str, str]) -> float:
    """``RUNCOMFY_RETRY_WINDOW``: seconds of sustained failure status/result polling rides out (default 300)."""
    raw = config.env_value("RUNCOMFY_RETRY_WINDOW", env)
    try:
        value = float(raw) if raw else DEFAULT_RETRY_WINDOW_S
    except ValueError:
        raise ConfigError(f"RUNCOMFY_RETRY_WINDOW must be a number of seconds, got {raw!r}") from None
    if value < 0:
        raise ConfigError("RUNCOMFY_RETRY_WINDOW must not be negative")
    return value


def app_context() -> AppContext:
    """The AppContext of the running command."""
    obj = click.get_current_context().find_object(AppContext)
    if obj is None:  # a command invoked outside main() (e.g. in a test of click alone)
        raise RuntimeError("runcomfy CLI commands must run through runcomfy.cli.main.main()")
    return obj
