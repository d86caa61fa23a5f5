"""The options every command that submits and waits shares (``run``, ``deployments run``), and their batch
options: one definition, so
their spelling, defaults, ranges and help cannot drift apart between the APIs."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

F = TypeVar("F", bound=Callable[..., object])

poll_secs_option = click.option(
    "--poll-secs", default=2, show_default=True, type=click.IntRange(min=1), help="Seconds between polls."
)
timeout_option = click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Give up (and cancel the request) after this many seconds; exit 75.",
)
output_dir_option = click.option(
    "--output-dir",
    default=".",
    show_default=True,
    type=click.Path(),
    help="Where to save the result's files.",
)


def batch_options(command: F) -> F:
    """``--concurrency``, ``--restart`` and ``--retry-failed`` (each meaningful only with ``--batch``)."""
    command = click.option(
        "--retry-failed",
        is_flag=True,
        help="With --batch: submit again the lines that ended failed, cancelled or timed out (keeps the others).",
    )(command)
    command = click.option(
        "--restart", is_flag=True, help="With --batch: forget earlier progress and submit every line again."
    )(command)
    return click.option(
        "--concurrency",
        default=4,
        show_default=True,
        type=click.IntRange(1, 256),
        help="With --batch: requests in flight at once.",
    )(command)
