"""A read-only section of the popup: how this mailbox's recent mail went."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from falcana_core.i18n import Domain, Text
from falcana_core.sections import Field, SectionContext, Validation

_ = Domain("core", Path(__file__).parent / "locale")


class OutboxSection:
    id: str = "outbox"
    title: Text = _("Recent mail")
    order: int = 90
    template: str | None = "outbox_section.html"

    def fields(self, ctx: SectionContext) -> Sequence[Field]:
        return ()

    def load(self, ctx: SectionContext) -> dict[str, Any]:
        return {}

    def is_set(self, ctx: SectionContext, field_id: str) -> bool:
        return False

    def validate(self, ctx: SectionContext, values: Mapping[str, Any]) -> Validation:
        return Validation()

    def save(self, ctx: SectionContext, values: Mapping[str, Any]) -> dict[str, Any]:
        return {}
