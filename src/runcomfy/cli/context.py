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

DEFAULT_RETRY_WINDOW_S = 300.0
SCHEMA_TTL_S = 600.0  # model schemas change rarely; ten minutes spares repeated runs the catalog call

# Every process builds an AppContext, ``--version`` and ``--help`` too: what only a command needs (the settings
# module with pathlib and urllib, the exception tree) is imported where it is used.
if TYPE_CHECKING:
    from runcomfy.catalog import SchemaCache
    from runcomfy.cli.output import Output
    from runcomfy.client import Client
    from runcomfy.downloads import Origin
    from runcomfy.journal import Journal, JournalScope
    from runcomfy.retry import RetryNotice


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
        # Set by commands that wait on one request in the foreground: an outage and its end are then shown as
        # progress lines (in a batch, many workers retry at once, so retries stay at -v).
        self.announce_retries = False

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
            self._register_token_secret(env)
        return self._env

    def _register_token_secret(self, env: Mapping[str, str]) -> None:
        """Mask the token in everything written, from the moment the environment is known: commands that never
        build a client (``requests list --all``) still print what a server sent."""
        from runcomfy.auth.credentials import find_token
        from runcomfy.errors import RunComfyError

        try:
            token = find_token(env).token
        except RunComfyError:  # an unusable token file is reported by the command that needs the token
            return
        if token is not None:
            self.output.add_secret(token.reveal())

    def client(self, *, web_base: str | None = None, for_login: bool = False) -> Client:
        """The library client, with the token registered as a secret and its warnings shown.

        ``for_login``: a token file that cannot be used is ignored (login is how it gets replaced).
        """
        if self._client is None:
            from runcomfy.auth.credentials import TokenLookup, find_token, token_path
            from runcomfy.client import Client
            from runcomfy.errors import InvalidTokenFile

            env = self.env
            _route_library_logging(self.output)
            try:
                lookup = find_token(env)
            except InvalidTokenFile:
                if not for_login:
                    raise
                lookup = TokenLookup(None, token_path(env))
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
                on_recovered=self._on_recovered,
                retry_window_s=retry_window(env),
                look_up_token=False,  # looked up above, once
            )
            self.output.verbose(f"Model API base: {self._client.model_api_base}")
            self._stack.callback(self._client.close)
        return self._client

    def require_client(self) -> Client:
        """The client, or :class:`NotAuthenticated` when no token is configured (every API call needs one)."""
        from runcomfy.auth.credentials import NOT_SIGNED_IN
        from runcomfy.errors import NotAuthenticated

        client = self.client()
        if not client.has_token:
            raise NotAuthenticated(NOT_SIGNED_IN)
        return client

    def _on_retry(self, notice: RetryNotice) -> None:
        """An outage's first failure is a progress line when retries are announced; every retry shows at -v."""
        if notice.attempt == 1 and self.announce_retries:
            self.output.progress(
                "retry", f"{notice.error}; retrying for up to {_duration(notice.gives_up_in_s)}"
            )
        self.output.verbose(f"{notice.error} (attempt {notice.attempt}); retrying in {notice.delay_s:.1f}s")

    def _on_recovered(self, failed_attempts: int, seconds: float) -> None:
        if self.announce_retries:
            self.output.progress(
                "retry", f"recovered after {failed_attempts} failed attempt(s) ({_duration(seconds)})"
            )

    def journal(self) -> Journal:
        """The local request journal in the state directory."""
        if self._journal is None:
            from runcomfy.journal import Journal, default_journal_path

            self._journal = Journal(default_journal_path(self.env if self.local else self._base_env))
            self._stack.callback(self._journal.close)
        return self._journal

    def journal_scope(self) -> JournalScope:
        """Whose journal rows this command may reuse: the service (see :meth:`service_name`) and the token's
        fingerprint."""
        return self.journal().scope_for(self.client(), service=self.service_name())

    def schema_cache(self) -> SchemaCache:
        """The local cache of model records (schemas), so repeated runs do not refetch them."""
        from runcomfy import config
        from runcomfy.catalog import SchemaCache

        return SchemaCache(config.cache_dir(self._base_env) / "models", ttl_s=SCHEMA_TTL_S)

    def service_name(self) -> str:
        """Which service this command talks to, stably: the Model API base, or ``local-emulator`` for the
        embedded emulator (its port changes with every ``--local`` process, its state does not). Cached schemas
        and journal rows are kept per service."""
        return "local-emulator" if self.local else self.client().model_api_base

    cache_namespace = service_name

    def trusted_origins(self) -> list[Origin]:
        """Download origins trusted beyond RunComfy's hosts: the configured API bases' own origins (the Model
        API's and the Serverless API's; an emulator or a private gateway serves its files from there)."""
        from runcomfy import config
        from runcomfy.downloads import origin_of

        origins: list[Origin] = []
        for name in (config.ENV_MODEL_API_BASE, config.ENV_SERVERLESS_API_BASE, config.ENV_TRAINER_API_BASE):
            base = self.env.get(name, "").strip()
            if not base:
                continue
            try:
                origin = origin_of(config.normalize_base_url(base))
            except ValueError:
                continue
            if origin not in origins:
                origins.append(origin)
        return origins

    def close(self) -> None:
        """Close the client and stop the embedded emulator."""
        self._stack.close()


def _duration(seconds: float) -> str:
    """``45s``, ``5m``, ``2m30s``: how long, for a person."""
    whole = max(round(seconds), 0)
    if whole < 60:
        return f"{whole}s"
    minutes, rest = divmod(whole, 60)
    return f"{minutes}m{rest:02d}s" if rest else f"{minutes}m"


def _route_library_logging(output: Output) -> None:
    """Send the library's log records through the Output sink (Python's fallback handler would otherwise print
    them on stderr, even in json mode).

    Download records ("none of the file URLs was downloaded") go to ``-v``: the CLI already reports the same
    facts as progress lines. Other warnings (a number kept as a string) are warnings.
    """
    import logging

    class _ToOutput(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.name.startswith("runcomfy.downloads") or record.levelno < logging.WARNING:
                output.verbose(record.getMessage())
            else:
                output.warning(record.getMessage())

    logger = logging.getLogger("runcomfy")
    logger.handlers = [_ToOutput()]
    logger.propagate = False


def retry_window(env: Mapping[str, str]) -> float:
    """``RUNCOMFY_RETRY_WINDOW``: seconds of sustained failure status/result polling rides out (default 300)."""
    from runcomfy import config
    from runcomfy.errors import ConfigError

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
