"""Hook implementations: recognise Microsoft 365 and Outlook.com, check and explain their
settings and replies, declare their limits; the OAuth2 client and Microsoft Graph.

The data (hosts, domains, help texts, reply rules) is in the sibling modules; what needs
the OAuth plugin or the network is imported inside its hook, so loading stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from falcana_smtp_settings.api import SECTION_ID, Detection, MxLookup, explain_by_rules

from falcana_core.api import (
    DeliveryFailure,
    Explanation,
    HelpText,
    SectionContext,
    Validation,
    hookimpl,
    split_address,
)
from falcana_core.api.transport import Limits
from falcana_providers_m365 import rules
from falcana_providers_m365.detect import (
    CONSUMER_DOMAINS,
    M365,
    M365_HOST,
    MX,
    OUTLOOK_COM,
    OUTLOOK_HOST,
    m365,
    outlook_com,
)
from falcana_providers_m365.explain import DEPRECATION, RULES, SMTP_AUTH_DOCS, is_microsoft
from falcana_providers_m365.i18n import _

if TYPE_CHECKING:
    from falcana_oauth import OAuthProvider

    from falcana_core.api import Host, Mailbox, Notice, Section
    from falcana_core.api.net import RegisterClient
    from falcana_core.api.transport import RegisterTransport


@hookimpl
def detect_provider(address: str, host: str, mx: MxLookup) -> Detection | None:
    host = host.lower().rstrip(".")
    if host == M365_HOST:
        return m365(_("The SMTP server is Microsoft 365's ({host}).", host=host), 90, "host")
    if host == OUTLOOK_HOST:
        return outlook_com(_("The SMTP server is Outlook.com's ({host}).", host=host), 90,
                           "host")
    domain = split_address(address)[1].lower()
    if not domain:
        return None
    if domain in CONSUMER_DOMAINS:
        return outlook_com(_("The address ends in {domain}.", domain=domain), 80, "domain")
    if domain.endswith(".onmicrosoft.com"):
        return m365(_("The address ends in {domain}.", domain=domain), 80, "domain")
    for exchange in mx(domain):
        if MX.search(exchange):
            return m365(_("The MX record of {domain} points to Microsoft 365 ({mx}).",
                          domain=domain, mx=exchange), 60, "mx")
    return None


@hookimpl
def provider_validate(ctx: SectionContext, provider: Detection,
                      values: dict[str, Any]) -> Validation | None:
    if provider.provider not in (M365, OUTLOOK_COM):
        return None
    v = Validation()
    port, security = values.get("port"), values.get("security")
    if provider.via == "host":
        if port == 465:
            v.error("port", _("Microsoft 365 does not offer port 465 (connections time out). "
                              "Use port 587 with TLS."), "m365_465")
        elif port == 587 and security != "tls":
            v.error("security", _("Port 587 at Microsoft needs connection type TLS."),
                    "m365_587_tls")
    address = str(values.get("email") or "").lower()
    username = str(values.get("username") or "").lower()
    if provider.provider == M365 and username and address and username != address:
        v.warning("email", _("The e-mail address differs from the username: Microsoft 365 "
                             "sends only if the mailbox {user} has \"Send As\" rights on "
                             "{address}.", user=username, address=address), "m365_send_as")
    if provider.provider == OUTLOOK_COM and _password_present(ctx, values):
        v.warning("password", _("Outlook.com (personal Microsoft accounts) accepts only OAuth2 "
                                "sign-in since 2024-09-16: a password will be refused."),
                  "outlook_oauth_only")
    return v


def _password_present(ctx: SectionContext, values: dict[str, Any]) -> bool:
    if values.get("password"):
        return True
    if values.get("clear_password") or ctx.mailbox is None:
        return False
    return ctx.host.section(SECTION_ID).is_set(ctx, "password")


@hookimpl
def provider_help(ctx: SectionContext, provider: Detection,
                  values: dict[str, Any]) -> list[HelpText]:
    if provider.provider not in (M365, OUTLOOK_COM):
        return []
    from falcana_providers_m365.oauth import client_missing_help

    missing = client_missing_help(ctx)
    if provider.provider == OUTLOOK_COM:
        found = [HelpText("outlook_com.oauth_only", _("Outlook.com: special cases"),
                          rules.OUTLOOK_HELP, rules.LAST_CHECKED, (rules.OUTLOOK_DOCS,),
                          order=50)]
    else:
        found = [HelpText("m365.special_cases", _("Microsoft 365: special cases"),
                          rules.M365_HELP, rules.LAST_CHECKED,
                          (SMTP_AUTH_DOCS, rules.SETUP_DOCS, DEPRECATION), order=50),
                 HelpText("m365.graph", _("Microsoft 365: sending through Microsoft Graph"),
                          rules.GRAPH_HELP, rules.LAST_CHECKED, (rules.GRAPH_DOCS,), order=55)]
    return [*found, *([missing] if missing is not None else [])]


@hookimpl
def explain_delivery_error(failure: DeliveryFailure) -> Explanation | None:
    if failure.data.get("api") == "graph":
        from falcana_providers_m365.explain_graph import explain

        return explain(failure)
    return explain_by_rules(failure, RULES, is_microsoft)


@hookimpl
def mailbox_notices(host: Host, mailbox: Mailbox) -> list[Notice]:
    from falcana_providers_m365.notices import notices

    return notices(host, mailbox)


@hookimpl
def provider_limits(provider: str) -> Limits | None:
    return rules.LIMITS if provider == M365 else None


@hookimpl
def register_outgoing_clients(register: RegisterClient) -> None:
    register("graph.send", "Microsoft Graph sendMail, app-only or for the user")


@hookimpl
def register_transports(register: RegisterTransport) -> None:
    from falcana_oauth.mail_api import MailApiTransport

    from falcana_providers_m365.graph import API, TRANSPORT

    register(TRANSPORT, MailApiTransport.factory(API))


@hookimpl
def deployment_settings_sections(host: Host) -> list[Section]:
    from falcana_providers_m365.oauth import SECTION

    return [SECTION]


@hookimpl
def oauth_providers(host: Host) -> list[OAuthProvider]:
    from falcana_providers_m365.oauth import provider

    found = provider(host)
    return [found] if found else []
