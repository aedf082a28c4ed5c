"""Reports found in the sender's own inbox, against the test kit's real Dovecot, after real
sends through aiosmtpd: tied to the message by its Message-ID, an auto-reply by
In-Reply-To, a report without one by recipient and time; never to another mailbox's
message, never a forged one; nothing in the inbox read (\\Seen), moved or deleted; what
is not new is not read again; a huge report skipped; the host told by its hooks."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from falcana_bounces.service import Outcome, bounces
from falcana_bounces.testing import absence_notice, delivery_report, send_through_outbox
from falcana_sent_copy.testing.imapd import DovecotTestServer
from falcana_smtp_settings.testing.smtpd import SmtpTestServer

from falcana_core import hookimpl
from falcana_core.host import Host
from falcana_core.models import Mailbox
from falcana_core.worker import Worker

ANNA = "anna@firma.example"
BEN = "ben@firma.example"
PASSWORD = "Postfach-Pw-1"
Register = Callable[..., Any]


class Told:
    def __init__(self) -> None:
        self.bounced: list[tuple[int, str, str]] = []
        self.replied: list[tuple[int, str]] = []

    @hookimpl
    def message_bounced(self, mailbox: Mailbox, outcome: Outcome) -> None:
        self.bounced.append((mailbox.id, outcome.recipient, outcome.kind.value))

    @hookimpl
    def message_auto_replied(self, mailbox: Mailbox, outcome: Outcome) -> None:
        self.replied.append((mailbox.id, outcome.recipient))


@pytest.fixture
def told(register_plugin: Register) -> Iterator[Told]:
    plugin = Told()
    with register_plugin(plugin, "crm"):
        yield plugin


@pytest.fixture
def servers(smtp_server: Callable[..., SmtpTestServer],
            imap_server: Callable[..., DovecotTestServer]
            ) -> tuple[SmtpTestServer, DovecotTestServer]:
    users = {ANNA: PASSWORD, BEN: PASSWORD}
    return smtp_server("normal", users=users), imap_server(users)


def mailbox(host: Host, address: str, smtp: SmtpTestServer,
            imap: DovecotTestServer) -> Mailbox:
    user = host.users.add(address.split("@")[0], email=address)
    box = host.mailboxes.personal(user)
    assert host.save_section(box, "smtp", {
        "email": address, "username": address, "password": PASSWORD, "host": "127.0.0.1",
        "port": str(smtp.port), "security": "normal"}, actor="admin").saved
    assert host.save_section(box, "sent_copy", {
        "mode": "off", "host": "127.0.0.1", "port": str(imap.ssl_port), "security": "ssl",
        "username": "", "password": "", "use_smtp_password": True, "folder": ""},
        actor="admin").saved
    return box


def send(host: Host, box: Mailbox, to: str) -> str:
    return send_through_outbox(host, box, to)


def dsn(recipient: str, status: str, diagnostic: str, message_id: str | None,
        action: str = "failed", sender: str = "MAILER-DAEMON@mx.example.org") -> bytes:
    return delivery_report(ANNA, recipient, message_id, status=status,
                           diagnostic=diagnostic, action=action, reporter=sender)


def out_of_office(sender: str, in_reply_to: str) -> bytes:
    return absence_notice(sender, ANNA, in_reply_to)


def status_of(host: Host, message_id: str, recipient: str) -> dict[str, Any]:
    from sqlalchemy import select

    from falcana_core.models import OutboxMessage

    with host.sessions() as s:
        row = s.scalar(select(OutboxMessage).where(OutboxMessage.message_id == message_id))
    assert row is not None
    found: dict[str, Any] = row.recipients[recipient]
    return found


def test_reports_in_the_inbox_are_tied_to_the_messages_this_mailbox_sent(
        falcana_host: Host, servers: tuple[SmtpTestServer, DovecotTestServer],
        told: Told) -> None:
    host = falcana_host
    smtp, imap = servers
    anna, ben = mailbox(host, ANNA, smtp, imap), mailbox(host, BEN, smtp, imap)
    first = send(host, anna, "kunde1@example.org")
    second = send(host, anna, "kunde2@example.org")
    third = send(host, anna, "kunde3@example.org")
    bens = send(host, ben, "kunde4@example.org")
    customer = (b"From: kunde9@example.org\r\nTo: anna@firma.example\r\nSubject: Re: Angebot"
                b"\r\n\r\nDanke, passt.\r\n")
    for content in (
            customer,  # ordinary mail: never fetched, never marked read
            dsn("kunde1@example.org", "5.1.1", "550 5.1.1 <kunde1@example.org>: Recipient "
                "address rejected: User unknown in local recipient table", first),
            out_of_office("kunde2@example.org", second),
            dsn("kunde3@example.org", "4.2.2", "452 4.2.2 Mailbox full", None),  # no id
            dsn("kunde4@example.org", "5.1.1", "550 5.1.1 User unknown", bens),  # Ben's
            dsn("kunde1@example.org", "5.1.1", "550 5.1.1 User unknown",
                "<forged-1@stranger.example>", sender="postmaster@stranger.example")):
        imap.append(ANNA, "INBOX", content)
    before = imap.messages(ANNA, "INBOX")

    look = bounces(host).look(anna)
    assert look.ok, look.failure
    assert look.looked_at == 6
    tied = {(o.recipient, o.kind.value, o.matched_by) for o in look.outcomes}
    assert ("kunde1@example.org", "hard", "message_id") in tied
    assert ("kunde2@example.org", "auto_reply", "references") in tied
    assert ("kunde3@example.org", "soft", "recipient") in tied
    assert ("kunde4@example.org", "hard", None) in tied  # Ben's message: not tied here
    assert ("kunde1@example.org", "hard", None) in tied  # the forged one: tied to nothing
    assert status_of(host, first, "kunde1@example.org")["status"] == "bounced_hard"
    assert status_of(host, first, "kunde1@example.org")["status_code"] == "5.1.1"
    assert status_of(host, second, "kunde2@example.org")["status"] == "auto_reply"
    assert status_of(host, third, "kunde3@example.org")["status"] == "bounced_soft"
    assert status_of(host, bens, "kunde4@example.org")["status"] == "accepted"  # untouched
    assert (anna.id, "kunde1@example.org", "hard") in told.bounced
    assert told.replied == [(anna.id, "kunde2@example.org")]
    # read-only: the inbox is as it was, nothing marked read, nothing moved
    assert imap.messages(ANNA, "INBOX") == before
    assert all(b"\\Seen" not in flags for flags, _content in before)

    again = bounces(host).look(anna)  # nothing new: nothing read again
    assert again.ok and again.looked_at == 0 and again.outcomes == []
    imap.append(ANNA, "INBOX", dsn("kunde2@example.org", "5.1.1", "550 5.1.1 unknown",
                                   second))
    later = bounces(host).look(anna)
    assert [(o.recipient, o.kind.value) for o in later.outcomes] == [
        ("kunde2@example.org", "hard")]
    shown = status_of(host, second, "kunde2@example.org")
    assert shown["status"] == "bounced_hard"  # the auto-reply is in its history
    assert [h["status"] for h in shown["history"]] == ["accepted", "auto_reply"]
    assert bounces(host).counts(anna.id) == {"hard": 2, "auto_reply": 1, "soft": 1}


def test_a_huge_report_is_skipped_unread_and_the_password_is_nowhere(
        falcana_host: Host, servers: tuple[SmtpTestServer, DovecotTestServer],
        falcana_cli: Callable[..., Any]) -> None:
    host = falcana_host
    smtp, imap = servers
    anna = mailbox(host, ANNA, smtp, imap)
    sent = send(host, anna, "kunde1@example.org")
    huge = dsn("kunde1@example.org", "5.1.1", "550 5.1.1 User unknown", sent).replace(
        b"--B--", b"--B\r\nContent-Type: text/plain\r\n\r\n" + b"x" * (50 * 1024 * 1024)
        + b"\r\n--B--")
    imap.append(ANNA, "INBOX", huge)
    imap.append(ANNA, "INBOX", b"From: MAILER-DAEMON@mx.example.org\r\nSubject: Undelivered"
                b"\r\nContent-Type: multipart/report; boundary=\"B\"\r\n\r\n--B\r\nbroken")
    result = falcana_cli("bounces", "look", "anna", "--json")
    assert result.exit_code == 0, result.output
    [look] = json.loads(result.stdout)["looks"]
    assert look["too_large"] == 1 and look["outcomes"] == []
    assert PASSWORD not in result.output
    assert status_of(host, sent, "kunde1@example.org")["status"] == "accepted"
    listed = falcana_cli("bounces", "list", "--json")
    assert json.loads(listed.stdout)["reports"] == []


def test_the_worker_looks_at_each_inbox_that_sent_at_its_cadence_one_worker_a_time(
        falcana_host: Host, servers: tuple[SmtpTestServer, DovecotTestServer],
        told: Told) -> None:
    from falcana_bounces.duty import InboxLook

    from falcana_core.testing import Clock

    host = falcana_host
    object.__setattr__(host.config, "worker_duties", True)  # the deployment default
    smtp, imap = servers
    anna = mailbox(host, ANNA, smtp, imap)
    mailbox(host, BEN, smtp, imap)  # sends nothing: its inbox is never read
    clock = Clock()
    worker = Worker(host, clock=clock)
    sent = send(host, anna, "kunde1@example.org")  # that pass looked once, found nothing
    imap.append(ANNA, "INBOX", dsn("kunde1@example.org", "5.1.1", "550 5.1.1 User unknown",
                                   sent))
    worker.run_once()
    assert worker.duties["bounces.look"] == 0  # not due again for 5 minutes
    clock.advance(301)
    worker.run_once()
    assert worker.duties["bounces.look"] == 1  # Anna's only
    assert status_of(host, sent, "kunde1@example.org")["status"] == "bounced_hard"
    # the host application hears of it within the one poll interval
    assert told.bounced == [(anna.id, "kunde1@example.org", "hard")]
    later = clock() + dt.timedelta(minutes=10)
    duty = InboxLook(host)
    assert duty.due(later, 10) == [anna.id]
    assert duty.claim(anna.id, later, 60) is True
    assert duty.claim(anna.id, later, 60) is False  # another worker has it
    object.__setattr__(host.config, "worker_duties", False)
    clock.advance(3600)
    off = Worker(host, clock=clock)
    off.run_once()
    assert off.duties["bounces.look"] == 0  # FALCANA_WORKER_DUTIES=off


def test_a_mailbox_without_inbox_access_is_told_what_to_enter(
        falcana_host: Host, falcana_cli: Callable[..., Any]) -> None:
    user = falcana_host.users.add("anna", email=ANNA)
    falcana_host.mailboxes.personal(user)
    result = falcana_cli("bounces", "look", "anna", lang="de")
    assert result.exit_code == 1
    assert "keine IMAP-Einstellungen" in result.output and "Kopie in Gesendet" in result.output


def test_outbox_list_bounced_shows_the_messages_whose_report_came_back(
        falcana_host: Host, servers: tuple[SmtpTestServer, DovecotTestServer],
        falcana_cli: Callable[..., Any]) -> None:
    """`falcana outbox list --bounced`: the message with a hard bounce and its recipient
    with the server's text; not the one answered by an auto-reply, not the one without a
    report."""
    host = falcana_host
    smtp, imap = servers
    anna = mailbox(host, ANNA, smtp, imap)
    bounced = send(host, anna, "kunde1@example.org")
    replied = send(host, anna, "kunde2@example.org")
    send(host, anna, "kunde3@example.org")
    imap.append(ANNA, "INBOX", dsn("kunde1@example.org", "5.1.1", "550 5.1.1 User unknown",
                                   bounced))
    imap.append(ANNA, "INBOX", out_of_office("kunde2@example.org", replied))
    assert bounces(host).look(anna).ok

    listed = json.loads(falcana_cli("outbox", "list", "--bounced", "--json").stdout)
    assert [m["message_id"] for m in listed["messages"]] == [bounced]
    assert listed["messages"][0]["recipients"]["kunde1@example.org"]["status"] == \
        "bounced_hard"
    text = falcana_cli("outbox", "list", "--bounced").stdout
    assert "kunde1@example.org: bounced_hard 5.1.1 550 5.1.1 User unknown" in text
    assert "kunde2@example.org" not in text and "kunde3@example.org" not in text
    assert len(json.loads(falcana_cli("outbox", "list", "--json").stdout)["messages"]) == 3


def test_a_loop_of_auto_replies_is_one_answer_to_the_host(
        falcana_host: Host, servers: tuple[SmtpTestServer, DovecotTestServer],
        told: Told) -> None:
    """The recipient's absence notice and the user's own answer each other: the first
    answers our message, the next 30 answer the user's own notices. One auto-reply is
    recorded and told; the rest are about other messages and change nothing."""
    host = falcana_host
    smtp, imap = servers
    anna = mailbox(host, ANNA, smtp, imap)
    sent = send(host, anna, "kunde2@example.org")
    imap.append(ANNA, "INBOX", out_of_office("kunde2@example.org", sent))
    for n in range(30):
        imap.append(ANNA, "INBOX", out_of_office("kunde2@example.org",
                                                 f"<ooo-{n}@firma.example>"))
    look = bounces(host).look(anna)
    assert look.ok and look.looked_at == 31
    assert [(o.recipient, o.kind.value, o.matched_by) for o in look.outcomes] == [
        ("kunde2@example.org", "auto_reply", "references")]
    assert told.replied == [(anna.id, "kunde2@example.org")]
    shown = status_of(host, sent, "kunde2@example.org")
    assert shown["status"] == "auto_reply" and len(shown["history"]) == 1
    imap.append(ANNA, "INBOX", out_of_office("kunde2@example.org", sent))  # once more
    assert bounces(host).look(anna).outcomes == []
    assert told.replied == [(anna.id, "kunde2@example.org")]


@pytest.mark.postgres
def test_on_postgresql_one_of_many_workers_takes_an_inbox_look(
        tmp_path: Any, postgres_url: str,
        servers: tuple[SmtpTestServer, DovecotTestServer]) -> None:
    """Eight workers ask for the same due look at once, on PostgreSQL, a first time (the
    row is made) and again when it is due: each time exactly one gets it."""
    from falcana_bounces.duty import InboxLook

    from falcana_core.models import utcnow
    from falcana_core.testing import make_config

    host = Host.start(make_config(tmp_path / "data", database_url=postgres_url))
    try:
        smtp, imap = servers
        anna = mailbox(host, ANNA, smtp, imap)
        send(host, anna, "kunde1@example.org")
        for when in (utcnow(), utcnow() + dt.timedelta(hours=2)):
            assert InboxLook(host).due(when, 10) == [anna.id]
            assert sorted(claimed_at_once(InboxLook(host), anna.id, when)) == \
                [False] * 7 + [True], when
    finally:
        host.close()


def claimed_at_once(duty: Any, mailbox_id: int, when: dt.datetime) -> list[bool]:
    """Eight workers' claims of the same look, released together."""
    import threading

    start = threading.Barrier(8)
    won: list[bool] = []

    def claim() -> None:
        start.wait()
        won.append(duty.claim(mailbox_id, when, 60))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return won


def test_the_popup_says_when_the_inbox_is_not_read_or_its_last_look_failed(
        falcana_host: Host, servers: tuple[SmtpTestServer, DovecotTestServer]) -> None:
    """No report found is not the same as none read: a mailbox without inbox access says
    what to enter; one whose last look failed says so, with the cause; one read says
    when."""
    from falcana_core.api.web import render_section
    from falcana_core.i18n import language

    host = falcana_host
    smtp, imap = servers
    plain = host.mailboxes.personal(host.users.add("ben", email=BEN))

    def shown(box: Mailbox) -> str:
        with language("de"):
            return str(render_section(host, box, host.section("bounces"), actor="admin"))

    assert "werden für dieses Postfach nicht erkannt" in shown(plain)
    assert "Kopie in Gesendet" in shown(plain)
    anna = mailbox(host, ANNA, smtp, imap)
    assert bounces(host).look(anna).ok
    read = shown(anna)
    assert "Posteingang zuletzt gelesen" in read and "bounce-failed" not in read
    imap.stop()  # the IMAP server is gone
    with language("de"):
        assert not bounces(host).look(anna).ok
    failed = shown(anna)
    assert "Der Posteingang konnte beim letzten Durchgang" in failed
    assert "bounce-failed" in failed and PASSWORD not in failed
    assert "zuletzt gelesen" not in failed


def test_the_outbox_in_the_popup_shows_what_became_of_a_recipient_after_sending(
        falcana_host: Host, servers: tuple[SmtpTestServer, DovecotTestServer]) -> None:
    """A message the server accepted is "gesendet"; when a report says later that its
    recipient was unknown, the popup's "Postausgang" says so beside it (before, the row
    stayed "gesendet" with nothing in its details), and an absence notice as what it is."""
    import re

    from falcana_bounces.service import STATUS
    from falcana_bounces.steps import STEP_LABELS

    from falcana_core.api.web import render_section
    from falcana_core.i18n import language

    host = falcana_host
    smtp, imap = servers
    anna = mailbox(host, ANNA, smtp, imap)
    unknown = send(host, anna, "kunde1@example.org")
    away = send(host, anna, "kunde2@example.org")
    fine = send(host, anna, "kunde3@example.org")
    imap.append(ANNA, "INBOX", dsn("kunde1@example.org", "5.1.1",
                                   "550 5.1.1 User unknown", unknown))
    imap.append(ANNA, "INBOX", out_of_office("kunde2@example.org", away))
    assert bounces(host).look(anna).ok

    def row(message_id: str) -> str:
        outbox_id = next(m.id for m in host.outbox.list(mailbox_id=anna.id)
                         if m.message_id == message_id)
        with language("de"):
            shown = str(render_section(host, anna, host.section("outbox"), actor="admin"))
        found = re.search(rf'<tr [^>]*data-outbox-id="{outbox_id}".*?</tr>', shown, re.S)
        assert found is not None
        return " ".join(found[0].split())

    assert "gesendet" in row(unknown) and "unzustellbar: kunde1@example.org" in row(unknown)
    assert "automatische Antwort: kunde2@example.org" in row(away)
    assert "kunde3@example.org" not in row(fine) and "unzustellbar" not in row(fine)
    # every status the service records has its name
    assert {f"recipient.{status}" for status in STATUS.values()} <= set(STEP_LABELS)
