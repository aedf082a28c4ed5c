"""Validation, help and the app-password clean-up that Gmail adds to the SMTP section."""

from __future__ import annotations

import re
from typing import Any

from falcana_smtp_settings.api import Detection

from falcana_core.api import HelpText, Limits, SectionContext, Validation
from falcana_providers_gmail.detect import GMAIL, PROVIDERS, WORKSPACE
from falcana_providers_gmail.explain import APP_PASSWORDS
from falcana_providers_gmail.i18n import _

LAST_CHECKED = "2026-11-27"
_APP_PASSWORD = re.compile(r"^[a-z]{16}$")
_WHITESPACE = re.compile(r"\s+")

LIMITS = {
    GMAIL: Limits(recipients_per_day=500, recipients_per_message=100),
    WORKSPACE: Limits(messages_per_day=2000, recipients_per_message=100),
}
WORKSPACE_PASSWORDS = (_("Google Workspace: less secure apps and account passwords"),
                       "https://support.google.com/a/answer/14114704")


def strip_app_password(password: str) -> str:
    """Google shows app passwords in four groups of four; spaces are not part of them."""
    return _WHITESPACE.sub("", password)


def validate(ctx: SectionContext, provider: Detection,
             values: dict[str, Any]) -> Validation | None:
    if provider.provider not in PROVIDERS:
        return None
    v = Validation()
    password = values.get("password")
    if isinstance(password, str) and password:
        cleaned = strip_app_password(password)
        if cleaned != password:
            v.normalised["password"] = cleaned
        if not _APP_PASSWORD.match(cleaned.lower()):
            v.hint("password", _("This does not look like a Google app password (16 letters). "
                                 "With 2-Step Verification Google accepts only an app "
                                 "password."), "gmail_app_password_shape")
    address = str(values.get("email") or "").lower()
    username = str(values.get("username") or "").lower()
    if username and address and username != address:
        v.warning("email", _("The e-mail address differs from the Google account {user}: "
                             "Gmail rewrites the From to the account's address unless {address} "
                             "is a verified \"Send mail as\" alias.", user=username,
                             address=address), "gmail_from_rewrite")
    return v


HELP = _(
    "<p><strong>Two ways to sign in.</strong> Google refuses the account password itself "
    "(\"less secure apps\" ended on 2022-05-30, and Google Workspace stopped accepting "
    "account passwords on 2024-09-30). Either sign in with OAuth2 (choose it under "
    "Anmeldung, when the admin has set up the Google client: no 2-Step Verification "
    "needed), or use an app password, which needs 2-Step Verification.</p>"
    "<p><strong>For an app password, first switch on 2-Step Verification</strong> in the "
    "Google account, <strong>then create the app password:</strong> Google account &gt; "
    "Security &gt; 2-Step Verification &gt; App passwords (myaccount.google.com/apppasswords). "
    "Today's page asks only for a name: enter a telling one such as \"falcana\", then click "
    "Create. (Older guides describe a dialog with \"Select app\" &gt; \"Other\" &gt; name &gt; "
    "\"Generate\": it is the same step.)</p>"
    "<p>Google shows the password once, as 16 letters in four groups: paste it into e-mail "
    "Passwort; falcana removes the spaces. App passwords are not available with security-key-"
    "only 2-Step Verification, Advanced Protection, or when a Workspace admin forbids them.</p>"
    "<p>Settings: server smtp.gmail.com, port 465 with SSL or 587 with TLS; username = the "
    "full address.</p>")


API_HELP = _(
    "<p><strong>The Gmail API needs no app password and no restricted permission.</strong> "
    "It signs in with OAuth2 and the scope gmail.send, which Google classes as "
    "<em>sensitive</em>, not <em>restricted</em>: no yearly security assessment. (SMTP with "
    "OAuth2 needs https://mail.google.com/, a restricted scope.) Gmail files the message in "
    "Sent itself.</p>"
    "<p>Choose \"Send through: Gmail API\" once the admin has enabled the Gmail API for "
    "the Google Cloud project and added gmail.send to the consent screen (and to the "
    "domain-wide delegation). A mailbox signed in for SMTP keeps its sign-in: its "
    "permission includes sending.</p>")
API_DOCS = (_("Gmail API: Sending email"), "https://developers.google.com/gmail/api/guides/sending")


def help_texts(ctx: SectionContext, provider: Detection,
               values: dict[str, Any]) -> list[HelpText]:
    if provider.provider not in PROVIDERS:
        return []
    return [HelpText("gmail.app_password", _("Gmail: special cases"), HELP, LAST_CHECKED,
                     (APP_PASSWORDS, WORKSPACE_PASSWORDS), order=50),
            HelpText("gmail.api", _("Gmail: sending through the Gmail API"), API_HELP,
                     LAST_CHECKED, (API_DOCS,), order=55)]
