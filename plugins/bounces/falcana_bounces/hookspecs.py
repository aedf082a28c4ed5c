"""The hooks the bounces plugin publishes for the host application."""

from __future__ import annotations

from typing import TYPE_CHECKING

from falcana_core.api import hookspec

if TYPE_CHECKING:
    from falcana_bounces.service import Outcome
    from falcana_core.api import Host, Mailbox


@hookspec
def message_bounced(host: Host, mailbox: Mailbox, outcome: Outcome) -> None:
    """A report in the mailbox's inbox says a message it sent did not reach a recipient,
    or not yet: ``outcome.kind`` is ``hard`` (do not send there again), ``soft``,
    ``delayed`` or ``policy`` (refused as spam or by the sending domain's
    authentication); ``outcome.outbox_id`` the message (None when the report names none
    this mailbox sent), ``outcome.recipient``, ``outcome.status`` ("5.1.1") and
    ``outcome.diagnostic`` (the remote server's text). Called once per report and
    recipient, after it was recorded; every implementation is called (an error in one is
    logged and does not stop the others)."""


@hookspec
def message_auto_replied(host: Host, mailbox: Mailbox, outcome: Outcome) -> None:
    """A recipient answered automatically (out of office, "Abwesenheitsnotiz"; RFC 3834):
    the mail arrived, the person may be away. Same ``outcome`` as ``message_bounced``;
    called once per message and recipient, only for an answer to a message this mailbox
    sent (an automatic answer to other mail, as two absence notices answering each other,
    is neither recorded nor told)."""
