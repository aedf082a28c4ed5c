"""Recognising Gmail and Google Workspace."""

from __future__ import annotations

from falcana_smtp_settings.api import Detection, MxLookup, Preset

from falcana_core.api import split_address
from falcana_providers_gmail.i18n import _

GMAIL = "gmail"  # consumer accounts (gmail.com, googlemail.com)
WORKSPACE = "google_workspace"  # Google Workspace on the organisation's own domain
PROVIDERS = (GMAIL, WORKSPACE)
HOSTS = ("smtp.gmail.com", "smtp-relay.gmail.com")
CONSUMER_DOMAINS = ("gmail.com", "googlemail.com")


def gmail(reason: object, confidence: int, via: str, provider: str = GMAIL) -> Detection:
    name = _("Gmail") if provider == GMAIL else _("Google Workspace")
    return Detection(
        provider, name, reason, confidence,  # type: ignore[arg-type]
        (Preset(_("Gmail: smtp.gmail.com, 465, SSL"), "smtp.gmail.com", 465, "ssl"),
         Preset(_("Gmail: smtp.gmail.com, 587, TLS"), "smtp.gmail.com", 587, "tls")), via,
        files_sent=True)  # Gmail puts mail sent over SMTP into "Gesendet" itself


def _google_mx(exchange: str) -> bool:
    return exchange.endswith((".google.com", ".googlemail.com")) or exchange in (
        "aspmx.l.google.com", "smtp.google.com")


def detect(address: str, host: str, mx: MxLookup) -> Detection | None:
    host = host.lower().rstrip(".")
    domain = split_address(address)[1].lower()
    if host in HOSTS:
        kind = WORKSPACE if domain and domain not in CONSUMER_DOMAINS else GMAIL
        return gmail(_("The SMTP server is Google's ({host}).", host=host), 90, "host", kind)
    if not domain:
        return None
    if domain in CONSUMER_DOMAINS:
        return gmail(_("The address ends in {domain}.", domain=domain), 80, "domain")
    for exchange in mx(domain):
        if _google_mx(exchange):
            return gmail(_("The MX record of {domain} points to Google ({mx}).",
                           domain=domain, mx=exchange), 60, "mx", WORKSPACE)
    return None
