"""Building the message as it goes on the wire: From, Date, Message-ID, encodings.

A display name with umlauts is RFC 2047-encoded by the ``email`` package's SMTP policy;
international domains become IDNA 2008 A-labels; a non-ASCII local part needs SMTPUTF8.
"""

from __future__ import annotations

import dataclasses
import email.policy
import email.utils
from email.message import EmailMessage

from falcana_core.api import Envelope, ascii_address, stamp
from falcana_smtp_settings.exchange import NotOffered
from falcana_smtp_settings.settings import SmtpSettings

_SMTP = email.policy.SMTP
_SMTPUTF8 = email.policy.SMTPUTF8


@dataclasses.dataclass(frozen=True)
class Prepared:
    sender: str
    recipients: list[str]
    content: bytes
    mail_options: list[str]
    message_id: str


def fix_headers(message: EmailMessage, settings: SmtpSettings) -> None:
    """Set From, Date and Message-ID when the caller left them out (the outbox sets them)."""
    stamp(message, settings.address, settings.sender_name)


def prepare(message: EmailMessage, settings: SmtpSettings, *,
            server_smtputf8: bool, server_8bitmime: bool = False) -> Prepared:
    """The envelope and the bytes to send; Bcc is left out of the content."""
    fix_headers(message, settings)
    recipients = [addr for _name, addr in email.utils.getaddresses(
        [str(v) for key in ("To", "Cc", "Bcc") for v in message.get_all(key, [])]) if addr]
    if not recipients:
        raise ValueError("the message has no recipient (To, Cc or Bcc)")
    sender = ascii_address(settings.address)
    wire_recipients = [ascii_address(r) for r in recipients]
    needs_utf8 = sender is None or any(r is None for r in wire_recipients)
    if needs_utf8 and not server_smtputf8:
        raise NotOffered("SMTPUTF8")
    if needs_utf8:
        sender, final = settings.address, recipients
    else:
        final = [r for r in wire_recipients if r is not None]
    assert sender is not None
    bcc = message.get_all("Bcc")
    if bcc:
        del message["Bcc"]
    try:
        content = message.as_bytes(policy=_SMTPUTF8 if needs_utf8 else _SMTP)
    finally:
        for value in bcc or ():
            message["Bcc"] = value
    options = []
    if needs_utf8:
        options.append("SMTPUTF8")
    if server_8bitmime and not content.isascii():
        options.append("BODY=8BITMIME")
    return Prepared(sender, final, content, options, str(message["Message-ID"]))


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
