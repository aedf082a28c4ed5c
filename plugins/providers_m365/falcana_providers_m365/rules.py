"""Validation and help that Microsoft 365 adds to the e-mail-Einstellungen section."""

from __future__ import annotations

from typing import Any

from falcana_smtp_settings.api import SECTION_ID, Detection

from falcana_core.api import HelpText, Limits, SectionContext, Validation
from falcana_providers_m365.detect import M365, OUTLOOK_COM
from falcana_providers_m365.explain import DEPRECATION, SMTP_AUTH_DOCS
from falcana_providers_m365.i18n import _

LAST_CHECKED = "2026-11-27"

LIMITS = Limits(max_connections=3, messages_per_minute=30, recipients_per_day=10_000,
                recipients_per_message=500)

SETUP_DOCS = (_("Microsoft: Set up a multifunction device or application to send email "
                "using Microsoft 365"),
              "https://learn.microsoft.com/exchange/mail-flow-best-practices/"
              "how-to-set-up-a-multifunction-device-or-application-to-send-email-using-"
              "microsoft-365-or-office-365")
GRAPH_DOCS = (_("Microsoft Graph: user: sendMail"),
              "https://learn.microsoft.com/graph/api/user-sendmail")
OUTLOOK_DOCS = (_("Microsoft: POP, IMAP and SMTP settings for Outlook.com"),
                "https://support.microsoft.com/office/"
                "pop-imap-and-smtp-settings-for-outlook-com-d088b986-291d-42b8-9564-9c414e2aa040")


def ours(provider: Detection) -> Detection | None:
    return provider if provider.provider in (M365, OUTLOOK_COM) else None


def _password_present(ctx: SectionContext, values: dict[str, Any]) -> bool:
    if values.get("password"):
        return True
    if values.get("clear_password") or ctx.mailbox is None:
        return False
    return ctx.host.section(SECTION_ID).is_set(ctx, "password")


def validate(ctx: SectionContext, provider: Detection,
             values: dict[str, Any]) -> Validation | None:
    found = ours(provider)
    if found is None:
        return None
    v = Validation()
    port, security = values.get("port"), values.get("security")
    if found.via == "host":
        if port == 465:
            v.error("port", _("Microsoft 365 does not offer port 465 (connections time out). "
                              "Use port 587 with TLS."), "m365_465")
        elif port == 587 and security != "tls":
            v.error("security", _("Port 587 at Microsoft needs connection type TLS."),
                    "m365_587_tls")
    address = str(values.get("email") or "").lower()
    username = str(values.get("username") or "").lower()
    if found.provider == M365 and username and address and username != address:
        v.warning("email", _("The e-mail address differs from the username: Microsoft 365 "
                             "sends only if the mailbox {user} has \"Send As\" rights on "
                             "{address}.", user=username, address=address), "m365_send_as")
    if found.provider == OUTLOOK_COM and _password_present(ctx, values):
        v.warning("password", _("Outlook.com (personal Microsoft accounts) accepts only OAuth2 "
                                "sign-in since 2024-09-16: a password will be refused."),
                  "outlook_oauth_only")
    return v


M365_HELP = _(
    "<p><strong>Authenticated SMTP must be on for the mailbox.</strong> Microsoft 365 "
    "switches SMTP AUTH off by default for tenants created after January 2020. In the "
    "Microsoft 365 admin center: Admin center &gt; Users &gt; Active users &gt; choose the "
    "user &gt; Mail tab &gt; Manage email apps (wait about 5 seconds until the page has "
    "loaded) &gt; tick Authenticated SMTP &gt; Save. Then wait about 10 minutes before you "
    "test.</p>"
    "<p><strong>Two-factor authentication:</strong> an app password helps only with "
    "legacy per-user MFA (create it at mysignins.microsoft.com/security-info). With "
    "Security Defaults or Conditional Access there are no app passwords, and Security "
    "Defaults block SMTP AUTH entirely.</p>"
    "<p><strong>PowerShell</strong> (Exchange Online): <code>Set-CASMailbox -Identity "
    "user@firma.de -SmtpClientAuthenticationDisabled $false</code> switches it on for one "
    "mailbox; <code>$null</code> makes the mailbox follow the tenant setting "
    "(<code>Set-TransportConfig -SmtpClientAuthenticationDisabled</code>).</p>"
    "<p><strong>End of basic authentication:</strong> at the end of December 2026 Microsoft "
    "switches basic authentication (password sign-in) for SMTP AUTH off by default in "
    "existing tenants; admins can switch it back on. Tenants created after December 2026 "
    "do not have it at all. Microsoft will announce the date of the final removal in the "
    "second half of 2027. OAuth2 sign-in is the lasting way.</p>"
    "<p>Settings: server smtp.office365.com, port 587, connection type TLS; username = the "
    "mailbox address.</p>")

GRAPH_HELP = _(
    "<p><strong>When SMTP is closed, choose \"Send through: Microsoft Graph\".</strong> "
    "Graph works whatever the SMTP AUTH setting is: switched off for the mailbox or the "
    "tenant, blocked by Security Defaults, or without basic authentication after December "
    "2026. It signs in with OAuth2 (the permission Mail.Send) and saves the message to Sent "
    "Items itself.</p>"
    "<p>The admin adds Mail.Send to the app registration: delegated for the user's sign-in, "
    "application (with admin consent) for app-only, limited to the mailboxes it may send "
    "as. A mailbox signed in for SMTP signs in once more for Graph: the SMTP permission "
    "does not cover it.</p>"
    "<p>Limits: about 3 MB per message (4 MB once encoded); Exchange's 30 messages a "
    "minute and 10,000 recipients a day apply as with SMTP.</p>")

OUTLOOK_HELP = _(
    "<p>Personal Microsoft accounts (outlook.com, hotmail, live) accept only OAuth2 sign-in "
    "for SMTP since 2024-09-16; a password, even an app password, is refused.</p>"
    "<p>Settings: server smtp-mail.outlook.com, port 587, connection type TLS.</p>")


def help_texts(ctx: SectionContext, provider: Detection,
               values: dict[str, Any]) -> list[HelpText]:
    found = ours(provider)
    if found is None:
        return []
    if found.provider == OUTLOOK_COM:
        return [HelpText("outlook_com.oauth_only", _("Outlook.com: special cases"),
                         OUTLOOK_HELP, LAST_CHECKED, (OUTLOOK_DOCS,), order=50)]
    return [HelpText("m365.special_cases", _("Microsoft 365: special cases"), M365_HELP,
                     LAST_CHECKED, (SMTP_AUTH_DOCS, SETUP_DOCS, DEPRECATION), order=50),
            HelpText("m365.graph", _("Microsoft 365: sending through Microsoft Graph"),
                     GRAPH_HELP, LAST_CHECKED, (GRAPH_DOCS,), order=55)]
