"""Recognising Microsoft 365 (Exchange Online) and consumer Outlook.com."""

from __future__ import annotations

import re

from falcana_smtp_settings.api import Preset

from falcana_core.api import Detection, MxLookup, split_address
from falcana_providers_m365.i18n import _

M365 = "m365"
OUTLOOK_COM = "outlook_com"
M365_HOST = "smtp.office365.com"
OUTLOOK_HOST = "smtp-mail.outlook.com"

_CONSUMER = re.compile(r"^(outlook|hotmail|live|msn)\.[a-z.]+$")
_MX = re.compile(r"\.mail\.protection\.outlook\.com$")


def m365(reason: object, confidence: int, via: str) -> Detection:
    return Detection(M365, _("Microsoft 365"), reason, confidence,  # type: ignore[arg-type]
                     (Preset(_("Microsoft 365: smtp.office365.com, 587, TLS"), M365_HOST,
                             587, "tls"),), via)


def outlook_com(reason: object, confidence: int, via: str) -> Detection:
    return Detection(OUTLOOK_COM, _("Outlook.com (personal Microsoft account)"),
                     reason, confidence,  # type: ignore[arg-type]
                     (Preset(_("Outlook.com: smtp-mail.outlook.com, 587, TLS"), OUTLOOK_HOST,
                             587, "tls"),), via)


def detect(address: str, host: str, mx: MxLookup) -> Detection | None:
    host = host.lower().rstrip(".")
    if host == M365_HOST:
        return m365(_("The SMTP server is Microsoft 365's ({host}).", host=host), 90, "host")
    if host == OUTLOOK_HOST:
        return outlook_com(_("The SMTP server is Outlook.com's ({host}).", host=host), 90,
                           "host")
    domain = split_address(address)[1].lower()
    if not domain:
        return None
    if _CONSUMER.match(domain):
        return outlook_com(_("The address ends in {domain}.", domain=domain), 80, "domain")
    if domain.endswith(".onmicrosoft.com"):
        return m365(_("The address ends in {domain}.", domain=domain), 80, "domain")
    for exchange in mx(domain):
        if _MX.search(exchange):
            return m365(_("The MX record of {domain} points to Microsoft 365 ({mx}).",
                          domain=domain, mx=exchange), 60, "mx")
    return None
