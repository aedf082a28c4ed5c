"""Microsoft 365 and mailbox health: the end of password sign-in told ahead, and the
tenant-wide recipient limit pausing every mailbox of the domain."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from email.message import EmailMessage

from falcana_smtp_settings.testing.smtpd import SmtpTestServer

from falcana_core.host import Host
from falcana_core.models import Mailbox
from falcana_core.outbox import OutboxPolicy
from falcana_core.testing import Clock
from falcana_core.worker import Worker

PASSWORD = "M365-App-Pw"
TERRL = ("550 5.7.233 Your message can't be sent because your organization has exceeded "
         "the tenant's external recipient rate limit. [FR2P281MB0123.DEUP281.PROD.OUTLOOK.COM]")


def mailbox(host: Host, address: str, server: str, port: int = 587,
            auth_method: str = "password") -> Mailbox:
    user = host.users.add(address.split("@")[0], first_name="Anna", last_name="Kühn",
                          email=address)
    box = host.mailboxes.personal(user)
    saved = host.save_section(box, "smtp", {
        "email": address, "username": address, "password": PASSWORD, "host": server,
        "port": port, "security": "tls", "auth_method": auth_method}, actor="admin")
    assert saved.saved, [(m.field, str(m.text)) for m in saved.validation.errors]
    return box


def test_a_mailbox_on_a_password_is_warned_two_months_before_the_switch_off(
        falcana_host: Host) -> None:
    box = mailbox(falcana_host, "anna@contoso-gmbh.de", "smtp.office365.com")
    other = mailbox(falcana_host, "max@firma.example", "mail.firma.example")
    early = falcana_host.health.report(box, today=dt.date(2026, 10, 1))
    assert early.notices == []  # 91 days ahead: nothing yet
    report = falcana_host.health.report(box, today=dt.date(2026, 12, 4))
    notice = report.as_dict("de")["notices"][0]
    assert notice["id"] == "m365.basic_auth_off" and notice["days_left"] == 27
    assert notice["field"] == "auth_method" and "OAuth2" in notice["fix"]
    assert "standardmäßig ab" in notice["cause"]  # in German
    assert falcana_host.health.report(other, today=dt.date(2026, 12, 4)).notices == []
    late = falcana_host.health.report(box, today=dt.date(2027, 2, 1))
    assert late.notices and late.notices[0].days_left(dt.date(2027, 2, 1)) < 0  # still told


def message(n: int) -> EmailMessage:
    msg = EmailMessage()
    msg["To"] = f"kunde{n}@example.org"
    msg["Subject"] = f"Angebot {n}"
    msg.set_content("Guten Tag.\n")
    return msg


def test_the_tenant_wide_limit_pauses_every_mailbox_of_the_domain_not_others(
        falcana_host: Host, smtp_server: Callable[..., SmtpTestServer]) -> None:
    host = falcana_host
    users = {a: PASSWORD for a in ("anna@contoso-gmbh.de", "ben@contoso-gmbh.de",
                                   "max@fabrikam.example")}
    server = smtp_server("starttls", users=users)
    anna, ben, other = (mailbox(host, a, "127.0.0.1", server.port) for a in users)
    clock = Clock()
    worker = Worker(host, clock=clock, policy=OutboxPolicy(backoff_base=60, lease=30))
    server.fail("data", TERRL, times=1)
    first = host.outbox.enqueue(anna, message(0))
    assert worker.run_once() == 0 and server.messages == []
    row = host.outbox.get(first)
    assert row is not None and row.status == "queued"  # waits, not failed
    waiting = [host.outbox.enqueue(ben, message(1)), host.outbox.enqueue(other, message(2))]
    worker.run_once()
    assert [m.rcpt_tos for m in server.messages] == [["kunde2@example.org"]]
    assert host.outbox.paused(ben.id, clock()) is not None  # never sent, paused with anna
    assert (r := host.outbox.get(waiting[0])) is not None and r.status == "queued"
    clock.advance(3601)
    worker.run_once()
    assert len(server.messages) == 3  # the hour passed: both went out
    assert host.outbox.paused(anna.id, clock()) is None

