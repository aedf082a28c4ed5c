"""This plugin's translation domain (catalogs in ``locale/``)."""

from pathlib import Path

from falcana_core.api import Domain

_ = Domain("providers_gmail", Path(__file__).parent / "locale")
