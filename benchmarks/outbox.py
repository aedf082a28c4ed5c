"""Outbox delivery rate: the worker (SQLite, PostgreSQL) against Django's SMTP backend and a
plain smtplib loop, all delivering N messages to the same local sink in one run.

Prints messages per second and the ratios to the plain loop (aim: the worker on SQLite at
least 0.7 of the plain loop, and ahead of Django's backend). The worker's figure is for
delivery (claim, send, commit each result); handing the messages over is shown apart.

    uv run python benchmarks/outbox.py [--messages 2000]
"""

from __future__ import annotations

import argparse
import os
import smtplib
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
USER, PASSWORD = "bench@example.com", "bench-pw"


def messages(n: int) -> list[EmailMessage]:
    out = []
    for i in range(n):
        msg = EmailMessage()
        msg["To"] = f"kunde{i}@example.org"
        msg["Subject"] = f"Angebot Nr. {i}"
        msg.set_content("Guten Tag,\n\nanbei unser Angebot.\n\nMit freundlichen Grüßen\n" * 5)
        out.append(msg)
    return out


def plain_loop(port: int, n: int) -> float:
    batch = messages(n)
    for msg in batch:
        msg["From"] = f"Jürgen Müßig <{USER}>"
    started = time.perf_counter()
    smtp = smtplib.SMTP("127.0.0.1", port, timeout=30)
    smtp.login(USER, PASSWORD)
    for msg in batch:
        smtp.send_message(msg)
    smtp.quit()
    return n / (time.perf_counter() - started)


def django_backend(port: int, n: int) -> float:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
                           DEFAULT_CHARSET="utf-8")
        django.setup()
    from django.core.mail import EmailMessage as DjangoMessage
    from django.core.mail.backends.smtp import EmailBackend

    batch = [DjangoMessage(f"Angebot Nr. {i}", "Guten Tag,\n\nanbei unser Angebot.\n" * 5,
                           f"Jürgen Müßig <{USER}>", [f"kunde{i}@example.org"])
             for i in range(n)]
    started = time.perf_counter()
    backend = EmailBackend(host="127.0.0.1", port=port, username=USER, password=PASSWORD,
                           use_tls=False, timeout=30)
    sent = backend.send_messages(batch)
    backend.close()
    assert sent == n
    return n / (time.perf_counter() - started)


def worker(port: int, n: int, database_url: str | None,
           imap: Any = None) -> tuple[float, float]:
    """The worker's rate; with ``imap`` (a Dovecot test server) every message is also
    filed in the mailbox's Sent folder (the sent_copy plugin)."""
    from falcana_core.host import Host
    from falcana_core.outbox import Worker
    from falcana_core.testing import make_config

    with tempfile.TemporaryDirectory() as data:
        overrides: dict[str, Any] = {"database_url": database_url} if database_url else {}
        if imap is not None:
            overrides["ca_bundle"] = imap.ca_file
        host = Host.start(make_config(Path(data), dns_servers=("127.0.0.1:9",), **overrides))
        user = host.users.add("bench", first_name="Jürgen", last_name="Müßig", email=USER)
        box = host.mailboxes.personal(user)
        assert host.save_section(box, "smtp", {
            "email": USER, "password": PASSWORD, "host": "127.0.0.1", "port": port,
            "security": "normal"}, actor="operator").saved
        if imap is not None:
            saved = host.save_section(box, "sent_copy", {
                "mode": "on", "host": "127.0.0.1", "port": imap.ssl_port, "security": "ssl",
                "username": "", "password": "", "folder": ""}, actor="operator")
            assert saved.saved, [(m.field, str(m.text)) for m in saved.validation.errors]
        batch = messages(n)
        started = time.perf_counter()
        host.outbox.enqueue_many([(box, m) for m in batch])
        handover = n / (time.perf_counter() - started)
        started = time.perf_counter()
        Worker(host).run(once=True)
        rate = n / (time.perf_counter() - started)
        assert host.outbox.counts()["sent"] == n, host.outbox.counts()
        if imap is not None:
            filed = [m for m in host.outbox.list(limit=n + 1) if m.copy_status == "filed"]
            assert len(filed) == n, f"{len(filed)} of {n} filed"
        host.close()
    return rate, handover


def postgres_database() -> tuple[str, object] | None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = os.environ.get("FALCANA_TEST_POSTGRES_URL",
                         "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    try:
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("DROP DATABASE IF EXISTS falcana_bench WITH (FORCE)"))
            conn.execute(text("CREATE DATABASE falcana_bench"))
    except Exception as exc:
        print(f"(PostgreSQL not available: {exc.__class__.__name__}; its row is skipped)")
        return None
    return make_url(url).set(database="falcana_bench").render_as_string(
        hide_password=False), admin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    args = parser.parse_args()
    n = args.messages
    sink = subprocess.Popen([sys.executable, str(HERE / "_sink.py")], stdout=subprocess.PIPE,
                            text=True)
    assert sink.stdout is not None
    port = int(sink.stdout.readline())
    try:
        plain = plain_loop(port, n)
        django_rate = django_backend(port, n)
        sqlite_rate, sqlite_handover = worker(port, n, None)
        pg = postgres_database()
        pg_rate = pg_handover = None
        if pg is not None:
            pg_rate, pg_handover = worker(port, n, pg[0])
        copy_rate = copy_off = None
        imap = dovecot()
        if imap is not None:
            try:
                copy_off, _h = worker(port, n, None)
                copy_rate, _h = worker(port, n, None, imap)
            finally:
                imap.stop()
        plain2 = plain_loop(port, n)  # the baseline again: how noisy was this run?
    finally:
        sink.kill()
    base = (plain + plain2) / 2
    print(f"{n} messages to a local aiosmtpd sink, one connection each way")
    print(f"{'':34} {'msg/s':>8} {'/ plain':>8}")
    rows = [("plain smtplib loop (baseline)", base), ("Django SMTP backend", django_rate),
            ("falcana worker, SQLite", sqlite_rate)]
    if pg_rate is not None:
        rows.append(("falcana worker, PostgreSQL", pg_rate))
    for name, rate in rows:
        print(f"{name:34} {rate:8.0f} {rate / base:8.2f}")
    print(f"(baseline first/last: {plain:.0f}/{plain2:.0f} msg/s; hand-over into the outbox: "
          f"SQLite {sqlite_handover:.0f} msg/s"
          + (f", PostgreSQL {pg_handover:.0f} msg/s)" if pg_handover else ")"))
    print(f"worker on SQLite / Django backend: {sqlite_rate / django_rate:.2f}")
    if copy_rate is not None and copy_off is not None:
        print(f"copy in Sent (IMAP APPEND to a local Dovecot) on / off, SQLite: "
              f"{copy_rate:.0f} / {copy_off:.0f} msg/s = {copy_rate / copy_off:.2f}")
    else:
        print("(Dovecot not installed: the cost of the copy in Sent is not measured)")


def dovecot() -> Any:
    """A local Dovecot with the bench user and a Sent folder, or None when not installed."""
    import trustme

    from falcana_core.testing.imapd import DovecotTestServer, available

    if not available():
        return None
    ca = trustme.CA()
    server = DovecotTestServer(ca, {USER: PASSWORD}).start()
    server.create(USER, "Sent")
    ca_file = Path(tempfile.mkdtemp()) / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server.ca_file = ca_file
    return server


if __name__ == "__main__":
    main()
