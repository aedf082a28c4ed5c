"""Reports read through the mail API of a mailbox that sends through Microsoft Graph or the
Gmail API and has no IMAP settings, where the admin chose it: against the local Graph
(delta query, $value) and Gmail API (history, metadata, raw), with real tokens from the
local authorization server. Only what is new is read, with GET only; a report is tied to
the message sent through the API; a missing permission says what to grant; a link that
points away from the API's address is refused before the token goes there."""

from __future__ import annotations

import email.utils
import json
from collections.abc import Iterator
from typing import Any

import pytest
from falcana_bounces.duty import InboxLook
from falcana_bounces.service import bounces
from falcana_bounces.testing import delivery_report, send_through_outbox
from falcana_oauth.testing.authorization import OAuthTestServer
from falcana_providers_gmail.testing import GmailApiTestServer
from falcana_providers_m365.testing import GraphTestServer

from falcana_core.host import Host
from falcana_core.i18n import language
from falcana_core.models import Mailbox, utcnow

SHARED = "vertrieb@contoso-gmbh.de"
LISA = "lisa@agentur-nord.de"
GMAIL_SEND = "https://www.googleapis.com/auth/gmail.send"
GMAIL_READ = "https://www.googleapis.com/auth/gmail.readonly"


def dsn(sender: str, recipient: str, message_id: str) -> bytes:
    return delivery_report(sender, recipient, message_id)


def ordinary(sender: str) -> bytes:
    return (f"From: Klaus Kunde <kunde@example.org>\r\nTo: {sender}\r\nSubject: Re: Angebot"
            f"\r\nDate: {email.utils.formatdate()}\r\n\r\nPasst so, danke.\r\n").encode()


def send(host: Host, box: Mailbox, to: str) -> str:
    return send_through_outbox(host, box, to)


def recipient_status(host: Host, message_id: str, recipient: str) -> str:
    row = next(m for m in host.outbox.list(limit=100) if m.message_id == message_id)
    return str(row.recipients[recipient]["status"])


# -- Microsoft Graph ---------------------------------------------------------------------

@pytest.fixture
def graph(oauth_server: OAuthTestServer, server_ssl_context: Any
          ) -> Iterator[GraphTestServer]:
    server = GraphTestServer(oauth_server, server_ssl_context).start()
    assert isinstance(server, GraphTestServer)
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def providers_mx(dns_server: Any) -> None:
    """The domains' MX records name Microsoft 365 and Google (how they are recognised)."""
    dns_server.set_mx("contoso-gmbh.de", ["contoso-gmbh-de.mail.protection.outlook.com"])
    dns_server.set_mx("agentur-nord.de", ["aspmx.l.google.com"])


def graph_mailbox(host: Host, oauth_server: OAuthTestServer, graph: GraphTestServer, *,
                  read_reports: bool = True) -> Mailbox:
    """A shared mailbox sending through Graph with app-only access."""
    oauth_server.add_client("falcana-ms", "ms-secret", redirect_uris=[],
                            app_accounts={SHARED},
                            scopes={"https://graph.microsoft.com/.default"})
    assert host.save_section(None, "oauth_microsoft", {
        "client_id": "falcana-ms", "client_secret": "ms-secret", "tenant": "organizations",
        "authority": oauth_server.url, "smtp_servers": "127.0.0.1", "graph_url": graph.url,
        "read_reports": read_reports}, actor="admin").saved
    box = host.mailboxes.create_shared(SHARED, "Vertrieb", actor="admin")
    assert host.save_section(box, "smtp", {"email": SHARED, "transport": "graph",
                                           "auth_method": "oauth2_app"}, actor="admin").saved
    return box


def test_graph_reads_only_what_is_new_ties_the_bounce_and_changes_nothing(
        falcana_host: Host, oauth_server: OAuthTestServer, graph: GraphTestServer) -> None:
    host = falcana_host
    graph.app_permissions.add("Mail.Read")  # the admin granted it, with admin consent
    box = graph_mailbox(host, oauth_server, graph)
    assert [b.address for b in bounces(host).readable()] == [SHARED]
    first = send(host, box, "kunde1@example.org")
    assert graph.received[0].account == SHARED  # sent through Graph
    assert InboxLook(host).due(utcnow(), 10) == [box.id]  # the worker's look is due
    graph.deliver(SHARED, ordinary(SHARED))
    graph.deliver(SHARED, dsn(SHARED, "kunde1@example.org", first))

    look = bounces(host).look(box)
    assert look.ok, look.failure
    assert look.looked_at == 2
    assert [(o.recipient, o.kind.value, o.matched_by) for o in look.outcomes] == [
        ("kunde1@example.org", "hard", "message_id")]
    assert recipient_status(host, first, "kunde1@example.org") == "bounced_hard"
    assert set(graph.methods) == {"GET"}  # nothing in the mailbox changed
    assert [s.id for s in look.steps][:2] == ["bounces.token", "bounces.list"]

    again = bounces(host).look(box)  # the delta link: nothing new, nothing read again
    assert again.ok and again.looked_at == 0 and again.outcomes == []
    second = send(host, box, "kunde2@example.org")
    graph.deliver(SHARED, dsn(SHARED, "kunde2@example.org", second))
    later = bounces(host).look(box)
    assert [(o.recipient, o.kind.value) for o in later.outcomes] == [
        ("kunde2@example.org", "hard")]
    assert bounces(host).counts(box.id) == {"hard": 2}


def test_graph_many_messages_are_read_page_by_page(
        falcana_host: Host, oauth_server: OAuthTestServer, graph: GraphTestServer) -> None:
    host = falcana_host
    graph.app_permissions.add("Mail.Read")
    box = graph_mailbox(host, oauth_server, graph)
    sent = send(host, box, "kunde1@example.org")
    for _ in range(230):
        graph.deliver(SHARED, ordinary(SHARED))
    graph.deliver(SHARED, dsn(SHARED, "kunde1@example.org", sent))
    look = bounces(host).look(box)
    assert look.ok, look.failure
    assert look.looked_at == 231
    assert [s.id for s in look.steps].count("bounces.list") == 3  # pages of 100
    assert [o.recipient for o in look.outcomes] == ["kunde1@example.org"]


def test_graph_without_mail_read_says_what_to_grant(
        falcana_host: Host, oauth_server: OAuthTestServer, graph: GraphTestServer) -> None:
    box = graph_mailbox(falcana_host, oauth_server, graph)  # Mail.Send only
    with language("de"):
        look = bounces(falcana_host).look(box)
    assert look.failure is not None and look.failure["step"] == "bounces.list"
    explanation = look.failure["explanation"]
    assert "403" in explanation["cause"] and "Mail.Read" in explanation["fix"]
    assert "Kopie in Gesendet" in explanation["fix"]  # German, with the other way
    assert "ms-secret" not in json.dumps(look.as_dict())


def test_graph_a_link_to_another_address_is_refused_and_not_kept(
        falcana_host: Host, oauth_server: OAuthTestServer, graph: GraphTestServer) -> None:
    graph.app_permissions.add("Mail.Read")
    box = graph_mailbox(falcana_host, oauth_server, graph)
    graph.deliver(SHARED, ordinary(SHARED))
    graph.link_base = "https://graph.attacker.example"
    look = bounces(falcana_host).look(box)
    assert look.failure is not None
    assert "graph.attacker.example" in look.failure["explanation"]["cause"]
    graph.link_base = None
    again = bounces(falcana_host).look(box)  # starts again at its own address
    assert again.ok and again.looked_at == 1


def test_graph_not_chosen_by_the_admin_is_not_read_and_says_how(
        falcana_host: Host, oauth_server: OAuthTestServer, graph: GraphTestServer) -> None:
    box = graph_mailbox(falcana_host, oauth_server, graph, read_reports=False)
    assert bounces(falcana_host).readable() == []
    with language("de"):
        look = bounces(falcana_host).look(box)
    assert look.failure is not None and look.failure["step"] == "settings"
    assert "OAuth2" in look.failure["explanation"]["fix"]
    assert graph.methods == []


# -- the Gmail API ---------------------------------------------------------------------

@pytest.fixture
def gmail(oauth_server: OAuthTestServer, server_ssl_context: Any
          ) -> Iterator[GmailApiTestServer]:
    server = GmailApiTestServer(oauth_server, server_ssl_context).start()
    assert isinstance(server, GmailApiTestServer)
    yield server
    server.stop()


def gmail_mailbox(host: Host, oauth_server: OAuthTestServer, gmail: GmailApiTestServer,
                  *, authorised: set[str]) -> Mailbox:
    """Lisa's Workspace mailbox, sending through the Gmail API by domain-wide delegation;
    the service account may use ``authorised`` (the Admin console's list)."""
    key = oauth_server.add_service_account("falcana-sa@project.iam.example",
                                           scopes=authorised, accounts={LISA})
    oauth_server.add_client("falcana-google", "google-secret", redirect_uris=[],
                            scopes=authorised)
    assert host.save_section(None, "oauth_google", {
        "client_id": "falcana-google", "client_secret": "google-secret",
        "service_account_key": json.dumps(key), "auth_uri": f"{oauth_server.url}/auth",
        "token_uri": f"{oauth_server.url}/token", "revoke_uri": f"{oauth_server.url}/revoke",
        "smtp_servers": "127.0.0.1", "gmail_url": gmail.url, "read_reports": True},
        actor="admin").saved
    user = host.users.add("lisa", email=LISA)
    box = host.mailboxes.personal(user)
    assert host.save_section(box, "smtp", {"email": LISA, "transport": "gmail_api",
                                           "auth_method": "oauth2_delegation"},
                             actor="admin").saved
    return box


def test_gmail_reads_the_history_since_the_last_look_and_ties_the_bounce(
        falcana_host: Host, oauth_server: OAuthTestServer, gmail: GmailApiTestServer) -> None:
    host = falcana_host
    box = gmail_mailbox(host, oauth_server, gmail, authorised={GMAIL_SEND, GMAIL_READ})
    first = send(host, box, "kunde1@example.org")
    gmail.deliver(LISA, ordinary(LISA))
    gmail.deliver(LISA, dsn(LISA, "kunde1@example.org", first))

    look = bounces(host).look(box)
    assert look.ok, look.failure
    assert look.looked_at == 2
    assert [(o.recipient, o.kind.value, o.matched_by) for o in look.outcomes] == [
        ("kunde1@example.org", "hard", "message_id")]
    assert recipient_status(host, first, "kunde1@example.org") == "bounced_hard"
    assert set(gmail.methods) == {"GET"}

    assert bounces(host).look(box).looked_at == 0  # the history id: nothing new
    second = send(host, box, "kunde2@example.org")
    gmail.deliver(LISA, dsn(LISA, "kunde2@example.org", second))
    later = bounces(host).look(box)
    assert [(o.recipient, o.kind.value) for o in later.outcomes] == [
        ("kunde2@example.org", "hard")]

    # a week without a look: the history is gone, the look goes back as the first did
    gmail.history_floor = gmail.history_id + 1
    third = send(host, box, "kunde3@example.org")
    gmail.deliver(LISA, dsn(LISA, "kunde3@example.org", third))
    gone = bounces(host).look(box)
    assert gone.ok, gone.failure
    assert [o.recipient for o in gone.outcomes] == ["kunde3@example.org"]  # once each


def test_gmail_without_gmail_readonly_says_what_to_authorise(
        falcana_host: Host, oauth_server: OAuthTestServer, gmail: GmailApiTestServer
) -> None:
    box = gmail_mailbox(falcana_host, oauth_server, gmail, authorised={GMAIL_SEND})
    with language("de"):
        look = bounces(falcana_host).look(box)
    assert look.failure is not None and look.failure["step"] == "bounces.list"
    explanation = look.failure["explanation"]
    assert "403" in explanation["cause"] and "gmail.readonly" in explanation["fix"]
    assert "Kopie in Gesendet" in explanation["fix"]
    assert gmail.methods == ["GET"]  # the first request was refused; nothing was read


def test_the_admin_ticks_reading_in_the_system_settings(
        falcana_host: Host, oauth_server: OAuthTestServer, graph: GraphTestServer) -> None:
    """The OAuth2 client's section shows the choice as a checkbox, in German, with what it
    needs; ticking it saves it and adds Mail.Read to what the sign-in asks for."""
    from falcana_oauth.service import oauth

    from falcana_core.web import create_app

    graph_mailbox(falcana_host, oauth_server, graph, read_reports=False)
    falcana_host.users.add("admin", email="admin@contoso-gmbh.de", role="admin",
                           password="a-pw")
    app = create_app(falcana_host, WTF_CSRF_ENABLED=False)
    with app.test_client() as client:
        client.post("/login", data={"login": "admin", "password": "a-pw"})
        page = client.get("/admin/settings", headers={"Accept-Language": "de"}).get_data(
            as_text=True)
        assert 'type="checkbox"' in page and 'name="read_reports"' in page
        assert "Unzustellbare E-Mails über Microsoft Graph lesen" in page
        assert "Mail.Read" in page and "ms-secret" not in page

        def asked() -> tuple[str, bool]:
            api = oauth(falcana_host).providers()["microsoft"].api("graph")
            assert api is not None
            return api.scope, api.reads_inbox

        assert asked() == ("https://graph.microsoft.com/Mail.Send offline_access openid "
                           "email", False)
        form = {"_section": "oauth_microsoft", "client_id": "falcana-ms",
                "tenant": "organizations", "authority": oauth_server.url,
                "smtp_servers": "127.0.0.1", "graph_url": graph.url}
        saved = client.post("/admin/settings", data={**form, "read_reports": "1"})
        assert saved.status_code == 200
        assert asked() == ("https://graph.microsoft.com/Mail.Send "
                           "https://graph.microsoft.com/Mail.Read offline_access openid email",
                           True)
        page = client.get("/admin/settings").get_data(as_text=True)
        assert 'name="read_reports" value="1" checked' in page or \
            ('name="read_reports"' in page and "checked" in page)
        client.post("/admin/settings", data=form)  # unticked
        assert asked()[1] is False


def test_a_refused_token_is_the_look_s_failure_and_no_secret_shows(
        falcana_host: Host, oauth_server: OAuthTestServer, graph: GraphTestServer) -> None:
    graph.app_permissions.add("Mail.Read")
    box = graph_mailbox(falcana_host, oauth_server, graph)
    assert falcana_host.save_section(None, "oauth_microsoft", {
        "client_secret": "a-wrong-secret-4711"}, actor="admin").saved
    look = bounces(falcana_host).look(box)
    assert look.failure is not None and look.failure["step"] == "bounces.token"
    assert look.failure["explanation"]["cause"] and look.failure["explanation"]["fix"]
    shown = json.dumps(look.as_dict())
    assert "a-wrong-secret-4711" not in shown and "ms-secret" not in shown
    assert graph.methods == []  # no token: the API was never asked
