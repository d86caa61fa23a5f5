"""Keep ``import httpx`` from importing httpx's own command-line tool (and with it rich and pygments).

Why: ``httpx/__init__.py`` runs ``from ._main import main`` for its ``httpx`` console script, and that module
imports click, rich and pygments at once whenever they are installed, as they are here (rich is a dependency
of this package). That is about a third of ``import httpx``, paid by every command that calls the service,
for a tool this process never runs. :func:`defer` registers a stand-in for ``httpx._main`` whose ``main``
imports the real module when called, and which hands over any other name the same way, so a later httpx that
takes more from ``_main`` still gets the real thing. Only the ``runcomfy`` console script calls it, before
httpx is first imported; the library leaves other programs' httpx alone.
"""

from __future__ import annotations

import sys
import types
from typing import Any

MODULE = "httpx._main"


class _Deferred(types.ModuleType):
    """``httpx._main`` until something other than ``main`` is asked of it."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(_real(), name)


def _real() -> types.ModuleType:
    import importlib

    if isinstance(sys.modules.get(MODULE), _Deferred):
        del sys.modules[MODULE]
    return importlib.import_module(MODULE)


def _main(*args: Any, **kwargs: Any) -> Any:
    return _real().main(*args, **kwargs)


def defer() -> None:
    """Register the stand-in, unless httpx (or its tool) is already imported."""
    if "httpx" in sys.modules or MODULE in sys.modules:
        return
    stand_in = _Deferred(
        MODULE, "httpx's command-line tool, imported when it is used (runcomfy.cli.httpx_cli)"
    )
    stand_in.main = _main  # type: ignore[attr-defined]
    sys.modules[MODULE] = stand_in
