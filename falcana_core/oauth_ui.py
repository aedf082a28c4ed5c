"""The OAuth2 buttons and the connection state a provider plugin adds to the SMTP section.

Shared by the provider plugins, so "Mit Microsoft anmelden" and "Mit Google anmelden"
behave alike: only the mailbox's own user signs in; an admin sends a one-time consent link.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from falcana_core.i18n import Domain, Text
from falcana_core.oauth import OAuthError
from falcana_core.sections import Action, HelpText, SectionContext

_ = Domain("core", Path(__file__).parent / "locale")


def _method(ctx: SectionContext) -> str:
    if ctx.mailbox is None:
        return ""
    return str(ctx.host.section_values(ctx.mailbox, "smtp").get("auth_method") or "")


def _served(ctx: SectionContext, provider_id: str) -> bool:
    if ctx.mailbox is None:
        return False
    values = ctx.host.section_values(ctx.mailbox, "smtp")
    found = ctx.host.oauth.provider_for(str(values.get("email") or ""),
                                        str(values.get("host") or ""))
    return found is not None and found.id == provider_id


def start_path(plugin: str) -> str:
    return f"/plugins/{plugin}/oauth/start"


def oauth_actions(plugin: str, provider_id: str, sign_in_label: Text) -> list[Action]:
    def own_user(ctx: SectionContext) -> bool:
        return ctx.user is not None and ctx.user.login == ctx.actor

    def delegated(ctx: SectionContext) -> bool:
        return _method(ctx) == "oauth2" and _served(ctx, provider_id)

    def admin(ctx: SectionContext) -> bool:
        actor = ctx.host.users.by_login(ctx.actor)
        return actor is not None and actor.is_admin

    def sign_in(ctx: SectionContext, params: Mapping[str, Any]) -> dict[str, Any]:
        assert ctx.mailbox is not None
        prefix = _script_root()
        return {"redirect": f"{prefix}{start_path(plugin)}?mailbox={ctx.mailbox.id}"}

    def consent_link(ctx: SectionContext, params: Mapping[str, Any]) -> dict[str, Any]:
        assert ctx.mailbox is not None
        provider = ctx.host.oauth.providers()[provider_id]
        token = ctx.host.oauth.create_link(ctx.mailbox, provider, actor=ctx.actor)
        link = f"{ctx.host.config.base_url}{start_path(plugin)}?link={token}"
        return {"message": _("Send this link to {address}. It works once, for 3 days, and "
                             "only for this mailbox:", address=ctx.mailbox.address),
                "link": link}

    def disconnect(ctx: SectionContext, params: Mapping[str, Any]) -> dict[str, Any]:
        assert ctx.mailbox is not None
        ctx.host.oauth.disconnect(ctx.mailbox, actor=ctx.actor)
        return {"message": _("Signed out: the tokens were deleted (and revoked where the "
                             "provider allows).")}

    def connected(ctx: SectionContext) -> bool:
        return ctx.mailbox is not None and _served(ctx, provider_id) and \
            ctx.host.oauth.connection(ctx.mailbox.id) is not None

    return [
        Action(f"oauth.{provider_id}.sign_in", sign_in_label, "smtp", sign_in, order=20,
               available=lambda c: delegated(c) and own_user(c)),
        Action(f"oauth.{provider_id}.consent_link", _("Create consent link"), "smtp",
               consent_link, order=21,
               available=lambda c: delegated(c) and admin(c) and not own_user(c)),
        Action(f"oauth.{provider_id}.disconnect", _("Sign out (OAuth2)"), "smtp", disconnect,
               order=22, available=connected),
    ]


def _script_root() -> str:
    try:
        from flask import has_request_context, request

        return request.script_root if has_request_context() else ""
    except ImportError:  # pragma: no cover - flask is a dependency
        return ""


def oauth_state_help(ctx: SectionContext, values: dict[str, Any], provider_id: str
                     ) -> list[HelpText]:
    """The state of the OAuth2 sign-in, when the section uses it for this provider."""
    if ctx.mailbox is None or not str(values.get("auth_method") or "").startswith("oauth2"):
        return []
    if not _served(ctx, provider_id):
        return []
    row = ctx.host.oauth.connection(ctx.mailbox.id)
    if row is None:
        body: Text = _("<p>Not signed in yet. The mailbox's user signs in with the button "
                       "below (or through a consent link an admin sends).</p>")
    elif row.status != "connected":
        reason = row.reason or {}
        body = _("<p><strong>Anmeldung erneuern:</strong> {cause} {fix}</p>",
                 cause=_esc(reason.get("cause", "")), fix=_esc(reason.get("fix", "")))
    else:
        body = _("<p>Connected as {account} ({mode}) since {since}; last renewed: {renewed}."
                 "</p>", account=_esc(row.account), mode=row.mode,
                 since=row.connected_at.strftime("%Y-%m-%d %H:%M"),
                 renewed=row.refreshed_at.strftime("%Y-%m-%d %H:%M") if row.refreshed_at
                 else "–")
    return [HelpText(f"oauth.{provider_id}.state", _("OAuth2 sign-in"), body, order=10)]


def _esc(value: str) -> str:
    from markupsafe import escape

    return str(escape(value))


__all__ = ["OAuthError", "oauth_actions", "oauth_state_help"]
