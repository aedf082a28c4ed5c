"""Every client that connects out, against every hostile behaviour (docs/security.md, "One
gate"): each run ends within its deadline + 5 s, fails rather than succeeds, grows the
process by less than 200 MB while a server floods it, and shows no foreign banner and
none of the flood. Clients declare themselves (hook ``register_outgoing_clients``); a
declared client without a row here fails the suite.

The rows drive each client the way its users do: the test e-mail (``run_action``, the
popup as the mailbox's own user, ``falcana mail test``), Einstellungen ermitteln
(``discover``, the popup's button, ``falcana mail detect``), the worker (``Worker.run``;
for the clients it runs also stopped a second in, as SIGTERM stops it, and as a
``falcana worker`` process sent SIGTERM while a silent or trickling server holds it, with
a deadline far off: it must end within 5 s of the stop), a token request
(``access_token``: client credentials, delegation, the code exchange, a refresh) and a
mail API's request (``PolicyHttp.post``, the one HTTP client of Graph and the Gmail API)."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
import resource
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

import pytest
import trustme
from falcana_smtp_settings.testing.smtpd import SmtpTestServer

from falcana_core.host import Host
from falcana_core.i18n import text_in
from falcana_core.testing.net import HOSTILE_BEHAVIOURS, HostileServer, closed_port

DEADLINE = 3.0
ADDRESS = "anna@firma.example"
PASSWORD = "Postfach-Pw-1"
IMAP_PW = "IMAP-Pw-1"
USER_PW = "anna-login-1"


@dataclasses.dataclass
class Env:
    host: Host
    smtp: Callable[..., SmtpTestServer]
    dns: Any
    name: str  # a domain of this row's own: discovery caches per domain
    #: "web": the popup's button, as the mailbox's own user; "cli"; "worker": stopped as
    #: SIGTERM stops it, a second into its work; "sigterm": ``falcana worker`` as a process
    #: of its own, sent SIGTERM a second after it reached the server
    mode: str = "api"
    cli: Callable[..., Any] | None = None
    fixture: Callable[[str], Any] | None = None  # another fixture, for the rows that need it
    server: HostileServer | None = None  # the row's hostile server


@dataclasses.dataclass
class Outcome:
    ok: bool
    shown: str  # everything the user is shown, as JSON
    stopped_in: float | None = None  # the worker: seconds from stop (SIGTERM) to its end


def _smtp_mailbox(env: Env, port: int, security: str) -> Any:
    user = env.host.users.add("anna", email=ADDRESS, password=USER_PW)
    box = env.host.mailboxes.personal(user)
    assert env.host.save_section(box, "smtp", {
        "email": ADDRESS, "username": ADDRESS, "password": PASSWORD, "host": "127.0.0.1",
        "port": str(port), "security": security}, actor="admin").saved
    return box


def _web_page(env: Env, box: Any, action: str, form: dict[str, str] | None = None) -> str:
    """A button of the popup, as the mailbox's own user (not an admin)."""
    from falcana_core.web import create_app

    client = create_app(env.host, WTF_CSRF_ENABLED=False).test_client()
    assert client.post("/login", data={"login": "anna", "password": USER_PW}
                       ).status_code == 302
    return client.post(f"/mailboxes/{box.id}/actions/{action}",
                       data=form or {}).get_data(as_text=True)


def _web_test(env: Env, box: Any) -> str:
    """The popup's Test-E-Mail senden."""
    return _web_page(env, box, "smtp.test")


def _cli_test(env: Env) -> tuple[bool, str]:
    assert env.cli is not None
    shown = env.cli("mail", "test", "anna")
    return shown.exit_code == 0, shown.stdout + shown.stderr


def smtp_test(env: Env, port: int, security: str) -> Outcome:
    box = _smtp_mailbox(env, port, security)
    if env.mode == "web":
        page = _web_test(env, box)
        return Outcome("Test bestanden" in page, page)
    if env.mode == "cli":
        return Outcome(*_cli_test(env))
    result = env.host.run_action(box, "smtp.test", {}, actor="admin")
    return Outcome(result.ok, json.dumps(result.as_dict("en")))


def _message() -> EmailMessage:
    msg = EmailMessage()
    msg["To"] = "kunde@example.org"
    msg["Subject"] = "Angebot"
    msg.set_content("Hallo\n")
    return msg


def _worker_process(env: Env) -> float:
    """``falcana worker --once`` with the host's own configuration, sent SIGTERM a second
    after it reached the hostile server; how long it took to end."""
    assert env.server is not None
    environ = {**os.environ, **{name: str(value) for name, value in
                                env.host.config.masked().items() if value != ""}}
    del environ["FALCANA_SECRET_KEY"]  # the key file in the data directory
    proc = subprocess.Popen([sys.executable, "-m", "falcana_core", "worker", "--once",
                             "--quiet"], env=environ, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        reached = time.monotonic() + 20
        while not env.server.connections and proc.poll() is None \
                and time.monotonic() < reached:
            time.sleep(0.05)
        time.sleep(1.0)
        stopping = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert env.server.connections, f"the worker never reached the server: {err!r}"
    return time.monotonic() - stopping


def _work(env: Env) -> float | None:
    """The worker, as ``falcana worker`` runs it: to the end of its pass, or (mode
    "worker") stopped a second in by what SIGTERM calls, or (mode "sigterm") a worker
    process sent SIGTERM; then how long stopping took."""
    from falcana_core.worker import Worker

    if env.mode == "sigterm":
        return _worker_process(env)
    worker = Worker(env.host)
    if env.mode != "worker":
        worker.run(once=True)
        return None
    thread = threading.Thread(target=worker.run, kwargs={"once": True}, daemon=True)
    thread.start()
    thread.join(1.0)
    stopping = time.monotonic()
    worker.stop()
    thread.join(30)
    assert not thread.is_alive(), "the worker did not stop"
    return time.monotonic() - stopping


def _sent(env: Env, stopped_in: float | None) -> Outcome:
    [row] = env.host.outbox.list(limit=5)
    return Outcome(row.status == "sent", json.dumps(row.last_error, default=str), stopped_in)


def smtp_send(env: Env, port: int, security: str) -> Outcome:
    box = _smtp_mailbox(env, port, security)
    env.host.outbox.enqueue(box, _message())
    return _sent(env, _work(env))


def imap_copy(env: Env, port: int, security: str) -> Outcome:
    smtp = env.smtp("normal", users={ADDRESS: PASSWORD})
    box = _smtp_mailbox(env, smtp.port, "normal")
    assert env.host.save_section(box, "sent_copy", {
        "mode": "on", "host": "127.0.0.1", "port": str(port),
        "security": security, "username": "", "password": IMAP_PW,
        "folder": ""}, actor="admin").saved
    if env.mode == "web":
        page = _web_test(env, box)
        return Outcome("Abgelegt in" in page, page)
    if env.mode == "cli":
        return Outcome(*_cli_test(env))
    if env.mode in ("worker", "sigterm"):
        env.host.outbox.enqueue(box, _message())
        stopped_in = _work(env)
        [row] = env.host.outbox.list(limit=5)
        step = row.after_delivery("sent_copy")
        return Outcome(step is not None and step.status == "done",
                       json.dumps(step.error if step else None, default=str), stopped_in)
    result = env.host.run_action(box, "smtp.test", {}, actor="admin")
    [part] = result.parts
    return Outcome(part.ok, json.dumps(result.as_dict("en")))


def imap_bounces(env: Env, port: int, security: str) -> Outcome:
    """Unzustellbare E-Mails: the inbox look, from the Python API and ``falcana bounces
    look`` (a cron job's)."""
    from falcana_bounces.service import bounces

    smtp = env.smtp("normal", users={ADDRESS: PASSWORD})
    box = _smtp_mailbox(env, smtp.port, "normal")
    assert env.host.save_section(box, "sent_copy", {
        "mode": "off", "host": "127.0.0.1", "port": str(port), "security": security,
        "username": "", "password": IMAP_PW, "folder": ""}, actor="admin").saved
    if env.mode == "cli":
        assert env.cli is not None
        shown = env.cli("bounces", "look", "anna", "--json")
        return Outcome(shown.exit_code == 0, shown.stdout + shown.stderr)
    look = bounces(env.host).look(box)
    return Outcome(look.ok, json.dumps(look.as_dict(), default=str))


def _discovery(env: Env, *, https_port: int, probe_ports: tuple[tuple[int, str], ...],
               found_by: str) -> Outcome:
    """Einstellungen ermitteln for an address of the row's domain: from the Python API, the
    popup's button (as the mailbox's own user) or ``falcana mail detect``; the button and
    the command ask the ports a deployment sets, pointed here at the row's servers."""
    from falcana_discovery.engine import Discoverer, discoverer

    address = f"x@{env.name}"
    if env.mode == "api":
        result = discoverer(env.host).discover(address, budget=DEADLINE, use_cache=False,
                                               https_port=https_port, probe_ports=probe_ports)
        shown = json.dumps([text_in(t.detail, "en") for t in result.tried]
                           + [dict(f.values) for f in result.found], default=str)
        return Outcome(any(f.source == found_by for f in result.found), shown)
    assert env.fixture is not None
    monkeypatch = env.fixture("monkeypatch")
    monkeypatch.setattr(Discoverer, "https_port", https_port)
    monkeypatch.setattr(Discoverer, "probe_ports", probe_ports)
    monkeypatch.setenv("FALCANA_DISCOVERY_BUDGET", str(DEADLINE))
    if env.mode == "cli":
        assert env.cli is not None
        shown = env.cli("mail", "detect", address, "--json")
        return Outcome(shown.exit_code == 0, shown.stdout + shown.stderr)
    box = _smtp_mailbox(env, closed_port(), "normal")
    page = _web_page(env, box, "discovery.detect", {"email": address})
    return Outcome("data-fill=" in page, page)


def discovery_autoconfig(env: Env, port: int, security: str) -> Outcome:
    env.dns.set_address(f"autoconfig.{env.name}", ["127.0.0.1"])
    return _discovery(env, https_port=port, probe_ports=(), found_by="autoconfig")


def discovery_probe(env: Env, port: int, security: str) -> Outcome:
    env.dns.set_address(f"smtp.{env.name}", ["127.0.0.1"])
    return _discovery(env, https_port=closed_port(), found_by="probe",
                      probe_ports=((port, "ssl" if security == "ssl" else "tls"),))


def _token(env: Env, box: Any) -> Outcome:
    """The mailbox's token: asked right away, or by the worker as it opens the connection."""
    from falcana_oauth import oauth
    from falcana_oauth.service import OAuthError

    if env.mode in ("worker", "sigterm"):
        env.host.outbox.enqueue(box, _message())
        return _sent(env, _work(env))
    try:
        oauth(env.host).access_token(box, deadline=time.monotonic() + DEADLINE)
    except OAuthError as refused:
        return Outcome(False, json.dumps(refused.as_dict("en"), default=str))
    return Outcome(True, "")


def oauth_token(env: Env, port: int, security: str) -> Outcome:
    env.dns.set_mx("contoso-gmbh.de", ["contoso-gmbh-de.mail.protection.outlook.com"])
    assert env.host.save_section(None, "oauth_microsoft", {
        "client_id": "falcana-ms", "client_secret": "ms-client-secret-4711",
        "tenant": "organizations", "authority": f"https://127.0.0.1:{port}",
        "smtp_servers": "127.0.0.1"}, actor="admin").saved
    box = env.host.mailboxes.create_shared("vertrieb@contoso-gmbh.de", "Vertrieb",
                                           actor="admin")
    # the worker asks for the token when the SMTP server asks it to sign in
    smtp_port = env.smtp("starttls").port if env.mode != "api" else closed_port()
    assert env.host.save_section(box, "smtp", {
        "email": "vertrieb@contoso-gmbh.de", "username": "vertrieb@contoso-gmbh.de",
        "password": "", "host": "127.0.0.1", "port": smtp_port, "security": "tls",
        "auth_method": "oauth2_app"}, actor="admin").saved
    return _token(env, box)


def _delegated_mailbox(env: Env) -> Any:
    """Lisa's mailbox, sending through the Gmail API by domain-wide delegation."""
    user = env.host.users.add("lisa", email="lisa@agentur-nord.de")
    box = env.host.mailboxes.personal(user)
    assert env.host.save_section(box, "smtp", {
        "email": "lisa@agentur-nord.de", "transport": "gmail_api",
        "auth_method": "oauth2_delegation"}, actor="admin").saved
    return box


def oauth_token_delegation(env: Env, port: int, security: str) -> Outcome:
    """Google's domain-wide delegation: the service account's signed request (JWT bearer,
    RFC 7523) to a token endpoint that is the hostile server."""
    assert env.fixture is not None
    send = "https://www.googleapis.com/auth/gmail.send"
    key = env.fixture("oauth_server").add_service_account(
        "falcana-sa@project.iam.example", scopes={send}, accounts={"lisa@agentur-nord.de"})
    key["token_uri"] = f"https://127.0.0.1:{port}/token"
    env.dns.set_mx("agentur-nord.de", ["aspmx.l.google.com"])
    assert env.host.save_section(None, "oauth_google", {
        "client_id": "falcana-google", "client_secret": "google-secret",
        "service_account_key": json.dumps(key), "token_uri": key["token_uri"],
        "smtp_servers": "127.0.0.1"}, actor="admin").saved
    box = _delegated_mailbox(env)
    return _token(env, box)


def _consent(env: Env, token_uri: str) -> Any:
    """Max's consent for the Gmail API at the test authorization server, the code exchanged
    at ``token_uri``; his mailbox."""
    import urllib.parse

    import requests
    from falcana_oauth import oauth

    assert env.fixture is not None
    authority = env.fixture("oauth_server")
    callback = "http://localhost/plugins/oauth/google/callback"
    send = "https://www.googleapis.com/auth/gmail.send"
    authority.add_client("falcana-google", "google-secret", redirect_uris=[callback],
                         scopes={send, "openid", "email"})
    env.dns.set_mx("agentur-nord.de", ["aspmx.l.google.com"])
    _google_client(env, token_uri)
    user = env.host.users.add("max", email="max@agentur-nord.de")
    box = env.host.mailboxes.personal(user)
    assert env.host.save_section(box, "smtp", {
        "email": "max@agentur-nord.de", "transport": "gmail_api", "auth_method": "oauth2"},
        actor="admin").saved
    service = oauth(env.host)
    provider = service.providers()["google"]
    url, _state, verifier = service.authorization_url(provider, box, callback)
    approved = requests.post(url, data={"account": box.address}, allow_redirects=False,
                             timeout=10, verify=str(env.host.config.ca_bundle))
    code = urllib.parse.parse_qs(urllib.parse.urlparse(approved.headers["Location"]).query)
    service.complete(provider, box, code=code["code"][0], verifier=verifier,
                     redirect_uri=callback, actor=box.address)
    return box


def _google_client(env: Env, token_uri: str) -> None:
    assert env.fixture is not None
    assert env.host.save_section(None, "oauth_google", {
        "client_id": "falcana-google", "client_secret": "google-secret",
        "auth_uri": f"{env.fixture('oauth_server').url}/auth", "token_uri": token_uri,
        "smtp_servers": "127.0.0.1"}, actor="admin").saved


def oauth_token_user(env: Env, port: int, security: str) -> Outcome:
    """The user's sign-in: consent at the test authorization server, the code exchanged
    at a token endpoint that is the hostile server (Google's endpoints are separate)."""
    from falcana_oauth.service import OAuthError

    try:
        _consent(env, f"https://127.0.0.1:{port}/token")
    except OAuthError as refused:
        return Outcome(False, json.dumps(refused.as_dict("en"), default=str))
    return Outcome(True, "")


def oauth_token_refresh(env: Env, port: int, security: str) -> Outcome:
    """A consented mailbox whose access token ran out: the refresh token goes to a token
    endpoint that is now the hostile server (right away, or as the worker sends)."""
    import datetime as dt

    from falcana_oauth.models import OAuthConnection
    from sqlalchemy import update

    assert env.fixture is not None
    box = _consent(env, f"{env.fixture('oauth_server').url}/token")
    _google_client(env, f"https://127.0.0.1:{port}/token")
    with env.host.transaction() as s:
        s.execute(update(OAuthConnection).where(OAuthConnection.mailbox_id == box.id).values(
            expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)))
    return _token(env, box)


def mail_api_send(env: Env, port: int, security: str) -> Outcome:
    from falcana_core.net.http import HttpFailure, PolicyHttp

    config = env.host.config
    http = PolicyHttp(config.net_policy, ca_bundle=config.ca_bundle,
                      timeout=config.net_timeout)
    try:
        answer = http.post(f"https://127.0.0.1:{port}/v1.0/users/x/sendMail", data=b"{}",
                           headers={"Content-Type": "application/json"},
                           deadline=time.monotonic() + DEADLINE)
    except HttpFailure as failed:
        return Outcome(False, json.dumps({"kind": str(failed.kind), "detail": str(failed)}))
    finally:
        http.close()
    # the mail APIs take only a 2xx for sent (a redirect is handed back, not followed)
    return Outcome(200 <= answer.status < 300, str(answer.status))


@dataclasses.dataclass(frozen=True)
class Client:
    drive: Callable[[Env, int, str], Outcome]
    speaks: str  # "smtp", "imap" (STARTTLS possible) or "https" (TLS first, redirects)


def _api_send(env: Env, box: Any) -> Outcome:
    """A message sent through the mailbox's mail API: right away, or by the worker."""
    from falcana_core.transports import DeliveryError

    if env.mode in ("worker", "sigterm"):
        env.host.outbox.enqueue(box, _message())
        return _sent(env, _work(env))
    try:
        env.host.send(env.host.mailboxes.get(box.id), _message())
    except DeliveryError as failed:
        return Outcome(False, json.dumps({"steps": [s.detail for s in failed.steps],
                                          "error": str(failed)}, default=str))
    return Outcome(True, "")


def graph_send(env: Env, port: int, security: str) -> Outcome:
    """App-only Microsoft Graph: a real token from the test authorization server, the
    hostile server as the Graph endpoint."""
    assert env.fixture is not None
    authority = env.fixture("oauth_server")
    authority.add_client("falcana-ms", "ms-client-secret-4711", redirect_uris=[],
                         app_accounts={"vertrieb@contoso-gmbh.de"},
                         scopes={"https://graph.microsoft.com/.default"})
    env.dns.set_mx("contoso-gmbh.de", ["contoso-gmbh-de.mail.protection.outlook.com"])
    assert env.host.save_section(None, "oauth_microsoft", {
        "client_id": "falcana-ms", "client_secret": "ms-client-secret-4711",
        "tenant": "organizations", "authority": authority.url, "smtp_servers": "127.0.0.1",
        "graph_url": f"https://127.0.0.1:{port}"}, actor="admin").saved
    box = env.host.mailboxes.create_shared("vertrieb@contoso-gmbh.de", "Vertrieb",
                                           actor="admin")
    assert env.host.save_section(box, "smtp", {
        "email": "vertrieb@contoso-gmbh.de", "transport": "graph",
        "auth_method": "oauth2_app"}, actor="admin").saved
    return _api_send(env, box)


def gmail_api_send(env: Env, port: int, security: str) -> Outcome:
    """The Gmail API by domain-wide delegation: a real token for a service account from
    the test authorization server, the hostile server as the Gmail API."""
    assert env.fixture is not None
    authority = env.fixture("oauth_server")
    send = "https://www.googleapis.com/auth/gmail.send"
    key = authority.add_service_account("falcana-sa@project.iam.example", scopes={send},
                                        accounts={"lisa@agentur-nord.de"})
    authority.add_client("falcana-google", "google-secret", redirect_uris=[], scopes={send})
    env.dns.set_mx("agentur-nord.de", ["aspmx.l.google.com"])
    assert env.host.save_section(None, "oauth_google", {
        "client_id": "falcana-google", "client_secret": "google-secret",
        "service_account_key": json.dumps(key), "auth_uri": f"{authority.url}/auth",
        "token_uri": f"{authority.url}/token", "revoke_uri": f"{authority.url}/revoke",
        "smtp_servers": "127.0.0.1", "gmail_url": f"https://127.0.0.1:{port}"},
        actor="admin").saved
    box = _delegated_mailbox(env)
    return _api_send(env, box)


def graph_bounces(env: Env, port: int, security: str) -> Outcome:
    """Unzustellbare E-Mails through Microsoft Graph (app-only, Mail.Read): the delta
    query to the hostile server as the Graph endpoint."""
    assert env.fixture is not None
    authority = env.fixture("oauth_server")
    authority.add_client("falcana-ms", "ms-client-secret-4711", redirect_uris=[],
                         app_accounts={"vertrieb@contoso-gmbh.de"},
                         scopes={"https://graph.microsoft.com/.default"})
    assert env.host.save_section(None, "oauth_microsoft", {
        "client_id": "falcana-ms", "client_secret": "ms-client-secret-4711",
        "tenant": "organizations", "authority": authority.url, "smtp_servers": "127.0.0.1",
        "graph_url": f"https://127.0.0.1:{port}", "read_reports": True},
        actor="admin").saved
    env.dns.set_mx("contoso-gmbh.de", ["contoso-gmbh-de.mail.protection.outlook.com"])
    box = env.host.mailboxes.create_shared("vertrieb@contoso-gmbh.de", "Vertrieb",
                                           actor="admin")
    assert env.host.save_section(box, "smtp", {
        "email": "vertrieb@contoso-gmbh.de", "transport": "graph",
        "auth_method": "oauth2_app"}, actor="admin").saved
    return _look(env, box, "vertrieb@contoso-gmbh.de")


def _look(env: Env, box: Any, ref: str) -> Outcome:
    """An inbox look from the Python API, or a cron job's ``falcana bounces look``."""
    from falcana_bounces.service import bounces

    if env.mode == "cli":
        assert env.cli is not None
        shown = env.cli("bounces", "look", ref, "--json")
        return Outcome(shown.exit_code == 0, shown.stdout + shown.stderr)
    look = bounces(env.host).look(box)
    return Outcome(look.ok, json.dumps(look.as_dict(), default=str))


def gmail_api_bounces(env: Env, port: int, security: str) -> Outcome:
    """Unzustellbare E-Mails through the Gmail API (domain-wide delegation,
    gmail.readonly): the history and message requests to the hostile server."""
    assert env.fixture is not None
    authority = env.fixture("oauth_server")
    scopes = {"https://www.googleapis.com/auth/gmail.send",
              "https://www.googleapis.com/auth/gmail.readonly"}
    key = authority.add_service_account("falcana-sa@project.iam.example", scopes=scopes,
                                        accounts={"lisa@agentur-nord.de"})
    authority.add_client("falcana-google", "google-secret", redirect_uris=[], scopes=scopes)
    env.dns.set_mx("agentur-nord.de", ["aspmx.l.google.com"])
    assert env.host.save_section(None, "oauth_google", {
        "client_id": "falcana-google", "client_secret": "google-secret",
        "service_account_key": json.dumps(key), "auth_uri": f"{authority.url}/auth",
        "token_uri": f"{authority.url}/token", "revoke_uri": f"{authority.url}/revoke",
        "smtp_servers": "127.0.0.1", "gmail_url": f"https://127.0.0.1:{port}",
        "read_reports": True}, actor="admin").saved
    return _look(env, _delegated_mailbox(env), "lisa")


#: each declared client (after a "/": another way it connects): how to drive it, and what
#: it speaks
CLIENTS: dict[str, Client] = {
    "smtp.test": Client(smtp_test, "smtp"),
    "smtp.send": Client(smtp_send, "smtp"),
    "imap.copy": Client(imap_copy, "imap"),
    "imap.bounces": Client(imap_bounces, "imap"),
    "discovery.autoconfig": Client(discovery_autoconfig, "https"),
    "discovery.probe": Client(discovery_probe, "smtp"),
    "oauth.token": Client(oauth_token, "https"),  # app-only (client credentials)
    "oauth.token/delegation": Client(oauth_token_delegation, "https"),
    "oauth.token/user": Client(oauth_token_user, "https"),  # the code exchange
    "oauth.token/refresh": Client(oauth_token_refresh, "https"),  # a consent's refresh
    "mail_api.send": Client(mail_api_send, "https"),
    "graph.send": Client(graph_send, "https"),
    "gmail_api.send": Client(gmail_api_send, "https"),
    "graph.bounces": Client(graph_bounces, "https"),
    "gmail_api.bounces": Client(gmail_api_bounces, "https"),
}


def applies(behaviour: str, speaks: str) -> bool:
    """Redirects are HTTP's; a stripped STARTTLS is a protocol's that upgrades."""
    if behaviour.startswith("redirect_"):
        return speaks == "https"
    if behaviour == "tls_upgrade_stripped":
        return speaks != "https"
    return True


def talk(speaks: str) -> Any:
    from falcana_sent_copy.testing import stripped as imap
    from falcana_smtp_settings.testing import stripped as smtp

    return {"smtp": smtp.TALK, "imap": imap.TALK}[speaks]


def test_every_declared_outgoing_client_has_a_row(falcana_host: Host) -> None:
    declared = falcana_host.hook.register_outgoing_clients()
    assert set(declared) == {name.split("/")[0] for name in CLIENTS}, \
        "declared clients and the suite's rows differ"


@pytest.fixture
def hostile(loopback_server: Callable[..., Any]) -> Callable[..., HostileServer]:
    return functools.partial(loopback_server, HostileServer)


def _server_tls(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(ctx)
    return ctx


#: the clients a person starts from the popup (as the mailbox's own user) and the
#: command line, and those the worker runs, beside the Python API every client has
WORKER = ("worker", "sigterm")
MODES = {"smtp.test": ("web", "cli"), "imap.copy": ("web", "cli", *WORKER),
         "imap.bounces": ("cli",), "graph.bounces": ("cli",), "gmail_api.bounces": ("cli",),
         "discovery.autoconfig": ("web", "cli"), "discovery.probe": ("web", "cli"),
         "smtp.send": WORKER, "oauth.token": WORKER, "oauth.token/delegation": WORKER,
         "oauth.token/refresh": WORKER, "graph.send": WORKER, "gmail_api.send": WORKER}
#: a worker process is sent SIGTERM while a server holds it (the others end by themselves)
HOLDING = ("silent", "trickle")
ROWS = [(client, mode, behaviour) for client in sorted(CLIENTS)
        for mode in ("api", *MODES.get(client, ()))
        for behaviour in HOSTILE_BEHAVIOURS if applies(behaviour, CLIENTS[client].speaks)
        and (mode != "sigterm" or behaviour in HOLDING)]
#: what a client sends when it logs in or hands a message over
_SECRETS_SENT = re.compile(rb"^(AUTH|MAIL FROM|\S+ (LOGIN|AUTHENTICATE))\b", re.I | re.M)


@pytest.mark.parametrize(("client", "mode", "behaviour"), ROWS)
def test_a_hostile_server_cannot_hold_flood_or_fool_a_client(
        falcana_host: Host, smtp_server: Callable[..., SmtpTestServer], dns_server: Any,
        test_ca: trustme.CA, hostile: Callable[..., HostileServer],
        falcana_cli: Callable[..., Any], request: pytest.FixtureRequest, client: str,
        mode: str, behaviour: str) -> None:
    # only the deadline may cut; in the worker, stopping it must (the deadline is later)
    deadline = 30.0 if mode in WORKER else DEADLINE
    for name, value in (("test_deadline", deadline), ("send_deadline", deadline),
                        ("net_timeout", 60.0)):
        object.__setattr__(falcana_host.config, name, value)
    if mode == "web":  # the user's own test: the hostile server's port is a user's
        object.__setattr__(falcana_host.config, "net_policy", dataclasses.replace(
            falcana_host.config.net_policy, user_ports=((1, 65535),)))
    speaks = CLIENTS[client].speaks
    domain = f"{behaviour}-{client}.example".replace("_", "-").replace("/", "-").replace(
        ".", "-", 1)
    names = ("127.0.0.1", f"autoconfig.{domain}", f"smtp.{domain}")
    tls_first = speaks == "https" or behaviour in ("unknown_ca", "wrong_name")
    security = "ssl" if tls_first else "tls" if behaviour == "tls_upgrade_stripped" else "normal"
    ca = trustme.CA(organization_name="nobody's CA") if behaviour == "unknown_ca" else test_ca
    canary = hostile("silent", tls=_server_tls(test_ca, *names))  # where redirects point
    server = hostile(
        behaviour, tls=(_server_tls(ca, "elsewhere.example") if behaviour == "wrong_name"
                        else _server_tls(ca, *names) if tls_first else None),
        redirect_to=(f"http://127.0.0.1:{canary.port}/" if behaviour == "redirect_http"
                     else f"https://127.0.0.1:{canary.port}/.well-known/x"),
        talk=talk(speaks) if behaviour == "tls_upgrade_stripped" else None)
    env = Env(falcana_host, smtp_server, dns_server, domain, mode, falcana_cli,
              request.getfixturevalue, server)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.monotonic()
    outcome = CLIENTS[client].drive(env, server.port, security)
    took = time.monotonic() - started
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before
    assert took < deadline + 5, f"{client} held {took:.1f} s by a {behaviour} server"
    if outcome.stopped_in is not None:
        assert outcome.stopped_in < 5, \
            f"the worker took {outcome.stopped_in:.1f} s to stop, held by {behaviour}"
    assert grown < 200, f"{client} grew by {grown:.0f} MB against a {behaviour} server"
    assert not outcome.ok, f"{client} took a {behaviour} server for a good one"
    if behaviour != "closed":  # the client did meet the server: nothing stopped it before
        assert server.connections > 0, f"{client} never reached the {behaviour} server"
    assert canary.connections == 0, f"{client} followed a redirect to {server.redirect_to}"
    if speaks != "https":  # over HTTPS the saved server may have its secret; in plain: none
        assert not _SECRETS_SENT.search(bytes(server.received)), \
            f"{client} logged in or sent mail without the TLS it was told to use"
        assert PASSWORD.encode() not in server.received
        assert IMAP_PW.encode() not in server.received
    assert "OpenSSH" not in outcome.shown
    assert "x" * 64 not in outcome.shown
