"""The sign-in buttons and the connection state, the same for every provider's client.

Only the mailbox's own user signs in ("Mit Microsoft anmelden"): a delegated token belongs
to whoever consents. An admin sends a one-time consent link instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from falcana_smtp_settings.api import SECTION_ID, load_settings

from falcana_core.api import Action, HelpText, SectionContext, Text
from falcana_oauth.i18n import _
from falcana_oauth.service import OAuthProvider, oauth, scope_missing

if TYPE_CHECKING:
    from falcana_core.api import Host

#: the section's auth_method values and the OAuth mode each needs
METHODS = {"oauth2": "delegated", "oauth2_app": "app", "oauth2_delegation": "delegation"}


def start_path(provider_id: str) -> str:
    return f"/plugins/oauth/{provider_id}/start"


def served_by(ctx: SectionContext) -> OAuthProvider | None:
    """The configured client that signs in for this mailbox's provider, if any."""
    if ctx.mailbox is None:
        return None
    settings = load_settings(ctx.host, ctx.mailbox, with_password=False)
    return oauth(ctx.host).provider_for(settings.address, settings.host)


def _method(ctx: SectionContext) -> str:
    if ctx.mailbox is None:
        return ""
    return load_settings(ctx.host, ctx.mailbox, with_password=False).auth_method


def actions(host: Host) -> list[Action]:
    """Sign in, consent link and sign out for each configured client."""
    return [a for provider in oauth(host).providers().values()
            for a in _provider_actions(provider.id, provider.sign_in_label or provider.name)]


def _provider_actions(provider_id: str, sign_in_label: Text) -> list[Action]:
    def served(ctx: SectionContext) -> bool:
        found = served_by(ctx)
        return found is not None and found.id == provider_id

    def own_user(ctx: SectionContext) -> bool:
        return ctx.user is not None and ctx.user.login == ctx.actor

    def delegated(ctx: SectionContext) -> bool:
        return _method(ctx) == "oauth2" and served(ctx)

    def admin(ctx: SectionContext) -> bool:
        actor = ctx.host.users.by_login(ctx.actor)
        return actor is not None and actor.is_admin

    def sign_in(ctx: SectionContext, params: Mapping[str, Any]) -> dict[str, Any]:
        assert ctx.mailbox is not None
        return {"redirect": f"{_script_root()}{start_path(provider_id)}"
                            f"?mailbox={ctx.mailbox.id}"}

    def consent_link(ctx: SectionContext, params: Mapping[str, Any]) -> dict[str, Any]:
        assert ctx.mailbox is not None
        service = oauth(ctx.host)
        token = service.create_link(ctx.mailbox, service.providers()[provider_id],
                                    actor=ctx.actor)
        link = f"{ctx.host.config.base_url}{start_path(provider_id)}?link={token}"
        return {"message": _("Send this link to {address}. It works once, for 3 days, and "
                             "only for this mailbox:", address=ctx.mailbox.address),
                "link": link}

    def disconnect(ctx: SectionContext, params: Mapping[str, Any]) -> dict[str, Any]:
        assert ctx.mailbox is not None
        oauth(ctx.host).disconnect(ctx.mailbox, actor=ctx.actor)
        return {"message": _("Signed out: the tokens were deleted (and revoked where the "
                             "provider allows).")}

    def connected(ctx: SectionContext) -> bool:
        return ctx.mailbox is not None and served(ctx) and \
            oauth(ctx.host).connection(ctx.mailbox.id) is not None

    return [
        Action(f"oauth.{provider_id}.sign_in", sign_in_label, SECTION_ID, sign_in, order=20,
               available=lambda c: delegated(c) and own_user(c)),
        Action(f"oauth.{provider_id}.consent_link", _("Create consent link"), SECTION_ID,
               consent_link, order=21, template="oauth/consent_link.html",
               available=lambda c: delegated(c) and admin(c) and not own_user(c)),
        Action(f"oauth.{provider_id}.disconnect", _("Sign out (OAuth2)"), SECTION_ID,
               disconnect, order=22, available=connected),
    ]


def _script_root() -> str:
    from flask import has_request_context, request

    return request.script_root if has_request_context() else ""


def state_help(ctx: SectionContext, values: Mapping[str, Any]) -> list[HelpText]:
    """The state of the OAuth2 sign-in, when the section signs in with OAuth2."""
    if ctx.mailbox is None or str(values.get("auth_method") or "") not in METHODS:
        return []
    provider = served_by(ctx)
    if provider is None:
        return []
    row = oauth(ctx.host).connection(ctx.mailbox.id)
    if row is None:
        body: Text = _("<p>Not signed in yet. The mailbox's user signs in with the button "
                       "below (or through a consent link an admin sends).</p>")
    elif row.status != "connected":
        reason = row.reason or {}
        api = provider.api(ctx.mailbox.transport)
        if reason.get("code") == "oauth.scope_missing" and api is not None:
            reason = scope_missing(api).as_dict()  # in the reader's language
        body = _("<p><strong>Renew the sign-in:</strong> {cause} {fix}</p>",
                 cause=_esc(reason.get("cause", "")), fix=_esc(reason.get("fix", "")))
    else:
        body = _("<p>Connected as {account} ({mode}) since {since}; last renewed: {renewed}."
                 "</p>", account=_esc(row.account), mode=row.mode,
                 since=row.connected_at.strftime("%Y-%m-%d %H:%M"),
                 renewed=row.refreshed_at.strftime("%Y-%m-%d %H:%M") if row.refreshed_at
                 else "–")
    return [HelpText(f"oauth.{provider.id}.state", _("OAuth2 sign-in"), body, order=10)]


def _esc(value: str) -> str:
    from markupsafe import escape

    return str(escape(value))
