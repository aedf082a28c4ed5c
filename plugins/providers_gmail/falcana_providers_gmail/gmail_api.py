"""Sending through the Gmail API: ``POST /upload/gmail/v1/users/me/messages/send
?uploadType=media`` with the message as ``message/rfc822``.

The scope ``https://www.googleapis.com/auth/gmail.send`` is *sensitive*, not *restricted*
like SMTP's ``https://mail.google.com/``: no yearly security assessment, and no app
password. Gmail files the message in Sent itself. With domain-wide delegation the token is
issued for the impersonated user, so the path stays ``users/me``. Reference:
https://developers.google.com/gmail/api/reference/rest/v1/users.messages/send and
https://developers.google.com/gmail/api/guides/sending (as of 2026-11).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from falcana_oauth.mail_api import ApiRequest, MailApi, error_json

from falcana_providers_gmail.i18n import _

if TYPE_CHECKING:
    from falcana_core.api.net import HttpAnswer

TRANSPORT = "gmail_api"
GMAIL_URL = "https://gmail.googleapis.com"
SCOPE = "https://www.googleapis.com/auth/gmail.send"
#: reading the inbox for delivery reports: a *restricted* scope (Google's verification
#: and a yearly security assessment for an app used outside the own organisation)
READ_SCOPE = "https://www.googleapis.com/auth/gmail.readonly"
#: the media upload's documented "Maximum file size: 35MB"
MAX_MIME = 35 * 1024 * 1024


class GmailApi(MailApi):
    transport = TRANSPORT
    client = "google"
    label = _("Gmail API")
    max_bytes = MAX_MIME
    accepted_status = frozenset({200})
    shown_headers = ("x-guploader-uploadid", "Retry-After")

    def request(self, base_url: str, account: str, mode: str, content: bytes) -> ApiRequest:
        return ApiRequest(f"{base_url}/upload/gmail/v1/users/me/messages/send"
                          "?uploadType=media", {"Content-Type": "message/rfc822"}, content)

    def error_code(self, answer: HttpAnswer) -> tuple[str, str]:
        """Google's errors name the reason in ``error.errors[0].reason``
        (``invalidArgument``, ``dailyLimitExceeded``), else ``error.status``."""
        error = error_json(answer.body).get("error")
        if not isinstance(error, dict):
            return "", ""
        reasons = [e.get("reason") for e in error.get("errors") or () if isinstance(e, dict)]
        code = next((str(r) for r in reasons if r), "") or str(error.get("status") or "")
        return code, str(error.get("message") or "")


API = GmailApi()
