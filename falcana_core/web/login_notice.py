"""The notice a user gets at login when their own mailbox cannot send, or soon will not
(docs/health.md): flashed once, shown by the page they land on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import flash

from falcana_core.general import users_may_edit_own
from falcana_core.health import HealthState
from falcana_core.i18n import current_language, text_in
from falcana_core.web.i18n import _

if TYPE_CHECKING:
    from falcana_core.host import Host
    from falcana_core.models import User


def tell_at_login(host: Host, user: User) -> None:
    """A user whose own mailbox cannot send, or soon will not, learns it as they log in,
    with where to fix it (their settings when they may edit them, else an admin)."""
    box = host.mailboxes.find_personal(user)
    if box is None:
        return
    report = host.health.report(box)
    lang = current_language()
    may_fix = user.is_admin or users_may_edit_own(host)
    where = _("Open \u201cMy settings\u201d to fix it.") if may_fix else \
        _("Please tell an admin.")
    if report.state is HealthState.BROKEN:
        why = (report.reason or {}).get("explanation") or {}
        flash(" ".join(filter(None, (
            text_in(_("Your mailbox can no longer send:"), lang), why.get("fix", ""),
            text_in(where, lang)))), "health-broken")
    elif report.notices:
        notice = report.notices[0]
        flash(" ".join((text_in(notice.cause, lang), text_in(notice.fix, lang),
                        text_in(where, lang))), "health-warning")
