"""``runcomfy completion SHELL``: print a shell completion script (click's own, for bash, zsh and fish)."""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

from runcomfy.cli.context import app_context


@click.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
@click.pass_context
def completion_command(ctx: click.Context, shell: str) -> None:
    """Print the completion script for SHELL.

    \b
    Examples:
      runcomfy completion bash > ~/.local/share/bash-completion/completions/runcomfy
      runcomfy completion zsh > "${fpath[1]}/_runcomfy"
      runcomfy completion fish > ~/.config/fish/completions/runcomfy.fish
    """
    root = ctx.find_root().command
    completion_class = get_completion_class(shell)
    assert completion_class is not None  # the Choice above only admits shells click supports
    script = completion_class(root, {}, "runcomfy", "_RUNCOMFY_COMPLETE").source()
    app_context().output.data(script)
