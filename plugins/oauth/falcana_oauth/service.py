"""OAuth2 sign-in for mailboxes (SMTP XOAUTH2): clients, tokens, refresh, consent links.

Provider plugins describe their OAuth2 client through the ``oauth_providers`` hook; this
module does the protocol with authlib (never by hand): the authorization code flow with
PKCE for a mailbox's own user, client credentials (Microsoft app-only), and the JWT bearer
grant (Google Workspace domain-wide delegation). Tokens live in the secret store.

An access token is refreshed before it expires, once for all workers and machines: the
refresh happens under a lock on the mailbox's connection row. A refresh that fails marks
the mailbox "Anmeldung erneuern" with the reason and pauses its outbox queue.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from falcana_smtp_settings.api import detect_provider
from sqlalchemy import select, update

from falcana_core.api import (
    FailureKind,
    SecretValue,
    StepProblem,
    Text,
    current_language,
    text_in,
    utcnow,
)
from falcana_core.api.net import HttpFailure, PolicyHttp, cancellation, classify
from falcana_oauth.i18n import _
from falcana_oauth.models import OAuthConnection, OAuthConsentLink

if TYPE_CHECKING:
    from falcana_core.api import Host, Mailbox

log = logging.getLogger(__name__)
MAX_TOKEN_ANSWER = 64 * 1024  # a token answer is a few kilobytes

OWNER = "oauth"
REFRESH_TOKEN = "refresh_token"
ACCESS_TOKEN = "access_token"
EARLY = dt.timedelta(seconds=120)  # refresh this long before the token expires
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"

DELEGATED, APP, DELEGATION = "delegated", "app", "delegation"
SMTP = "smtp"  # the transport a mailbox uses when it names none
#: scopes a sign-in asks for beside the one that opens the mail service
EXTRA_SCOPES = frozenset({"offline_access", "openid", "email", "profile"})


class OAuthError(StepProblem):
    """A sign-in or token problem; ``cause`` and ``fix`` are for the admin. Raised in the
    step log's ``token`` step, it becomes a failure of kind ``token``."""

    def __init__(self, code: str, cause: Text, fix: Text, detail: str = "") -> None:
        self.code = code
        self.cause = cause
        self.fix = fix
        self.detail = detail
        super().__init__(FailureKind.TOKEN, detail or code, {"oauth": self.as_dict()})

    def as_dict(self, lang: str | None = None) -> dict[str, Any]:
        lang = lang or current_language()
        return {"code": self.code, "cause": text_in(self.cause, lang),
                "fix": text_in(self.fix, lang), "detail": self.detail}


@dataclasses.dataclass(frozen=True)
class OAuthApi:
    """What a client's token opens for one transport: SMTP (XOAUTH2), or a mail API that
    sends beside it (Microsoft Graph, the Gmail API), with the scopes each sign-in mode
    asks for."""

    transport: str  # "smtp", "graph", "gmail_api"
    label: Text
    scope: str  # the user's sign-in, incl. offline_access / openid
    app_scope: str | None = None  # client credentials (Microsoft app-only)
    delegation_scope: str | None = None  # the JWT bearer grant (Google delegation)
    #: the only place its token goes (https; deployment settings, default the provider's)
    base_url: str = ""
    #: granted scopes that include this one (Google's https://mail.google.com/ covers
    #: gmail.send): such a sign-in needs no new consent
    covered_by: Sequence[str] = ()
    #: the admin chose to let its token read the inbox too (delivery reports): the
    #: scopes above include the provider's read scope
    reads_inbox: bool = False

    def requested(self, mode: str) -> str:
        return {DELEGATED: self.scope, APP: self.app_scope,
                DELEGATION: self.delegation_scope}.get(mode) or ""

    def needed(self, mode: str) -> str:
        """The scope that opens the mail service (not offline_access or openid)."""
        return next((s for s in self.requested(mode).split() if s not in EXTRA_SCOPES), "")

    def covered(self, mode: str, granted: str) -> bool:
        """True when tokens granted for ``granted`` serve this transport."""
        need = self.needed(mode).lower()
        have = {s.lower() for s in granted.split()}
        if need in have or any(c.lower() in have for c in self.covered_by):
            return True
        # Microsoft's token endpoint names Graph scopes short: "Mail.Send"
        return any(need.endswith("/" + h) for h in have if "/" not in h and ":" not in h)


@dataclasses.dataclass(frozen=True)
class OAuthProvider:
    """An OAuth2 client a provider plugin configures (deployment settings)."""

    id: str  # e.g. "microsoft", "google"
    name: Text
    serves: Sequence[str]  # detected provider ids it signs in for ("m365", "outlook_com")
    authorize_url: str
    token_url: str
    scope: str  # delegated, incl. offline_access / openid
    client_id: str
    client_secret: SecretValue | None = None
    revoke_url: str | None = None
    app_scope: str | None = None  # client credentials (Microsoft app-only)
    service_account: SecretValue | None = None  # JSON key for the JWT bearer grant
    delegation_scope: str | None = None
    authorize_params: dict[str, str] = dataclasses.field(default_factory=dict)
    sign_in_label: Text = ""
    #: the only SMTP servers a token of this client is sent to, over verified TLS (names,
    #: or one string of names separated by spaces or commas, as an admin types them)
    smtp_hosts: Sequence[str] | str = ()
    #: mail APIs the client's tokens also open (transports beside SMTP)
    apis: Sequence[OAuthApi] = ()
    #: the detected providers its app-only or delegation signs in for (empty: all it
    #: serves); the others need their user's sign-in (Outlook.com, consumer Gmail)
    admin_serves: Sequence[str] = ()
    #: the day the client secret runs out, as the admin entered it (warned 14 days ahead)
    secret_expires: dt.date | None = None
    #: days without use after which the provider ends a refresh token (Microsoft: 90)
    refresh_idle_days: int | None = None

    def api(self, transport: str) -> OAuthApi | None:
        """The scopes for a transport ("" or "smtp": XOAUTH2); None: not offered."""
        if transport in ("", SMTP):
            return OAuthApi(SMTP, "SMTP", self.scope, self.app_scope, self.delegation_scope)
        return next((a for a in self.apis if a.transport == transport), None)

    def modes_for(self, transport: str) -> list[str]:
        """The sign-in modes this client offers for a transport."""
        api = self.api(transport)
        if api is None:
            return []
        return [m for m in self.modes if api.requested(m)]

    @property
    def smtp_host_names(self) -> frozenset[str]:
        raw = self.smtp_hosts.replace(",", " ").split() if isinstance(self.smtp_hosts, str) \
            else self.smtp_hosts
        return frozenset(h.strip().lower().rstrip(".") for h in raw if h.strip())

    @property
    def modes(self) -> list[str]:
        found = [DELEGATED] if self.client_id else []
        if self.app_scope and self.client_secret:
            found.append(APP)
        if self.service_account and self.delegation_scope:
            found.append(DELEGATION)
        return found


@dataclasses.dataclass(frozen=True)
class AccessToken:
    token: SecretValue
    account: str  # the user XOAUTH2 names
    source: str  # "cached", "refreshed" or "issued"
    expires_at: dt.datetime


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _as_utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def account_from_id_token(id_token: str) -> str:
    """The account of an id_token received from the token endpoint over TLS (OpenID
    Connect Core 3.1.3.7: no signature check needed for a token from the token endpoint)."""
    try:
        payload = id_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return ""
    return str(claims.get("email") or claims.get("preferred_username")
               or claims.get("upn") or "")


def oauth(host: Host) -> OAuth:
    """The OAuth service of a host (one per host)."""
    return host.service("oauth", OAuth)


class OAuth:
    """The OAuth2 part of a host: ``falcana_oauth.oauth(host)``."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self._trials = threading.local()

    # -- providers -------------------------------------------------------------------

    def providers(self) -> dict[str, OAuthProvider]:
        return {p.id: p for _plugin, p in self.host.hook.call("oauth_providers", host=self.host)}

    def provider_for(self, address: str, server: str = "") -> OAuthProvider | None:
        """The configured OAuth client that signs in for the provider of this address and
        SMTP server."""
        found = detect_provider(self.host, address, server)
        if found is None:
            return None
        for provider in self.providers().values():
            if found.provider in provider.serves and provider.modes:
                return provider
        return None

    def _session(self, provider: OAuthProvider, *, scope: str | None = None,
                 redirect_uri: str | None = None) -> Any:
        """authlib's client; it connects only as ``_token_service`` attaches it."""
        from authlib.integrations.requests_client import OAuth2Session

        secret = provider.client_secret.reveal() if provider.client_secret else None
        return OAuth2Session(provider.client_id, secret, scope=scope or provider.scope,
                             redirect_uri=redirect_uri, code_challenge_method="S256",
                             token_endpoint_auth_method="client_secret_post" if secret
                             else "none", timeout=self.host.config.net_timeout)

    @contextlib.contextmanager
    def _token_service(self, provider: OAuthProvider, *, deadline: float | None = None,
                       scope: str | None = None, redirect_uri: str | None = None
                       ) -> Iterator[Any]:
        """authlib's client behind the core's gate, for one exchange with the token
        service: the destination policy, the one trust store (FALCANA_CA_BUNDLE: a
        company's own CA works here as for Graph), no redirect (the client secret and a
        refresh token go to the configured address only), the answer capped, and all of
        it over by ``deadline`` (the work in hand's; else FALCANA_TEST_DEADLINE)."""
        import requests

        config = self.host.config
        http = PolicyHttp(config.net_policy, ca_bundle=config.ca_bundle,
                          timeout=config.net_timeout, max_answer=MAX_TOKEN_ANSWER)
        session = http.attach(self._session(provider, scope=scope, redirect_uri=redirect_uri))
        abort = cancellation.register(http.abort)  # a stopping worker does not wait
        try:
            with http.within(deadline or time.monotonic() + config.test_deadline):
                yield session
        except HttpFailure as failure:
            raise unreachable(failure.kind, failure.detail) from None
        except (requests.RequestException, OSError) as exc:
            raise unreachable(*classify(exc)) from None
        finally:
            cancellation.unregister(abort)
            session.close()

    # -- connections -----------------------------------------------------------------

    def connection(self, mailbox_id: int) -> OAuthConnection | None:
        with self.host.sessions() as s:
            return s.get(OAuthConnection, mailbox_id)

    def ref(self, mailbox_id: int) -> str:
        return f"mailbox:{mailbox_id}"

    def set_admin_mode(self, mailbox: Mailbox, provider: OAuthProvider, mode: str, *,
                       actor: str) -> None:
        """App-only or domain-wide delegation: the admin connects without the user."""
        if mode not in provider.modes or mode == DELEGATED:
            raise ValueError(f"{provider.id} does not offer {mode}")
        self._store(mailbox.id, provider.id, mode, mailbox.address, None, actor=actor)

    def _store(self, mailbox_id: int, provider: str, mode: str, account: str,
               token: dict[str, Any] | None, *, actor: str, scope: str | None = None) -> None:
        ref = self.ref(mailbox_id)
        with self.host.transaction() as s:
            row = s.get(OAuthConnection, mailbox_id) or OAuthConnection(mailbox_id=mailbox_id)
            row.provider, row.mode, row.account = provider, mode, account
            row.status, row.reason, row.connected_at = "connected", None, utcnow()
            row.expires_at = row.refreshed_at = None
            row.scope = scope
            s.add(row)
            self.host.secrets.delete(OWNER, ACCESS_TOKEN, ref, session=s)
            self.host.secrets.delete(OWNER, REFRESH_TOKEN, ref, session=s)
            if token is not None:
                self._keep(s, row, token)
        self.host.outbox.resume(mailbox_id)
        self.host.audit.record(actor, "oauth.connect", "mailbox", str(mailbox_id),
                               {"provider": provider, "mode": mode, "account": account,
                                "tokens": "changed"})

    def _keep(self, s: Any, row: OAuthConnection, token: dict[str, Any]) -> None:
        ref = self.ref(row.mailbox_id)
        self.host.secrets.put(OWNER, ACCESS_TOKEN, ref, token["access_token"], session=s)
        if token.get("refresh_token"):
            self.host.secrets.put(OWNER, REFRESH_TOKEN, ref, token["refresh_token"], session=s)
        expires_in = int(token.get("expires_in") or 3600)
        row.expires_at = utcnow() + dt.timedelta(seconds=expires_in)

    # -- the user's consent (authorization code + PKCE) --------------------------------

    def authorization_url(self, provider: OAuthProvider, mailbox: Mailbox,
                          redirect_uri: str) -> tuple[str, str, str]:
        """(url, state, code_verifier): keep state and verifier in the signing-in session."""
        verifier = secrets.token_urlsafe(64)
        session = self._session(provider, redirect_uri=redirect_uri,
                                scope=self.sign_in_api(provider, mailbox).scope)
        url, state = session.create_authorization_url(
            provider.authorize_url, code_verifier=verifier, login_hint=mailbox.address,
            **provider.authorize_params)
        return url, state, verifier

    def complete(self, provider: OAuthProvider, mailbox: Mailbox, *, code: str,
                 verifier: str, redirect_uri: str, actor: str) -> str:
        """Exchange the code; the account must be the mailbox's. Returns the account."""
        from authlib.integrations.base_client.errors import OAuthError as LibError

        with self._token_service(provider, redirect_uri=redirect_uri) as session:
            try:
                token = session.fetch_token(provider.token_url, code=code,
                                            code_verifier=verifier,
                                            grant_type="authorization_code")
            except (LibError, ValueError) as exc:
                raise OAuthError("oauth.code_refused",
                                 _("The sign-in could not be completed."),
                                 _("Start the sign-in again."), _describe(exc)) from None
        account = account_from_id_token(str(token.get("id_token") or ""))
        username = self._username(mailbox)
        allowed = {a.lower() for a in (mailbox.address, username) if a}
        if account.lower() not in allowed:
            raise OAuthError(
                "oauth.wrong_account",
                _("You signed in as {account}, but this mailbox is {address}.",
                  account=account or "?", address=mailbox.address),
                _("Sign in with the mailbox's own account ({address}).",
                  address=mailbox.address))
        self._store(mailbox.id, provider.id, DELEGATED, account, token, actor=actor,
                    scope=str(token.get("scope") or self.sign_in_api(provider, mailbox).scope))
        return account

    @staticmethod
    def sign_in_api(provider: OAuthProvider, mailbox: Mailbox) -> OAuthApi:
        """What the user consents to: the scopes of the mailbox's transport."""
        found = provider.api(mailbox.transport or SMTP) or provider.api(SMTP)
        assert found is not None
        return found

    def _username(self, mailbox: Mailbox) -> str:
        from falcana_smtp_settings.api import load_settings

        return load_settings(self.host, mailbox, with_password=False).username

    # -- consent links -----------------------------------------------------------------

    def create_link(self, mailbox: Mailbox, provider: OAuthProvider, *, actor: str,
                    valid_for: dt.timedelta = dt.timedelta(days=3)) -> str:
        """A token for a one-time consent link to the mailbox's user."""
        token = secrets.token_urlsafe(32)
        with self.host.transaction() as s:
            s.add(OAuthConsentLink(token_hash=_hash(token), mailbox_id=mailbox.id,
                                   provider=provider.id, created_by=actor,
                                   expires_at=utcnow() + valid_for))
        self.host.audit.record(actor, "oauth.consent_link", "mailbox", str(mailbox.id),
                               {"provider": provider.id})
        return token

    def link(self, token: str) -> OAuthConsentLink | None:
        """A valid, unused link, else None."""
        with self.host.sessions() as s:
            row = s.get(OAuthConsentLink, _hash(token))
        if row is None or row.used_at is not None or \
                (_as_utc(row.expires_at) or utcnow()) <= utcnow():
            return None
        return row

    def use_link(self, token: str) -> bool:
        """Spend a link, atomically: of two browsers completing with one link, one wins."""
        with self.host.transaction() as s:
            result = s.execute(update(OAuthConsentLink).where(
                OAuthConsentLink.token_hash == _hash(token),
                OAuthConsentLink.used_at.is_(None),
                OAuthConsentLink.expires_at > utcnow()).values(used_at=utcnow()))
            return bool(getattr(result, "rowcount", 0))

    def release_link(self, token: str) -> None:
        """Give a spent link back when the sign-in it was spent on failed."""
        with self.host.transaction() as s:
            s.execute(update(OAuthConsentLink).where(
                OAuthConsentLink.token_hash == _hash(token)).values(used_at=None))

    # -- access tokens ---------------------------------------------------------------

    def access_token(self, mailbox: Mailbox, *, transport: str | None = None,
                     rejected: SecretValue | None = None,
                     deadline: float | None = None) -> AccessToken:
        """A valid access token for the mailbox's transport (or ``transport``); refreshed
        (once for all workers) when about to expire, or when the server ``rejected`` the
        one we hold (a 401: revoked or expired early)."""
        transport = transport if transport is not None else (mailbox.transport or SMTP)
        trial = self._trial(mailbox.id)
        if trial is not None:
            return self._trial_token(trial, transport, deadline)
        row = self.connection(mailbox.id)
        if row is None:
            raise OAuthError("oauth.not_connected", _("This mailbox is not signed in."),
                             _("Sign in with the provider (or choose password sign-in)."))
        cached = self._cached(row, transport, rejected)
        if cached is not None:
            return cached
        return self._refresh(mailbox, transport, rejected, deadline)

    @contextlib.contextmanager
    def trial(self, mailbox: Mailbox, provider: OAuthProvider, mode: str) -> Iterator[None]:
        """Sign the mailbox in with ``mode`` without switching it (a migration's dry run):
        in this thread its tokens come from ``mode`` and stay in memory; nothing of the
        mailbox's stored sign-in is read or changed."""
        if mode not in (APP, DELEGATION) or mode not in provider.modes:
            raise ValueError(f"{provider.id} offers no {mode} sign-in")
        trials: dict[int, OAuthConnection] = getattr(self._trials, "rows", {})
        self._trials.rows = {**trials, mailbox.id: OAuthConnection(
            mailbox_id=mailbox.id, provider=provider.id, mode=mode, account=mailbox.address,
            status="connected")}
        try:
            yield
        finally:
            self._trials.rows = trials

    def _trial(self, mailbox_id: int) -> OAuthConnection | None:
        found: OAuthConnection | None = getattr(self._trials, "rows", {}).get(mailbox_id)
        return found

    def _trial_token(self, row: OAuthConnection, transport: str,
                     deadline: float | None) -> AccessToken:
        provider = self.providers().get(row.provider)
        api = self._api(row, transport)
        if provider is None or api is None:
            raise OAuthError("oauth.no_client",
                             _("The OAuth client for this mailbox is not configured."),
                             _("Enter it in the deployment settings."))
        token, source = self._new_token(provider, row, api, deadline)
        expires = utcnow() + dt.timedelta(seconds=int(token.get("expires_in") or 3600))
        return AccessToken(SecretValue(token["access_token"]), row.account, source, expires)

    def _api(self, row: OAuthConnection, transport: str) -> OAuthApi | None:
        """The scopes for the transport, or None when the client is gone (refreshing
        reports that); raises when the client offers no such transport."""
        provider = self.providers().get(row.provider)
        if provider is None:
            return None
        api = provider.api(transport)
        if api is None or not api.requested(row.mode):
            raise OAuthError("oauth.no_api", _(
                "The OAuth2 client {name} does not offer sending through \"{transport}\" "
                "with this sign-in.", name=provider.name, transport=transport), _(
                "Choose another way of sending (\"Send through\") or another sign-in."))
        return api

    def _cached(self, row: OAuthConnection, transport: str,
                rejected: SecretValue | None = None) -> AccessToken | None:
        api = self._api(row, transport)
        if row.status != "connected":
            if api is not None and (row.reason or {}).get("code") == "oauth.scope_missing":
                raise scope_missing(api)  # said again in the reader's language
            raise OAuthError("oauth.reauth", _("The sign-in must be renewed."),
                             _("Sign in again (renew the sign-in)."),
                             str((row.reason or {}).get("detail", "")))
        if api is not None and not api.covered(row.mode, self._granted(row)):
            if row.mode == DELEGATED:  # a consent is not widened by refreshing
                raise scope_missing(api)
            return None  # app-only, delegation: a token for this scope is fetched
        expires = _as_utc(row.expires_at)
        if expires is None or expires - EARLY <= utcnow():
            return None
        token = self.host.secrets.get(OWNER, ACCESS_TOKEN, self.ref(row.mailbox_id))
        if token is None or (rejected is not None and token == rejected):
            return None
        return AccessToken(token, row.account, "cached", expires)

    def _granted(self, row: OAuthConnection) -> str:
        """What the stored tokens cover (before mail APIs: the client's SMTP scope)."""
        if row.scope is not None:
            return row.scope
        provider = self.providers().get(row.provider)
        smtp = provider.api(SMTP) if provider else None
        return smtp.requested(row.mode) if smtp else ""

    def transport_changed(self, mailbox: Mailbox, transport: str, *, actor: str) -> None:
        """The mailbox now sends another way. A user's consent that does not cover it
        shows "Anmeldung erneuern" (the outbox waits for the new sign-in); app-only and
        delegation fetch a token for the new scope when it is needed."""
        row = self.connection(mailbox.id)
        provider = self.providers().get(row.provider) if row else None
        api = provider.api(transport) if provider else None
        if row is None or api is None or row.mode != DELEGATED or \
                api.covered(row.mode, self._granted(row)):
            return
        error = scope_missing(api)
        with self.host.transaction() as s:
            found = s.get(OAuthConnection, mailbox.id)
            if found is not None:
                found.status, found.reason = "reauth", error.as_dict("en")
        self.host.audit.record(actor, "oauth.reauth", "mailbox", str(mailbox.id),
                               {"code": error.code, "transport": transport})

    def _refresh(self, mailbox: Mailbox, transport: str = SMTP,
                 rejected: SecretValue | None = None,
                 deadline: float | None = None) -> AccessToken:
        postgres = self.host.engine.dialect.name == "postgresql"
        with self.host.transaction() as s:
            # the lock: one refresh for all workers; the others wait and use its result
            if postgres:
                row = s.scalar(select(OAuthConnection).where(
                    OAuthConnection.mailbox_id == mailbox.id).with_for_update())
            else:
                s.execute(update(OAuthConnection).where(
                    OAuthConnection.mailbox_id == mailbox.id).values(
                    refreshes=OAuthConnection.refreshes))  # SQLite: takes the write lock
                row = s.get(OAuthConnection, mailbox.id)
            assert row is not None
            cached = self._cached(row, transport, rejected)
            if cached is not None:
                return cached  # another worker refreshed while we waited
            provider = self.providers().get(row.provider)
            api = provider.api(transport) if provider else None
            try:
                if provider is None or api is None:
                    raise OAuthError("oauth.no_client",
                                     _("The OAuth client for this mailbox is not configured."),
                                     _("Enter it in the deployment settings."))
                token, source = self._new_token(provider, row, api, deadline)
            except OAuthError as error:
                row.status, row.reason = "reauth", error.as_dict("en")
                self._pause(s, mailbox.id, error)
                failure = error
            else:
                self._keep(s, row, token)
                row.refreshed_at, row.refreshes = utcnow(), row.refreshes + 1
                # a refresh keeps what the consent covered; a fetched token has its scope
                row.scope = str(token.get("scope") or (
                    row.scope if row.mode == DELEGATED and row.scope else
                    api.requested(row.mode)))
                expires = _as_utc(row.expires_at)
                assert expires is not None
                return AccessToken(SecretValue(token["access_token"]), row.account, source,
                                   expires)
        self.host.audit.record("system", "oauth.reauth", "mailbox", str(mailbox.id),
                               {"code": failure.code, "detail": failure.detail})
        raise failure

    def _new_token(self, provider: OAuthProvider, row: OAuthConnection, api: OAuthApi,
                   deadline: float | None = None) -> tuple[dict[str, Any], str]:
        from authlib.integrations.base_client.errors import OAuthError as LibError

        try:
            if row.mode == APP:
                with self._token_service(provider, deadline=deadline,
                                         scope=api.app_scope) as session:
                    return dict(session.fetch_token(
                        provider.token_url, grant_type="client_credentials")), "issued"
            if row.mode == DELEGATION:
                return self._jwt_bearer(provider, row.account, api.delegation_scope or "",
                                        deadline), "issued"
            refresh = self.host.secrets.get(OWNER, REFRESH_TOKEN, self.ref(row.mailbox_id))
            if refresh is None:
                raise OAuthError("oauth.no_refresh_token", _("No refresh token is stored."),
                                 _("Sign in again (renew the sign-in)."))
            with self._token_service(provider, deadline=deadline, scope=api.scope) as session:
                token = session.refresh_token(provider.token_url,
                                              refresh_token=refresh.reveal())
            return dict(token), "refreshed"
        except LibError as exc:
            raise OAuthError(
                "oauth.refresh_failed",
                _("The provider refused to renew the sign-in ({error}): the consent was "
                  "withdrawn, the refresh token expired or was revoked, or a policy blocks "
                  "it.", error=str(exc.error or "error")),
                _("Have the mailbox's user sign in again (renew the sign-in); for apps in "
                  "Google's \"Testing\" status refresh tokens expire after 7 days."),
                _describe(exc)) from None

    def _jwt_bearer(self, provider: OAuthProvider, account: str, scope: str,
                    deadline: float | None = None) -> dict[str, Any]:
        from joserfc import jwt
        from joserfc.jwk import RSAKey

        assert provider.service_account is not None
        key = json.loads(provider.service_account.reveal())
        now = int(time.time())
        claims = {"iss": key["client_email"], "sub": account, "scope": scope,
                  "aud": key.get("token_uri") or provider.token_url, "iat": now,
                  "exp": now + 3600}
        assertion = jwt.encode({"alg": "RS256", "kid": key.get("private_key_id", "")}, claims,
                               RSAKey.import_key(key["private_key"]))
        with self._token_service(provider, deadline=deadline, scope=scope) as session:
            return dict(session.fetch_token(provider.token_url, grant_type=JWT_BEARER,
                                            assertion=assertion))

    def _pause(self, s: Any, mailbox_id: int, error: OAuthError) -> None:
        self.host.outbox.pause(mailbox_id, {"step": "token", "explanation": {
            "id": error.code, "cause": text_in(error.cause, current_language()),
            "fix": text_in(error.fix, current_language())}}, session=s)

    # -- disconnecting -----------------------------------------------------------------

    def disconnect(self, mailbox: Mailbox, *, actor: str) -> None:
        """Forget the tokens; revoke the refresh token where the provider allows."""
        row = self.connection(mailbox.id)
        if row is None:
            return
        provider = self.providers().get(row.provider)
        ref = self.ref(mailbox.id)
        refresh = self.host.secrets.get(OWNER, REFRESH_TOKEN, ref)
        if provider is not None and provider.revoke_url and refresh is not None:
            try:
                with self._token_service(provider) as session:
                    session.revoke_token(provider.revoke_url, token=refresh.reveal(),
                                         token_type_hint="refresh_token")
            except Exception as exc:  # disconnecting must work even when revoking fails
                log.warning("revoking the token of mailbox %s failed: %s", mailbox.id,
                            exc.__class__.__name__)
        with self.host.transaction() as s:
            self.host.secrets.delete(OWNER, ACCESS_TOKEN, ref, session=s)
            self.host.secrets.delete(OWNER, REFRESH_TOKEN, ref, session=s)
            found = s.get(OAuthConnection, mailbox.id)
            if found is not None:
                s.delete(found)
        self.host.audit.record(actor, "oauth.disconnect", "mailbox", str(mailbox.id))


def scope_missing(api: OAuthApi) -> OAuthError:
    return OAuthError(
        "oauth.scope_missing",
        _("The mailbox's sign-in does not cover sending through {label}: it was given for "
          "another way of sending.", label=api.label),
        _("Have the mailbox's user sign in again: the sign-in then asks for the permission "
          "{scope}.", scope=api.needed(DELEGATED)))


def unreachable(kind: FailureKind, detail: str) -> OAuthError:
    """A token request that got no answer, explained by what stopped it. The detail (which
    may name an address) stays in the detail, not in the cause a non-admin reads."""
    if kind is FailureKind.POLICY:
        return OAuthError("oauth.destination_refused", _(
            "The token service's address is not allowed by this deployment's rules for "
            "outgoing connections."), _(
            "An admin: check the OAuth2 client's Authority (deployment settings); "
            "FALCANA_ALLOW_NETWORKS decides which networks falcana may reach."), detail)
    if kind is FailureKind.TLS_VERIFY:
        return OAuthError("oauth.tls_verify", _(
            "The token service's certificate is not trusted on the falcana server."), _(
            "Where a company proxy inspects TLS, or the authority uses a private CA, give "
            "that CA's certificate in FALCANA_CA_BUNDLE."), detail)
    if kind is FailureKind.TIMEOUT:
        return OAuthError("oauth.timeout", _("The token service did not answer in time."),
                          _("Try again later; if it persists, check the falcana server's "
                            "connection to the provider."), detail)
    return OAuthError("oauth.unreachable", _("The provider's token service cannot be reached."),
                      _("Try again later."), detail)


def _describe(exc: Exception) -> str:
    error = getattr(exc, "error", None)
    description = getattr(exc, "description", None)
    return " ".join(str(x) for x in (error, description) if x) or exc.__class__.__name__
