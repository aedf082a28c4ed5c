"""``falcana mail migrate m365``: 50 Microsoft 365 mailboxes on passwords moved to app-only
access against the local authorization server and an SMTP server that takes XOAUTH2, with
a dry run that changes and sends nothing, a switch of only those that passed, and a
rollback that gives back exactly what was there."""

from __future__ import annotations

import json
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

import pytest
from falcana_oauth import oauth as oauth_of
from falcana_oauth.testing.authorization import OAuthTestServer, xoauth2_authenticator
from falcana_smtp_settings.testing.smtpd import SmtpTestServer

from falcana_core.host import Host
from falcana_core.models import Mailbox
from falcana_core.worker import Worker

MS_SMTP = "https://outlook.office.com/SMTP.Send"
MS_APP = "https://outlook.office365.com/.default"
CLIENT_SECRET = "ms-client-secret-4711"
ADDRESSES = [f"user{i:02d}@contoso-gmbh.de" for i in range(50)]
NO_RIGHT = "praktikant@contoso-gmbh.de"  # the app was not given this mailbox
ELSEWHERE = "max@firma.example"  # another provider: not Microsoft's to migrate


@pytest.fixture
def host(falcana_host: Host, oauth_server: OAuthTestServer, dns_server: Any) -> Host:
    dns_server.set_mx("contoso-gmbh.de", ["contoso-gmbh-de.mail.protection.outlook.com"])
    oauth_server.add_client("falcana-ms", CLIENT_SECRET, scopes={MS_SMTP, MS_APP},
                            app_accounts=set(ADDRESSES))
    assert falcana_host.save_section(None, "oauth_microsoft", {
        "client_id": "falcana-ms", "client_secret": CLIENT_SECRET, "tenant": "organizations",
        "authority": oauth_server.url, "smtp_servers": "127.0.0.1"}, actor="admin").saved
    return falcana_host


@pytest.fixture
def smtp(smtp_server: Callable[..., SmtpTestServer],
         oauth_server: OAuthTestServer) -> SmtpTestServer:
    users = {a: f"pw-{a}" for a in [*ADDRESSES, NO_RIGHT, ELSEWHERE]}
    return smtp_server("starttls", users=users, extra_auth={
        "XOAUTH2": xoauth2_authenticator(oauth_server, MS_SMTP, MS_APP)})


@pytest.fixture
def fleet(host: Host, smtp: SmtpTestServer) -> dict[str, Mailbox]:
    boxes = {}
    for address in [*ADDRESSES, NO_RIGHT, ELSEWHERE]:
        user = host.users.add(address.split("@")[0], email=address, first_name="Erika",
                              last_name="Muster")
        box = host.mailboxes.personal(user)
        assert host.save_section(box, "smtp", {
            "email": address, "username": address, "password": f"pw-{address}",
            "host": "127.0.0.1", "port": smtp.port, "security": "tls"}, actor="admin").saved
        boxes[address] = box
    return boxes


def settings_of(host: Host, boxes: dict[str, Mailbox]) -> dict[str, Any]:
    section = host.section("smtp")
    return {a: (host.section_values(b, "smtp"),
                section.is_set(host.context(b, "admin"), "password"))
            for a, b in boxes.items()}


def send_one_each(host: Host, boxes: dict[str, Mailbox]) -> None:
    for address in ADDRESSES:
        msg = EmailMessage()
        msg["To"] = "kunde@example.org"
        msg["Subject"] = f"Angebot von {address}"
        msg.set_content("Guten Tag.\n")
        host.outbox.enqueue(boxes[address], msg)
    # the authorization server answers from this process: fewer threads at once, and
    # time enough, so that a busy machine does not turn a slow token into a pause
    object.__setattr__(host.config, "net_timeout", 30.0)
    Worker(host, concurrency=4).run_once()
    unsent = [(m.id, m.status, m.last_error, (q := host.outbox.queue_state(m.mailbox_id))
               and q.reason) for m in host.outbox.list(limit=500) if m.status != "sent"]
    assert unsent == []


def test_fifty_mailboxes_move_to_app_only_and_back(
        host: Host, smtp: SmtpTestServer, fleet: dict[str, Mailbox],
        falcana_cli: Callable[..., Any]) -> None:
    before = settings_of(host, fleet)

    tried = falcana_cli("mail", "migrate", "m365", "--dry-run", "--json")
    shown = json.loads(tried.stdout)
    assert tried.exit_code == 1  # one mailbox would fail: said, not hidden
    by_address = {m["address"]: m for m in shown["mailboxes"]}
    assert set(by_address) == {*ADDRESSES, NO_RIGHT}  # not the other provider's
    assert all(by_address[a]["passed"] for a in ADDRESSES)
    assert by_address[NO_RIGHT]["passed"] is False
    assert by_address[NO_RIGHT]["failure"]["step"] == "auth"
    assert all(m["to"] == "oauth2_app" and not m["switched"] for m in shown["mailboxes"])
    assert settings_of(host, fleet) == before  # the dry run changed nothing
    assert smtp.messages == [] and all(oauth_of(host).connection(b.id) is None
                                       for b in fleet.values())

    switched = falcana_cli("mail", "migrate", "m365", "--json")
    moved = {m["address"]: m for m in json.loads(switched.stdout)["mailboxes"]}
    assert switched.exit_code == 1
    assert [a for a, m in moved.items() if m["switched"]] == ADDRESSES
    assert host.section_values(fleet[NO_RIGHT], "smtp")["auth_method"] == "password"
    for address in ADDRESSES:  # no password would work now: they must use the token
        smtp.users[address] = "changed-at-the-provider"
    send_one_each(host, fleet)
    assert sorted(m.login for m in smtp.messages) == ADDRESSES
    assert all(m.message["From"].addresses[0].addr_spec == m.login for m in smtp.messages)

    for address in ADDRESSES:
        smtp.users[address] = f"pw-{address}"
    back = falcana_cli("mail", "migrate", "m365", "--rollback")
    assert back.exit_code == 0, back.output
    assert "50 of 50" in back.stdout
    assert settings_of(host, fleet) == before  # exactly as before
    assert all(oauth_of(host).connection(fleet[a].id) is None for a in ADDRESSES)
    del smtp.messages[:]
    send_one_each(host, fleet)  # with their passwords again
    assert sorted(m.login for m in smtp.messages) == ADDRESSES
    assert falcana_cli("mail", "migrate", "m365", "--rollback", "--json").exit_code == 0
    assert CLIENT_SECRET not in back.output + tried.stdout + switched.stdout


def test_without_an_app_only_client_it_says_what_to_set_up(
        falcana_host: Host, falcana_cli: Callable[..., Any]) -> None:
    refused = falcana_cli("mail", "migrate", "m365", "--dry-run")
    assert refused.exit_code == 2 and "OAuth2" in refused.stderr
    both = falcana_cli("mail", "migrate", "m365", "--dry-run", "--rollback")
    assert both.exit_code == 2


GOOGLE = "https://mail.google.com/"
WORKSPACE = [f"team{i}@agentur-nord.de" for i in range(3)]
CONSUMER = "privat@gmail.com"  # no delegation for a consumer account


def test_workspace_app_passwords_move_to_domain_wide_delegation_and_back(
        falcana_host: Host, oauth_server: OAuthTestServer, dns_server: Any,
        smtp_server: Callable[..., SmtpTestServer], falcana_cli: Callable[..., Any]) -> None:
    host = falcana_host
    dns_server.set_mx("agentur-nord.de", ["aspmx.l.google.com"])
    key = oauth_server.add_service_account("falcana-sa@project.iam.example",
                                           scopes={GOOGLE}, accounts=set(WORKSPACE))
    assert host.save_section(None, "oauth_google", {
        "client_id": "", "service_account_key": json.dumps(key),
        "auth_uri": f"{oauth_server.url}/auth", "token_uri": f"{oauth_server.url}/token",
        "smtp_servers": "127.0.0.1"}, actor="admin").saved
    smtp = smtp_server("starttls", users={a: "abcdefghijklmnop" for a in
                                          [*WORKSPACE, CONSUMER]},
                       extra_auth={"XOAUTH2": xoauth2_authenticator(oauth_server, GOOGLE)})
    boxes = {}
    for address in [*WORKSPACE, CONSUMER]:
        user = host.users.add(address.split("@")[0], email=address)
        boxes[address] = box = host.mailboxes.personal(user)
        assert host.save_section(box, "smtp", {
            "email": address, "username": address, "password": "abcd efgh ijkl mnop",
            "host": "127.0.0.1", "port": smtp.port, "security": "tls"}, actor="admin").saved
    before = settings_of(host, boxes)
    switched = falcana_cli("mail", "migrate", "gmail", "--json")
    moved = {m["address"]: m for m in json.loads(switched.stdout)["mailboxes"]}
    assert switched.exit_code == 1  # the consumer account cannot move without its user
    assert moved[CONSUMER]["to"] is None and not moved[CONSUMER]["switched"]
    assert all(moved[a]["switched"] and moved[a]["to"] == "oauth2_delegation"
               for a in WORKSPACE)
    text = falcana_cli("mail", "migrate", "gmail", "--dry-run", lang="de")
    assert "Einwilligungslink" in text.stdout  # the consumer account, in German
    back = falcana_cli("mail", "migrate", "gmail", "--rollback")
    assert back.exit_code == 0 and "3 of 3" in back.stdout
    assert settings_of(host, boxes) == before
