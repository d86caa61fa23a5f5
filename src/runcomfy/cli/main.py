"""The root command group, the global options, and the one place the process exit code is decided.

Global options may come before or after the command name (as with the official CLI's clap ``global = true``);
click only accepts group options before the command, so :func:`hoist_global_options` moves them to the front
before click parses anything. Every error ends in :func:`main`: it is printed once through the Output sink
(never as a traceback) and classified by type into an exit code (``exit_codes.py``).

Start-up: ``runcomfy --version`` and ``--help`` import this module, click and little else (issue 14; a test
lists what they may load). The exit-code table (with the exception tree) is imported when an error is reported
or the root help shows its ``EXIT CODES`` section, and a command's module when that command is used.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import click

from runcomfy._version import __version__
from runcomfy.cli.signals import EXIT_INTERRUPTED, caused_by_interrupt

if TYPE_CHECKING:
    from runcomfy.cli.context import AppContext
    from runcomfy.cli.output import Output

# Global options: name -> takes a value.
_GLOBAL_FLAGS: dict[str, bool] = {
    "--output": True,
    "-q": False,
    "--quiet": False,
    "-v": False,
    "-vv": False,
    "-vvv": False,
    "--verbose": False,
    "--local": False,
}


def hoist_global_options(argv: Sequence[str]) -> list[str]:
    """Move global options found anywhere before ``--`` to the front of ``argv``.

    Only exact global option tokens (or ``--output=...``) are moved; a value following ``--output`` moves
    with it. The value of another option is never inspected, except that an option value equal to a global
    flag's spelling would be taken for it (no command has such values).
    """
    front: list[str] = []
    rest: list[str] = []
    i = 0
    args = list(argv)
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        if arg.startswith("--output="):
            front.append(arg)
        elif arg in _GLOBAL_FLAGS:
            front.append(arg)
            if _GLOBAL_FLAGS[arg] and i + 1 < len(args):
                front.append(args[i + 1])
                i += 1
        else:
            rest.append(arg)
        i += 1
    return front + rest


def _output_from_args(args: Sequence[str]) -> Output:
    """The Output sink, from the (hoisted) global options, before click parses them: errors raised while
    parsing must already be written in the requested mode."""
    mode, quiet, verbose = "pretty", False, 0
    for index, arg in enumerate(args):
        if (
            arg == "--output" and index + 1 < len(args) and args[index + 1] == "json"
        ) or arg == "--output=json":
            mode = "json"
        elif arg in ("-q", "--quiet"):
            quiet = True
        elif arg in ("-v", "--verbose"):
            verbose += 1
        elif arg in ("-vv", "-vvv"):
            verbose += len(arg) - 1
    from runcomfy.cli.output import Output

    return Output("json" if mode == "json" else "pretty", quiet=quiet, verbose=verbose)


ENVIRONMENT_HELP = """\b
ENVIRONMENT:
  RUNCOMFY_TOKEN           API token; wins over the token file
  RUNCOMFY_WEB_BASE        web/auth base (default https://www.runcomfy.com)
  RUNCOMFY_MODEL_API_BASE  Model API base (default https://model-api.runcomfy.net/v1)
  RUNCOMFY_SERVERLESS_API_BASE
                           Serverless API base: deployments, balance
                           (default https://api.runcomfy.net/prod/v2)
  RUNCOMFY_TRAINER_API_BASE
                           Trainer API base: datasets, train
                           (default https://trainer-api.runcomfy.net/prod/v1)
  RUNCOMFY_CONFIG_DIR      config dir (else $XDG_CONFIG_HOME/runcomfy, else ~/.config/runcomfy)
  XDG_CONFIG_HOME          see RUNCOMFY_CONFIG_DIR
  RUNCOMFY_STATE_DIR       request journal and --local state (else $XDG_STATE_HOME/runcomfy)
  RUNCOMFY_RETRY_WINDOW    seconds polling rides out a sustained outage (default 300; caps the
                           pre-flight schema fetch when shorter than 10)
  RUNCOMFY_CACHE_DIR       cached model schemas (else $XDG_CACHE_HOME/runcomfy)
  RUNCOMFY_MCP_TOKEN       the bearer token `runcomfy mcp --http` requires
  NO_COLOR, TERM=dumb      plain [tag] lines instead of emoji
"""


def root_epilog() -> str:
    """The root help's epilog: the environment, then the exit-code table (built only when help is shown)."""
    from runcomfy.cli.exit_codes import exit_codes_help

    return f"{ENVIRONMENT_HELP}\n{exit_codes_help()}\n"


def _deployments_group() -> click.Command:
    """The ``deployments`` group: CRUD and the proxy, plus the request commands kept in their own module."""
    from runcomfy.cli import deployment_requests
    from runcomfy.cli.deployments import deployments_group

    for command in (
        deployment_requests.run_command,
        deployment_requests.status_command,
        deployment_requests.result_command,
        deployment_requests.cancel_command,
    ):
        deployments_group.add_command(command)
    return deployments_group


def _attribute(module: str, name: str) -> Callable[[], click.Command]:
    def load() -> click.Command:
        command = getattr(importlib.import_module(module), name)
        assert isinstance(command, click.Command)
        return command

    return load


# name -> (loader, the short help ``runcomfy --help`` shows without importing the command's module; a test
# checks each against the command's own docstring)
LAZY_COMMANDS: dict[str, tuple[Callable[[], click.Command], str]] = {
    "login": (
        _attribute("runcomfy.cli.auth", "login_command"),
        "Sign in with a device code and save the token to <config dir>/token.json.",
    ),
    "logout": (_attribute("runcomfy.cli.auth", "logout_command"), "Delete the saved token."),
    "whoami": (
        _attribute("runcomfy.cli.auth", "whoami_command"),
        "Show the signed-in user (on stdout, so it can be piped).",
    ),
    "run": (
        _attribute("runcomfy.cli.run", "run_command"),
        "Run a model: submit, wait, print the output and download its files.",
    ),
    "status": (_attribute("runcomfy.cli.requests", "status_command"), "Show a request's status (one call)."),
    "cancel": (_attribute("runcomfy.cli.requests", "cancel_command"), "Cancel a request."),
    "result": (
        _attribute("runcomfy.cli.requests", "result_command"),
        "Fetch a request's result record and download its files (resume a run that was interrupted).",
    ),
    "requests": (
        _attribute("runcomfy.cli.requests", "requests_group"),
        "Requests by id (get, cancel, result: aliases) and the local history (list).",
    ),
    "completion": (
        _attribute("runcomfy.cli.completion", "completion_command"),
        "Print the completion script for SHELL.",
    ),
    "models": (
        _attribute("runcomfy.cli.models", "models_group"),
        "Browse the model catalog: list, categories, get.",
    ),
    "deployments": (
        _deployments_group,
        "ComfyUI deployments (Serverless API): manage them, run them, call their instances.",
    ),
    "balance": (
        _attribute("runcomfy.cli.balance", "balance_command"),
        "Show the account's balance (it pays for models, deployments and training alike).",
    ),
    "datasets": (
        _attribute("runcomfy.cli.datasets", "datasets_group"),
        "Training datasets (Trainer API): images or videos with same-stem .txt captions.",
    ),
    "train": (
        _attribute("runcomfy.cli.train", "train_group"),
        "LoRA training jobs (Trainer API, AI Toolkit): write a config, submit it, follow it, fetch the LoRA.",
    ),
    "mcp": (
        _attribute("runcomfy.cli.mcp", "mcp_command"),
        "Serve every RunComfy API to coding agents over MCP (stdio, or streamable HTTP with --http).",
    ),
    "emulator": (
        _attribute("runcomfy.cli.emulator", "emulator_command"),
        "Run a local emulator of the RunComfy service (web login, Model API, Serverless API, balance, "
        "Trainer API).",
    ),
}


class LazyGroup(click.Group):
    """The root group: a command's module is imported only when that command runs (or its own ``--help`` is
    asked for), so ``--version``, ``--help`` and every command start without importing the others."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(LAZY_COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in LAZY_COMMANDS:
            self.add_command(LAZY_COMMANDS[cmd_name][0](), cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)  # as click's own format_commands
        rows = []
        for name in names:
            loaded = self.commands.get(name)
            if loaded is not None:
                rows.append((name, loaded.get_short_help_str(limit)))
            else:
                stand_in = click.Command(name, help=LAZY_COMMANDS[name][1])  # cut as click cuts a docstring
                rows.append((name, stand_in.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        if self.epilog is None:
            self.epilog = root_epilog()
        super().format_epilog(ctx, formatter)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="runcomfy", message="%(prog)s %(version)s")
@click.option(
    "--output",
    "output_mode",
    type=click.Choice(["pretty", "json"]),
    default="pretty",
    show_default=True,
    help="Output format.",
)
@click.option("-q", "--quiet", is_flag=True, help="Suppress progress and details (never data or errors).")
@click.option(
    "-v", "--verbose", count=True, help="More detail on stderr; -vv adds an HTTP trace (secrets masked)."
)
@click.option("--local", is_flag=True, help="Use an embedded emulator (no account, no network).")
@click.pass_obj
def cli(app: AppContext, output_mode: str, quiet: bool, verbose: int, local: bool) -> None:
    """RunComfy CLI — run AI media models on RunComfy."""
    if quiet and verbose:
        raise click.UsageError("--quiet cannot be combined with --verbose")
    app.local = local


def help_width(environ: Mapping[str, str] | None = None) -> int | None:
    """The width click would wrap help to, found without ``shutil``; ``None`` leaves it to click.

    click's help formatter imports ``shutil`` (with ``bz2``, ``lzma`` and ``fnmatch``: a twentieth of the whole
    start-up) only to ask the terminal's width; given the width, it does not. This is click's own rule
    (``COLUMNS``, else the size of the terminal on stdout, else 80; at most 80, minus 2, at least 50), and the
    root context's width is inherited by every command's, so ``run --help`` is spared the import too. When a
    test runner forces a width (``click.testing`` sets ``FORCED_WIDTH``), click decides.
    """
    if click.formatting.FORCED_WIDTH is not None:
        return None
    env = os.environ if environ is None else environ
    try:
        columns = int(env.get("COLUMNS", ""))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    if columns <= 0:
        columns = 80
    return max(min(columns, 80) - 2, 50)


def run_cli(argv: Sequence[str], app: AppContext) -> int:
    """Run the CLI with ``app`` and return the exit code (never raises, never prints a traceback)."""
    try:
        cli.main(
            args=list(argv),
            prog_name="runcomfy",
            standalone_mode=False,
            obj=app,
            terminal_width=help_width(),
        )
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.UsageError as exc:
        from runcomfy.cli.exit_codes import ExitCode

        if app.output.json_mode:
            app.output.error(exc.format_message(), exit_code=ExitCode.USAGE)
        else:
            exc.show()
        return ExitCode.USAGE
    except click.ClickException as exc:
        from runcomfy.cli.exit_codes import ExitCode

        app.output.error(exc.format_message(), exit_code=ExitCode.FAILURE)
        return ExitCode.FAILURE
    except (Exception, KeyboardInterrupt, click.Abort) as exc:  # the one funnel for every failure
        return _report(app, exc)
    finally:
        try:
            app.close()
        except Exception as exc:  # closing must never turn success into a traceback
            app.output.verbose(f"cleanup failed: {type(exc).__name__}")
    return 0  # ExitCode.OK, without importing the exit-code table on the way out of every command


def _report(app: AppContext, exc: BaseException) -> int:
    from runcomfy.cli.exit_codes import ExitCode
    from runcomfy.errors import RunComfyError

    if isinstance(exc, click.Abort) or (not isinstance(exc, RunComfyError) and caused_by_interrupt(exc)):
        exc = KeyboardInterrupt()
    if isinstance(exc, RunComfyError | OSError | KeyboardInterrupt):
        return app.output.exception(exc)
    # An unexpected exception: one line, never a traceback (which could show request internals).
    app.output.error(
        f"unexpected error ({type(exc).__name__}): {exc}",
        exit_code=ExitCode.FAILURE,
        hint="please report this at the project's issue tracker",
    )
    return ExitCode.FAILURE


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``runcomfy`` console script (see :func:`runcomfy.cli.entry`)."""
    try:
        from runcomfy.cli.context import AppContext

        args = hoist_global_options(sys.argv[1:] if argv is None else argv)
        app = AppContext(_output_from_args(args))
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(run_cli(args, app))
