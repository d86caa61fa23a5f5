"""The catalog: every model the emulator serves, by id, gathered from the modules that define them.

:mod:`~runcomfy.emulator.standins` (real catalog ids that produce real media) and
:mod:`~runcomfy.emulator.probes` (test models that exercise clients) define models with the types of
:mod:`~runcomfy.emulator.models`; only this module puts them together, so any of those modules can be
imported first. The Serverless API's example workflows will be gathered here the same way. This module must
never hold a model's behaviour itself, nor know anything of HTTP.
"""

from __future__ import annotations

from runcomfy.emulator import probes, standins
from runcomfy.emulator.models import Model


def _build() -> dict[str, Model]:
    models = [*standins.models(), *probes.models()]
    catalog = {model.model_id: model for model in models}
    if len(catalog) != len(models):
        raise RuntimeError("two emulator models share an id")
    return catalog


CATALOG: dict[str, Model] = _build()


def categories() -> list[str]:
    """Every category used in the catalog, sorted."""
    return sorted({category for model in CATALOG.values() for category in model.categories})
