"""The web UI's strings belong to the core's translation domain."""

from pathlib import Path

from falcana_core.i18n import Domain

_ = Domain("core", Path(__file__).parent.parent / "locale")
