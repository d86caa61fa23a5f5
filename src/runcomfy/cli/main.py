"""The root command group, the global options, and the one place the process exit code is decided.

Global options may come before or after the command name (as with the official CLI's clap ``global = true``);
click only accepts group options before the command, so :func:`hoist_global_options` moves them to the front
before click parses anything. Every error ends in :func:`main`: it is printed once through the Output sink
(never as a traceback) and classified by type into an exit code (``exit_codes.py``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from runcomfy._version import __version__
from runcomfy.cli.context import AppContext
from runcomfy.cli.exit_codes import ExitCode, exit_codes_help
from runcomfy.cli.output import Output
from runcomfy.cli.signals import EXIT_INTERRUPTED, caused_by_interrupt

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
    return Output("json" if mode == "json" else "pretty", quiet=quiet, verbose=verbose)


ROOT_EPILOG = f"""\b
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
  NO_COLOR, TERM=dumb      plain [tag] lines instead of emoji

{exit_codes_help()}
"""


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=ROOT_EPILOG)
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


def _register_commands() -> None:
    from runcomfy.cli import deployment_requests
    from runcomfy.cli.auth import login_command, logout_command, whoami_command
    from runcomfy.cli.balance import balance_command
    from runcomfy.cli.completion import completion_command
    from runcomfy.cli.datasets import datasets_group
    from runcomfy.cli.deployments import deployments_group
    from runcomfy.cli.emulator import emulator_command
    from runcomfy.cli.models import models_group
    from runcomfy.cli.requests import cancel_command, requests_group, result_command, status_command
    from runcomfy.cli.run import run_command
    from runcomfy.cli.train import train_group

    for command in (
        login_command,
        logout_command,
        whoami_command,
        run_command,
        status_command,
        cancel_command,
        result_command,
        requests_group,
        completion_command,
        models_group,
        deployments_group,
        datasets_group,
        train_group,
        balance_command,
        emulator_command,
    ):
        cli.add_command(command)
    for command in (
        deployment_requests.run_command,
        deployment_requests.status_command,
        deployment_requests.result_command,
        deployment_requests.cancel_command,
    ):
        deployments_group.add_command(command)


_register_commands()


def run_cli(argv: Sequence[str], app: AppContext) -> int:
    """Run the CLI with ``app`` and return the exit code (never raises, never prints a traceback)."""
    try:
        cli.main(args=list(argv), prog_name="runcomfy", standalone_mode=False, obj=app)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.UsageError as exc:
        if app.output.json_mode:
            app.output.error(exc.format_message(), exit_code=ExitCode.USAGE)
        else:
            exc.show()
        return ExitCode.USAGE
    except click.ClickException as exc:
        app.output.error(exc.format_message(), exit_code=ExitCode.FAILURE)
        return ExitCode.FAILURE
    except (Exception, KeyboardInterrupt, click.Abort) as exc:  # the one funnel for every failure
        return _report(app, exc)
    finally:
        try:
            app.close()
        except Exception as exc:  # closing must never turn success into a traceback
            app.output.verbose(f"cleanup failed: {type(exc).__name__}")
    return ExitCode.OK


def _report(app: AppContext, exc: BaseException) -> int:
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
        args = hoist_global_options(sys.argv[1:] if argv is None else argv)
        app = AppContext(_output_from_args(args))
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(run_cli(args, app))
