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
import dataclasses
import datetime as dt
import email
import email.utils
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from falcana_oauth.testing import MailApiTestServer, Received

if TYPE_CHECKING:
    from flask import Flask

GRAPH = "https://graph.microsoft.com/"
MAIL_SEND = "https://graph.microsoft.com/Mail.Send"
APP_DEFAULT = "https://graph.microsoft.com/.default"


MAIL_READ = "https://graph.microsoft.com/Mail.Read"


@dataclasses.dataclass
class InboxMessage:
    """A message in a mailbox's Inbox, as the delta query and ``$value`` show it."""

    id: str
    raw: bytes
    received: dt.datetime

    def resource(self) -> dict[str, Any]:
        message = email.message_from_bytes(self.raw)
        name, address = email.utils.parseaddr(str(message.get("From", "")))
        return {"id": self.id, "subject": str(message.get("Subject", "")),
                "from": {"emailAddress": {"name": name, "address": address}},
                "sender": {"emailAddress": {"name": name, "address": address}},
                "internetMessageId": str(message.get("Message-ID", "")),
                "receivedDateTime": self.received.strftime("%Y-%m-%dT%H:%M:%SZ")}


class GraphTestServer(MailApiTestServer):
    name = "Microsoft Graph"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        #: account -> further From addresses it may send as ("Send As" rights)
        self.send_as: dict[str, set[str]] = {}
        #: account -> its Inbox, for the delta query and $value (``deliver``)
        self.inboxes: dict[str, list[InboxMessage]] = {}
        #: application permissions an app-only token has (its admin consent)
        self.app_permissions: set[str] = {"Mail.Send"}
        #: where the delta query's next and delta links point (a test may point them away)
        self.link_base: str | None = None
        #: every request's method: reading must change nothing (GET only)
        self.methods: list[str] = []
        super().__init__(*args, **kwargs)

    def deliver(self, account: str, raw: bytes, received: dt.datetime | None = None) -> str:
        """Put a message in the account's Inbox (as a report arriving there); its id."""
        with self.lock:
            box = self.inboxes.setdefault(account.lower(), [])
            found = InboxMessage(f"AAMk{secrets.token_hex(12)}=", raw,
                                 received or dt.datetime.now(dt.UTC))
            box.append(found)
            return found.id

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
        from flask import Flask, jsonify, request

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

        def may_read(user: str) -> Any:
            """None when the token may read the user's mail, else Graph's error."""
            token = outer.bearer(request.headers.get("Authorization", ""))
            if token is None:
                return outer.error(401, "InvalidAuthenticationToken",
                                   "Access token has expired or is not yet valid.")
            scopes = token.scope.split()
            app_only = token.account is None and APP_DEFAULT in scopes
            allowed = MAIL_READ in scopes or (app_only and "Mail.Read" in outer.app_permissions)
            if not allowed or not outer.oauth.may_act_for(token, user):
                return outer.error(403, "ErrorAccessDenied",
                                   "Access is denied. Check credentials and try again.")
            return None

        @app.get("/v1.0/users/<user>/mailFolders/inbox/messages/delta")
        def delta(user: str) -> Any:
            with outer.lock:
                outer.methods.append(request.method)
            failure = outer._take_failure()
            if failure is not None:
                return outer.error(failure.status, failure.code, failure.message,
                                   failure.headers)
            refused = may_read(user)
            if refused is not None:
                return refused
            box = list(outer.inboxes.get(user.lower(), []))
            if "$deltatoken" in request.args:
                start, end = int(request.args["$deltatoken"]), len(box)
            elif "$skiptoken" in request.args:
                start, end = (int(x) for x in request.args["$skiptoken"].split("."))
            else:
                since = str(request.args.get("$filter", "")).rpartition(" ge ")[2]
                floor = dt.datetime.fromisoformat(since.replace("Z", "+00:00")) \
                    if since else None
                box = [m for m in box if floor is None or m.received >= floor]
                start, end = len(outer.inboxes.get(user.lower(), [])) - len(box), \
                    len(outer.inboxes.get(user.lower(), []))
            everything = outer.inboxes.get(user.lower(), [])
            size = int(request.headers.get("Prefer", "=10").rpartition("=")[2] or 10)
            page = everything[start:min(end, start + size)]
            base = (outer.link_base or outer.url) + request.path
            body: dict[str, Any] = {"value": [m.resource() for m in page]}
            if start + size < end:
                body["@odata.nextLink"] = f"{base}?$skiptoken={start + size}.{end}"
            else:
                body["@odata.deltaLink"] = f"{base}?$deltatoken={end}"
            return jsonify(body)

        @app.get("/v1.0/users/<user>/messages/<message_id>/$value")
        def value(user: str, message_id: str) -> Any:
            with outer.lock:
                outer.methods.append(request.method)
            refused = may_read(user)
            if refused is not None:
                return refused
            found = next((m for m in outer.inboxes.get(user.lower(), [])
                          if m.id == message_id), None)
            if found is None:
                return outer.error(404, "ErrorItemNotFound", "The specified object was not "
                                   "found in the store.")
            return found.raw, 200, {"Content-Type": "text/plain"}

        app.add_url_rule("/v1.0/me/sendMail", "me", lambda: send(None), methods=["POST"])
        app.add_url_rule("/v1.0/users/<user>/sendMail", "user", send, methods=["POST"])
        return app
