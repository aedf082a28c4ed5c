"""One worker, many mailboxes at once: connections, provider caps, leases and commits."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from email.message import EmailMessage

from falcana_smtp_settings.testing import smtp_mailboxes
from falcana_smtp_settings.testing.smtpd import SmtpTestServer
from sqlalchemy import select, update

from falcana_core.host import Host
from falcana_core.models import OutboxMessage
from falcana_core.outbox import OutboxPolicy
from falcana_core.testing.dnsd import DnsTestServer
from falcana_core.worker import GroupCommit, Worker

PASSWORD = "Worker-Pw-1"


def message(i: int) -> EmailMessage:
    msg = EmailMessage()
    msg["To"] = f"kunde{i}@example.org"
    msg["Subject"] = f"Nachricht {i}"
    msg.set_content(f"Nachricht Nummer {i}\n")
    return msg


def received(server: SmtpTestServer) -> Counter[str]:
    return Counter(str(m.message["Message-ID"]) for m in server.messages)


def test_one_worker_sends_for_many_mailboxes_at_once_within_its_cap(
        falcana_host: Host, smtp_server: Callable[..., SmtpTestServer]) -> None:
    server = smtp_server("normal", reply_delay=0.02)
    boxes = smtp_mailboxes(falcana_host, server, 12)
    falcana_host.outbox.enqueue_many([(boxes[i % 12], message(i)) for i in range(36)])
    started = time.monotonic()
    assert Worker(falcana_host, concurrency=6).run_once() == 36
    took = time.monotonic() - started
    assert falcana_host.outbox.counts()["sent"] == 36
    assert set(received(server).values()) == {1}  # each message once
    assert 4 <= server.peak_connections <= 6  # several at once, never more than asked
    # one at a time would take 12 connections x (greeting, EHLO, AUTH, 3 x 4 replies,
    # QUIT) x 20 ms = 3.6 s
    assert took < 2.5, took


def test_a_mailbox_with_a_backlog_gets_its_providers_connections_and_no_more(
        falcana_host: Host, smtp_server: Callable[..., SmtpTestServer]) -> None:
    server = smtp_server("normal", reply_delay=0.01)
    [box] = smtp_mailboxes(falcana_host, server, 1)
    falcana_host.outbox.enqueue_many([(box, message(i)) for i in range(200)])
    worker = Worker(falcana_host, concurrency=8)
    assert worker.limits(box.id).max_connections == 2  # no provider recognised: default
    worker.run(once=True)
    assert falcana_host.outbox.counts()["sent"] == 200
    assert server.peak_connections == 2


def test_the_heartbeat_keeps_a_slow_message_claimed(
        falcana_host: Host, smtp_server: Callable[..., SmtpTestServer]) -> None:
    """The lease is short (1 s) but the server takes 3 s for DATA: the claim is renewed,
    so a second worker never takes the message meanwhile."""
    server = smtp_server("normal")
    [box] = smtp_mailboxes(falcana_host, server, 1)
    server.stall_during_data(3.0)
    oid = falcana_host.outbox.enqueue(box, message(1))
    policy = OutboxPolicy(lease=1.0)
    first = threading.Thread(target=Worker(falcana_host, policy=policy).run_once)
    first.start()
    time.sleep(1.8)  # past the first lease: only the heartbeat keeps it
    row = falcana_host.outbox.get(oid)
    assert row is not None and row.status == "sending"
    assert Worker(falcana_host, policy=policy).run_once() == 0  # nothing to take
    first.join(10)
    assert falcana_host.outbox.counts()["sent"] == 1
    assert len(server.messages) == 1


def test_a_claim_found_in_other_hands_is_not_sent_further(
        falcana_host: Host, smtp_server: Callable[..., SmtpTestServer]) -> None:
    """While the first message of a claim is in DATA, its other messages pass to another
    worker (as after a lease that ran out): the heartbeat notices, the rest is not sent."""
    server = smtp_server("normal")
    [box] = smtp_mailboxes(falcana_host, server, 1)
    server.stall_during_data(2.0)
    falcana_host.outbox.enqueue_many([(box, message(i)) for i in range(5)])
    worker = Worker(falcana_host, policy=OutboxPolicy(lease=0.9), concurrency=1)
    running = threading.Thread(target=worker.run_once)
    running.start()
    deadline = time.monotonic() + 5
    while server.faults[0].times != 0 and time.monotonic() < deadline:
        time.sleep(0.02)  # the first message's DATA is stalling now
    time.sleep(0.1)
    table = OutboxMessage.__table__
    with falcana_host.engine.begin() as conn:
        taken = conn.execute(update(table).where(
            table.c.status == "sending", table.c.id > min(
                conn.scalars(select(table.c.id).where(table.c.status == "sending")))
        ).values(claim_token="another-worker")).rowcount
    assert taken == 4
    running.join(10)
    assert len(server.messages) == 1  # the one in hand; none of the 4 taken over
    counts = falcana_host.outbox.counts()
    assert (counts["sent"], counts["sending"]) == (1, 4)


def test_results_of_concurrent_connections_share_a_commit(falcana_host: Host) -> None:
    box = falcana_host.mailboxes.create_shared("info@example.com", "Info", actor="admin")
    ids = falcana_host.outbox.enqueue_many([(box, message(i)) for i in range(10)])
    table = OutboxMessage.__table__
    with falcana_host.engine.begin() as conn:
        conn.execute(update(table).values(status="sending", claim_token="ours"))
    turn = threading.Lock()
    commits = GroupCommit(falcana_host.engine, turn)
    held: dict[int, bool] = {}

    def hand_in(oid: int) -> None:
        held[oid] = commits.sent({"oid": oid, "token": "ours" if oid != ids[-1] else "lost",
                                  "now": None, "attempts": 1, "recipients": {},
                                  "copy": None})

    with turn:  # the database is busy: results queue up behind the first
        threads = [threading.Thread(target=hand_in, args=(oid,)) for oid in ids]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 5
        while len(commits._pending) < 9 and time.monotonic() < deadline:
            time.sleep(0.01)
    for thread in threads:
        thread.join(5)
    assert commits.commits == 2  # the first alone, then the nine that waited together
    assert [held[oid] for oid in ids] == [True] * 9 + [False]  # each with its claim check
    assert falcana_host.outbox.counts()["sent"] == 9
    commits.close()


def test_a_claim_reads_an_index_range_not_the_mailboxs_history(falcana_host: Host) -> None:
    """The due query of a claim is answered from the (mailbox, status, next attempt)
    index, whatever the number of delivered messages (benchmarks/outbox.py measures)."""
    from falcana_core.worker import _DUE

    with falcana_host.engine.connect() as conn:
        compiled = _DUE.compile(conn, compile_kwargs={"literal_binds": False})
        plan = conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN " + str(compiled),
            tuple(compiled.construct_params({"mailbox": 1, "now": "2026-01-01", "n": 50})
                  [name] for name in compiled.positiontup or ())).all()
    details = " | ".join(str(row[-1]) for row in plan)
    assert "ix_outbox_messages_mailbox_due" in details, details
    assert "SCAN outbox_messages" not in details, details


def test_sending_asks_no_dns_the_provider_is_remembered_from_saving(
        falcana_host: Host, smtp_server: Callable[..., SmtpTestServer],
        dns_server: DnsTestServer) -> None:
    """A Microsoft 365 mailbox of a company domain is recognised by its MX record when
    the settings are saved; the worker then sends with Microsoft's limits and asks DNS
    nothing (a resolver that is down would hold every first message of a domain)."""
    server = smtp_server("normal")
    address = "anna@contoso-gmbh.de"
    server.users[address] = PASSWORD
    dns_server.set_mx("contoso-gmbh.de", ["contoso-gmbh-de.mail.protection.outlook.com"])
    user = falcana_host.users.add("anna", first_name="Anna", last_name="Berg", email=address)
    box = falcana_host.mailboxes.personal(user)
    assert falcana_host.save_section(box, "smtp", {
        "email": address, "password": PASSWORD, "host": "127.0.0.1", "port": server.port,
        "security": "normal"}, actor="admin").saved
    falcana_host.outbox.enqueue_many([(box, message(i)) for i in range(3)])
    asked = len(dns_server.queries)
    worker_host = Host.start(falcana_host.config)  # a worker process: nothing cached
    try:
        worker = Worker(worker_host)
        assert worker.limits(box.id).messages_per_minute == 30  # Microsoft 365's limit
        assert worker.run_once() == 3
    finally:
        worker_host.close()
    assert len(dns_server.queries) == asked, dns_server.queries[asked:]
