"""The outbox's own guarantees, through the core's memory transport: no mail server, so
what is tested is the queue, the worker and the steps after delivery alone."""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from sqlalchemy import update

from falcana_core.delivery import Retry, Scope
from falcana_core.host import Host
from falcana_core.models import AfterDelivery, Mailbox, utcnow
from falcana_core.outbox import OutboxPolicy
from falcana_core.testing import Clock
from falcana_core.testing.memory import MemoryTransport, parse
from falcana_core.transports import Limits
from falcana_core.worker import Worker


def message(n: int = 0) -> EmailMessage:
    msg = EmailMessage()
    msg["To"] = f"kunde{n}@example.org"
    msg["Bcc"] = "chef@firma.example"
    msg["Subject"] = f"Angebot {n}"
    msg.set_content("Guten Tag,\nanbei unser Angebot.\n")
    return msg


@pytest.fixture
def box(falcana_host: Host, memory_transport: MemoryTransport) -> Mailbox:
    return memory_transport.mailbox(falcana_host, "vertrieb@firma.example")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def worker(falcana_host: Host, clock: Clock) -> Worker:
    return Worker(falcana_host, clock=clock, policy=OutboxPolicy(backoff_base=60, lease=30))


def step(host: Host, outbox_id: int) -> AfterDelivery | None:
    row = host.outbox.get(outbox_id)
    assert row is not None
    return row.after_delivery("memory_count")


def test_handed_over_sent_once_with_bcc_in_the_envelope_only(
        falcana_host: Host, box: Mailbox, memory_transport: MemoryTransport,
        worker: Worker) -> None:
    ids = [falcana_host.outbox.enqueue(box, message(n)) for n in range(3)]
    assert worker.run_once() == 3
    assert [parse(e)["Subject"] for e in memory_transport.sent] == [
        "Angebot 0", "Angebot 1", "Angebot 2"]
    first = memory_transport.sent[0]
    assert first.sender == "vertrieb@firma.example"
    assert set(first.recipients) == {"kunde0@example.org", "chef@firma.example"}
    assert b"chef@firma.example" not in first.content
    assert memory_transport.opened == 1  # one connection for the mailbox's batch
    assert [falcana_host.outbox.get(i).status for i in ids] == ["sent"] * 3  # type: ignore[union-attr]
    assert worker.run_once() == 0  # nothing is sent twice


def test_each_sent_message_gets_its_step_after_delivery_once(
        falcana_host: Host, box: Mailbox, memory_transport: MemoryTransport,
        worker: Worker) -> None:
    oid = falcana_host.outbox.enqueue(box, message())
    worker.run_once()
    found = step(falcana_host, oid)
    assert found is not None and (found.status, found.attempts) == ("done", 1)
    [envelope] = memory_transport.sent
    assert memory_transport.followed == [envelope.message_id]


def test_a_failed_step_after_delivery_is_retried_later_and_never_resends_the_mail(
        falcana_host: Host, box: Mailbox, memory_transport: MemoryTransport,
        worker: Worker, clock: Clock) -> None:
    memory_transport.follow_failures = 1
    oid = falcana_host.outbox.enqueue(box, message())
    worker.run_once()
    found = step(falcana_host, oid)
    assert found is not None and found.status == "pending" and found.error is not None
    assert worker.run_once() == 0  # not due yet: the outbox's back-off
    clock.advance(90)
    assert worker.run_once() == 1
    found = step(falcana_host, oid)
    assert found is not None and (found.status, found.attempts) == ("done", 2)
    assert len(memory_transport.sent) == 1


def test_a_step_that_keeps_failing_is_given_up_after_its_attempts(
        falcana_host: Host, box: Mailbox, memory_transport: MemoryTransport,
        worker: Worker, clock: Clock) -> None:
    memory_transport.follow_failures = 10
    oid = falcana_host.outbox.enqueue(box, message())
    for _ in range(5):
        worker.run_once()
        clock.advance(4000)
    found = step(falcana_host, oid)
    assert found is not None and (found.status, found.attempts) == ("failed", 3)
    assert memory_transport.followed == [] and len(memory_transport.sent) == 1


def test_a_crash_before_the_step_was_recorded_does_it_once(
        falcana_host: Host, box: Mailbox, memory_transport: MemoryTransport,
        worker: Worker, clock: Clock) -> None:
    """The step ran, the worker died before recording it: the claim counted the attempt,
    so the next one is told to look first."""
    oid = falcana_host.outbox.enqueue(box, message())
    worker.run_once()
    with falcana_host.transaction() as s:
        s.execute(update(AfterDelivery).where(AfterDelivery.outbox_id == oid).values(
            status="pending", next_at=utcnow()))
    worker.run_once()
    found = step(falcana_host, oid)
    assert found is not None and (found.status, found.attempts) == ("done", 2)
    assert len(memory_transport.followed) == 1


def test_a_temporary_failure_defers_and_a_mailbox_failure_pauses(
        falcana_host: Host, box: Mailbox, memory_transport: MemoryTransport,
        worker: Worker, clock: Clock) -> None:
    memory_transport.fail_next(retry=Retry.LATER)
    oid = falcana_host.outbox.enqueue(box, message())
    worker.run_once()
    row = falcana_host.outbox.get(oid)
    assert row is not None and row.status == "deferred" and step(falcana_host, oid) is None
    memory_transport.fail_next(retry=Retry.AFTER_FIX, scope=Scope.MAILBOX, at_open=True)
    clock.advance(90)
    worker.run_once()
    assert falcana_host.outbox.paused(box.id, clock()) is not None
    assert memory_transport.sent == []
    falcana_host.outbox.resume(box.id)
    assert worker.run_once() == 1 and len(memory_transport.sent) == 1


def test_the_transports_declared_limits_are_kept(falcana_host: Host, box: Mailbox,
                                                  memory_transport: MemoryTransport,
                                                  worker: Worker) -> None:
    memory_transport.limits = Limits(messages_per_minute=2)
    for n in range(5):
        falcana_host.outbox.enqueue(box, message(n))
    worker.run_once()
    assert len(memory_transport.sent) == 2
    assert falcana_host.outbox.counts(box.id)["queued"] == 3
