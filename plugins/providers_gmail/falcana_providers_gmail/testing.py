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

import base64
import dataclasses
import email
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


MAY_READ = {"https://www.googleapis.com/auth/gmail.readonly", "https://mail.google.com/",
            "https://www.googleapis.com/auth/gmail.modify"}


@dataclasses.dataclass
class StoredMessage:
    id: str
    history_id: int
    raw: bytes
    labels: tuple[str, ...] = ("INBOX", "UNREAD")


class GmailApiTestServer(MailApiTestServer):
    name = "Gmail API"

    def __init__(self, *args: Any, strict_from: bool = False, **kwargs: Any) -> None:
        self.aliases: dict[str, set[str]] = {}  # account -> verified "Send mail as"
        self.strict_from = strict_from
        #: account -> its messages, for reading (``deliver``); the history's counter
        self.mailboxes: dict[str, list[StoredMessage]] = {}
        self.history_id = 1000
        #: history ids below this are gone (Gmail keeps about a week): 404
        self.history_floor = 0
        #: every reading request's method: reading must change nothing (GET only)
        self.methods: list[str] = []
        super().__init__(*args, **kwargs)

    def deliver(self, account: str, raw: bytes) -> str:
        """A message arrives in the account's Inbox; its id."""
        with self.lock:
            self.history_id += 7
            found = StoredMessage(secrets.token_hex(8), self.history_id, raw)
            self.mailboxes.setdefault(account.lower(), []).append(found)
            return found.id

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

        def reader() -> tuple[str | None, Any]:
            """The account a reading request's token may read, or Gmail's error."""
            with outer.lock:
                outer.methods.append(request.method)
            failure = outer._take_failure()
            if failure is not None:
                return None, outer.error(failure.status, failure.code, failure.message,
                                         failure.headers)
            token = outer.bearer(request.headers.get("Authorization", ""))
            if token is None or token.account is None:
                return None, outer.error(401, "authError", "Request had invalid "
                                         "authentication credentials.")
            if not MAY_READ & set(token.scope.split()):
                return None, outer.error(403, "insufficientPermissions",
                                         "Request had insufficient authentication scopes.")
            return token.account.lower(), None

        @app.get("/gmail/v1/users/me/profile")
        def profile() -> Any:
            account, refused = reader()
            if account is None:
                return refused
            return jsonify({"emailAddress": account, "historyId": str(outer.history_id),
                            "messagesTotal": len(outer.mailboxes.get(account, []))})

        @app.get("/gmail/v1/users/me/messages")
        def listed() -> Any:
            account, refused = reader()
            if account is None:
                return refused
            inbox = [m for m in outer.mailboxes.get(account, []) if "INBOX" in m.labels]
            start = int(request.args.get("pageToken") or 0)
            size = int(request.args.get("maxResults") or 100)
            body: dict[str, Any] = {"messages": [{"id": m.id, "threadId": m.id} for m in
                                                 reversed(inbox)][start:start + size],
                                    "resultSizeEstimate": len(inbox)}
            if start + size < len(inbox):
                body["nextPageToken"] = str(start + size)
            return jsonify(body)

        @app.get("/gmail/v1/users/me/history")
        def history() -> Any:
            account, refused = reader()
            if account is None:
                return refused
            start = int(request.args.get("startHistoryId") or 0)
            if start < outer.history_floor:
                return outer.error(404, "notFound", "Requested entity was not found.")
            added = [m for m in outer.mailboxes.get(account, []) if m.history_id > start
                     and request.args.get("labelId", "INBOX") in m.labels]
            return jsonify({"history": [{"id": str(m.history_id), "messagesAdded": [
                {"message": {"id": m.id, "labelIds": list(m.labels)}}]} for m in added],
                "historyId": str(outer.history_id)})

        @app.get("/gmail/v1/users/me/messages/<message_id>")
        def message(message_id: str) -> Any:
            account, refused = reader()
            if account is None:
                return refused
            found = next((m for m in outer.mailboxes.get(account, [])
                          if m.id == message_id), None)
            if found is None:
                return outer.error(404, "notFound", "Requested entity was not found.")
            if request.args.get("format") == "raw":
                return jsonify({"id": found.id, "raw": base64.urlsafe_b64encode(
                    found.raw).decode().rstrip("=")})
            wanted = {h.lower() for h in request.args.getlist("metadataHeaders")}
            parsed = email.message_from_bytes(found.raw)
            return jsonify({"id": found.id, "labelIds": list(found.labels),
                            "sizeEstimate": len(found.raw), "payload": {"headers": [
                                {"name": k, "value": str(v)} for k, v in parsed.items()
                                if k.lower() in wanted]}})

        return app
