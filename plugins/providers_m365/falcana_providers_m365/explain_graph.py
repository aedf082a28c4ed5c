"""Explanations of Microsoft Graph's answers to sendMail (as of 2026-11).

Graph answers errors as ``{"error": {"code": "ErrorSendAsDenied", "message": ...}}``;
the transport hands over the HTTP status, that code and ``Retry-After`` in
``failure.data``. Reference: https://learn.microsoft.com/graph/errors and
https://learn.microsoft.com/graph/throttling.
"""

from __future__ import annotations

from typing import Any

from falcana_smtp_settings.api import provider_explanation

from falcana_core.api import DeliveryFailure, Explanation, Retry, Scope, Text
from falcana_providers_m365.i18n import _

PERMISSIONS_DOCS = (_("Microsoft Graph: user: sendMail (permissions)"),
                    "https://learn.microsoft.com/graph/api/user-sendmail")
RBAC_DOCS = (_("Exchange Online: Role Based Access Control for Applications"),
             "https://learn.microsoft.com/exchange/permissions-exo/application-rbac")
THROTTLING_DOCS = (_("Microsoft Graph throttling guidance"),
                   "https://learn.microsoft.com/graph/throttling")


def _e(id_: str, cause: Text, fix: Text, **kwargs: Any) -> Explanation:
    return provider_explanation(f"m365.graph.{id_}", cause, fix, **kwargs)


SEND_AS_DENIED = _e(
    "send_as_denied",
    _("The mailbox may not send as this From address (Microsoft Graph: ErrorSendAsDenied, "
      "no \"Send As\" right)."),
    _("Use the mailbox's own address as e-mail, or have the Microsoft 365 admin grant "
      "\"Send As\" on that address. Retrying does not help."),
    field="email", retry=Retry.NO, scope=Scope.MESSAGE)


def explain(f: DeliveryFailure) -> Explanation | None:
    """Graph's answer (``step`` "response"), or a message too large to send."""
    if f.data.get("error") == "too_large" and f.step == "request":
        size = "{:.1f}".format(int(f.data.get("size") or 0) / 1048576)
        return _e("request_too_large", _(
            "The message has {size} MB. Microsoft Graph takes at most about 3 MB of message "
            "in one request (4 MB once encoded).", size=size), _(
            "Send large attachments as links, or send this mailbox through SMTP."),
            retry=Retry.NO, scope=Scope.MESSAGE)
    if f.step != "response" or f.reply is None:
        return None
    status, code = int(f.data.get("status") or f.reply.code), str(f.data.get("error") or "")
    after = f.data.get("retry_after")
    if code == "ErrorSendAsDenied":
        return SEND_AS_DENIED
    if status == 401:
        return _e("unauthorized", _(
            "Microsoft Graph refused the token (401), also after renewing it: the consent "
            "was withdrawn, or the token lacks the Mail.Send permission."), _(
            "Check Mail.Send in the app registration (delegated for the user's sign-in; "
            "application, with admin consent, for app-only), then sign in again."),
            field="auth_method", links=(PERMISSIONS_DOCS,))
    if code == "ErrorAccessDenied" or status == 403:
        return _e("access_denied", _(
            "Microsoft Graph denied access ({code}): the app has no Mail.Send permission "
            "for this mailbox, or (app-only) the Exchange admin limits the app to other "
            "mailboxes.", code=code or "403"), _(
            "Grant Mail.Send (and admin consent for the application permission); for "
            "app-only, add this mailbox to the app's management scope or application access "
            "policy."), field="auth_method", links=(PERMISSIONS_DOCS, RBAC_DOCS))
    if code == "MailboxNotEnabledForRESTAPI":
        return _e("mailbox_not_enabled", _(
            "This mailbox cannot be reached through Microsoft Graph: it is on-premises "
            "(hybrid), inactive or soft-deleted, or has no Exchange Online licence."), _(
            "Send this mailbox through SMTP, or give the user an Exchange Online licence."),
            field="transport")
    if code == "ErrorInvalidUser" or status == 404:
        return _e("invalid_user", _(
            "Microsoft 365 does not know the mailbox {address} ({code}).",
            address=f.address, code=code or "404"), _(
            "Check the e-mail address: it must be the mailbox's primary address or user "
            "principal name."), field="email")
    if code == "ErrorMessageSizeExceeded" or status == 413:
        return _e("too_large", _(
            "The message is larger than the mailbox may send (Microsoft 365's maximum send "
            "size)."), _("Send large attachments as links, or have the admin raise the "
                         "mailbox's maximum send size."), retry=Retry.NO,
            scope=Scope.MESSAGE)
    if status == 429:
        return _e("throttled", _(
            "Microsoft Graph is throttling this mailbox (429, too many requests); it asked "
            "to wait {seconds} seconds.", seconds=after or "?"), _(
            "Nothing to do: the outbox waits as asked and sends again."),
            retry=Retry.LATER, retry_after=after, links=(THROTTLING_DOCS,))
    if status in (503, 504):
        # 504: the gateway gave up; the message may have gone out (as a broken DATA)
        return _e("unavailable", _(
            "Microsoft Graph is unavailable at the moment ({status}).", status=status), _(
            "Nothing to do: the outbox tries again later."), retry=Retry.LATER,
            retry_after=after, scope=Scope.MAILBOX if status == 503 else Scope.MESSAGE)
    return None
