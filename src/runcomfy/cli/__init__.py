"""The command-line layer: the only code that writes to the terminal or decides the exit code."""

from __future__ import annotations


def entry() -> None:
    """The ``runcomfy`` console script: the CLI with signals set up before anything heavy is imported.

    A Ctrl-C or SIGTERM in the first tenth of a second (while click and the CLI are being imported) used to
    print a Python traceback, and a SIGTERM before the first command step exited 143. Both now mean "interrupted"
    (exit 130) from the start; a signal the parent told us to ignore stays ignored.
    """
    import sys

    try:
        from runcomfy.cli.signals import (
            EXIT_INTERRUPTED,
            caused_by_interrupt,
            interrupt_on_terminate,
            redeliver_lost_interrupts,
        )
    except KeyboardInterrupt:  # even this early: what every later interrupt means
        sys.exit(130)
    try:
        redeliver_lost_interrupts()
        interrupt_on_terminate()
        from runcomfy.cli.httpx_cli import defer

        defer()  # httpx's own command-line tool is not imported with httpx (see the module)
        from runcomfy.cli.main import main

        main()  # commands handle their own interrupts; this catches one landing between their steps
    except (
        Exception
    ) as exc:  # an interrupt wrapped by Python during an import; anything else is a bug to show
        if not caused_by_interrupt(exc):
            raise
        sys.exit(EXIT_INTERRUPTED)
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)
