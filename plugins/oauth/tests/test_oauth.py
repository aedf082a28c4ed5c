"""OAuth2 sign-in (XOAUTH2) against a local authorization server built from authlib's server
side and an aiosmtpd server that accepts only valid, unexpired tokens for the right user."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from falcana_oauth import oauth as oauth_of
from falcana_oauth.models import OAuthConnection
from falcana_oauth.testing.authorization import OAuthTestServer, xoauth2_authenticator
from falcana_smtp_settings.testing.smtpd import SmtpTestServer
from flask.testing import FlaskClient
from sqlalchemy import update

from falcana_core.host import Host
from falcana_core.models import Mailbox
from falcana_core.web import create_app

MS_SMTP = "https://outlook.office.com/SMTP.Send"
MS_APP = "https://outlook.office365.com/.default"
GOOGLE = "https://mail.google.com/"
ANNA = "anna@contoso-gmbh.de"
SHARED = "vertrieb@contoso-gmbh.de"
MAX = "max@agentur-nord.de"
CLIENT_SECRET = "ms-client-secret-4711"
BASE = "http://localhost"
CALLBACK = "/plugins/oauth/microsoft/callback"


@pytest.fixture(autouse=True)
def browser_trusts_the_test_ca(test_ca_bundle: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests' ``requests.post`` plays the user's browser at the authorization server,
    which trusts its certificate; falcana's own requests never read this variable."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(test_ca_bundle))


@pytest.fixture
def oauth(oauth_server: OAuthTestServer) -> OAuthTestServer:
    return oauth_server


@pytest.fixture
def service_key(oauth: OAuthTestServer) -> dict[str, str]:
    return oauth.add_service_account("falcana-sa@project.iam.example", scopes={GOOGLE},
                                     accounts={MAX})


@pytest.fixture
def host(falcana_host: Host, oauth: OAuthTestServer, dns_server: Any,
         service_key: dict[str, str]) -> Host:
    object.__setattr__(falcana_host.config, "base_url", BASE)
    dns_server.set_mx("contoso-gmbh.de", ["contoso-gmbh-de.mail.protection.outlook.com"])
    dns_server.set_mx("agentur-nord.de", ["aspmx.l.google.com"])
    oauth.add_client("falcana-ms", CLIENT_SECRET, redirect_uris=[BASE + CALLBACK],
                     scopes={MS_SMTP, "offline_access", "openid", "email", MS_APP},
                     app_accounts={SHARED})
    for section, values in (
            ("oauth_microsoft", {"client_id": "falcana-ms", "client_secret": CLIENT_SECRET,
                                 "tenant": "organizations", "authority": oauth.url,
                                 "smtp_servers": "127.0.0.1"}),
            ("oauth_google", {"client_id": "", "service_account_key": json.dumps(service_key),
                              "auth_uri": f"{oauth.url}/auth",
                              "token_uri": f"{oauth.url}/token",
                              "revoke_uri": f"{oauth.url}/revoke",
                              "smtp_servers": "127.0.0.1"})):
        assert falcana_host.save_section(None, section, values, actor="admin").saved
    falcana_host.users.add("admin", email="admin@contoso-gmbh.de", role="admin", password="a")
    return falcana_host


@pytest.fixture
def smtp(smtp_server: Callable[..., SmtpTestServer], oauth: OAuthTestServer) -> SmtpTestServer:
    return smtp_server("starttls", extra_auth={
        "XOAUTH2": xoauth2_authenticator(oauth, MS_SMTP, MS_APP, GOOGLE)})


def mailbox(host: Host, smtp: SmtpTestServer, login: str, address: str, method: str,
            *, shared: bool = False, security: str = "tls") -> Mailbox:
    if shared:
        box = host.mailboxes.create_shared(address, "Vertrieb", actor="admin")
    else:
        user = host.users.add(login, first_name="Anna", last_name="Kühn", email=address,
                              password="user-pw")
        box = host.mailboxes.personal(user)
    result = host.save_section(box, "smtp", {
        "email": address, "username": address, "password": "", "host": "127.0.0.1",
        "port": smtp.port, "security": security, "auth_method": method}, actor="admin")
    assert result.saved, [(m.field, str(m.text)) for m in result.validation.errors]
    return box


@pytest.fixture
def client(host: Host) -> FlaskClient:
    return create_app(host, WTF_CSRF_ENABLED=False).test_client()


def consent(client: FlaskClient, start: str, account: str) -> Any:
    """Start, approve at the authorization server as ``account``, come back."""
    started = client.get(start)
    assert started.status_code == 302, started.get_data(as_text=True)
    authorize = started.headers["Location"]
    query = urllib.parse.parse_qs(urllib.parse.urlparse(authorize).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"]
    approved = requests.post(authorize, data={"account": account}, allow_redirects=False,
                             timeout=10)
    assert approved.status_code == 302, approved.text
    back = urllib.parse.urlparse(approved.headers["Location"])
    return client.get(f"{back.path}?{back.query}")


def test_the_users_consent_then_test_mail_then_silent_refresh(
        host: Host, smtp: SmtpTestServer, oauth: OAuthTestServer, client: FlaskClient) -> None:
    box = mailbox(host, smtp, "anna", ANNA, "oauth2")
    client.post("/login", data={"login": "anna", "password": "user-pw"})
    done = consent(client, f"/plugins/oauth/microsoft/start?mailbox={box.id}", ANNA)
    assert done.status_code == 200 and ANNA in done.get_data(as_text=True)
    connection = oauth_of(host).connection(box.id)
    assert connection is not None and connection.account == ANNA
    first = host.run_action(box, "smtp.test", {}, actor="anna")
    assert first.ok, first.explanation
    steps = {s.id: s for s in first.steps}
    assert list(steps)[list(steps).index("ehlo_tls") + 1:][:2] == ["token", "auth"]
    assert steps["token"].detail["source"] == "cached"
    assert steps["auth"].detail["mechanism"] == "XOAUTH2"
    assert len(smtp.messages) == 1 and smtp.messages[0].login == ANNA

    oauth.expire_all()  # the access token runs out: refreshed unnoticed
    with host.transaction() as s:
        s.execute(update(OAuthConnection).values(
            expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)))
    again = host.run_action(box, "smtp.test", {}, actor="anna")
    assert again.ok, (again.failure, again.explanation)
    assert {s.id: s for s in again.steps}["token"].detail["source"] == "refreshed"
    assert oauth.grants["refresh_token"] == 1


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgresql",
                                                             marks=pytest.mark.postgres)])
def test_two_workers_refreshing_at_once_make_one_refresh(
        request: pytest.FixtureRequest, host: Host, smtp: SmtpTestServer,
        oauth: OAuthTestServer, client: FlaskClient, tmp_path: Path, database: str) -> None:
    if database == "postgresql":
        from falcana_core.testing import make_config

        url = request.getfixturevalue("postgres_url")
        config = make_config(tmp_path / "pg", database_url=url, ca_bundle=host.config.ca_bundle,
                             dns_servers=host.config.dns_servers, base_url=BASE)
        host = Host.start(config)
        for section in ("oauth_microsoft",):
            host.save_section(None, section, {"client_id": "falcana-ms",
                                              "client_secret": CLIENT_SECRET,
                                              "tenant": "organizations",
                                              "authority": oauth.url}, actor="admin")
        host.users.add("admin", email="admin@contoso-gmbh.de", role="admin", password="a")
        client = create_app(host, WTF_CSRF_ENABLED=False).test_client()
    box = mailbox(host, smtp, "anna", ANNA, "oauth2")
    client.post("/login", data={"login": "anna", "password": "user-pw"})
    consent(client, f"/plugins/oauth/microsoft/start?mailbox={box.id}", ANNA)
    with host.transaction() as s:
        s.execute(update(OAuthConnection).values(
            expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)))
    results: list[Any] = []
    barrier = threading.Barrier(2)

    def worker() -> None:
        barrier.wait()
        results.append(oauth_of(host).access_token(box))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 2
    assert oauth.grants["refresh_token"] == 1
    assert sorted(r.source for r in results) == ["cached", "refreshed"]
    assert results[0].token == results[1].token


def test_a_revoked_refresh_token_asks_to_renew_the_sign_in_and_pauses_the_queue(
        host: Host, smtp: SmtpTestServer, oauth: OAuthTestServer, client: FlaskClient) -> None:
    from email.message import EmailMessage

    from falcana_core.i18n import language

    box = mailbox(host, smtp, "anna", ANNA, "oauth2")
    client.post("/login", data={"login": "anna", "password": "user-pw"})
    consent(client, f"/plugins/oauth/microsoft/start?mailbox={box.id}", ANNA)
    oauth.revoke_all()
    with host.transaction() as s:
        s.execute(update(OAuthConnection).values(
            expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)))
    result = host.run_action(box, "smtp.test", {}, actor="anna")
    assert result.failed_step == "token"
    assert result.explanation.field == "auth_method"
    connection = oauth_of(host).connection(box.id)
    assert connection is not None and connection.status == "reauth"
    assert "invalid_grant" in connection.reason["detail"]
    assert host.outbox.paused(box.id) is not None
    msg = EmailMessage()
    msg["To"] = "kunde@example.org"
    msg.set_content("x")
    host.outbox.enqueue(box, msg)
    from falcana_core.worker import Worker

    assert Worker(host).run_once() == 0  # the queue waits for a new sign-in
    with language("de"):
        helps = host.section_help(box, "smtp")
        assert any("Anmeldung erneuern" in str(h.body) for h in helps)


def test_a_forged_state_is_refused(host: Host, smtp: SmtpTestServer,
                                   client: FlaskClient) -> None:
    box = mailbox(host, smtp, "anna", ANNA, "oauth2")
    client.post("/login", data={"login": "anna", "password": "user-pw"})
    client.get(f"/plugins/oauth/microsoft/start?mailbox={box.id}")
    forged = client.get(f"{CALLBACK}?code=stolen&state=forged-state")
    assert forged.status_code == 400
    assert oauth_of(host).connection(box.id) is None


def test_a_token_for_another_account_is_refused(host: Host, smtp: SmtpTestServer,
                                                client: FlaskClient) -> None:
    box = mailbox(host, smtp, "anna", ANNA, "oauth2")
    client.post("/login", data={"login": "anna", "password": "user-pw"})
    other = consent(client, f"/plugins/oauth/microsoft/start?mailbox={box.id}",
                    "chef@contoso-gmbh.de")
    assert other.status_code == 422
    assert "chef@contoso-gmbh.de" in other.get_data(as_text=True)
    assert oauth_of(host).connection(box.id) is None


def test_the_admin_sends_a_consent_link_instead_of_consenting(
        host: Host, smtp: SmtpTestServer, client: FlaskClient) -> None:
    box = mailbox(host, smtp, "anna", ANNA, "oauth2")
    client.post("/login", data={"login": "admin", "password": "a"})
    refused = client.get(f"/plugins/oauth/microsoft/start?mailbox={box.id}")
    assert refused.status_code == 403  # never the admin's own account in anna's popup
    link = host.run_action(box, "oauth.microsoft.consent_link", {}, actor="admin")["link"]
    path = urllib.parse.urlparse(link)
    anonymous = create_app(host, WTF_CSRF_ENABLED=False).test_client()
    done = consent(anonymous, f"{path.path}?{path.query}", ANNA)
    assert done.status_code == 200
    assert oauth_of(host).connection(box.id).account == ANNA  # type: ignore[union-attr]
    used = anonymous.get(f"{path.path}?{path.query}")
    assert used.status_code == 400  # valid once


def test_microsoft_app_only_sends_a_test_mail(host: Host, smtp: SmtpTestServer,
                                              oauth: OAuthTestServer) -> None:
    box = mailbox(host, smtp, "", SHARED, "oauth2_app", shared=True)
    result = host.run_action(box, "smtp.test", {}, actor="admin")
    assert result.ok, result.explanation
    assert {s.id: s for s in result.steps}["token"].detail["source"] == "issued"
    assert oauth.grants["client_credentials"] == 1
    assert smtp.messages[0].login == SHARED


def test_google_domain_wide_delegation_sends_a_test_mail(host: Host, smtp: SmtpTestServer,
                                                         oauth: OAuthTestServer) -> None:
    box = mailbox(host, smtp, "max", MAX, "oauth2_delegation")
    result = host.run_action(box, "smtp.test", {}, actor="admin")
    assert result.ok, result.explanation
    assert oauth.grants["urn:ietf:params:oauth:grant-type:jwt-bearer"] == 1
    assert smtp.messages[0].login == MAX


def test_tokens_and_client_secrets_appear_nowhere(
        host: Host, smtp: SmtpTestServer, oauth: OAuthTestServer, client: FlaskClient,
        service_key: dict[str, str], caplog: pytest.LogCaptureFixture,
        falcana_config: Any) -> None:
    import logging

    from falcana_core.rendering import render_section

    box = mailbox(host, smtp, "anna", ANNA, "oauth2")
    with caplog.at_level(logging.DEBUG):
        client.post("/login", data={"login": "anna", "password": "user-pw"})
        consent(client, f"/plugins/oauth/microsoft/start?mailbox={box.id}", ANNA)
        result = host.run_action(box, "smtp.test", {}, actor="anna")
        popup = client.get(f"/mailboxes/{box.id}/popup").get_data(as_text=True)
        settings_page = create_app(host, WTF_CSRF_ENABLED=False).test_client()
        settings_page.post("/login", data={"login": "admin", "password": "a"})
        deployment = settings_page.get("/admin/settings").get_data(as_text=True)
    assert result.ok
    tokens = [t.access_token for t in oauth.tokens.values()] + list(oauth.refresh)
    secrets = [*tokens, CLIENT_SECRET, service_key["private_key"].splitlines()[1]]
    # everything but the test's own servers (the authorization server's request log and
    # grant code, aiosmtpd): authlib's client side stays in
    ours = [r for r in caplog.records
            if not r.name.startswith(("werkzeug", "authlib.oauth2.rfc", "mail.log"))]
    for secret in secrets:
        leaked = [f"{r.name}: {r.getMessage()[:80]}" for r in ours if secret in r.getMessage()]
        assert not leaked, leaked
    places = {"step log": json.dumps(result.as_dict()), "popup": popup,
              "deployment settings": deployment,
              "logs": "\n".join(r.getMessage() for r in ours),
              "section": str(render_section(host, box, host.section("smtp"))),
              "audit": str([e.details for e in host.audit.entries(limit=1000)])}
    for secret in secrets:
        for where, text in places.items():
            assert secret not in text, f"a secret is in the {where}"
    host.close()
    for path in falcana_config.data_dir.iterdir():
        if path.name.startswith("falcana.db"):
            raw = path.read_bytes()
            for secret in secrets:
                assert secret.encode() not in raw, path.name


def test_disconnect_revokes_where_the_provider_allows(host: Host, smtp: SmtpTestServer,
                                                      oauth: OAuthTestServer,
                                                      service_key: dict[str, str]) -> None:
    box = mailbox(host, smtp, "max", MAX, "oauth2_delegation")
    assert host.run_action(box, "smtp.test", {}, actor="admin").ok
    host.run_action(box, "oauth.google.disconnect", {}, actor="admin")
    assert oauth_of(host).connection(box.id) is None
    from falcana_oauth.service import ACCESS_TOKEN, OWNER

    assert host.secrets.get(OWNER, ACCESS_TOKEN, oauth_of(host).ref(box.id)) is None


def test_microsoft_refusing_the_token_gets_its_own_explanation(
        host: Host, smtp: SmtpTestServer, oauth: OAuthTestServer) -> None:
    """The app has no mailbox permission on this address: Microsoft answers 535 5.7.3."""
    box = mailbox(host, smtp, "", "einkauf@contoso-gmbh.de", "oauth2_app", shared=True)
    result = host.run_action(box, "smtp.test", {}, actor="admin")
    assert result.failed_step == "auth"
    assert result.explanation.id == "m365.oauth_refused"
    assert result.explanation.field == "auth_method"


def test_google_consent_then_disconnect_revokes(host: Host, smtp: SmtpTestServer,
                                                oauth: OAuthTestServer) -> None:
    oauth.add_client("falcana-google", "g-secret",
                     redirect_uris=[BASE + "/plugins/oauth/google/callback"],
                     scopes={GOOGLE, "openid", "email"})
    values = {"client_id": "falcana-google", "client_secret": "g-secret"}
    assert host.save_section(None, "oauth_google", {**host.section_values(None, "oauth_google"),
                                                    **values}, actor="admin").saved
    box = mailbox(host, smtp, "max", MAX, "oauth2")
    client = create_app(host, WTF_CSRF_ENABLED=False).test_client()
    client.post("/login", data={"login": "max", "password": "user-pw"})
    assert consent(client, f"/plugins/oauth/google/start?mailbox={box.id}",
                   MAX).status_code == 200
    assert host.run_action(box, "smtp.test", {}, actor="max").ok
    refresh = next(iter(oauth.refresh.values()))
    host.run_action(box, "oauth.google.disconnect", {}, actor="max")
    assert refresh.revoked  # the provider was asked to revoke it
    assert oauth_of(host).connection(box.id) is None


def test_cli_switches_a_mailbox_to_app_only(host: Host, smtp: SmtpTestServer,
                                            falcana_cli: Callable[..., Any]) -> None:
    box = mailbox(host, smtp, "", SHARED, "password", shared=True)
    refused = falcana_cli("mail", "set", SHARED, "--auth-method", "oauth2_delegation")
    assert refused.exit_code == 2 and "Sign-in:" in refused.stderr  # the field by its label
    assert falcana_cli("mail", "set", SHARED, "--auth-method", "oauth2_app").exit_code == 0
    assert oauth_of(host).connection(box.id).mode == "app"  # type: ignore[union-attr]
    import json

    shown = json.loads(falcana_cli("mail", "test", SHARED, "--json").stdout)
    assert shown["ok"] and [s["id"] for s in shown["steps"]].count("token") == 1


# -- trust: who may choose what, where a token may go (docs/security.md) ----------------

def test_a_user_cannot_choose_delegation_or_app_only_for_their_own_mailbox(
        host: Host, smtp: SmtpTestServer, client: FlaskClient) -> None:
    """Delegation logs in as any address of the domain: with it, a user who could also
    type another address would send as the CEO. Only an admin chooses it."""
    box = mailbox(host, smtp, "max", MAX, "password")
    anna = mailbox(host, smtp, "anna", ANNA, "password")
    for who, address, method in (("max", MAX, "oauth2_delegation"),
                                 ("anna", ANNA, "oauth2_app")):
        refused = host.save_section(box if who == "max" else anna, "smtp", {
            "email": address, "username": address, "password": "", "host": "127.0.0.1",
            "port": smtp.port, "security": "tls", "auth_method": method}, actor=who)
        assert not refused.saved
        assert {(m.field, m.code) for m in refused.validation.errors} == {
            ("auth_method", "admin_only")}
    client.post("/login", data={"login": "max", "password": "user-pw"})
    popup = client.get(f"/mailboxes/{box.id}/popup").get_data(as_text=True)
    assert 'value="oauth2_delegation"' not in popup  # not even offered
    form = {"email": MAX, "username": MAX, "password": "", "host": "127.0.0.1",
            "port": str(smtp.port), "security": "tls", "auth_method": "oauth2_delegation"}
    assert client.post(f"/mailboxes/{box.id}/sections/smtp", data=form).status_code == 422
    assert host.section_values(box, "smtp")["auth_method"] == "password"


def test_a_token_goes_only_to_the_servers_the_provider_names(
        host: Host, smtp: SmtpTestServer, oauth: OAuthTestServer) -> None:
    box = mailbox(host, smtp, "max", MAX, "oauth2_delegation")
    assert host.save_section(None, "oauth_google", {"smtp_servers": "smtp.gmail.com"},
                             actor="admin").saved
    result = host.run_action(box, "smtp.test", {}, actor="admin")
    assert result.failed_step == "token"
    assert result.explanation.id == "smtp.oauth.server_not_allowed"
    assert oauth.grants["urn:ietf:params:oauth:grant-type:jwt-bearer"] == 0  # none issued
    assert smtp.messages == []


def test_a_token_never_travels_unencrypted(host: Host, smtp_server: Any,
                                          oauth: OAuthTestServer) -> None:
    plain = smtp_server("normal", extra_auth={
        "XOAUTH2": xoauth2_authenticator(oauth, MS_SMTP, MS_APP, GOOGLE)})
    box = mailbox(host, plain, "max", MAX, "oauth2_delegation", security="normal")
    result = host.run_action(box, "smtp.test", {}, actor="admin")
    assert result.failed_step == "token"
    assert result.explanation.id == "smtp.oauth.tls_required"
    assert plain.messages == []


def test_sign_in_routes_follow_the_self_editing_switch(
        host: Host, smtp: SmtpTestServer, client: FlaskClient) -> None:
    box = mailbox(host, smtp, "anna", ANNA, "oauth2")
    client.post("/login", data={"login": "anna", "password": "user-pw"})
    started = client.get(f"/plugins/oauth/microsoft/start?mailbox={box.id}")
    assert started.status_code == 302
    state = urllib.parse.parse_qs(urllib.parse.urlparse(started.headers["Location"]).query)[
        "state"][0]
    host.set_setting("core", "users_edit_own", False, actor="admin")
    assert client.get(f"/plugins/oauth/microsoft/start?mailbox={box.id}").status_code == 403
    back = client.get(f"/plugins/oauth/microsoft/callback?state={state}&code=x")
    assert back.status_code == 403
    assert oauth_of(host).connection(box.id) is None


def test_a_consent_link_works_once_even_in_two_browsers(
        host: Host, smtp: SmtpTestServer, oauth: OAuthTestServer) -> None:
    box = mailbox(host, smtp, "anna", ANNA, "oauth2")
    link = host.run_action(box, "oauth.microsoft.consent_link", {}, actor="admin")["link"]
    path = urllib.parse.urlparse(link)
    first, second = (create_app(host, WTF_CSRF_ENABLED=False).test_client()
                     for _ in range(2))
    approved = []
    for browser in (first, second):  # both open the link before either comes back
        started = browser.get(f"{path.path}?{path.query}")
        assert started.status_code == 302
        answer = requests.post(started.headers["Location"], data={"account": ANNA},
                               allow_redirects=False, timeout=10)
        approved.append(urllib.parse.urlparse(answer.headers["Location"]))
    done = [b.get(f"{a.path}?{a.query}").status_code for b, a in zip((first, second),
                                                                      approved, strict=True)]
    assert done == [200, 400]


def test_the_copy_in_sent_signs_in_with_xoauth2_too(
        host: Host, smtp: SmtpTestServer, oauth: OAuthTestServer,
        imap_server: Callable[..., Any]) -> None:
    """Delegation signs in to the IMAP server as well (Dovecot checks the token at the
    authorization server, RFC 7662), and the copy lands in Sent."""
    imap = imap_server({MAX: "only-for-the-test-kit"}, introspection_url=f"{oauth.url}/introspect")
    imap.create(MAX, "Sent")
    box = mailbox(host, smtp, "max", MAX, "oauth2_delegation")
    assert host.save_section(box, "sent_copy", {
        "mode": "on", "host": "127.0.0.1", "port": str(imap.ssl_port), "security": "ssl",
        "username": "", "password": "", "folder": ""}, actor="admin").saved
    result = host.run_action(box, "smtp.test", {}, actor="admin")
    assert result.ok, result.explanation
    [part] = result.parts
    assert part.ok, part.explanation
    steps = {s.id: s for s in part.steps}
    assert "imap.token" in steps and steps["imap.login"].detail["mechanism"] == "XOAUTH2"
    assert len(imap.messages(MAX, "Sent")) == 1
    # an IMAP server the client does not list gets no token ("localhost" is not named)
    assert host.save_section(box, "sent_copy", {
        "mode": "on", "host": "localhost", "port": str(imap.ssl_port), "security": "ssl",
        "username": "", "password": "", "folder": ""}, actor="admin").saved
    refused = host.run_action(box, "smtp.test", {}, actor="admin")
    [part] = refused.parts
    assert not part.ok and part.failed_step == "imap.token"


# -- token requests go through the core's gate ------------------------------------------

class RawTls:
    """An HTTPS server on loopback (the test CA's certificate) that answers every request
    with ``answer`` and remembers the request lines and bodies it got."""

    def __init__(self, test_ca: Any, answer: bytes, trickle: bool = False) -> None:
        import socket
        import ssl

        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        test_ca.issue_cert("127.0.0.1").configure_cert(self.context)
        self.answer, self.trickle, self.seen = answer, trickle, []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"https://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        import contextlib
        import time

        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with contextlib.suppress(OSError), self.context.wrap_socket(
                    conn, server_side=True) as tls:
                self.seen.append(tls.recv(65536))
                if not self.trickle:
                    tls.sendall(self.answer)
                    continue
                for byte in self.answer * 1000:  # a byte a second: no read time-out trips
                    tls.sendall(bytes([byte]))
                    time.sleep(1)

    def close(self) -> None:
        self.sock.close()


def app_only_with_authority(host: Host, smtp: SmtpTestServer, authority: str) -> Mailbox:
    assert host.save_section(None, "oauth_microsoft", {
        "client_id": "falcana-ms", "client_secret": CLIENT_SECRET, "tenant": "organizations",
        "authority": authority, "smtp_servers": "127.0.0.1"}, actor="admin").saved
    return mailbox(host, smtp, "", SHARED, "oauth2_app", shared=True)


def test_an_authority_over_plain_http_is_refused_when_saved(host: Host) -> None:
    """The client secret is posted to the authority: never in plaintext."""
    result = host.save_section(None, "oauth_microsoft", {
        "client_id": "falcana-ms", "authority": "http://login.example"}, actor="admin")
    assert not result.saved
    assert [m.field for m in result.validation.errors] == ["authority"]


def test_a_token_request_keeps_to_the_destination_policy(
        host: Host, smtp: SmtpTestServer, oauth: OAuthTestServer) -> None:
    """Loopback not allowed: the token service on loopback is not asked (no secret goes
    out), and the answer says what stopped it, not "try again later"."""
    from falcana_oauth.service import OAuthError

    from falcana_core.net.policy import NetPolicy

    box = mailbox(host, smtp, "", SHARED, "oauth2_app", shared=True)
    object.__setattr__(host.config, "net_policy", dataclasses.replace(
        NetPolicy.parse(""), dns_servers=host.config.dns_servers))
    with pytest.raises(OAuthError) as refused:
        oauth_of(host).access_token(box)
    assert refused.value.code == "oauth.destination_refused"
    assert "127.0.0.1" not in str(refused.value.cause)  # the address stays in the detail
    assert oauth.grants["client_credentials"] == 0


def test_a_redirect_from_the_token_service_is_not_followed(
        host: Host, smtp: SmtpTestServer, test_ca: Any) -> None:
    """A 307 would re-post the client secret to another host: it is never followed."""
    elsewhere = RawTls(test_ca, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    authority = RawTls(test_ca, b"HTTP/1.1 307 Temporary Redirect\r\nLocation: "
                       + elsewhere.url.encode() + b"/token\r\nContent-Length: 0\r\n\r\n")
    box = app_only_with_authority(host, smtp, authority.url)
    result = host.run_action(box, "smtp.test", {}, actor="admin")
    assert not result.ok and result.failed_step == "token"
    assert len(authority.seen) == 1 and b"/token" in authority.seen[0]
    assert elsewhere.seen == []  # the secret went nowhere else
    authority.close()
    elsewhere.close()


def test_a_trickling_token_service_ends_at_the_tests_deadline(
        host: Host, smtp: SmtpTestServer, test_ca: Any) -> None:
    import time

    from falcana_oauth.service import OAuthError

    slow = RawTls(test_ca, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n",
                  trickle=True)
    box = app_only_with_authority(host, smtp, slow.url)
    started = time.monotonic()
    with pytest.raises(OAuthError) as stopped:
        oauth_of(host).access_token(box, deadline=time.monotonic() + 3)
    assert stopped.value.code == "oauth.timeout"
    assert time.monotonic() - started < 3 + 5
    # the test e-mail, whose token step keeps to the test's deadline
    object.__setattr__(host.config, "test_deadline", 3.0)
    started = time.monotonic()
    result = host.run_action(box, "smtp.test", {}, actor="admin")
    assert not result.ok and time.monotonic() - started < 3 + 5
    slow.close()


# -- mailbox health: what the sign-in tells ahead, and a consent revoked -------------------

def health_on(host: Host) -> None:
    object.__setattr__(host.config, "health_every", 86400.0)  # the deployment default


def test_a_token_revoked_at_the_authorization_server_breaks_the_mailbox_at_its_verify(
        host: Host, smtp: SmtpTestServer, oauth: OAuthTestServer, client: FlaskClient) -> None:
    health_on(host)
    box = mailbox(host, smtp, "anna", ANNA, "oauth2")
    client.post("/login", data={"login": "anna", "password": "user-pw"})
    consent(client, f"/plugins/oauth/microsoft/start?mailbox={box.id}", ANNA)
    report = host.health.verify(box)
    assert report is not None and report.state.value == "ok"
    oauth.revoke_all()  # the user changed their password at Microsoft, say
    with host.transaction() as s:
        s.execute(update(OAuthConnection).values(
            expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)))
    report = host.health.verify(box)
    assert report is not None and report.state.value == "broken"
    assert report.reason is not None and report.reason["step"] == "token"
    assert report.reason["explanation"]["field"] == "auth_method"
    assert smtp.messages == []  # a verify never sends
    assert host.outbox.paused(box.id) is not None
    assert CLIENT_SECRET not in json.dumps(report.as_dict("de"))


def save_expiry(host: Host, day: str) -> Any:
    return host.save_section(None, "oauth_microsoft", {"client_secret_expires": day},
                             actor="admin")


def test_a_client_secret_expiring_in_ten_days_gives_every_signed_in_mailbox_a_warning(
        host: Host, smtp: SmtpTestServer, oauth: OAuthTestServer) -> None:
    from falcana_core.i18n import language

    health_on(host)
    box = mailbox(host, smtp, "", SHARED, "oauth2_app", shared=True)
    today = dt.date.today()
    assert save_expiry(host, (today + dt.timedelta(days=30)).isoformat()).saved
    report = host.health.verify(box)
    assert report is not None and report.state.value == "ok"  # 30 days: not yet
    assert save_expiry(host, (today + dt.timedelta(days=10)).isoformat()).saved
    report = host.health.verify(box)
    assert report is not None and report.state.value == "warning"
    shown = report.as_dict("de")["notices"]
    assert [n["id"] for n in shown] == ["oauth.client_secret_expires"]
    assert shown[0]["days_left"] == 10 and shown[0]["field"] == "client_secret"
    assert "Systemeinstellungen" in shown[0]["fix"]
    with language("de"):
        refused = save_expiry(host, "31.12.2026")
        assert not refused.saved
        error = refused.validation.errors[0]
        assert error.field == "client_secret_expires" and "JJJJ-MM-TT" in str(error.text)


def test_a_sign_in_unused_for_80_days_warns_and_its_next_use_clears_it(
        host: Host, smtp: SmtpTestServer, oauth: OAuthTestServer, client: FlaskClient) -> None:
    health_on(host)
    box = mailbox(host, smtp, "anna", ANNA, "oauth2")
    client.post("/login", data={"login": "anna", "password": "user-pw"})
    consent(client, f"/plugins/oauth/microsoft/start?mailbox={box.id}", ANNA)
    assert (first := host.health.verify(box)) is not None and first.state.value == "ok"
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=82)
    with host.transaction() as s:
        s.execute(update(OAuthConnection).values(connected_at=long_ago, refreshed_at=None))
    report = host.health.report(box)
    assert report.state.value == "warning"
    notice = report.as_dict("en")["notices"][0]
    assert notice["id"] == "oauth.refresh_idle" and notice["days_left"] == 8
    assert notice["action"] == "oauth.microsoft.sign_in"
    with host.transaction() as s:  # the access token ran out long ago: a verify refreshes
        s.execute(update(OAuthConnection).values(expires_at=long_ago))
    report = host.health.verify(box)
    assert report is not None and report.state.value == "ok" and report.notices == []
    assert oauth.grants["refresh_token"] == 1 and smtp.messages == []
