"""What Microsoft 365 adds to the e-mail-Einstellungen section: its limits, its dated help
and the sources behind it."""

from __future__ import annotations

from falcana_core.api.transport import Limits
from falcana_providers_m365.i18n import _

LAST_CHECKED = "2026-11-27"

LIMITS = Limits(max_connections=3, messages_per_minute=30, recipients_per_day=10_000,
                recipients_per_message=1000)

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
    "<p><strong>What to do instead:</strong> choose \"Sign-in: OAuth2\" and then \"Sign in "
    "with Microsoft\": the user signs in once at Microsoft, and falcana sends with the "
    "token it gets, no password stored.</p>"
    "<p>Settings: server smtp-mail.outlook.com, port 587, connection type TLS.</p>")
