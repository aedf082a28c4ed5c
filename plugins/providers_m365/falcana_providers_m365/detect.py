"""What recognises Microsoft 365 (Exchange Online) and consumer Outlook.com: their hosts,
domains and MX records, and the detections with their presets."""

from __future__ import annotations

import re

from falcana_smtp_settings.api import Detection, Preset

from falcana_providers_m365.i18n import _

M365 = "m365"
OUTLOOK_COM = "outlook_com"
M365_HOST = "smtp.office365.com"
OUTLOOK_HOST = "smtp-mail.outlook.com"

#: the consumer domains of Outlook.com, as Thunderbird's ISP database lists them
#: (hotmail.com.xml, MPL-2.0, commit c6ad796): a name pattern would also match
#: outlook.firma.de or msn.example.org, which are nobody's Outlook.com addresses
CONSUMER_DOMAINS = frozenset({
    "hotmail.com", "live.com", "msn.com", "outlook.com", "windowslive.com", "outlook.at",
    "outlook.be", "outlook.cl", "outlook.cz", "outlook.de", "outlook.dk", "outlook.es",
    "outlook.fr", "outlook.hu", "outlook.ie", "outlook.in", "outlook.it", "outlook.jp",
    "outlook.kr", "outlook.lv", "outlook.my", "outlook.ph", "outlook.pt", "outlook.sa",
    "outlook.sg", "outlook.sk", "outlook.co.id", "outlook.co.il", "outlook.co.th",
    "outlook.com.ar", "outlook.com.au", "outlook.com.br", "outlook.com.gr", "outlook.com.tr",
    "outlook.com.vn", "hotmail.be", "hotmail.ca", "hotmail.cl", "hotmail.cz", "hotmail.de",
    "hotmail.dk", "hotmail.es", "hotmail.fi", "hotmail.fr", "hotmail.gr", "hotmail.hu",
    "hotmail.it", "hotmail.lt", "hotmail.lv", "hotmail.my", "hotmail.nl", "hotmail.no",
    "hotmail.ph", "hotmail.rs", "hotmail.se", "hotmail.sg", "hotmail.sk", "hotmail.co.id",
    "hotmail.co.il", "hotmail.co.in", "hotmail.co.jp", "hotmail.co.kr", "hotmail.co.th",
    "hotmail.co.uk", "hotmail.co.za", "hotmail.com.ar", "hotmail.com.au", "hotmail.com.br",
    "hotmail.com.hk", "hotmail.com.tr", "hotmail.com.tw", "hotmail.com.vn", "live.at", "live.be",
    "live.ca", "live.cl", "live.cn", "live.de", "live.dk", "live.fi", "live.fr", "live.hk",
    "live.ie", "live.in", "live.it", "live.jp", "live.nl", "live.no", "live.ru", "live.se",
    "live.co.jp", "live.co.kr", "live.co.uk", "live.co.za", "live.com.ar", "live.com.au",
    "live.com.mx", "live.com.my", "live.com.ph", "live.com.pt", "live.com.sg", "livemail.tw",
})
MX = re.compile(r"\.mail\.protection\.outlook\.com$")


def m365(reason: object, confidence: int, via: str) -> Detection:
    return Detection(M365, _("Microsoft 365"), reason, confidence,  # type: ignore[arg-type]
                     (Preset(_("Microsoft 365: smtp.office365.com, 587, TLS"), M365_HOST,
                             587, "tls"),), via, files_sent=True)


def outlook_com(reason: object, confidence: int, via: str) -> Detection:
    return Detection(OUTLOOK_COM, _("Outlook.com (personal Microsoft account)"),
                     reason, confidence,  # type: ignore[arg-type]
                     (Preset(_("Outlook.com: smtp-mail.outlook.com, 587, TLS"), OUTLOOK_HOST,
                             587, "tls"),), via, files_sent=True)
