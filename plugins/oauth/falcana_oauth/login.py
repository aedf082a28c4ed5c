"""OAuth2 in the e-mail settings: the sign-in choices, the XOAUTH2 login with its ``token``
step, and connecting app-only or delegation when the admin chooses it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from falcana_core.api import Choice, SectionContext
from falcana_oauth.actions import METHODS
from falcana_oauth.i18n import _
from falcana_oauth.service import APP, DELEGATED, DELEGATION, oauth

if TYPE_CHECKING:
    from falcana_smtp_settings.api import SmtpSession, SmtpSettings

    from falcana_core.api import Host


def auth_methods(ctx: SectionContext, values: dict[str, Any]) -> list[Choice]:
    """The OAuth2 modes the client of the recognised provider offers."""
    provider = oauth(ctx.host).provider_for(str(values.get("email") or ""),
                                            str(values.get("host") or ""))
    if provider is None:
        return []
    labels = {DELEGATED: _("OAuth2: the mailbox's user signs in with {name}",
                           name=provider.name),
              APP: _("OAuth2: app-only access (Microsoft)"),
              DELEGATION: _("OAuth2: domain-wide delegation (Google Workspace)")}
    method_of = {mode: method for method, mode in METHODS.items()}
    return [Choice(method_of[m], labels[m]) for m in provider.modes]


def login(host: Host, session: SmtpSession, settings: SmtpSettings) -> str | None:
    """The ``token`` step (cached, refreshed or issued), then AUTH XOAUTH2."""
    if settings.auth_method not in METHODS:
        return None
    box = host.mailboxes.get(settings.mailbox_id)
    assert box is not None
    token = session.step("token", lambda: oauth(host).access_token(box), detail=lambda t: {
        "source": t.source, "account": t.account, "expires_at": t.expires_at.isoformat()})
    return session.xoauth2(token.account, token.token)


def connect_admin_mode(ctx: SectionContext, values: dict[str, Any],
                       changes: dict[str, Any]) -> None:
    """App-only and delegation need no user's consent: choosing them connects."""
    mode = METHODS.get(str(values.get("auth_method")))
    if ctx.mailbox is None or "auth_method" not in changes or mode not in (APP, DELEGATION):
        return
    service = oauth(ctx.host)
    provider = service.provider_for(str(values.get("email") or ctx.mailbox.address),
                                    str(values.get("host") or ""))
    if provider is not None:
        service.set_admin_mode(ctx.mailbox, provider, mode, actor=ctx.actor)
