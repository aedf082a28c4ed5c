"""An IMAP server that offers login and no STARTTLS, and says OK to everything else: what
a downgrading middlebox leaves of a server. For the core kit's ``HostileServer``
(behaviour ``tls_upgrade_stripped``): ``HostileServer("tls_upgrade_stripped", talk=TALK)``."""

from __future__ import annotations

GREETING = b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n"


def answer(line: bytes) -> bytes:
    tag, _space, rest = line.partition(b" ")
    command = rest.split(b" ", 1)[0].upper()
    if command == b"CAPABILITY":
        return b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n" + tag + b" OK done\r\n"
    if command == b"STARTTLS":
        return tag + b" BAD STARTTLS not offered here\r\n"
    return tag + b" OK done\r\n"


TALK = (GREETING, answer)
