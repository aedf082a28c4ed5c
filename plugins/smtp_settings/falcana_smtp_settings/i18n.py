"""This plugin's translation domain (catalogs in ``locale/``)."""

from pathlib import Path

from falcana_core.api import Domain

_ = Domain("smtp_settings", Path(__file__).parent / "locale")
