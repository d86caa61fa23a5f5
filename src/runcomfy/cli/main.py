"""The root command group, the global options and the process exit.

Global options may come before or after the command name (as with the official CLI's clap ``global = true``);
click only accepts group options before the command, so :func:`hoist_global_options` moves them to the front
before click parses anything.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from runcomfy._version import __version__

EXIT_USAGE = 64

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

    Values of other options are never mistaken for global options because only exact global option tokens
    (or ``--output=...``) are moved; a value following ``--output`` moves with it.
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


ROOT_EPILOG = """\b
ENVIRONMENT:
  RUNCOMFY_TOKEN           API token; wins over the token file
  RUNCOMFY_WEB_BASE        web/auth base (default https://www.runcomfy.com)
  RUNCOMFY_MODEL_API_BASE  Model API base (default https://model-api.runcomfy.net/v1)
  RUNCOMFY_CONFIG_DIR      config dir (else $XDG_CONFIG_HOME/runcomfy, else ~/.config/runcomfy)
  XDG_CONFIG_HOME          see RUNCOMFY_CONFIG_DIR
  NO_COLOR                 plain [tag] lines instead of emoji

\b
EXIT CODES:
  0    success
  1    the request failed or was cancelled; other errors
  64   usage error (unknown command or flag, bad flag value)
  65   bad input data (malformed JSON, rejected by the server)
  66   an input file does not exist
  69   the service answered 5xx, after retries
  74   local I/O error (a download could not be written)
  75   temporary failure (timeout, 429 after retries, --timeout reached, device code expired)
  77   authentication (no token, 401/403, login denied)
  130  interrupted (Ctrl-C or SIGTERM)
"""


@click.group(
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=ROOT_EPILOG,
)
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
@click.option("--local", is_flag=True, help="Use an embedded emulator instead of the real service.")
@click.pass_context
def cli(ctx: click.Context, output_mode: str, quiet: bool, verbose: int, local: bool) -> None:
    """RunComfy CLI — run AI media models on RunComfy."""
    if quiet and verbose:
        raise click.UsageError("--quiet cannot be combined with --verbose")
    ctx.obj = {"output": output_mode, "quiet": quiet, "verbose": verbose, "local": local}


def _register_commands() -> None:
    from runcomfy.cli.emulator import emulator_command

    cli.add_command(emulator_command)


_register_commands()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``runcomfy`` console script; returns (and exits with) the process exit code."""
    args = hoist_global_options(sys.argv[1:] if argv is None else argv)
    try:
        cli.main(args=args, prog_name="runcomfy", standalone_mode=False)
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.Abort:
        click.echo("Aborted.", err=True)
        code = 130
    except click.UsageError as exc:
        exc.show()
        code = EXIT_USAGE
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    else:
        code = 0
    sys.exit(code)
