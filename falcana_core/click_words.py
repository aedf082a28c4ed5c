"""click's own words ("Usage:", "Error: No such option ...", "Missing argument") in the
CLI's language. click looks each message up with the standard library's ``gettext`` when
it is shown; its modules get a look-up in falcana's catalogue (domain ``click``) instead,
so a German admin who mistypes an option reads German."""

from __future__ import annotations

import importlib
from pathlib import Path

from falcana_core.i18n import register_catalogs, translate

DOMAIN = "click"
#: click's modules that show text to people (each binds ``_``/``ngettext`` at import)
MODULES = ("click.core", "click.exceptions", "click.parser", "click.decorators",
           "click.formatting", "click.termui", "click.types")


def gettext(message: str) -> str:
    return translate(DOMAIN, message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """German counts like English: one, and everything else."""
    return translate(DOMAIN, singular if n == 1 else plural)


def install() -> None:
    register_catalogs(DOMAIN, Path(__file__).parent / "locale")
    for name in MODULES:
        module = importlib.import_module(name)
        if hasattr(module, "_"):
            module._ = gettext  # type: ignore[attr-defined]
        if hasattr(module, "ngettext"):
            module.ngettext = ngettext  # type: ignore[attr-defined]
