"""The labels of the inbox look's steps, in the step log's languages."""

from __future__ import annotations

from falcana_bounces.i18n import _

STEP_LABELS = {
    "bounces.examine": _("Open the inbox (read-only)"),
    "bounces.search": _("Find new messages"),
    "bounces.headers": _("Read their headers"),
    "bounces.fetch": _("Read a report"),
    "bounces.token": _("Get the mailbox's token"),
    "bounces.list": _("List the inbox's new messages"),
}
