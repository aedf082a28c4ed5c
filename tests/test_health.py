"""Mailbox health: each state and transition, kept by the worker, with a transport that
keeps what it is given (the outbox's own tests do the same) and a real SMTP server."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from falcana_smtp_settings.testing.smtpd import SmtpTestServer

from falcana_core import hookimpl
from falcana_core.delivery import Retry, Scope
from falcana_core.health import HealthReport, HealthState, Notice
from falcana_core.host import Host
from falcana_core.models import Mailbox
from falcana_core.outbox import OutboxPolicy
from falcana_core.testing import Clock
from falcana_core.testing.memory import MemoryTransport
from falcana_core.worker import Worker

DAY = 86400.0
Register = Callable[..., contextlib.AbstractContextManager[Any]]


class Told:
    """A host application's plugin: what ``mailbox_health_changed`` told it, and the
    notices it has to give."""

    def __init__(self) -> None:
        self.changes: list[tuple[int, str, str]] = []
        self.notices: list[Notice] = []

    @hookimpl
    def mailbox_health_changed(self, mailbox: Mailbox, before: HealthState,
                               after: HealthReport) -> None:
        self.changes.append((mailbox.id, before.value, after.state.value))

    @hookimpl
    def mailbox_notices(self, mailbox: Mailbox) -> list[Notice]:
        return self.notices


def message(n: int = 0) -> EmailMessage:
    msg = EmailMessage()
    msg["To"] = "kunde@example.org"
    msg["Subject"] = f"Angebot {n}"
    msg.set_content("Guten Tag.\n")
    return msg


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def host(falcana_host: Host) -> Host:
    object.__setattr__(falcana_host.config, "health_every", DAY)  # the deployment default
    return falcana_host


@pytest.fixture
def worker(host: Host, clock: Clock) -> Worker:
    return Worker(host, clock=clock, policy=OutboxPolicy(backoff_base=60, lease=30))


@pytest.fixture
def told(register_plugin: Register) -> Iterator[Told]:
    plugin = Told()
    with register_plugin(plugin, "host_app"):
        yield plugin


@pytest.fixture
def box(host: Host, memory_transport: MemoryTransport, clock: Clock) -> Mailbox:
    mailbox = memory_transport.mailbox(host, "vertrieb@firma.example")
    host.health.track(mailbox.id, now=clock())  # as a save of its settings does
    return mailbox


def state(host: Host, box: Mailbox) -> HealthState:
    return host.health.report(box).state


def test_a_mailbox_is_unknown_until_the_worker_verifies_it_then_ok(
        host: Host, box: Mailbox, memory_transport: MemoryTransport, worker: Worker,
        clock: Clock, told: Told) -> None:
    assert state(host, box) is HealthState.UNKNOWN
    worker.run_once()
    assert memory_transport.opened == 0  # a minute after the change, not at once
    clock.advance(61)
    worker.run_once()
    report = host.health.report(box)
    assert report.state is HealthState.OK and worker.checked == 1
    assert memory_transport.opened == 1 and memory_transport.sent == []  # sent nothing
    assert told.changes == [(box.id, "unknown", "ok")]
    assert report.next_check_at is not None and report.checked_at is not None
    wait = (report.next_check_at - report.checked_at).total_seconds()
    assert 0.9 * DAY <= wait <= 1.1 * DAY  # daily, moved a little: mailboxes drift apart
    clock.advance(3600)
    worker.run_once()
    assert memory_transport.opened == 1  # not due again for a day
    clock.advance(1.2 * DAY)
    worker.run_once()
    assert memory_transport.opened == 2 and told.changes == [(box.id, "unknown", "ok")]


def test_a_sign_in_refused_turns_it_broken_pauses_the_queue_and_a_passing_verify_resumes(
        host: Host, box: Mailbox, memory_transport: MemoryTransport, worker: Worker,
        clock: Clock, told: Told) -> None:
    memory_transport.fail_next(retry=Retry.AFTER_FIX, scope=Scope.MAILBOX, at_open=True)
    clock.advance(61)
    worker.run_once()
    report = host.health.report(box)
    assert report.state is HealthState.BROKEN
    assert report.reason is not None and report.reason["explanation"]["cause"] == "told to fail"
    assert host.outbox.paused(box.id, clock()) is not None
    outbox_id = host.outbox.enqueue(box, message())
    assert worker.run_once() == 0 and memory_transport.sent == []  # mail waits, not lost
    clock.advance(3601)  # broken: verified again within the hour
    worker.run_once()
    assert state(host, box) is HealthState.OK
    row = host.outbox.get(outbox_id)
    assert row is not None and row.status == "sent" and len(memory_transport.sent) == 1
    assert told.changes == [(box.id, "unknown", "broken"), (box.id, "broken", "ok")]


def test_a_server_out_of_reach_says_nothing_of_the_mailbox(
        host: Host, box: Mailbox, memory_transport: MemoryTransport, clock: Clock) -> None:
    host.health.verify(box, now=clock())
    memory_transport.fail_next(retry=Retry.LATER, scope=Scope.MESSAGE, at_open=True)
    report = host.health.verify(box, now=clock())
    assert report is not None and report.state is HealthState.OK
    assert report.reason is not None and report.reason["passing"] is True
    memory_transport.fail_next(retry=Retry.LATER, scope=Scope.MAILBOX, at_open=True)
    report = host.health.verify(box, now=clock())  # a quota that runs out: no breakage
    assert report is not None and report.state is HealthState.OK
    assert host.outbox.paused(box.id, clock()) is None


def test_sending_that_finds_the_sign_in_refused_marks_it_broken_and_a_send_clears_it(
        host: Host, box: Mailbox, memory_transport: MemoryTransport, worker: Worker,
        clock: Clock, told: Told) -> None:
    host.outbox.enqueue(box, message())
    memory_transport.fail_next(retry=Retry.AFTER_FIX, scope=Scope.MAILBOX, at_open=True)
    worker.run_once()
    assert state(host, box) is HealthState.BROKEN
    host.outbox.resume(box.id)  # as a change of its settings does
    assert worker.run_once() == 1
    assert state(host, box) is HealthState.OK
    assert [c[2] for c in told.changes] == ["broken", "ok"]


def test_a_notice_within_its_window_gives_a_warning(
        host: Host, box: Mailbox, clock: Clock, told: Told) -> None:
    today = clock().date()
    told.notices = [Notice("test.secret", "Das Geheimnis läuft ab.", "Neues eintragen.",
                           due=today + dt.timedelta(days=30))]
    report = host.health.verify(box, now=clock())
    assert report is not None and report.state is HealthState.OK  # 30 days: not yet
    told.notices = [Notice("test.secret", "Das Geheimnis läuft ab.", "Neues eintragen.",
                           due=today + dt.timedelta(days=10), field="client_secret")]
    report = host.health.verify(box, now=clock())
    assert report is not None and report.state is HealthState.WARNING
    shown = report.as_dict("de", today)["notices"][0]
    assert shown["days_left"] == 10 and shown["field"] == "client_secret"
    told.notices = []  # the secret was renewed: the warning goes without a verify
    assert state(host, box) is HealthState.OK


def test_one_of_two_workers_takes_a_due_verify(host: Host, box: Mailbox,
                                               clock: Clock) -> None:
    clock.advance(61)
    assert host.health.due(clock(), 10) == [box.id]
    assert host.health.claim(box.id, clock(), 60) is True
    assert host.health.claim(box.id, clock(), 60) is False
    assert host.health.due(clock(), 10) == []


ADDRESS = "juergen@example.com"


@pytest.fixture
def smtp_box(host: Host, smtp_server: Callable[..., SmtpTestServer]
             ) -> tuple[Mailbox, SmtpTestServer]:
    server = smtp_server("starttls", users={ADDRESS: "Postfach-Pw-1"})
    user = host.users.add("juergen", first_name="Jürgen", last_name="Müßig", email=ADDRESS)
    mailbox = host.mailboxes.personal(user)
    assert host.save_section(mailbox, "smtp", {
        "email": ADDRESS, "username": ADDRESS, "password": "Postfach-Pw-1",
        "host": "127.0.0.1", "port": server.port, "security": "tls"}, actor="admin").saved
    return mailbox, server


def test_a_password_changed_at_the_server_breaks_the_mailbox_within_one_verify(
        host: Host, smtp_box: tuple[Mailbox, SmtpTestServer], worker: Worker,
        clock: Clock) -> None:
    box, server = smtp_box
    clock.advance(61)
    worker.run_once()  # the verify a minute after saving
    assert state(host, box) is HealthState.OK and server.messages == []
    server.users[ADDRESS] = "Neues-Pw-2"  # changed at the provider, not here
    clock.advance(1.2 * DAY)
    worker.run_once()
    report = host.health.report(box)
    assert report.state is HealthState.BROKEN and server.messages == []
    assert report.reason is not None and report.reason["step"] == "auth"
    assert host.outbox.paused(box.id, clock()) is not None
    waiting = [host.outbox.enqueue(box, message(n)) for n in range(3)]
    worker.run_once()
    assert server.messages == []
    saved = host.save_section(box, "smtp", {
        "email": ADDRESS, "username": ADDRESS, "password": "Neues-Pw-2",
        "host": "127.0.0.1", "port": server.port, "security": "tls"}, actor="admin")
    assert saved.saved
    assert worker.run_once() == 3  # resumed by the change: what waited goes out
    assert len(server.messages) == 3
    assert {(r := host.outbox.get(i)) and r.status for i in waiting} == {"sent"}
    assert state(host, box) is HealthState.OK  # the sends proved it


def test_the_command_reports_states_with_exit_codes_for_monitoring(
        host: Host, smtp_box: tuple[Mailbox, SmtpTestServer],
        falcana_cli: Callable[..., Any]) -> None:
    _box, server = smtp_box
    result = falcana_cli("mailboxes", "health", "--json")
    assert result.exit_code == 1  # not verified yet
    assert json.loads(result.output)[0]["state"] == "unknown"
    result = falcana_cli("mailboxes", "health", "--verify")
    assert result.exit_code == 0 and ADDRESS in result.output
    assert server.messages == []  # a verify sends nothing
    server.users[ADDRESS] = "Neues-Pw-2"
    result = falcana_cli("mail", "health", "--verify", "--json")  # where admins look too
    assert result.exit_code == 2
    shown = json.loads(result.output)[0]
    assert shown["state"] == "broken" and shown["reason"]["explanation"]["field"] == "password"
    assert "Neues-Pw-2" not in result.output and "Postfach-Pw-1" not in result.output
    result = falcana_cli("mailboxes", "health", "--state", "ok")
    assert result.exit_code == 0 and ADDRESS not in result.output
    result = falcana_cli("mailboxes", "health", "juergen", lang="de")
    assert result.exit_code == 2 and "defekt" in result.output


def test_a_mailbox_whose_transport_is_gone_keeps_its_state_and_says_why(
        host: Host, box: Mailbox, memory_transport: MemoryTransport, clock: Clock,
        register_plugin: Register) -> None:
    host.health.verify(box, now=clock())
    host.plugins.unregister("memory")
    host.plugins_changed()
    try:
        report = host.health.verify(box, now=clock())
    finally:
        host.plugins.register(memory_transport, "memory")
        host.plugins_changed()
    assert report is not None and report.state is HealthState.OK
    assert report.reason is not None and report.reason["step"] == "transport"
