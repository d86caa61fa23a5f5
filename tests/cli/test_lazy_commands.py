"""The root group loads a command's module only when that command is used; ``runcomfy --help`` shows every
command's short help from a table, which must say what the command's own docstring says."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest

from runcomfy.cli.main import LAZY_COMMANDS, cli


@pytest.mark.parametrize("name", sorted(LAZY_COMMANDS))
def test_the_table_short_help_is_the_commands_own(name: str) -> None:
    loader, short_help = LAZY_COMMANDS[name]
    command = loader()
    assert command.get_short_help_str(limit=1000) == short_help


def test_every_command_resolves_and_an_unknown_one_does_not() -> None:
    ctx = click.Context(cli)
    for name in cli.list_commands(ctx):
        assert cli.get_command(ctx, name) is not None, name
    assert cli.get_command(ctx, "nope") is None


def test_deployments_has_its_request_commands() -> None:
    group = cli.get_command(click.Context(cli), "deployments")
    assert isinstance(group, click.Group)
    assert {"run", "status", "result", "cancel", "list", "create", "proxy"} <= set(group.commands)


def test_root_help_and_version_import_no_command_module() -> None:
    probe = (
        "import sys\n"
        "from runcomfy.cli.main import run_cli\n"
        "from runcomfy.cli.context import AppContext\n"
        "from runcomfy.cli.output import Output\n"
        "for argv in (['--help'], ['--version']):\n"
        "    run_cli(argv, AppContext(Output('pretty')))\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('runcomfy.cli.') and m.split('.')[-1] in {names})\n"
        "print(loaded, file=sys.stderr)\n"
        "sys.exit(1 if loaded else 0)\n"
    ).replace(
        "{names}",
        repr(
            {
                "auth",
                "run",
                "requests",
                "models",
                "deployments",
                "deployment_requests",
                "balance",
                "datasets",
                "train",
                "emulator",
                "completion",
                "batch",
            }
        ),
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
