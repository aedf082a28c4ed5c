"""An SMTP server that offers AUTH and no STARTTLS, and says yes to everything else: what
a downgrading middlebox leaves of a server. For the core kit's ``HostileServer``
(behaviour ``tls_upgrade_stripped``): ``HostileServer("tls_upgrade_stripped", talk=TALK)``."""

from __future__ import annotations

GREETING = b"220 mail.example.org ESMTP\r\n"


def answer(line: bytes) -> bytes:
    verb = line[:8].upper()
    if verb.startswith((b"EHLO", b"HELO")):
        return b"250-mail.example.org\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n"
    if verb.startswith(b"STARTTLS"):
        return b"502 5.5.1 STARTTLS not offered here\r\n"
    if verb.startswith(b"AUTH"):
        return b"235 2.7.0 Authentication successful\r\n"
    if verb.startswith(b"QUIT"):
        return b"221 2.0.0 Bye\r\n"
    return b"250 2.0.0 OK\r\n"


TALK = (GREETING, answer)
