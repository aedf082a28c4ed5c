"""Google as the OAuth2 client for XOAUTH2 (the user's consent, or domain-wide delegation)."""

from __future__ import annotations

from typing import Any

from falcana_oauth import ClientField, OAuthApi, OAuthClientSection, OAuthProvider

from falcana_core.api import HelpText
from falcana_providers_gmail import gmail_api
from falcana_providers_gmail.detect import PROVIDERS, WORKSPACE
from falcana_providers_gmail.i18n import _

PLUGIN = "providers_gmail"  # owner of the client settings
PROVIDER_ID = "google"
#: Google ends a refresh token unused for six months
REFRESH_IDLE_DAYS = 182
SMTP_SCOPE = "https://mail.google.com/"

SECTION = OAuthClientSection(PLUGIN, "oauth_google", _("Google: OAuth2 sign-in"), [
    ClientField("client_id", _("Client ID"),
                _("From the OAuth client in the Google Cloud console (see the docs).")),
    ClientField("client_secret", _("Client secret"), secret=True),
    ClientField("service_account_key", _("Service account key (JSON)"),
                _("For domain-wide delegation in Google Workspace: the service account's JSON "
                  "key."), secret=True, multiline=True),
    ClientField("auth_uri", _("Authorization endpoint"),
                default="https://accounts.google.com/o/oauth2/v2/auth", https_url=True),
    ClientField("token_uri", _("Token endpoint"), default="https://oauth2.googleapis.com/token",
                https_url=True),
    ClientField("revoke_uri", _("Revocation endpoint"),
                default="https://oauth2.googleapis.com/revoke", https_url=True),
    ClientField("smtp_servers", _("Servers for OAuth2"),
                _("A token is sent only to these servers (SMTP, and IMAP for the copy in "
                  "Sent; separated by spaces), and only over a verified TLS connection."),
                default="smtp.gmail.com imap.gmail.com"),
    ClientField("gmail_url", _("Gmail API endpoint"),
                _("Where \"Send through: Gmail API\" sends (and its token goes). Leave as it "
                  "is unless you use a proxy."),
                default=gmail_api.GMAIL_URL, https_url=True),
    ClientField("read_reports", _("Read delivery reports through the Gmail API"),
                _("For mailboxes that send through the Gmail API without IMAP settings: "
                  "their inbox is read, read-only, for delivery reports and automatic "
                  "replies (Unzustellbare E-Mails). It needs the scope gmail.readonly, which "
                  "Google classes as restricted: it opens the whole mailbox to reading (falcana "
                  "reads only reports and stores nothing else), and an app used outside your "
                  "own Workspace organisation needs Google's verification and a yearly "
                  "security assessment. For domain-wide delegation, authorise it beside "
                  "gmail.send in the Admin console; users who signed in before sign in "
                  "again."), boolean=True),
])


def provider(host: Any) -> OAuthProvider | None:
    client_id = SECTION.value(host, "client_id")
    key = SECTION.value(host, "service_account_key")
    if not client_id and key is None:
        return None
    return OAuthProvider(
        id=PROVIDER_ID, name=_("Google"), serves=PROVIDERS,
        authorize_url=str(SECTION.value(host, "auth_uri")),
        token_url=str(SECTION.value(host, "token_uri")),
        revoke_url=str(SECTION.value(host, "revoke_uri")) or None,
        scope=f"{SMTP_SCOPE} openid email", client_id=str(client_id or ""),
        client_secret=SECTION.value(host, "client_secret"), service_account=key,
        delegation_scope=SMTP_SCOPE,
        authorize_params={"access_type": "offline", "prompt": "consent"},
        sign_in_label=_("Sign in with Google"), refresh_idle_days=REFRESH_IDLE_DAYS,
        admin_serves=(WORKSPACE,),
        smtp_hosts=str(SECTION.value(host, "smtp_servers")),
        apis=(gmail(host),))


def gmail(host: Any) -> OAuthApi:
    """The Gmail API's scopes: gmail.send, and gmail.readonly where the admin chose to
    read delivery reports (restricted: see the field's help)."""
    reads = SECTION.value(host, "read_reports") is True
    scope = f"{gmail_api.SCOPE} {gmail_api.READ_SCOPE}" if reads else gmail_api.SCOPE
    return OAuthApi(gmail_api.TRANSPORT, gmail_api.API.label, f"{scope} openid email",
                    delegation_scope=scope, covered_by=(SMTP_SCOPE,),
                    base_url=str(SECTION.value(host, "gmail_url")), reads_inbox=reads)


def client_missing_help(ctx: Any) -> HelpText | None:
    """Why the help's "Send through: Gmail API" and "Sign-in: OAuth2" are not there: no
    OAuth2 client yet, and who sets it up where."""
    who = SECTION.where_to_set_up(ctx)
    if who is None:
        return None
    return HelpText("gmail.no_oauth_client", _("Google: why OAuth2 is not offered yet"), _(
        "<p>The choices \"Send through: Gmail API\" and \"Sign-in: OAuth2\" appear once the "
        "Google OAuth2 client is set up, and it is not yet. {who}</p>", who=who),
        order=56)
