"""For tests of the bounces plugin and of a host application that uses its hooks: the
messages a sender's inbox receives (a delivery report, an absence notice) and a send
through the outbox whose Message-ID a report can name."""

from __future__ import annotations

import email.utils
from email.message import EmailMessage
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from falcana_core.api import Host, Mailbox


def delivery_report(to: str, recipient: str, message_id: str | None, *,
                    status: str = "5.1.1",
                    diagnostic: str = "550 5.1.1 <{recipient}>: Recipient address rejected: "
                                      "User unknown",
                    action: str = "failed",
                    reporter: str = "MAILER-DAEMON@mx.example.org") -> bytes:
    """A standard delivery report (RFC 3464) to ``to`` about ``recipient``, naming the
    returned message's Message-ID (None: it names none), as Postfix writes one."""
    returned = f"""--B
Content-Type: text/rfc822-headers

From: {to}
To: {recipient}
Subject: Angebot Nr. 4711
Message-ID: {message_id}

""" if message_id else ""
    return f"""From: Mail Delivery System <{reporter}>
To: {to}
Subject: Undelivered Mail Returned to Sender
Date: {email.utils.formatdate()}
Message-ID: <r-{abs(hash((recipient, status, message_id, reporter)))}@mx.example.org>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

This is the mail system at host mx.example.org.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org

Final-Recipient: rfc822; {recipient}
Action: {action}
Status: {status}
Diagnostic-Code: smtp; {diagnostic.format(recipient=recipient)}

{returned}--B--
""".replace("\n", "\r\n").encode()


def absence_notice(sender: str, to: str, in_reply_to: str) -> bytes:
    """An out-of-office answer (RFC 3834) from ``sender`` to the message ``in_reply_to``."""
    return (f"From: Klaus Kunde <{sender}>\r\nTo: {to}\r\n"
            f"Subject: Abwesenheitsnotiz: Angebot Nr. 4711\r\n"
            f"Date: {email.utils.formatdate()}\r\nIn-Reply-To: {in_reply_to}\r\n"
            "Auto-Submitted: auto-replied\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            "Ich bin bis zum 2. Januar nicht im Büro.\r\n").encode()


def send_through_outbox(host: Host, box: Mailbox, to: str) -> str:
    """An offer sent to ``to`` through the outbox by a worker; its Message-ID."""
    from falcana_core.testing import sent_through_outbox

    msg = EmailMessage()
    msg["To"] = to
    msg["Subject"] = "Angebot Nr. 4711"
    msg.set_content("Guten Tag,\nanbei das Angebot.\n")
    return sent_through_outbox(host, box, msg).message_id
