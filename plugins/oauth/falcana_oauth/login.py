"""OAuth2 in the e-mail settings: the sign-in choices, the XOAUTH2 login with its ``token``
step, and connecting app-only or delegation when the admin chooses it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from falcana_core.api import Choice, SectionContext
from falcana_oauth.actions import METHODS
from falcana_oauth.i18n import _
from falcana_oauth.service import (
    APP,
    DELEGATED,
    DELEGATION,
    SMTP,
    AccessToken,
    OAuthError,
    oauth,
)

if TYPE_CHECKING:
    from falcana_smtp_settings.api import SmtpSession, SmtpSettings

    from falcana_core.api import Host, Mailbox


def auth_methods(ctx: SectionContext, values: dict[str, Any]) -> list[Choice]:
    """The OAuth2 modes the client of the recognised provider offers (for the transport
    shown, when it is a mail API)."""
    provider = oauth(ctx.host).provider_for(str(values.get("email") or ""),
                                            str(values.get("host") or ""))
    if provider is None:
        return []
    transport = str(values.get("transport") or SMTP)
    modes = provider.modes_for(transport) or provider.modes
    labels = {DELEGATED: _("OAuth2: the mailbox's user signs in with {name}",
                           name=provider.name),
              APP: _("OAuth2: app-only access (Microsoft)"),
              DELEGATION: _("OAuth2: domain-wide delegation (Google Workspace)")}
    method_of = {mode: method for method, mode in METHODS.items()}
    # app-only and delegation act for any address of the tenant: only an admin chooses them
    return [Choice(method_of[m], labels[m], admin_only=m != DELEGATED) for m in modes]


def transport_choices(ctx: SectionContext, values: dict[str, Any]) -> list[Choice]:
    """The mail APIs the configured client of the recognised provider opens, for which a
    plugin registered a transport ("Versand über: Microsoft Graph")."""
    provider = oauth(ctx.host).provider_for(str(values.get("email") or ""),
                                            str(values.get("host") or ""))
    if provider is None:
        return []
    registered = set(ctx.host.transports())
    return [Choice(api.transport, api.label) for api in provider.apis
            if api.transport in registered and provider.modes_for(api.transport)]


def login(host: Host, session: SmtpSession, settings: SmtpSettings) -> str | None:
    """The ``token`` step (cached, refreshed or issued), then AUTH XOAUTH2."""
    if settings.auth_method not in METHODS:
        return None
    box = host.mailboxes.get(settings.mailbox_id)
    assert box is not None

    def token_for_this_server() -> AccessToken:
        check_destination(host, box.address, settings)
        return oauth(host).access_token(box, transport=SMTP)

    token = session.step("token", token_for_this_server, detail=lambda t: {
        "source": t.source, "account": t.account, "expires_at": t.expires_at.isoformat()})
    return session.xoauth2(token.account, token.token)


def imap_login(host: Host, mailbox: Mailbox, session: Any) -> str | None:
    """XOAUTH2 over IMAP for the copy in Sent, under the same rule as SMTP: the token goes
    only to a server the client lists, over verified TLS."""
    from falcana_smtp_settings.api import load_settings

    smtp = load_settings(host, mailbox, with_password=False)
    if smtp.auth_method not in METHODS:
        return None
    imap = session.settings

    def token_for_this_server() -> AccessToken:
        _check(host, smtp.address, imap.host, imap.security, None)
        return oauth(host).access_token(mailbox, transport=SMTP)

    token = session.step("imap.token", token_for_this_server, detail=lambda t: {
        "source": t.source, "account": t.account})
    used: str = session.xoauth2(token.account, token.token)
    return used


def check_destination(host: Host, address: str, settings: SmtpSettings) -> None:
    _check(host, address, settings.host, settings.security, settings.pin)


def _check(host: Host, address: str, server: str, security: str, pin: str | None) -> None:
    """A token goes only to an SMTP server its provider names, over TLS verified against
    the CA bundle (a pinned certificate skips that check, so it does not count)."""
    provider = oauth(host).provider_for(address, server)
    allowed = provider.smtp_host_names if provider else frozenset()
    if server.lower().rstrip(".") not in allowed:
        raise OAuthError("oauth.server_not_allowed", _(
            "The OAuth2 token is sent only to {servers}, not to {server}.",
            servers=", ".join(sorted(allowed)) or "-", server=server), _(
            "Enter the provider's SMTP server, or add this server to the OAuth2 client's "
            "\"SMTP servers\" in the system settings."))
    if security not in ("tls", "ssl") or pin:
        raise OAuthError("oauth.tls_required", _(
            "The OAuth2 token is sent only over a TLS connection whose certificate is "
            "verified (connection type TLS or SSL, no pinned certificate)."), _(
            "Choose TLS or SSL and remove the pinned certificate."))


def connect_admin_mode(ctx: SectionContext, values: dict[str, Any],
                       changes: dict[str, Any]) -> None:
    """App-only and delegation need no user's consent: choosing them connects. A new
    transport whose scopes the user's consent does not cover asks for a new sign-in."""
    mode = METHODS.get(str(values.get("auth_method")))
    if ctx.mailbox is not None and "transport" in changes and mode == DELEGATED \
            and "auth_method" not in changes:
        oauth(ctx.host).transport_changed(ctx.mailbox, str(values.get("transport") or SMTP),
                                          actor=ctx.actor)
    if ctx.mailbox is None or "auth_method" not in changes or mode not in (APP, DELEGATION):
        return
    service = oauth(ctx.host)
    provider = service.provider_for(str(values.get("email") or ctx.mailbox.address),
                                    str(values.get("host") or ""))
    if provider is not None:
        service.set_admin_mode(ctx.mailbox, provider, mode, actor=ctx.actor)
