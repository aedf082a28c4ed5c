"""The sign-in routes, mounted by the host under ``/plugins/oauth``.

``/<provider>/start`` sends the mailbox's own user (or whoever holds a consent link for
that mailbox) to the provider, with PKCE and a state kept in the signing-in session;
``/<provider>/callback`` completes the sign-in. An admin cannot consent in someone else's
popup: a delegated token belongs to whoever consents, so the admin sends a consent link.
The redirect URI to register at the provider is ``<FALCANA_BASE_URL>/plugins/oauth/
<provider>/callback`` (``microsoft``, ``google``).
"""

from __future__ import annotations

from typing import Any

from falcana_core.api.web import Route, mailbox_or_404
from falcana_core.api.web import current_user as web_user
from falcana_core.api.web import host as web_host
from falcana_oauth.i18n import _
from falcana_oauth.service import OAuthError, OAuthProvider, oauth


def _page(title: Any, message: Any, status: int, ok: bool = False) -> Any:
    from flask import render_template

    return render_template("message_page.html", title=title, message=message, ok=ok), status


def _provider(provider_id: str) -> OAuthProvider:
    from flask import abort

    provider = oauth(web_host()).providers().get(provider_id)
    if provider is None:
        abort(404)
    return provider


def _callback_url(provider_id: str) -> str:
    from flask import url_for

    return web_host().config.base_url + url_for("oauth.callback", provider_id=provider_id)


def start(provider_id: str) -> Any:
    from flask import redirect, request, session, url_for

    service = oauth(web_host())
    link_token = request.args.get("link")
    if link_token:
        link = service.link(link_token)
        if link is None or link.provider != provider_id:
            return _page(_("Sign-in refused"), _(
                "This link is not valid: it was used already, it expired, or it was "
                "changed. Ask your admin for a new one."), 400)
        box = mailbox_or_404(link.mailbox_id)
    else:
        user = web_user()
        if user is None:
            return redirect(url_for("auth.login", next=request.full_path))
        box = mailbox_or_404(request.args.get("mailbox", 0, type=int))
        if not web_host().may_edit(user.login, box):
            return _page(_("Sign-in refused"), _(
                "You may not change this mailbox's settings."), 403)
        if box.user_id != user.id:
            return _page(_("Sign-in refused"), _(
                "Only the mailbox's own user signs in: a token belongs to whoever "
                "consents. Send the user a consent link from the settings popup."), 403)
    provider = _provider(provider_id)
    url, state, verifier = service.authorization_url(provider, box,
                                                     _callback_url(provider_id))
    pending = dict(session.get("oauth", {}))
    pending[state] = {"mailbox": box.id, "verifier": verifier, "link": link_token,
                      "provider": provider_id}
    session["oauth"] = pending
    return redirect(url)


def callback(provider_id: str) -> Any:
    from flask import request, session

    pending = dict(session.get("oauth", {}))
    state = pending.pop(request.args.get("state", ""), None)
    session["oauth"] = pending
    if state is None or state.get("provider", provider_id) != provider_id:
        return _page(_("Sign-in refused"), _(
            "The answer does not belong to a sign-in started in this browser (unknown "
            "state). Nothing was stored; start the sign-in again."), 400)
    if request.args.get("error"):
        return _page(_("Sign-in refused"), _("The provider answered: {error}",
                                              error=request.args["error"]), 400)
    provider = _provider(provider_id)
    box = mailbox_or_404(state["mailbox"])
    user = web_user()
    service = oauth(web_host())
    link = state.get("link")
    if link and not service.use_link(link):
        return _page(_("Sign-in refused"), _(
            "This link is not valid: it was used already, it expired, or it was "
            "changed. Ask your admin for a new one."), 400)
    if not link and (user is None or not web_host().may_edit(user.login, box)):
        return _page(_("Sign-in refused"), _(
            "You may not change this mailbox's settings."), 403)
    try:
        account = service.complete(
            provider, box, code=request.args.get("code", ""), verifier=state["verifier"],
            redirect_uri=_callback_url(provider_id),
            actor=user.login if user and not link else f"consent link ({box.address})")
    except OAuthError as error:
        if link:
            service.release_link(link)
        return _page(_("Sign-in refused"), f"{error.cause} {error.fix}", 422)
    return _page(_("Signed in"), _("The mailbox {address} now sends as {account}. You can "
                                   "close this window.", address=box.address,
                                   account=account), 200, ok=True)


ROUTES = [Route("/<provider_id>/start", start), Route("/<provider_id>/callback", callback)]
