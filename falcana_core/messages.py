"""A message as it goes on the wire: From, Date and Message-ID fixed, Bcc left out.

The outbox stamps a message once, when it is queued, so a message sent twice (the
at-least-once case) carries the same Message-ID both times. ``envelope`` is the one place
that turns a host application's ``EmailMessage`` into the bytes and the envelope every
transport sends (the outbox, a direct send over SMTP, a mail API).

Rendering is the hand-over's main cost: the ``email`` package re-folds every header from
its parse tree, about 0.1 ms a header. Most headers need no folding (ASCII, one short
line), and for them the fold is the parse tree's own text; ``SMTP`` and ``SMTPUTF8``
write those directly and leave every other header to the package
(tests/test_messages.py compares both ways over thousands of headers).
"""

from __future__ import annotations

import email.utils
import functools
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import EmailPolicy
from typing import Any

from falcana_core.addresses import (
    ascii_address,
    ascii_domain,
    has_control_chars,
    split_address,
)
from falcana_core.delivery import printable
from falcana_core.transports import Envelope


class _Policy(EmailPolicy):
    """``email.policy.SMTP`` with a shortcut for headers that need no folding."""

    def fold_binary(self, name: str, value: Any) -> bytes:
        text = unfolded(value, self.max_line_length)
        if text is None:
            return super().fold_binary(name, value)
        return f"{value.name}: {text}{self.linesep}".encode("ascii")


SMTP = _Policy(linesep="\r\n")
SMTPUTF8 = SMTP.clone(utf8=True)


def unfolded(value: Any, max_line_length: int | None) -> str | None:
    """The header's text when folding would leave it as it is: a header object without
    defects whose parse tree renders as one ASCII line that fits; else None."""
    tree = getattr(value, "_parse_tree", None)  # set by every header class of the package
    if tree is None or value.defects:
        return None
    text = str(tree)
    if not text.isascii() or "\r" in text or "\n" in text:
        return None
    if max_line_length and len(value.name) + 2 + len(text) > max_line_length:
        return None
    return text


def sender_address(address: str, name: str) -> Address:
    """``Name <address>``; the domain as IDNA 2008 A-labels unless the local part needs
    SMTPUTF8 anyway."""
    local, domain = split_address(address)
    return Address(display_name=name, username=local,
                   domain=domain if not local.isascii() else ascii_domain(domain))


@functools.lru_cache(maxsize=1024)
def _from_source(address: str, name: str, utf8: bool) -> str:
    """The From header's folded text, once per sender (a mailing has one or a few)."""
    policy = SMTPUTF8 if utf8 else SMTP
    folded = policy.fold("From", policy.header_factory("From", sender_address(address, name)))
    return str(folded).split(":", 1)[1].strip()


def stamp(message: EmailMessage, address: str, name: str, *, utf8: bool = False) -> str:
    """Set From, Date and Message-ID where missing; returns the Message-ID. They are
    stored as header text (``set_raw``), as a parsed message holds them: nothing to parse
    now, nothing to fold when the message is rendered."""
    if message["From"] is None:
        message.set_raw("From", _from_source(address, name, utf8))
    if message["Date"] is None:
        message.set_raw("Date", email.utils.formatdate(localtime=False, usegmt=True))
    if message["Message-ID"] is None:
        message_id = email.utils.make_msgid(domain=ascii_domain(split_address(address)[1]))
        message.set_raw("Message-ID", message_id)
        return message_id
    return str(message["Message-ID"])


def recipients_of(message: EmailMessage) -> list[str]:
    """The addresses of To, Cc and Bcc, from the headers the package parsed already;
    raises ValueError when there is none or one is no address."""
    found: list[str] = []
    for value in (v for key in ("To", "Cc", "Bcc") for v in message.get_all(key, [])):
        addresses = getattr(value, "addresses", None)
        if addresses is None:  # a header kept as text (a compat32 message)
            found += [addr for _name, addr in email.utils.getaddresses([str(value)]) if addr]
        else:
            found += [a.addr_spec for a in addresses if a.addr_spec and a.addr_spec != "<>"]
    if not found:
        raise ValueError("the message has no recipient (To, Cc or Bcc)")
    for address in found:
        local, _at, domain = address.rpartition("@")
        if not local or not domain or has_control_chars(address) or " " in domain:
            raise ValueError(f"not an e-mail address: {printable(address, 80)!r}")
    return found


def envelope(message: EmailMessage, address: str, name: str) -> Envelope:
    """Stamp the message and render it for the wire: RFC 2047 for non-ASCII names, raw
    UTF-8 (RFC 6532, SMTPUTF8) only where an address needs it, Bcc in the envelope and
    not in the content (the message keeps its Bcc)."""
    recipients = recipients_of(message)
    utf8 = any(ascii_address(a) is None for a in [address, *recipients])
    message_id = stamp(message, address, name, utf8=utf8)
    bcc = message.get_all("Bcc")
    if bcc:
        del message["Bcc"]
    try:
        content = message.as_bytes(policy=SMTPUTF8 if utf8 else SMTP)
    finally:
        for value in bcc or ():
            message["Bcc"] = value
    return Envelope(address, recipients, content, message_id, utf8)
