"""Explanations of a failed OAuth2 sign-in: no valid token, or a token the server refused."""

from __future__ import annotations

from falcana_core.api import DeliveryFailure, Explanation, FailureKind, Retry, Scope
from falcana_oauth.i18n import _


def explain(f: DeliveryFailure) -> Explanation | None:
    if f.kind is FailureKind.TOKEN:
        oauth = f.data.get("oauth") or {}
        return Explanation(f"smtp.{oauth.get('code', 'oauth.token')}",
                           oauth.get("cause") or _("No valid OAuth2 token for this mailbox."),
                           oauth.get("fix") or _("Sign in again (renew the sign-in)."),
                           field="auth_method", retry=Retry.AFTER_FIX, scope=Scope.MAILBOX,
                           specificity=30)
    if f.step == "auth" and f.data.get("auth") == "XOAUTH2" and f.reply is not None:
        return Explanation("smtp.oauth_refused",
                           _("The server refused the OAuth2 token ({reply}): the mailbox may "
                             "not allow SMTP sign-in, the token may lack the SMTP permission, "
                             "or it belongs to another account.", reply=str(f.reply)),
                           _("Check that SMTP sign-in is allowed for the mailbox and that the "
                             "mailbox's own user signed in."),
                           field="auth_method", retry=Retry.AFTER_FIX, scope=Scope.MAILBOX,
                           specificity=25)
    return None
