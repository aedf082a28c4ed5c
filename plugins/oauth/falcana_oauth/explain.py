"""Explanations of a failed OAuth2 sign-in: no valid token, or a token the server refused."""

from __future__ import annotations

from falcana_core.api import DeliveryFailure, Explanation, FailureKind, Retry, Scope
from falcana_oauth.i18n import _


def explain(f: DeliveryFailure) -> Explanation | None:
    if f.data.get("api") and f.kind is not FailureKind.TOKEN:
        return _api(f)
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


def _api(f: DeliveryFailure) -> Explanation | None:
    """A mail API's failure no provider plugin explained more exactly."""
    where = f.host or "?"
    if f.kind is FailureKind.POLICY:
        return Explanation("oauth.api.policy", _(
            "The deployment does not allow connections to {host}.", host=where), _(
            "Check the API's address in the OAuth2 client's settings, or allow it "
            "(FALCANA_ALLOW_NETWORKS)."), retry=Retry.AFTER_FIX, scope=Scope.MAILBOX,
            specificity=20)
    if f.kind in (FailureKind.TLS_VERIFY, FailureKind.TLS_PROTOCOL):
        return Explanation("oauth.api.tls", _(
            "The certificate of {host} could not be verified ({detail}): the token is not "
            "sent there.", host=where, detail=f.detail), _(
            "Check the API's address; a proxy needs a certificate from a CA falcana trusts "
            "(FALCANA_CA_BUNDLE)."), retry=Retry.AFTER_FIX, scope=Scope.MAILBOX,
            specificity=20)
    if f.kind is not FailureKind.REPLY:
        return Explanation("oauth.api.unreachable", _(
            "The mail API at {host} could not be reached ({detail}).", host=where,
            detail=f.detail), _("Nothing to do if it passes: the outbox tries again later."),
            retry=Retry.LATER, specificity=20)
    status = f.reply.code if f.reply else 0
    return Explanation("oauth.api.refused", _(
        "The mail API answered {reply}.", reply=str(f.reply) if f.reply else "?"), _(
        "See the answer above; retrying does not help.") if status < 500 else _(
        "Nothing to do if it passes: the outbox tries again later."),
        retry=Retry.NO if status < 500 else Retry.LATER, specificity=20)
