"""A local Microsoft Graph for tests: ``POST /v1.0/me/sendMail`` and
``/v1.0/users/{id}/sendMail`` with a base64 MIME body, as documented
(https://learn.microsoft.com/graph/api/user-sendmail, as of 2026-11).

    graph = GraphTestServer(oauth_server, server_ssl_context).start()
    # point the Microsoft client's "Microsoft Graph endpoint" at graph.url

Checks, in Graph's order: a bearer token that is valid now (401
``InvalidAuthenticationToken``), issued for Graph (401, invalid audience), with
``Mail.Send`` (403 ``ErrorAccessDenied``); ``/me`` only for a user's token (400); an
app-only token only for mailboxes its app was given (403 ``ErrorAccessDenied``);
``Content-Type: text/plain`` with base64 MIME (400 ``ErrorMimeContentInvalidBase64String``);
a From the account may use (403 ``ErrorSendAsDenied``; ``send_as`` grants more). Accepted:
202, no body, ``request-id`` and ``client-request-id`` headers.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from falcana_oauth.testing import MailApiTestServer, Received

if TYPE_CHECKING:
    from flask import Flask

GRAPH = "https://graph.microsoft.com/"
MAIL_SEND = "https://graph.microsoft.com/Mail.Send"
APP_DEFAULT = "https://graph.microsoft.com/.default"


class GraphTestServer(MailApiTestServer):
    name = "Microsoft Graph"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        #: account -> further From addresses it may send as ("Send As" rights)
        self.send_as: dict[str, set[str]] = {}
        super().__init__(*args, **kwargs)

    def error(self, status: int, code: str, message: str,
              headers: Mapping[str, str] | None = None) -> Any:
        from flask import jsonify

        rid = self.request_id()
        response = jsonify({"error": {"code": code, "message": message, "innerError": {
            "request-id": rid, "client-request-id": rid, "date": email.utils.formatdate(
                usegmt=True)}}})
        response.status_code = status
        response.headers["request-id"] = rid
        for key, value in (headers or {}).items():
            response.headers[key] = value
        return response

    def build_app(self) -> Flask:
        from flask import Flask, request

        app = Flask("falcana-graph-test-server")
        outer = self

        def send(user: str | None) -> Any:
            failure = outer._take_failure()
            if failure is not None:
                return outer.error(failure.status, failure.code, failure.message,
                                   failure.headers)
            token = outer.bearer(request.headers.get("Authorization", ""))
            if token is None:
                return outer.error(401, "InvalidAuthenticationToken",
                                   "Access token has expired or is not yet valid.")
            scopes = token.scope.split()
            if not any(s.startswith(GRAPH) for s in scopes):
                return outer.error(401, "InvalidAuthenticationToken",
                                   "Access token validation failure. Invalid audience.")
            if user is None and token.account is None:
                return outer.error(400, "BadRequest", "/me request is only valid with "
                                   "delegated authentication flow.")
            mailbox = user or token.account or ""
            allowed = MAIL_SEND in scopes or (token.account is None and APP_DEFAULT in scopes)
            if not allowed or not outer.oauth.may_act_for(token, mailbox):
                return outer.error(403, "ErrorAccessDenied",
                                   "Access is denied. Check credentials and try again.")
            if request.mimetype != "text/plain":
                return outer.error(400, "RequestBodyRead", "Content-Type must be "
                                   "application/json or, for MIME, text/plain.")
            try:
                raw = base64.b64decode(request.get_data(), validate=True)
            except (binascii.Error, ValueError):
                return outer.error(400, "ErrorMimeContentInvalidBase64String",
                                   "Invalid base64 string for MIME content.")
            message = outer.parse(raw)
            sender = email.utils.parseaddr(str(message.get("From", "")))[1].lower()
            may = {mailbox.lower(), *outer.send_as.get(mailbox.lower(), set())}
            if sender not in may:
                return outer.error(403, "ErrorSendAsDenied", "The user account which was "
                                   "used to submit this request does not have the right to "
                                   "send mail on behalf of the specified sending account.")
            with outer.lock:
                outer.received.append(Received(mailbox, request.path, request.mimetype, raw,
                                               message, token.scope))
            rid = outer.request_id()
            return "", 202, {"request-id": rid,
                             "client-request-id": request.headers.get("client-request-id",
                                                                      rid)}

        app.add_url_rule("/v1.0/me/sendMail", "me", lambda: send(None), methods=["POST"])
        app.add_url_rule("/v1.0/users/<user>/sendMail", "user", send, methods=["POST"])
        return app
