"""The providers this plugin knows, as data (facts as of 2026-11)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from falcana_core.api import Domain, LazyText

_ = Domain("providers_de", Path(__file__).parent / "locale")

LAST_CHECKED = "2026-11-27"


@dataclasses.dataclass(frozen=True)
class Provider:
    id: str
    name: str
    host: str
    domains: tuple[str, ...]
    ports: tuple[tuple[int, str], ...]  # (port, security), preferred first
    help: LazyText


PROVIDERS = (
    Provider("gmx", "GMX", "mail.gmx.net", ("gmx.de", "gmx.net", "gmx.at", "gmx.ch"),
             ((587, "tls"), (465, "ssl")),
             _("<p>Switch on \"POP3/IMAP Abruf\" in the GMX settings first. With two-factor "
               "authentication, create an application-specific password and enter it as "
               "E-mail password.</p>")),
    Provider("webde", "WEB.DE", "smtp.web.de", ("web.de",), ((587, "tls"), (465, "ssl")),
             _("<p>Switch on \"POP3/IMAP Abruf\" in the WEB.DE settings first. The username "
               "is the part of the address before the @.</p>")),
    Provider("tonline", "T-Online", "securesmtp.t-online.de", ("t-online.de", "magenta.de"),
             ((465, "ssl"), (587, "tls")),
             _("<p>T-Online needs its separate \"E-Mail-Passwort\", which you set in the "
               "Telekom Kundencenter; the password of the Telekom login does not work.</p>")),
    Provider("ionos", "IONOS", "smtp.ionos.de", (), ((465, "ssl"), (587, "tls")),
             _("<p>Since 2024-01-29 IONOS accepts only mail whose From domain matches the "
               "mailbox's domain.</p>")),
    Provider("strato", "Strato", "smtp.strato.de", (), ((465, "ssl"), (587, "tls")),
             _("<p>Username is the full address.</p>")),
)

BY_ID = {p.id: p for p in PROVIDERS}
