"""Ctrl-C and SIGTERM: both become ``KeyboardInterrupt`` while a command works, and a second one exits at once.

Python already raises ``KeyboardInterrupt`` on SIGINT at the next bytecode, even inside a blocked socket read,
so an interrupt is noticed during polling, the result fetch and downloads alike (the official CLI noticed it only
between polls). SIGTERM is given the same meaning so a supervisor's stop cancels the remote request too.
While the command reacts to the first interrupt (sending one cancel), :func:`exit_on_second_interrupt` makes
another Ctrl-C leave immediately with 130.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

EXIT_INTERRUPTED = 130
REDELIVERY_DELAY_S = 0.02


def _raise_interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _exit_now(_signum: int, _frame: FrameType | None) -> None:
    os._exit(EXIT_INTERRUPTED)


def caused_by_interrupt(exc: BaseException) -> bool:
    """Whether ``exc`` is, or was raised because of, a Ctrl-C or SIGTERM.

    Python wraps an exception raised inside some hooks (a descriptor's ``__set_name__`` while a class is built,
    often during an import) in a ``RuntimeError``; a Ctrl-C landing there must still read as an interrupt.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return True
        seen.add(id(current))
        current = current.__cause__  # "raised from": the wrapping Python does; a mere context is not a cause
    return False


def redeliver_lost_interrupts() -> None:
    """An interrupt raised where Python cannot propagate it (a weakref or ``__del__`` callback, often during
    imports) is printed as "Exception ignored ... Traceback ... KeyboardInterrupt" and then lost. Deliver it
    again to the main thread instead, where the command handles it like any other Ctrl-C."""
    import sys

    default = sys.unraisablehook

    def hook(unraisable: sys.UnraisableHookArgs) -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            import _thread
            import threading  # here, not at start-up, where --help and --version never need it

            # From another thread and a moment later: raised here, it would be lost again.
            later = threading.Timer(REDELIVERY_DELAY_S, _thread.interrupt_main)
            later.daemon = True
            later.start()
            return
        default(unraisable)

    sys.unraisablehook = hook


def interrupt_on_terminate() -> None:
    """From now on SIGTERM means what Ctrl-C means (``KeyboardInterrupt``, exit 130), at every step of every
    command, unless the parent set it to be ignored."""
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _raise_interrupt)


@contextmanager
def _handlers(handler: signal.Handlers | object) -> Iterator[None]:
    # A signal the parent set to be ignored (nohup, a supervisor) stays ignored: that was its decision.
    previous = {
        sig: signal.getsignal(sig)
        for sig in (signal.SIGINT, signal.SIGTERM)
        if signal.getsignal(sig) is not signal.SIG_IGN
    }
    try:
        for sig in previous:
            signal.signal(sig, handler)  # type: ignore[arg-type]
    except ValueError:  # not the main thread: leave the process's handlers alone
        yield
        return
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextmanager
def interrupts_raise() -> Iterator[None]:
    """Inside the block, SIGINT and SIGTERM raise ``KeyboardInterrupt``."""
    with _handlers(_raise_interrupt):
        yield


@contextmanager
def exit_on_second_interrupt() -> Iterator[None]:
    """Inside the block (the reaction to a first interrupt), another SIGINT or SIGTERM exits with 130 at once."""
    with _handlers(_exit_now):
        yield
