"""The Microsoft identity platform as the OAuth2 client for XOAUTH2 (delegated and app-only)."""

from __future__ import annotations

from typing import Any

from falcana_oauth import ClientField, OAuthApi, OAuthClientSection, OAuthProvider

from falcana_core.api import HelpText
from falcana_providers_m365 import graph
from falcana_providers_m365.detect import M365, M365_HOST, OUTLOOK_COM, OUTLOOK_HOST
from falcana_providers_m365.i18n import _

PLUGIN = "providers_m365"  # owner of the client settings
PROVIDER_ID = "microsoft"
SMTP_SCOPE = "https://outlook.office.com/SMTP.Send"
APP_SCOPE = "https://outlook.office365.com/.default"
#: a refresh token unused this long is dead (AADSTS700082); each use gives a new one
REFRESH_IDLE_DAYS = 90

SECTION = OAuthClientSection(PLUGIN, "oauth_microsoft",
                             _("Microsoft 365: OAuth2 sign-in"), [
    ClientField("client_id", _("Application (client) ID"),
                _("From the app registration in Microsoft Entra (see the docs).")),
    ClientField("client_secret", _("Client secret"),
                _("A client secret of the app registration; needed for app-only access."),
                secret=True),
    ClientField("client_secret_expires", _("Client secret expires on"),
                _("The date Microsoft Entra shows beside the secret (Certificates & secrets, "
                  "Expires), as YYYY-MM-DD: every mailbox signing in through this client "
                  "shows a warning 14 days ahead."), date=True),
    ClientField("tenant", _("Tenant"),
                _("Your tenant id, \"organizations\" for work accounts, or \"common\" when "
                  "personal Outlook.com accounts must sign in too."), default="organizations"),
    ClientField("authority", _("Authority"),
                _("Leave as it is unless you use a national cloud."),
                default="https://login.microsoftonline.com", https_url=True),
    ClientField("smtp_servers", _("Servers for OAuth2"),
                _("A token is sent only to these servers (SMTP, and IMAP for the copy in "
                  "Sent; separated by spaces), and only over a verified TLS connection."),
                default=f"{M365_HOST} {OUTLOOK_HOST}"),
    ClientField("graph_url", _("Microsoft Graph endpoint"),
                _("Where \"Send through: Microsoft Graph\" sends (and its token goes). Leave "
                  "as it is unless you use a national cloud or a proxy."),
                default=graph.GRAPH_URL, https_url=True),
    ClientField("read_reports", _("Read delivery reports through Microsoft Graph"),
                _("For mailboxes that send through Microsoft Graph without IMAP settings: "
                  "their inbox is read, read-only, for delivery reports and automatic "
                  "replies (Unzustellbare E-Mails). It needs the permission Mail.Read: for "
                  "app-only access as an application permission with admin consent (limit "
                  "it to the sending mailboxes with RBAC for Applications); a user's "
                  "sign-in then asks for it too, and users who signed in before sign in "
                  "again."), boolean=True),
])


def provider(host: Any) -> OAuthProvider | None:
    client_id = SECTION.value(host, "client_id")
    if not client_id:
        return None
    base = f"{str(SECTION.value(host, 'authority')).rstrip('/')}/{SECTION.value(host, 'tenant')}"
    return OAuthProvider(
        id=PROVIDER_ID, name=_("Microsoft"), serves=(M365, OUTLOOK_COM),
        authorize_url=f"{base}/oauth2/v2.0/authorize", token_url=f"{base}/oauth2/v2.0/token",
        scope=f"{SMTP_SCOPE} offline_access openid email", client_id=str(client_id),
        client_secret=SECTION.value(host, "client_secret"), app_scope=APP_SCOPE,
        authorize_params={"prompt": "select_account"},
        sign_in_label=_("Sign in with Microsoft"),
        smtp_hosts=str(SECTION.value(host, "smtp_servers")),
        secret_expires=SECTION.date(host, "client_secret_expires"),
        refresh_idle_days=REFRESH_IDLE_DAYS, admin_serves=(M365,),
        apis=(graph_api(host),))


def graph_api(host: Any) -> OAuthApi:
    """Graph's scopes: Mail.Send, and Mail.Read where the admin chose to read delivery
    reports (app-only: ``.default`` holds whatever the app was granted)."""
    reads = SECTION.value(host, "read_reports") is True
    read = f" {graph.READ_SCOPE}" if reads else ""
    return OAuthApi(graph.TRANSPORT, graph.API.label,
                    f"{graph.SCOPE}{read} offline_access openid email",
                    app_scope=graph.APP_SCOPE, base_url=str(SECTION.value(host, "graph_url")),
                    reads_inbox=reads)


def client_missing_help(ctx: Any) -> HelpText | None:
    """Why the help's "Send through: Microsoft Graph" and "Sign-in: OAuth2" are not there: no
    OAuth2 client yet, and who sets it up where."""
    who = SECTION.where_to_set_up(ctx)
    if who is None:
        return None
    return HelpText("m365.no_oauth_client", _("Microsoft 365: why OAuth2 is not offered yet"), _(
        "<p>The choices \"Send through: Microsoft Graph\" and \"Sign-in: OAuth2\" appear once the "
        "Microsoft 365 OAuth2 client is set up, and it is not yet. {who}</p>", who=who),
        order=56)
