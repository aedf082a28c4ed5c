"""Explanations of the Gmail API's answers to messages.send (as of 2026-11).

Google answers errors as ``{"error": {"code": 403, "message": ..., "errors": [{"reason":
"dailyLimitExceeded"}], "status": ...}}``; the transport hands over the reason (or the
status) as ``failure.data["error"]``. Reference:
https://developers.google.com/gmail/api/guides/handle-errors.
"""

from __future__ import annotations

from typing import Any

from falcana_smtp_settings.api import provider_explanation

from falcana_core.api import DeliveryFailure, Explanation, Retry, Scope, Text
from falcana_providers_gmail.i18n import _

ERRORS_DOCS = (_("Gmail API: Resolve errors"),
               "https://developers.google.com/gmail/api/guides/handle-errors")
ALIAS_DOCS = (_("Gmail API: Managing aliases (send-as)"),
              "https://developers.google.com/gmail/api/guides/alias_and_signature_settings")


def _e(id_: str, cause: Text, fix: Text, **kwargs: Any) -> Explanation:
    return provider_explanation(f"gmail.api.{id_}", cause, fix, **kwargs)


def explain(f: DeliveryFailure) -> Explanation | None:
    if f.data.get("error") == "too_large" and f.step == "request":
        return _e("request_too_large", _(
            "The message is larger than the Gmail API takes (35 MB; Gmail itself sends at "
            "most 25 MB)."), _("Send large attachments as links."), retry=Retry.NO,
            scope=Scope.MESSAGE)
    if f.step != "response" or f.reply is None:
        return None
    status, reason = int(f.data.get("status") or f.reply.code), str(f.data.get("error") or "")
    after = f.data.get("retry_after")
    said = f.reply.text.lower()
    if status == 400 and "from" in said:
        return _e("send_as_denied", _(
            "Gmail refused the From address: the account may send only as itself or as a "
            "verified \"Send mail as\" alias."), _(
            "Use the account's own address as e-mail, or add the address as a verified "
            "alias in Gmail (Settings > Accounts > Send mail as). Retrying does not help."),
            field="email", retry=Retry.NO, scope=Scope.MESSAGE, links=(ALIAS_DOCS,))
    if status == 400:
        return _e("invalid_argument", _(
            "Gmail refused the message as invalid ({reason}: {text}).",
            reason=reason or "400", text=f.reply.text), _(
            "Check the message's headers and addresses; retrying does not help."),
            retry=Retry.NO, scope=Scope.MESSAGE, links=(ERRORS_DOCS,))
    if status == 401:
        return _e("unauthorized", _(
            "Google refused the token (401), also after renewing it: the consent was "
            "withdrawn or the app's access removed."), _(
            "Have the mailbox's user sign in again; for domain-wide delegation check the "
            "client ID and scope in the Admin console."), field="auth_method")
    if reason in ("dailyLimitExceeded", "quotaExceeded"):
        return _e("daily_limit", _(
            "The Google Cloud project's daily Gmail API quota is used up ({reason}).",
            reason=reason), _(
            "Wait until the quota resets, or ask for a higher quota in the Google Cloud "
            "console."), retry=Retry.LATER, retry_after=after or 3600, links=(ERRORS_DOCS,))
    if status == 429 or reason in ("userRateLimitExceeded", "rateLimitExceeded"):
        return _e("rate_limited", _(
            "Google is limiting how fast this account sends ({reason}); it asked to wait "
            "{seconds} seconds.", reason=reason or status, seconds=after or 60), _(
            "Nothing to do: the outbox waits and sends again. Gmail also limits messages a "
            "day (500 for Gmail, 2,000 for Google Workspace)."), retry=Retry.LATER,
            retry_after=after or 60, links=(ERRORS_DOCS,))
    if status == 403 and reason in ("insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
                                    "PERMISSION_DENIED", "forbidden", ""):
        return _e("insufficient_permissions", _(
            "The token does not allow sending through the Gmail API ({reason}): the "
            "consent or the domain-wide delegation lacks the scope "
            "https://www.googleapis.com/auth/gmail.send, or the Gmail API is not enabled "
            "for the Google Cloud project.", reason=reason or "403"), _(
            "Enable the Gmail API in the project, add gmail.send to the consent screen (or "
            "to the delegation in the Admin console), then sign in again."),
            field="auth_method", links=(ERRORS_DOCS,))
    if status in (500, 502, 503, 504):
        return _e("backend_error", _(
            "The Gmail API had a temporary problem ({status} {reason}).", status=status,
            reason=reason), _("Nothing to do: the outbox tries again later."),
            retry=Retry.LATER, scope=Scope.MESSAGE)
    return None
