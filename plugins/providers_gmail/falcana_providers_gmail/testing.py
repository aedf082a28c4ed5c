"""A local Gmail API for tests: ``POST /upload/gmail/v1/users/me/messages/send
?uploadType=media`` with ``Content-Type: message/rfc822``, as documented
(https://developers.google.com/gmail/api/reference/rest/v1/users.messages/send, as of
2026-11).

    gmail = GmailApiTestServer(oauth_server, server_ssl_context).start()

Checks: a bearer token valid now (401 ``authError``/``UNAUTHENTICATED``), with a scope
that may send (``gmail.send``, or the wider ``https://mail.google.com/``, ``gmail.compose``,
``gmail.modify``; else 403 ``insufficientPermissions``); ``uploadType=media`` and
``message/rfc822`` (400 ``invalidArgument``). A From that is not the account or one of
its ``aliases`` is rewritten to the account, as Gmail does; with ``strict_from`` it is
refused (400 ``invalidArgument``, "Invalid From header"). Accepted: 200 with ``{"id",
"threadId", "labelIds": ["SENT"]}``.
"""

from __future__ import annotations

import email.utils
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from falcana_oauth.testing import MailApiTestServer, Received

if TYPE_CHECKING:
    from flask import Flask

MAY_SEND = {"https://www.googleapis.com/auth/gmail.send", "https://mail.google.com/",
            "https://www.googleapis.com/auth/gmail.compose",
            "https://www.googleapis.com/auth/gmail.modify"}
STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
          429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}


class GmailApiTestServer(MailApiTestServer):
    name = "Gmail API"

    def __init__(self, *args: Any, strict_from: bool = False, **kwargs: Any) -> None:
        self.aliases: dict[str, set[str]] = {}  # account -> verified "Send mail as"
        self.strict_from = strict_from
        super().__init__(*args, **kwargs)

    def error(self, status: int, code: str, message: str,
              headers: Mapping[str, str] | None = None) -> Any:
        from flask import jsonify

        response = jsonify({"error": {"code": status, "message": message, "errors": [
            {"message": message, "domain": "global", "reason": code}],
            "status": STATUS.get(status, "UNKNOWN")}})
        response.status_code = status
        for key, value in (headers or {}).items():
            response.headers[key] = value
        return response

    def build_app(self) -> Flask:
        from flask import Flask, jsonify, request

        app = Flask("falcana-gmail-api-test-server")
        outer = self

        @app.post("/upload/gmail/v1/users/me/messages/send")
        def send() -> Any:
            failure = outer._take_failure()
            if failure is not None:
                return outer.error(failure.status, failure.code, failure.message,
                                   failure.headers)
            token = outer.bearer(request.headers.get("Authorization", ""))
            if token is None or token.account is None:
                return outer.error(401, "authError", "Request had invalid authentication "
                                   "credentials. Expected OAuth 2 access token, login cookie "
                                   "or other valid authentication credential.")
            if not MAY_SEND & set(token.scope.split()):
                return outer.error(403, "insufficientPermissions",
                                   "Request had insufficient authentication scopes.")
            if request.args.get("uploadType") != "media" or \
                    request.mimetype != "message/rfc822":
                return outer.error(400, "invalidArgument", "Media type not supported; "
                                   "expected message/rfc822 with uploadType=media.")
            raw = request.get_data()
            message = outer.parse(raw)
            account = token.account.lower()
            sender = email.utils.parseaddr(str(message.get("From", "")))[1].lower()
            if sender not in {account, *outer.aliases.get(account, set())}:
                if outer.strict_from:
                    return outer.error(400, "invalidArgument", "Invalid From header")
                del message["From"]
                message["From"] = account  # Gmail sends as the account itself
            with outer.lock:
                outer.received.append(Received(account, request.path, request.mimetype, raw,
                                               message, token.scope))
            return jsonify({"id": secrets.token_hex(8), "threadId": secrets.token_hex(8),
                            "labelIds": ["SENT"]})

        return app
