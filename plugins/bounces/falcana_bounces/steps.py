"""The labels of the inbox look's steps, in the step log's languages, and of what a report
said of a recipient (the outbox shows it beside the message)."""

from __future__ import annotations

from falcana_bounces.i18n import _

STEP_LABELS = {
    "bounces.examine": _("Open the inbox (read-only)"),
    "bounces.search": _("Find new messages"),
    "bounces.headers": _("Read their headers"),
    "bounces.fetch": _("Read a report"),
    "bounces.token": _("Get the mailbox's token"),
    "bounces.list": _("List the inbox's new messages"),
    # the statuses the service records (service.STATUS), named as the popup's classes
    "recipient.bounced_hard": _("undeliverable"),
    "recipient.bounced_soft": _("not delivered for now"),
    "recipient.bounced_policy": _("refused as spam or by a rule"),
    "recipient.delayed": _("delayed"),
    "recipient.auto_reply": _("automatic answer"),
    "recipient.delivered": _("delivered"),
}
