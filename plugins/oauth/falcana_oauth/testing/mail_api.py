"""Local HTTPS servers that act like a provider's mail API, for tests (the test kit).

They check the bearer token against ``OAuthTestServer`` (valid, unexpired, the API's
scope, the account it may act for), parse the MIME body, keep what they received for
assertions, and can be told to answer the documented errors:
``server.fail_next(429, "TooManyRequests", headers={"Retry-After": "7"})``. The provider
plugins add the API's own shapes (``falcana_providers_m365.testing.GraphTestServer``,
``falcana_providers_gmail.testing.GmailApiTestServer``).
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
import email.utils
import secrets
import threading
import time
from collections.abc import Mapping
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ssl

    from flask import Flask

    from falcana_core.api import Host, Mailbox
    from falcana_oauth.testing.authorization import OAuthTestServer, Token


@dataclasses.dataclass
class Received:
    """One accepted message, as the API saw it."""

    account: str  # whom the token acts for
    path: str
    content_type: str
    raw: bytes  # the MIME message (decoded from base64 where the API takes that)
    message: EmailMessage
    token_scope: str

    @property
    def recipients(self) -> list[str]:
        return [addr for _n, addr in email.utils.getaddresses(
            [str(v) for k in ("To", "Cc", "Bcc") for v in self.message.get_all(k, [])])]


@dataclasses.dataclass
class Failure:
    status: int
    code: str
    message: str
    headers: Mapping[str, str]
    times: int


class MailApiTestServer:
    """The common part: the HTTPS server, token checks, received messages, failures."""

    name = "mail API"

    def __init__(self, oauth: OAuthTestServer, ssl_context: ssl.SSLContext,
                 host: str = "127.0.0.1", *, reply_delay: float = 0.0) -> None:
        from werkzeug.serving import WSGIRequestHandler, make_server

        class KeepAlive(WSGIRequestHandler):
            protocol_version = "HTTP/1.1"  # as the real APIs: one connection, many requests

        self.oauth = oauth
        self.reply_delay = reply_delay  # seconds before each answer, as across a network
        self.received: list[Received] = []
        self.requests = 0
        self.failures: list[Failure] = []
        self.lock = threading.Lock()
        self.app = self.build_app()
        self._server = make_server(host, 0, self.app, threaded=True, ssl_context=ssl_context,
                                   request_handler=KeepAlive)
        self.port = self._server.server_port
        self.url = f"https://{host}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> MailApiTestServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()

    def fail_next(self, status: int, code: str = "", message: str = "", *,
                  headers: Mapping[str, str] | None = None, times: int = 1) -> None:
        """Answer the next ``times`` requests with this documented error."""
        with self.lock:
            self.failures.append(Failure(status, code, message or code, dict(headers or {}),
                                         times))

    def _take_failure(self) -> Failure | None:
        if self.reply_delay:
            time.sleep(self.reply_delay)
        with self.lock:
            self.requests += 1
            if not self.failures:
                return None
            failure = self.failures[0]
            failure.times -= 1
            if failure.times <= 0:
                self.failures.pop(0)
            return failure

    # -- for the API subclasses ----------------------------------------------------------

    def build_app(self) -> Flask:
        raise NotImplementedError

    def error(self, status: int, code: str, message: str,
              headers: Mapping[str, str] | None = None) -> Any:
        """The API's documented error body."""
        raise NotImplementedError

    def bearer(self, authorization: str) -> Token | None:
        scheme, _sp, value = authorization.partition(" ")
        return self.oauth.token(value.strip()) if scheme.lower() == "bearer" else None

    @staticmethod
    def parse(raw: bytes) -> EmailMessage:
        """The MIME message; headers may be UTF-8 (RFC 6532), as both APIs accept."""
        message = email.message_from_string(raw.decode("utf-8", "replace"),
                                            policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        return message

    @staticmethod
    def request_id() -> str:
        return secrets.token_hex(16)


def sign_in(host: Host, mailbox: Mailbox, provider_id: str, redirect_uri: str, *,
            account: str | None = None) -> str:
    """The mailbox's user signs in at ``OAuthTestServer`` as ``account`` (default: the
    mailbox's address), for the scopes of the mailbox's transport, without a browser:
    start, approve, complete. Returns the scope the sign-in asked for."""
    import urllib.parse

    import requests

    from falcana_oauth.service import oauth

    service = oauth(host)
    provider = service.providers()[provider_id]
    url, _state, verifier = service.authorization_url(provider, mailbox, redirect_uri)
    asked = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)["scope"][0]
    # the user's browser, which trusts the test CA as the host does
    approved = requests.post(url, data={"account": account or mailbox.address},
                             allow_redirects=False, timeout=10,
                             verify=str(host.config.ca_bundle or True))
    assert approved.status_code == 302, approved.text
    code = urllib.parse.parse_qs(urllib.parse.urlparse(approved.headers["Location"]).query)
    service.complete(provider, mailbox, code=code["code"][0], verifier=verifier,
                     redirect_uri=redirect_uri, actor=mailbox.address)
    return asked
