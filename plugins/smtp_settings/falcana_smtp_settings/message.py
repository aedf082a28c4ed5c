"""Building the message as it goes on the wire: From, Date, Message-ID, encodings.

A display name with umlauts is RFC 2047-encoded by the ``email`` package's SMTP policy;
international domains become IDNA 2008 A-labels; a non-ASCII local part needs SMTPUTF8.
"""

from __future__ import annotations

import dataclasses
from email.message import EmailMessage

from falcana_core.api import ascii_address
from falcana_core.api.transport import Envelope, envelope
from falcana_smtp_settings.exchange import NotOffered
from falcana_smtp_settings.settings import SmtpSettings


@dataclasses.dataclass(frozen=True)
class Prepared:
    sender: str
    recipients: list[str]
    content: bytes
    mail_options: list[str]
    message_id: str


def prepare(message: EmailMessage, settings: SmtpSettings, *,
            server_smtputf8: bool, server_8bitmime: bool = False) -> Prepared:
    """The envelope and the bytes to send (the core's ``envelope``: From, Date and
    Message-ID set where the caller left them out, Bcc left out of the content)."""
    ready = envelope(message, settings.address, settings.sender_name)
    return prepare_envelope(ready, server_smtputf8=server_smtputf8,
                            server_8bitmime=server_8bitmime)


def prepare_envelope(envelope: Envelope, *, server_smtputf8: bool,
                     server_8bitmime: bool = False) -> Prepared:
    """A stored envelope for this server: A-label domains, or SMTPUTF8 where needed."""
    if envelope.smtputf8:
        if not server_smtputf8:
            raise NotOffered("SMTPUTF8")
        sender, recipients = envelope.sender, list(envelope.recipients)
        options = ["SMTPUTF8"]
    else:
        sender = ascii_address(envelope.sender) or envelope.sender
        recipients = [ascii_address(r) or r for r in envelope.recipients]
        options = []
    if server_8bitmime and not envelope.content.isascii():
        options.append("BODY=8BITMIME")
    return Prepared(sender, recipients, envelope.content, options, envelope.message_id)
