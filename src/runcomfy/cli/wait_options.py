"""The options every command that submits and waits shares (``run``, ``deployments run``): one definition, so
their spelling, defaults, ranges and help cannot drift apart between the APIs."""

from __future__ import annotations

import click

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
