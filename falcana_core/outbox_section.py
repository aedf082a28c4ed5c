"""A read-only section of the popup: how this mailbox's recent mail went."""

from __future__ import annotations

from pathlib import Path

from falcana_core.i18n import Domain, Text
from falcana_core.sections import ShownSection

_ = Domain("core", Path(__file__).parent / "locale")


class OutboxSection(ShownSection):
    id: str = "outbox"
    title: Text = _("Recent mail")
    order: int = 90
    template: str | None = "outbox_section.html"
