"""The OAuth2 sign-in routes a provider plugin registers under its own prefix.

``start`` sends the mailbox's own user (or whoever holds a consent link for that mailbox)
to the provider, with PKCE and a state kept in the signing-in session; ``callback``
completes the sign-in. An admin cannot consent in someone else's popup: a delegated token
belongs to whoever consents, so the admin sends a consent link instead.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, abort, redirect, render_template, request, session, url_for

from falcana_core.oauth import OAuthError
from falcana_core.web.auth import current_user, host
from falcana_core.web.i18n import _
from falcana_core.web.views import mailbox_or_404


def register_oauth_routes(app: Flask, plugin: str, provider_id: str) -> None:
    bp = Blueprint(f"{plugin}_oauth", __name__, url_prefix=f"/plugins/{plugin}/oauth")

    def page(title: Any, message: Any, status: int, ok: bool = False) -> Any:
        return render_template("oauth_result.html", title=title, message=message,
                               ok=ok), status

    @bp.route("/start")
    def start() -> Any:
        link_token = request.args.get("link")
        if link_token:
            link = host().oauth.link(link_token)
            if link is None or link.provider != provider_id:
                return page(_("Sign-in refused"), _(
                    "This link is not valid: it was used already, it expired, or it was "
                    "changed. Ask your admin for a new one."), 400)
            box = mailbox_or_404(link.mailbox_id)
        else:
            user = current_user()
            if user is None:
                return redirect(url_for("auth.login", next=request.full_path))
            box = mailbox_or_404(request.args.get("mailbox", 0, type=int))
            if box.user_id != user.id:
                return page(_("Sign-in refused"), _(
                    "Only the mailbox's own user signs in: a token belongs to whoever "
                    "consents. Send the user a consent link from the settings popup."), 403)
        provider = host().oauth.providers().get(provider_id)
        if provider is None:
            abort(404)
        redirect_uri = host().config.base_url + url_for(".callback")
        url, state, verifier = host().oauth.authorization_url(provider, box, redirect_uri)
        pending = dict(session.get("oauth", {}))
        pending[state] = {"mailbox": box.id, "verifier": verifier, "link": link_token}
        session["oauth"] = pending
        return redirect(url)

    @bp.route("/callback")
    def callback() -> Any:
        pending = dict(session.get("oauth", {}))
        state = pending.pop(request.args.get("state", ""), None)
        session["oauth"] = pending
        if state is None:
            return page(_("Sign-in refused"), _(
                "The answer does not belong to a sign-in started in this browser (unknown "
                "state). Nothing was stored; start the sign-in again."), 400)
        if request.args.get("error"):
            return page(_("Sign-in refused"), _("The provider answered: {error}",
                                                 error=request.args["error"]), 400)
        provider = host().oauth.providers().get(provider_id)
        if provider is None:
            abort(404)
        box = mailbox_or_404(state["mailbox"])
        user = current_user()
        try:
            account = host().oauth.complete(
                provider, box, code=request.args.get("code", ""), verifier=state["verifier"],
                redirect_uri=host().config.base_url + url_for(".callback"),
                actor=user.login if user else f"consent link ({box.address})")
        except OAuthError as error:
            return page(_("Sign-in refused"), f"{error.cause} {error.fix}", 422)
        if state.get("link"):
            host().oauth.use_link(state["link"])
        return page(_("Signed in"), _("The mailbox {address} now sends as {account}. You can "
                                      "close this window.", address=box.address,
                                      account=account), 200, ok=True)

    app.register_blueprint(bp)
