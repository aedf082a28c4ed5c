"""The outbox against a real aiosmtpd server: deferred, failed, paused, never lost."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

import pytest
from falcana_smtp_settings.testing.smtpd import SmtpTestServer

from falcana_core.host import Host
from falcana_core.models import Mailbox, utcnow
from falcana_core.outbox import OutboxPolicy
from falcana_core.testing import Clock
from falcana_core.worker import Worker

ADDRESS = "juergen@example.com"
PASSWORD = "Postfach-Pw-1"


def message(to: str = "kunde@example.org", subject: str = "Angebot") -> EmailMessage:
    msg = EmailMessage()
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content("Guten Tag,\nanbei unser Angebot.\n")
    return msg


@pytest.fixture
def server(smtp_server: Callable[..., SmtpTestServer]) -> SmtpTestServer:
    return smtp_server("starttls", users={ADDRESS: PASSWORD})


@pytest.fixture
def box(falcana_host: Host, server: SmtpTestServer) -> Mailbox:
    object.__setattr__(falcana_host.config, "net_timeout", 1.5)
    user = falcana_host.users.add("juergen", first_name="Jürgen", last_name="Müßig",
                                  email=ADDRESS)
    mailbox = falcana_host.mailboxes.personal(user)
    saved = falcana_host.save_section(mailbox, "smtp", {
        "email": ADDRESS, "username": ADDRESS, "password": PASSWORD, "host": "127.0.0.1",
        "port": server.port, "security": "tls"}, actor="admin")
    assert saved.saved
    return mailbox


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def worker(falcana_host: Host, clock: Clock) -> Worker:
    return Worker(falcana_host, clock=clock, policy=OutboxPolicy(backoff_base=60, lease=30))


def status(host: Host, outbox_id: int) -> str:
    row = host.outbox.get(outbox_id)
    assert row is not None
    return row.status


def test_handover_fixes_from_date_and_message_id(falcana_host: Host, box: Mailbox,
                                                 server: SmtpTestServer,
                                                 worker: Worker) -> None:
    outbox_id = falcana_host.outbox.enqueue(box, message())
    row = falcana_host.outbox.get(outbox_id)
    assert row is not None and row.status == "queued"
    assert row.message_id.endswith("@example.com>")
    assert worker.run_once() == 1
    assert status(falcana_host, outbox_id) == "sent"
    received = server.messages[0].message
    assert received["Message-ID"] == row.message_id
    assert str(received["From"]) == f"Jürgen Müßig <{ADDRESS}>"


def test_handover_joins_the_callers_transaction(falcana_host: Host, box: Mailbox) -> None:
    def callers_work() -> None:
        with falcana_host.transaction() as s:
            falcana_host.outbox.enqueue(box, message(), session=s)
            raise RuntimeError("the caller's own work failed")

    with pytest.raises(RuntimeError):
        callers_work()
    assert falcana_host.outbox.counts()["queued"] == 0
    with falcana_host.transaction() as s:
        falcana_host.outbox.enqueue(box, message(), session=s)
    assert falcana_host.outbox.counts()["queued"] == 1


@pytest.mark.parametrize(("command", "reply"), [
    ("mail", "421 4.7.0 Try again later, closing connection"),
    ("mail", "450 4.2.0 Mailbox busy"),
    ("rcpt", "451 4.3.0 Temporary lookup failure"),
    ("rcpt", "452 4.2.2 Mailbox full, try later"),
])
def test_temporary_replies_defer_and_later_succeed(falcana_host: Host, box: Mailbox,
                                                   server: SmtpTestServer, worker: Worker,
                                                   clock: Clock, command: str,
                                                   reply: str) -> None:
    server.fail(command, reply, times=1)
    outbox_id = falcana_host.outbox.enqueue(box, message())
    worker.run_once()
    row = falcana_host.outbox.get(outbox_id)
    assert row is not None and row.status == "deferred"
    assert row.last_error["reply"].startswith(reply[:3])
    assert row.last_error["explanation"]["retry"] == "later"
    assert worker.run_once() == 0  # not yet due
    clock.advance(90)  # backoff: 60 s with +-20 % jitter
    assert worker.run_once() == 1
    assert status(falcana_host, outbox_id) == "sent"
    assert len(server.messages) == 1


@pytest.mark.parametrize(("command", "reply", "explanation"), [
    ("rcpt", "550 5.1.1 <kunde@example.org>: Recipient address rejected: User unknown",
     "smtp.recipient_refused"),
    ("data", "552 5.3.4 Message size exceeds fixed limit", "smtp.message_too_large"),
    ("data", "554 5.7.1 Message rejected as spam", "smtp.permanent_failure"),
])
def test_permanent_replies_fail_at_once_with_explanation(falcana_host: Host, box: Mailbox,
                                                         server: SmtpTestServer,
                                                         worker: Worker, command: str,
                                                         reply: str, explanation: str) -> None:
    server.fail(command, reply)
    outbox_id = falcana_host.outbox.enqueue(box, message())
    worker.run_once()
    row = falcana_host.outbox.get(outbox_id)
    assert row is not None and row.status == "failed" and row.attempts == 1
    assert row.last_error["explanation"]["id"] == explanation
    if command == "rcpt":
        assert row.recipients["kunde@example.org"]["status"] == "refused"


def test_a_dropped_connection_during_data_defers(falcana_host: Host, box: Mailbox,
                                                 server: SmtpTestServer, worker: Worker,
                                                 clock: Clock) -> None:
    server.drop_during_data(times=1)
    outbox_id = falcana_host.outbox.enqueue(box, message())
    worker.run_once()
    row = falcana_host.outbox.get(outbox_id)
    assert row is not None and row.status == "deferred"
    assert row.last_error["outcome_unknown"] is True
    clock.advance(90)
    worker.run_once()
    assert status(falcana_host, outbox_id) == "sent"


def test_a_stalling_server_hits_the_time_out_and_defers(falcana_host: Host, box: Mailbox,
                                                        server: SmtpTestServer,
                                                        worker: Worker) -> None:
    server.stall_during_data(4.0, times=1)
    outbox_id = falcana_host.outbox.enqueue(box, message())
    worker.run_once()
    row = falcana_host.outbox.get(outbox_id)
    assert row is not None and row.status == "deferred"
    assert row.last_error["kind"] == "timeout"


def test_wrong_password_pauses_the_mailbox_and_a_corrected_one_resumes_it(
        falcana_host: Host, box: Mailbox, server: SmtpTestServer, worker: Worker) -> None:
    falcana_host.save_section(box, "smtp", {**falcana_host.section_values(box, "smtp"),
                                            "password": "wrong"}, actor="admin")
    ids = [falcana_host.outbox.enqueue(box, message(subject=f"Nr. {i}")) for i in range(5)]
    assert worker.run_once() == 0
    paused = falcana_host.outbox.paused(box.id)
    assert paused is not None and paused.reason["explanation"]["id"] == "smtp.auth_failed"
    assert all(status(falcana_host, i) == "queued" for i in ids)  # not burnt
    assert server.messages == []
    assert worker.run_once() == 0  # still paused
    falcana_host.save_section(box, "smtp", {**falcana_host.section_values(box, "smtp"),
                                            "password": PASSWORD}, actor="admin")
    assert falcana_host.outbox.paused(box.id) is None
    assert worker.run_once() == 5
    assert len(server.messages) == 5


def test_partial_recipient_refusal_is_recorded_per_recipient(
        falcana_host: Host, box: Mailbox, server: SmtpTestServer, worker: Worker) -> None:
    server.fail("rcpt", "550 5.1.1 User unknown", match=lambda a: a.startswith("gone"))
    outbox_id = falcana_host.outbox.enqueue(box, message(to="ok@example.org, gone@example.org"))
    worker.run_once()
    row = falcana_host.outbox.get(outbox_id)
    assert row is not None and row.status == "sent"
    assert row.recipients == {"ok@example.org": {"status": "accepted"},
                              "gone@example.org": {"status": "refused",
                                                   "reply": "550 5.1.1 User unknown"}}


def test_messages_older_than_the_maximum_age_fail(falcana_host: Host, box: Mailbox,
                                                  server: SmtpTestServer,
                                                  clock: Clock) -> None:
    worker = Worker(falcana_host, clock=clock, policy=OutboxPolicy(
        max_age=dt.timedelta(hours=1), backoff_base=60))
    server.fail("mail", "451 4.3.0 Try later")
    outbox_id = falcana_host.outbox.enqueue(box, message())
    worker.run_once()
    assert status(falcana_host, outbox_id) == "deferred"
    clock.advance(2 * 3600)
    worker.run_once()
    row = falcana_host.outbox.get(outbox_id)
    assert row is not None and row.status == "failed" and row.last_error["expired"]


def test_one_connection_per_mailbox_batch(falcana_host: Host, box: Mailbox,
                                          server: SmtpTestServer, worker: Worker) -> None:
    for i in range(20):
        falcana_host.outbox.enqueue(box, message(subject=f"Nr. {i}"))
    assert worker.run_once() == 20
    assert len(server.messages) == 20
    assert server.logins == [ADDRESS]  # one login: one connection


def test_provider_limits_are_kept(falcana_host: Host, smtp_server: Callable[..., Any],
                                  dns_server: Any, clock: Clock) -> None:
    """Microsoft 365 declares 30 messages a minute per mailbox."""
    dns_server.set_mx("contoso-gmbh.de", ["contoso-gmbh-de.mail.protection.outlook.com"])
    server = smtp_server("starttls", users={"anna@contoso-gmbh.de": PASSWORD})
    user = falcana_host.users.add("anna", email="anna@contoso-gmbh.de")
    box = falcana_host.mailboxes.personal(user)
    falcana_host.save_section(box, "smtp", {"email": "anna@contoso-gmbh.de", "password": PASSWORD,
                                            "host": "127.0.0.1", "port": server.port,
                                            "security": "tls"}, actor="admin")
    for i in range(40):
        falcana_host.outbox.enqueue(box, message(subject=f"Nr. {i}"))
    worker = Worker(falcana_host, clock=clock)
    assert worker.limits(box.id).messages_per_minute == 30
    assert worker.run_once() == 30
    assert worker.run_once() == 0
    clock.advance(61)
    assert worker.run_once() == 10


def test_retry_and_cancel(falcana_host: Host, box: Mailbox, server: SmtpTestServer,
                          worker: Worker, falcana_cli: Callable[..., Any]) -> None:
    server.fail("data", "554 5.7.1 rejected", times=1)
    failed = falcana_host.outbox.enqueue(box, message())
    worker.run_once()
    assert status(falcana_host, failed) == "failed"
    waiting = falcana_host.outbox.enqueue(box, message(subject="storniert"))
    assert falcana_cli("outbox", "cancel", str(waiting)).exit_code == 0
    assert falcana_cli("outbox", "retry", str(failed)).exit_code == 0
    assert falcana_cli("outbox", "retry", str(waiting)).exit_code == 2
    worker.run_once()
    assert status(falcana_host, failed) == "sent" and status(falcana_host, waiting) == "cancelled"
    import json

    listed = json.loads(falcana_cli("outbox", "list", "--json").stdout)
    assert listed["counts"]["sent"] == 1 and listed["counts"]["cancelled"] == 1
    shown = json.loads(falcana_cli("outbox", "show", str(failed), "--json").stdout)
    assert shown["recipients"] == {"kunde@example.org": {"status": "accepted"}}


def test_a_stopped_worker_gives_unsent_messages_back(falcana_host: Host, box: Mailbox,
                                                     server: SmtpTestServer,
                                                     clock: Clock) -> None:
    import threading

    stop = threading.Event()
    sent: list[int] = []

    def progress(n: int) -> None:
        sent.append(n)
        if len(sent) == 3:
            stop.set()  # as SIGTERM does in `falcana worker`

    for i in range(10):
        falcana_host.outbox.enqueue(box, message(subject=f"Nr. {i}"))
    worker = Worker(falcana_host, clock=clock, progress=progress)
    worker.run(stop=stop)
    counts = falcana_host.outbox.counts()
    assert counts["sent"] == 3 and counts["queued"] == 7 and counts["sending"] == 0
    assert len(server.messages) == 3


def test_purge_deletes_old_finished_messages_only(falcana_host: Host, box: Mailbox,
                                                  falcana_cli: Callable[..., Any]) -> None:
    from sqlalchemy import insert, update

    from falcana_core.models import AfterDelivery, OutboxMessage

    old_sent, old_cancelled, old_copy, old_waiting, recent = (
        falcana_host.outbox.enqueue(box, message(subject=s))
        for s in ("alt gesendet", "alt storniert", "Kopie offen", "wartet", "neu"))
    falcana_host.outbox.cancel(old_cancelled, actor="admin")
    long_ago = utcnow() - dt.timedelta(days=120)
    with falcana_host.engine.begin() as conn:
        t = OutboxMessage.__table__
        conn.execute(update(t).where(t.c.id.in_([old_sent, old_copy, recent])).values(
            status="sent", sent_at=utcnow()))
        conn.execute(update(t).where(t.c.id.in_([old_sent, old_cancelled, old_copy,
                                                  old_waiting])).values(created_at=long_ago))
        conn.execute(update(t).where(t.c.id.in_([old_sent, old_copy])).values(
            sent_at=long_ago))
        conn.execute(insert(AfterDelivery.__table__).values(
            outbox_id=old_copy, duty="sent_copy", mailbox_id=box.id, status="pending",
            attempts=0, next_at=utcnow()))
    dry = falcana_cli("outbox", "purge", "--older-than", "90d", "--dry-run")
    assert dry.exit_code == 0 and "2 messages would be deleted" in dry.stdout
    assert falcana_cli("outbox", "purge", "--older-than", "90d").exit_code == 0
    left = {m.id for m in falcana_host.outbox.list(limit=10)}
    assert left == {old_copy, old_waiting, recent}  # a pending copy and a queued one stay
    bad = falcana_cli("outbox", "purge", "--older-than", "neunzig")
    assert bad.exit_code == 2 and "90d" in bad.stderr
    [entry] = falcana_host.audit.entries("outbox", limit=1)
    assert (entry.action, entry.details["removed"]) == ("outbox.purge", 2)
