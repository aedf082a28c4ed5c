"""Headers fixed when a message is handed over: From, Date and Message-ID.

The outbox stamps a message once, when it is queued, so a message sent twice (the
at-least-once case) carries the same Message-ID both times.
"""

from __future__ import annotations

import email.utils
from email.headerregistry import Address
from email.message import EmailMessage

from falcana_core.addresses import ascii_domain, split_address


def sender_address(address: str, name: str) -> Address:
    """``Name <address>``; the domain as IDNA 2008 A-labels unless the local part needs
    SMTPUTF8 anyway."""
    local, domain = split_address(address)
    return Address(display_name=name, username=local,
                   domain=domain if not local.isascii() else ascii_domain(domain))


def stamp(message: EmailMessage, address: str, name: str) -> str:
    """Set From, Date and Message-ID where missing; returns the Message-ID."""
    if message["From"] is None:
        message["From"] = sender_address(address, name)
    if message["Date"] is None:
        message["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
    if message["Message-ID"] is None:
        message["Message-ID"] = email.utils.make_msgid(
            domain=ascii_domain(split_address(address)[1]))
    return str(message["Message-ID"])
