"""Sending through Microsoft Graph: ``POST /v1.0/me/sendMail`` (the user's sign-in) or
``/v1.0/users/{address}/sendMail`` (app-only), the MIME message base64-encoded.

Graph works whatever the mailbox's SMTP AUTH setting is, and saves the message to Sent
Items itself. Reference: https://learn.microsoft.com/graph/api/user-sendmail and
https://learn.microsoft.com/graph/outlook-send-mime-message (as of 2026-11).
"""

from __future__ import annotations

import base64
import urllib.parse

from falcana_oauth.mail_api import ApiRequest, MailApi

from falcana_providers_m365.i18n import _

TRANSPORT = "graph"
GRAPH_URL = "https://graph.microsoft.com"
SCOPE = "https://graph.microsoft.com/Mail.Send"
APP_SCOPE = "https://graph.microsoft.com/.default"
#: reading the inbox for delivery reports (the MIME of a report needs Mail.Read: the
#: narrower Mail.ReadBasic gives no body); app-only: the application permission Mail.Read
READ_SCOPE = "https://graph.microsoft.com/Mail.Read"
#: "the total request size must not exceed 4 MB" (user-sendmail, MIME example), and the
#: body is the MIME message in base64 (4 bytes for every 3): 3 MiB of MIME at most
MAX_MIME = 4 * 1024 * 1024 * 3 // 4


class GraphApi(MailApi):
    transport = TRANSPORT
    client = "microsoft"
    label = _("Microsoft Graph")
    max_bytes = MAX_MIME
    accepted_status = frozenset({202})  # "If successful, this method returns 202 Accepted"
    shown_headers = ("request-id", "client-request-id", "x-ms-ags-diagnostic",
                     "Retry-After")

    def request(self, base_url: str, account: str, mode: str, content: bytes) -> ApiRequest:
        # delegated: the signed-in user's own mailbox; app-only has no "me"
        path = "/v1.0/me/sendMail" if mode == "delegated" else \
            f"/v1.0/users/{urllib.parse.quote(account, safe='@')}/sendMail"
        # MIME goes as base64 text with Content-Type text/plain (not message/rfc822)
        return ApiRequest(base_url + path, {"Content-Type": "text/plain"},
                          base64.b64encode(content))


API = GraphApi()
