"""The popup's "Unzustellbare E-Mails": what the mailbox's inbox said about its recent
mail, with what each class means and what to do. It has no fields: it only shows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from falcana_bounces.i18n import _
from falcana_bounces.reports import Kind
from falcana_core.api import ShownSection, Text

if TYPE_CHECKING:
    from falcana_bounces.models import BounceReport
    from falcana_bounces.service import Inbox

DAYS = 7
#: each class: its name, and what it means with what to do (docs/bounces.md)
CLASSES: dict[str, tuple[Text, Text]] = {
    Kind.HARD: (_("undeliverable"), _(
        "The address does not exist (or its domain). Check it with the contact; do not "
        "send there again until it is corrected.")),
    Kind.SOFT: (_("not delivered for now"), _(
        "The mailbox is full or refused for now. A later mail may arrive; after several "
        "of these, ask the contact for another address.")),
    Kind.DELAYED: (_("delayed"), _(
        "Not delivered yet; the servers keep trying for a few days. Nothing to do yet.")),
    Kind.POLICY: (_("refused as spam or by a rule"), _(
        "The receiving server refused the mail by a rule. Have the sending domain's SPF, "
        "DKIM and DMARC checked, and look at the server's text.")),
    Kind.AUTO_REPLY: (_("automatic answer"), _(
        "The mail arrived; the person answered automatically (away, out of office).")),
}


class BouncesSection(ShownSection):
    id: str = "bounces"
    title: Text = _("Undeliverable mail")
    order: int = 92
    template: str | None = "bounces/bounces_section.html"
    classes = CLASSES

    @staticmethod
    def inbox(host: Any, mailbox: Any) -> Inbox:
        """Whether the inbox is read and what its last look failed at (the template's)."""
        from falcana_bounces.service import bounces

        return bounces(host).inbox(mailbox)

    @staticmethod
    def recent(host: Any, mailbox_id: int) -> list[BounceReport]:
        """The reports tied to this mailbox's messages in the last week (the template's)."""
        from falcana_bounces.service import bounces

        return [r for r in bounces(host).reports(mailbox_id=mailbox_id, days=DAYS, limit=50)
                if r.outbox_id is not None]
