"""The steps of an SMTP exchange, in order (docs/test-mail.md lists them), with their
names for people; the ids are stable keys of the step log, ``--json`` and explanations."""

from __future__ import annotations

from falcana_core.api import Text
from falcana_smtp_settings.i18n import _

STEP_IDS = ("resolve", "connect", "tls", "greeting", "ehlo", "starttls", "ehlo_tls", "token",
            "auth", "mail_from", "rcpt_to", "data", "quit")

STEP_LABELS: dict[str, Text] = {
    "resolve": _("Name lookup"), "connect": _("Connection"), "tls": _("TLS (SSL)"),
    "greeting": _("Greeting"), "ehlo": _("EHLO"), "starttls": _("STARTTLS"),
    "ehlo_tls": _("EHLO after TLS"), "token": _("OAuth2 token"), "auth": _("Login (AUTH)"),
    "mail_from": _("Sender (MAIL FROM)"), "rcpt_to": _("Recipients (RCPT TO)"),
    "data": _("Message (DATA)"), "quit": _("End (QUIT)"),
}
