"""A local OAuth2 authorization server for tests, built from authlib's server side.

Authorization code with PKCE (enforced), refresh tokens (rotated), client credentials,
the JWT bearer grant (a service account signing for a user) and revocation. It counts the
grants it answered and tells the test SMTP server which access tokens are valid for whom,
so an XOAUTH2 login is checked the way a provider checks it.

Endpoints answer under any prefix, so a provider plugin's URL templates fit:
``.../authorize``, ``.../auth``, ``.../token``, ``.../revoke``.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import secrets
import ssl
import threading
import time
from collections import Counter
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7523 import JWTBearerGrant
from authlib.oauth2.rfc7636 import CodeChallenge
from flask import Flask, request
from werkzeug.serving import make_server


@dataclasses.dataclass
class Client:
    client_id: str
    client_secret: str | None
    redirect_uris: list[str]
    scopes: set[str]
    public_key: Any = None  # for the JWT bearer grant (a service account)
    app_accounts: set[str] = dataclasses.field(default_factory=set)  # app-only: mailboxes

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in (scope or "").split() if s in self.scopes)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return self.client_secret is not None and secrets.compare_digest(
            self.client_secret, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_post", "client_secret_basic", "none")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return True


@dataclasses.dataclass
class Account:
    email: str

    def get_user_id(self) -> str:
        return self.email


@dataclasses.dataclass
class Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    account: str
    code_challenge: str | None
    code_challenge_method: str | None

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


@dataclasses.dataclass
class Token:
    access_token: str
    refresh_token: str | None
    client_id: str
    account: str | None  # None for app-only tokens
    scope: str
    expires_at: float
    revoked: bool = False

    def check_client(self, client: Client) -> bool:
        return client.client_id == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return int(self.expires_at - time.time())

    def is_expired(self) -> bool:
        return time.time() >= self.expires_at

    def is_revoked(self) -> bool:
        return self.revoked

    def get_user(self) -> Account | None:
        return Account(self.account) if self.account else None

    def get_client(self) -> None:
        return None


class OAuthTestServer:
    """``server.add_client(...)``, ``server.token_valid(token, user, scope)``, ``.grants``."""

    def __init__(self, host: str = "127.0.0.1", *, expires_in: int = 3600,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        """``ssl_context``: serve HTTPS with it (the test kit's fixture does, with a
        certificate of the test CA: falcana sends a client secret over HTTPS only)."""
        self.expires_in = expires_in
        self.clients: dict[str, Client] = {}
        self.codes: dict[str, Code] = {}
        self.tokens: dict[str, Token] = {}  # by access token
        self.refresh: dict[str, Token] = {}  # by refresh token
        self.grants: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.app = self._build_app()
        self._server = make_server(host, 0, self.app, threaded=True, ssl_context=ssl_context)
        self.port = self._server.server_port
        self.url = f"{'https' if ssl_context else 'http'}://{host}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- set-up ----------------------------------------------------------------------

    def add_client(self, client_id: str, client_secret: str | None, *,
                   redirect_uris: list[str] | None = None, scopes: set[str] | None = None,
                   public_key_pem: bytes | None = None,
                   app_accounts: set[str] | None = None) -> Client:
        from joserfc.jwk import RSAKey

        key = RSAKey.import_key(public_key_pem) if public_key_pem else None
        client = Client(client_id, client_secret, redirect_uris or [], scopes or set(), key,
                        app_accounts or set())
        self.clients[client_id] = client
        return client

    def add_service_account(self, client_email: str, *, scopes: set[str],
                            accounts: set[str]) -> dict[str, str]:
        """A Google-style service account allowed to act for ``accounts`` (domain-wide
        delegation): returns its JSON key, as the admin pastes it into falcana."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.add_client(client_email, None, scopes=scopes, public_key_pem=public,
                        app_accounts=accounts)
        return {"type": "service_account", "client_email": client_email,
                "private_key_id": "k1", "private_key": pem, "token_uri": f"{self.url}/token"}

    def start(self) -> OAuthTestServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()

    # -- what the SMTP server asks ---------------------------------------------------

    def token_valid(self, access_token: str, user: str, scope: str) -> bool:
        """A valid token with ``scope`` that may act for ``user`` (an XOAUTH2 login)."""
        token = self.token(access_token)
        return token is not None and scope in token.scope.split() and \
            self.may_act_for(token, user)

    def token(self, access_token: str) -> Token | None:
        """The token behind a bearer value, if it is valid now (not expired, not revoked):
        what a resource server (a mail API) looks up."""
        with self.lock:
            token = self.tokens.get(access_token)
        if token is None or token.revoked or token.is_expired():
            return None
        return token

    def may_act_for(self, token: Token, mailbox: str) -> bool:
        """An app-only token acts for the mailboxes its app was given (Exchange's
        application RBAC); a user's token for the user only."""
        if token.account is None:
            return mailbox.lower() in self.clients[token.client_id].app_accounts
        return token.account.lower() == mailbox.lower()

    def expire_all(self) -> None:
        with self.lock:
            for token in self.tokens.values():
                token.expires_at = time.time() - 1

    def revoke_all(self) -> None:
        with self.lock:
            for token in [*self.tokens.values(), *self.refresh.values()]:
                token.revoked = True

    # -- the authlib server ----------------------------------------------------------

    def _save_token(self, token: dict[str, Any], req: Any) -> None:
        account = req.user.email if getattr(req, "user", None) else None
        client = req.client
        scope = token.get("scope", "")
        expires_at = time.time() + int(token.get("expires_in", self.expires_in))
        record = Token(token["access_token"], token.get("refresh_token"), client.client_id,
                       account, scope, expires_at)
        with self.lock:
            self.tokens[record.access_token] = record
            if record.refresh_token:
                self.refresh[record.refresh_token] = record
            self.grants[req.payload.grant_type if req.payload else "?"] += 1
        if account and "openid" in scope.split():
            token["id_token"] = _unsigned_id_token(account, client.client_id)

    def _build_app(self) -> Flask:
        app = Flask("falcana-oauth-test-server")
        app.config["OAUTH2_REFRESH_TOKEN_GENERATOR"] = True
        app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {"authorization_code": self.expires_in,
                                                 "refresh_token": self.expires_in,
                                                 "client_credentials": self.expires_in,
                                                 JWTBearerGrant.GRANT_TYPE: self.expires_in}
        outer = self
        server = AuthorizationServer(app, query_client=lambda cid: outer.clients.get(cid),
                                     save_token=self._save_token)

        class CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

            def save_authorization_code(self, code: str, req: Any) -> None:
                data = req.payload.data
                outer.codes[code] = Code(code, req.client.client_id, req.payload.redirect_uri,
                                         req.payload.scope, req.user.email,
                                         data.get("code_challenge"),
                                         data.get("code_challenge_method"))

            def query_authorization_code(self, code: str, client: Client) -> Code | None:
                found = outer.codes.get(code)
                return found if found and found.client_id == client.client_id else None

            def delete_authorization_code(self, authorization_code: Code) -> None:
                outer.codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code: Code) -> Account:
                return Account(authorization_code.account)

        class RefreshGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
            INCLUDE_NEW_REFRESH_TOKEN = True

            def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
                with outer.lock:
                    token = outer.refresh.get(refresh_token)
                return token if token and not token.revoked else None

            def authenticate_user(self, refresh_token: Token) -> Account | None:
                return refresh_token.get_user()

            def revoke_old_credential(self, refresh_token: Token) -> None:
                with outer.lock:
                    outer.refresh.pop(refresh_token.refresh_token or "", None)

        class ClientCredentials(grants.ClientCredentialsGrant):  # type: ignore[misc]
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

        class Assertion(JWTBearerGrant):  # type: ignore[misc]
            def resolve_issuer_client(self, issuer: str) -> Client | None:
                return outer.clients.get(issuer)

            def resolve_client_public_key(self, client: Client) -> Any:
                return client.public_key

            def authenticate_user(self, subject: str) -> Account | None:
                return Account(subject) if subject else None

            def has_granted_permission(self, client: Client, user: Account) -> bool:
                return user.email.lower() in client.app_accounts

            def get_audiences(self) -> list[str]:
                return [f"{outer.url}/token"]

        class Revocation(RevocationEndpoint):  # type: ignore[misc]
            def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
                with outer.lock:
                    return outer.refresh.get(token_string) or outer.tokens.get(token_string)

            def revoke_token(self, token: Token, req: Any) -> None:
                with outer.lock:
                    token.revoked = True

        server.register_grant(CodeGrant, [CodeChallenge(required=True)])
        server.register_grant(RefreshGrant)
        server.register_grant(ClientCredentials)
        server.register_grant(Assertion)
        server.register_endpoint(Revocation)

        @app.route("/<path:path>", methods=["GET", "POST"])
        def dispatch(path: str) -> Any:
            last = path.rstrip("/").rsplit("/", 1)[-1]
            if last in ("authorize", "auth"):
                if request.method == "GET":
                    hint = request.args.get("login_hint", "")
                    return (f'<form method="post"><label for="account">Account</label>'
                            f'<input id="account" name="account" value="{hint}">'
                            f'<button type="submit" id="approve">Approve</button></form>')
                return server.create_authorization_response(
                    grant_user=Account(request.form["account"]))
            if last == "token":
                return server.create_token_response()
            if last == "revoke":
                return server.create_endpoint_response(RevocationEndpoint.ENDPOINT_NAME)
            if last == "introspect":  # RFC 7662, for IMAP servers checking XOAUTH2
                with outer.lock:
                    token = outer.tokens.get(request.form.get("token", ""))
                if token is None or token.revoked or token.is_expired():
                    return {"active": False}
                return {"active": True, "email": token.account or "", "scope": token.scope,
                        "client_id": token.client_id}
            return "not found", 404

        return app


def _unsigned_id_token(email: str, audience: str) -> str:
    """An OpenID id_token as the token endpoint returns it (read over TLS, not verified)."""
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    now = int(time.time())
    return ".".join([part({"alg": "none", "typ": "JWT"}),
                     part({"email": email, "preferred_username": email, "aud": audience,
                           "iat": now, "exp": now + 3600}), ""])


def xoauth2_authenticator(server: OAuthTestServer, *scopes: str) -> Any:
    """An aiosmtpd AUTH XOAUTH2 mechanism accepting only valid tokens for the right user
    (with one of ``scopes``)."""
    from aiosmtpd.smtp import AuthResult

    async def auth_XOAUTH2(smtp: Any, args: list[str]) -> AuthResult:
        if len(args) < 2:
            return AuthResult(success=False, handled=False,
                              message="501 5.5.2 Initial response required")
        try:
            fields = base64.b64decode(args[1]).decode().split("\x01")
            user = next(f[5:] for f in fields if f.startswith("user="))
            token = next(f[12:] for f in fields if f.startswith("auth=Bearer "))
        except Exception:
            return AuthResult(success=False, handled=False, message="501 5.5.2 Bad response")
        if any(server.token_valid(token, user, scope) for scope in scopes):
            return AuthResult(success=True, auth_data=user)
        return AuthResult(success=False, handled=False,
                          message="535 5.7.3 Authentication unsuccessful")

    return auth_XOAUTH2
