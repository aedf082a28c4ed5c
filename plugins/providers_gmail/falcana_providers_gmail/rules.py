"""What Gmail adds to the SMTP section: its limits, the shape of an app password, its
dated help and the sources behind it."""

from __future__ import annotations

import re

from falcana_core.api.transport import Limits
from falcana_providers_gmail.detect import GMAIL, WORKSPACE
from falcana_providers_gmail.i18n import _

LAST_CHECKED = "2026-11-27"
APP_PASSWORD = re.compile(r"^[a-z]{16}$")
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


HELP = _(
    "<p><strong>Two ways to sign in.</strong> Google refuses the account password itself "
    "(\"less secure apps\" ended on 2022-05-30, and Google Workspace stopped accepting "
    "account passwords on 2024-09-30). Either sign in with OAuth2 (choose it under "
    "Sign-in, when the admin has set up the Google client: no 2-Step Verification "
    "needed), or use an app password, which needs 2-Step Verification.</p>"
    "<p><strong>For an app password, first switch on 2-Step Verification</strong> in the "
    "Google account, <strong>then create the app password:</strong> Google account &gt; "
    "Security &gt; 2-Step Verification &gt; App passwords (myaccount.google.com/apppasswords). "
    "Today's page asks only for a name: enter a telling one such as \"falcana\", then click "
    "Create. (Older guides describe a dialog with \"Select app\" &gt; \"Other\" &gt; name &gt; "
    "\"Generate\": it is the same step.)</p>"
    "<p>Google shows the password once, as 16 letters in four groups: paste it into E-mail "
    "password; falcana removes the spaces. App passwords are not available with security-key-"
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
