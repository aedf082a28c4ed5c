"""What recognises Gmail and Google Workspace: their hosts, domains and MX records, and
the detections with their presets."""

from __future__ import annotations

from falcana_smtp_settings.api import Detection, Preset

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


def google_mx(exchange: str) -> bool:
    return exchange.endswith((".google.com", ".googlemail.com")) or exchange in (
        "aspmx.l.google.com", "smtp.google.com")
