"""Hook implementations: recognise Gmail and Google Workspace, check and explain their
settings and replies, clean app passwords, declare their limits; the OAuth2 client and
the Gmail API.

The data (hosts, domains, help texts, reply rules) is in the sibling modules; what needs
the OAuth plugin or the network is imported inside its hook, so loading stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from falcana_smtp_settings.api import Detection, MxLookup, explain_by_rules

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
from falcana_providers_gmail import rules
from falcana_providers_gmail.detect import (
    CONSUMER_DOMAINS,
    GMAIL,
    HOSTS,
    PROVIDERS,
    WORKSPACE,
    gmail,
    google_mx,
)
from falcana_providers_gmail.explain import APP_PASSWORDS, RULES, is_google
from falcana_providers_gmail.i18n import _

if TYPE_CHECKING:
    from falcana_oauth import OAuthProvider
    from falcana_smtp_settings.api import SmtpSettings

    from falcana_core.api import Host, Section
    from falcana_core.api.net import RegisterClient
    from falcana_core.api.transport import RegisterTransport


@hookimpl
def detect_provider(address: str, host: str, mx: MxLookup) -> Detection | None:
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
        if google_mx(exchange):
            return gmail(_("The MX record of {domain} points to Google ({mx}).",
                           domain=domain, mx=exchange), 60, "mx", WORKSPACE)
    return None


@hookimpl
def provider_validate(ctx: SectionContext, provider: Detection,
                      values: dict[str, Any]) -> Validation | None:
    if provider.provider not in PROVIDERS:
        return None
    v = Validation()
    password = values.get("password")
    if isinstance(password, str) and password:
        cleaned = rules.strip_app_password(password)
        if cleaned != password:
            v.normalised["password"] = cleaned
        if not rules.APP_PASSWORD.match(cleaned.lower()):
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


@hookimpl
def provider_help(ctx: SectionContext, provider: Detection,
                  values: dict[str, Any]) -> list[HelpText]:
    if provider.provider not in PROVIDERS:
        return []
    from falcana_providers_gmail.oauth import client_missing_help

    missing = client_missing_help(ctx)
    return [HelpText("gmail.app_password", _("Gmail: special cases"), rules.HELP,
                     rules.LAST_CHECKED, (APP_PASSWORDS, rules.WORKSPACE_PASSWORDS), order=50),
            HelpText("gmail.api", _("Gmail: sending through the Gmail API"), rules.API_HELP,
                     rules.LAST_CHECKED, (rules.API_DOCS,), order=55),
            *([missing] if missing is not None else [])]


@hookimpl
def smtp_password_for_auth(settings: SmtpSettings, password: str) -> str | None:
    return rules.strip_app_password(password) if settings.provider in PROVIDERS else None


@hookimpl
def explain_delivery_error(failure: DeliveryFailure) -> Explanation | None:
    if failure.data.get("api") == "gmail_api":
        from falcana_providers_gmail.explain_gmail_api import explain

        return explain(failure)
    return explain_by_rules(failure, RULES, is_google)


@hookimpl
def provider_limits(provider: str) -> Limits | None:
    return rules.LIMITS.get(provider)


@hookimpl
def register_outgoing_clients(register: RegisterClient) -> None:
    register("gmail_api.send",
             "the Gmail API's messages.send, for the user or by domain-wide delegation")


@hookimpl
def register_transports(register: RegisterTransport) -> None:
    from falcana_oauth.mail_api import MailApiTransport

    from falcana_providers_gmail.gmail_api import API, TRANSPORT

    register(TRANSPORT, MailApiTransport.factory(API))


@hookimpl
def deployment_settings_sections(host: Host) -> list[Section]:
    from falcana_providers_gmail.oauth import SECTION

    return [SECTION]


@hookimpl
def oauth_providers(host: Host) -> list[OAuthProvider]:
    from falcana_providers_gmail.oauth import provider

    found = provider(host)
    return [found] if found else []
