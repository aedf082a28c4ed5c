"""The core's own deployment-wide section: what users may do themselves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from falcana_core.i18n import Domain, Text
from falcana_core.sections import Field, FieldType, SectionContext, Validation

_ = Domain("core", Path(__file__).parent / "locale")

OWNER = "core"
USERS_EDIT_OWN = "users_edit_own"


def users_may_edit_own(host: Any) -> bool:
    return bool(host.setting(OWNER, USERS_EDIT_OWN, True))


class GeneralSection:
    id: str = "general"
    title: Text = _("General")
    order: int = 0
    template: str | None = None

    def fields(self, ctx: SectionContext) -> Sequence[Field]:
        return (Field(USERS_EDIT_OWN, _("Users may edit their own e-mail settings"),
                      FieldType.BOOLEAN,
                      help=_("When on, every user can open \"My settings\" and change and test "
                             "the settings of their own mailbox.")),)

    def load(self, ctx: SectionContext) -> dict[str, Any]:
        return {USERS_EDIT_OWN: users_may_edit_own(ctx.host)}

    def is_set(self, ctx: SectionContext, field_id: str) -> bool:
        return False

    def validate(self, ctx: SectionContext, values: Mapping[str, Any]) -> Validation:
        v = Validation()
        raw = values.get(USERS_EDIT_OWN)
        v.normalised[USERS_EDIT_OWN] = raw in (True, "1", "on", "true", 1)
        return v

    def save(self, ctx: SectionContext, values: Mapping[str, Any]) -> dict[str, Any]:
        old = users_may_edit_own(ctx.host)
        new = bool(values.get(USERS_EDIT_OWN))
        ctx.host.set_setting(OWNER, USERS_EDIT_OWN, new, actor=ctx.actor)
        return {USERS_EDIT_OWN: [old, new]} if old != new else {}
