"""Outbox delivery: the worker against reference senders, all in one run on one machine.

1. Instant sink (a local aiosmtpd that answers at once): the worker on SQLite and on
   PostgreSQL against a plain smtplib loop on one connection (the baseline), Django's
   SMTP backend and django-post-office. Aim: both at least 0.8 of the loop, ahead of
   Django's backend and django-post-office.
2. Latency sink (every reply held back ``--delay``, 30 ms: a provider across a real
   network), many mailboxes: the worker at several concurrencies against an asyncio
   sender (aiosmtplib) doing the same work (one connection per mailbox, its messages
   one after the other) with the same number of connections. Aim: at least 0.8 of it at
   20 connections; throughput grows with connections; 4 processes on PostgreSQL add up.
3. Claim time of one mailbox with 0 and ``--history`` delivered messages in the table:
   flat is the goal. Counting per status (``falcana outbox list``) beside it.
4. Peak memory of a worker process over ``--rss-messages`` messages against a fifth of
   them: flat (no growth with messages sent).
5. The copy in Sent (IMAP APPEND to a local Dovecot), when Dovecot is installed.

    uv run python benchmarks/outbox.py [--messages 2000] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import os
import resource
import smtplib
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from _sink import sink  # benchmarks/ is on the path when a benchmark runs

HERE = Path(__file__).parent
PASSWORD = "bench-pw"
USER = "bench@example.com"


def address(i: int) -> str:
    return USER if i == 0 else f"bench{i}@example.com"


def messages(n: int) -> list[EmailMessage]:
    out = []
    for i in range(n):
        msg = EmailMessage()
        msg["To"] = f"kunde{i}@example.org"
        msg["Subject"] = f"Angebot Nr. {i}"
        msg.set_content("Guten Tag,\n\nanbei unser Angebot.\n\nMit freundlichen Grüßen\n" * 5)
        out.append(msg)
    return out


# -- reference senders ----------------------------------------------------------------------

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


def django_setup(port: int, data: Path) -> None:
    """Django configured once for its SMTP backend and django-post-office (its queue in a
    SQLite file of this run)."""
    import django
    from django.conf import settings
    from django.core.management import call_command

    settings.configure(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend", DEFAULT_CHARSET="utf-8",
        EMAIL_HOST="127.0.0.1", EMAIL_PORT=port, EMAIL_HOST_USER=USER,
        EMAIL_HOST_PASSWORD=PASSWORD, EMAIL_USE_TLS=False, USE_TZ=True,
        INSTALLED_APPS=["django.contrib.contenttypes", "post_office"],
        TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates"}],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3",
                               "NAME": str(data / "post_office.sqlite3")}},
        POST_OFFICE={"BACKENDS": {"default": "django.core.mail.backends.smtp.EmailBackend"},
                     "BATCH_SIZE": 1000, "LOG_LEVEL": 0})
    django.setup()
    call_command("migrate", verbosity=0)
    logging.getLogger("post_office").setLevel(logging.WARNING)  # one line per batch


def django_backend(port: int, n: int) -> float:
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


def post_office(n: int) -> dict[str, float]:
    """django-post-office: hand-over with ``send_many`` (a bulk insert), then its
    ``send_queued`` (one process, its default threads) until the queue is empty."""
    from post_office import mail
    from post_office.models import Email

    started = time.perf_counter()
    mail.send_many([{"recipients": [f"kunde{i}@example.org"],
                     "sender": f"Jürgen Müßig <{USER}>", "subject": f"Angebot Nr. {i}",
                     "message": "Guten Tag,\n\nanbei unser Angebot.\n" * 5}
                    for i in range(n)])
    handover = n / (time.perf_counter() - started)
    started = time.perf_counter()
    while sum(mail.send_queued(processes=1, log_level=0)):
        pass
    rate = n / (time.perf_counter() - started)
    assert Email.objects.filter(status=0).count() == n  # 0: sent
    Email.objects.all().delete()
    return {"rate": rate, "handover": handover}


def asyncio_reference(port: int, mailboxes: int, n: int, connections: int) -> float:
    """aiosmtplib: one connection per mailbox (log in, its messages, QUIT), at most
    ``connections`` at once: the work the worker does, without its database."""
    import aiosmtplib

    per_box: dict[int, list[EmailMessage]] = {}
    for i, msg in enumerate(messages(n)):
        msg["From"] = f"Vertrieb <{address(i % mailboxes)}>"
        per_box.setdefault(i % mailboxes, []).append(msg)

    async def mailbox(box: int, gate: asyncio.Semaphore) -> None:
        async with gate:
            smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30,
                                   start_tls=False)
            await smtp.connect()
            await smtp.login(address(box), PASSWORD)
            for msg in per_box[box]:
                await smtp.send_message(msg)
            await smtp.quit()

    async def all_boxes() -> None:
        gate = asyncio.Semaphore(connections)
        await asyncio.gather(*(mailbox(box, gate) for box in per_box))

    started = time.perf_counter()
    asyncio.run(all_boxes())
    return n / (time.perf_counter() - started)


# -- the worker -----------------------------------------------------------------------------

def start_host(data: Path, database_url: str | None, **overrides: Any) -> Any:
    from falcana_core.host import Host
    from falcana_core.testing import make_config

    if database_url:
        overrides["database_url"] = database_url
    return Host.start(make_config(data, dns_servers=("127.0.0.1:9",), **overrides))


def setup_boxes(host: Any, port: int, count: int) -> list[Any]:
    boxes = []
    for i in range(count):
        user = host.users.add(f"bench{i}", first_name="Jürgen", last_name=f"Müßig {i}",
                              email=address(i))
        box = host.mailboxes.personal(user)
        assert host.save_section(box, "smtp", {
            "email": address(i), "password": PASSWORD, "host": "127.0.0.1", "port": port,
            "security": "normal"}, actor="operator").saved
        boxes.append(box)
    return boxes


def worker(port: int, n: int, database_url: str | None, *, mailboxes: int = 1,
           concurrency: int | None = None, imap: Any = None) -> dict[str, float]:
    """The worker's delivery rate (and hand-over rate, commits shared); with ``imap`` (a
    Dovecot test server) every message is also filed in the mailbox's Sent folder."""
    from falcana_core.worker import Worker

    with tempfile.TemporaryDirectory() as data:
        host = start_host(Path(data), database_url,
                          **({"ca_bundle": imap.ca_file} if imap is not None else {}))
        boxes = setup_boxes(host, port, mailboxes)
        for box in boxes if imap is not None else ():
            saved = host.save_section(box, "sent_copy", {
                "mode": "on", "host": "127.0.0.1", "port": imap.ssl_port, "security": "ssl",
                "username": "", "password": "", "use_smtp_password": True, "folder": ""},
                actor="operator")
            assert saved.saved, [(m.field, str(m.text)) for m in saved.validation.errors]
        batch = [(boxes[i % mailboxes], m) for i, m in enumerate(messages(n))]
        started = time.perf_counter()
        host.outbox.enqueue_many(batch)
        handover = n / (time.perf_counter() - started)
        run = Worker(host, concurrency=concurrency)
        started = time.perf_counter()
        run.run(once=True)
        rate = n / (time.perf_counter() - started)
        assert host.outbox.counts()["sent"] == n, host.outbox.counts()
        if imap is not None:
            filed = [m for m in host.outbox.list(limit=n + 1)
                     if (step := m.after_delivery("sent_copy")) and step.status == "done"]
            assert len(filed) == n, f"{len(filed)} of {n} filed"
        host.close()
    return {"rate": rate, "handover": handover, "per_commit": n / max(1, run.commits.commits)}


def worker_processes(port: int, n: int, database_url: str, *, mailboxes: int,
                     processes: int, concurrency: int) -> float:
    """``processes`` worker processes (``falcana worker --once``) on one PostgreSQL queue."""
    with tempfile.TemporaryDirectory() as data:
        host = start_host(Path(data), database_url)
        boxes = setup_boxes(host, port, mailboxes)
        host.outbox.enqueue_many([(boxes[i % mailboxes], m) for i, m in enumerate(messages(n))])
        env = {**os.environ, "FALCANA_DATA_DIR": data, "FALCANA_DATABASE_URL": database_url,
               "FALCANA_DNS_SERVERS": "127.0.0.1:9", "FALCANA_ALLOW_NETWORKS": "loopback",
               "FALCANA_USER_PORTS": "1024-65535"}
        started = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, "-m", "falcana_core", "worker", "--once",
                                   "--quiet", "--concurrency", str(concurrency)], env=env,
                                  stderr=subprocess.PIPE, text=True) for _ in range(processes)]
        errors = [proc.communicate()[1] for proc in procs]
        rate = n / (time.perf_counter() - started)
        for error in errors:  # anything but the closing "N handled; ..." line
            lines = [line for line in error.splitlines() if " handled; " not in line]
            if lines:
                print("\n".join(lines)[-3000:], file=sys.stderr)
        assert host.outbox.counts()["sent"] == n, host.outbox.counts()
        host.close()
    return rate


# -- cost with history ----------------------------------------------------------------------

def claim_times(database_url: str | None, history: int, rounds: int = 20) -> dict[str, float]:
    """Median claim time of one mailbox (50 due messages) with ``history`` delivered
    messages of the same mailbox in the table; and of counting per status."""
    from sqlalchemy import insert

    from falcana_core.models import OutboxMessage
    from falcana_core.worker import Worker

    with tempfile.TemporaryDirectory() as data:
        host = start_host(Path(data), database_url)
        box = setup_boxes(host, 9, 1)[0]
        now = dt.datetime.now(dt.UTC)
        rows = [{"mailbox_id": box.id, "message_id": f"<{i}@bench>", "status": "sent",
                 "content": b"x", "recipients": {"k@example.org": {"status": "accepted"}},
                 "sent_at": now - dt.timedelta(seconds=history - i), "attempts": 1,
                 "created_at": now, "next_attempt_at": now} for i in range(history)]
        with host.engine.begin() as conn:
            for start in range(0, len(rows), 10_000):
                conn.execute(insert(OutboxMessage), rows[start:start + 10_000])
        if host.engine.dialect.name == "postgresql":
            with host.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                c.exec_driver_sql("ANALYZE outbox_messages")
        host.outbox.enqueue_many([(box, m) for m in messages(50)])
        run = Worker(host, concurrency=1)
        claims, counts = [], []
        for _ in range(rounds):
            started = time.perf_counter()
            claim = run._claim(box.id)
            claims.append(time.perf_counter() - started)
            assert claim is not None and len(claim.ids) == 50
            run._release(claim.token, claim.ids)
            started = time.perf_counter()
            host.outbox.counts()
            counts.append(time.perf_counter() - started)
        host.close()
    return {"claim": statistics.median(claims) * 1000, "counts": statistics.median(counts) * 1000}


# -- memory -----------------------------------------------------------------------------------

def peak_rss(port: int, n: int) -> float:
    """Peak resident memory (MiB) of a worker process delivering ``n`` messages."""
    out = subprocess.run([sys.executable, __file__, "--rss-child", str(n), "--port", str(port)],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.split()[-1])


def rss_child(port: int, n: int) -> None:
    from falcana_core.worker import Worker

    with tempfile.TemporaryDirectory() as data:
        host = start_host(Path(data), None)
        box = setup_boxes(host, port, 1)[0]
        for start in range(0, n, 100):  # hand over in small parts: measure the worker
            host.outbox.enqueue_many([(box, m) for m in messages(min(100, n - start))])
        Worker(host).run(once=True)
        assert host.outbox.counts()["sent"] == n
        host.close()
    print(high_water_mib())


def high_water_mib() -> float:
    """This process's peak resident memory. Not ``getrusage``'s ru_maxrss: Linux carries
    it over from the process that started this one (a benchmark grown large)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- PostgreSQL and Dovecot, when there -------------------------------------------------------

@contextmanager
def postgres_database() -> Iterator[str | None]:
    """A database of this run's own (a unique name: runs at once do not clobber each
    other), dropped afterwards; None when no PostgreSQL server answers."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = os.environ.get("FALCANA_TEST_POSTGRES_URL",
                         "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    name = f"falcana_bench_{uuid.uuid4().hex[:12]}"
    try:
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        print(f"(PostgreSQL not available: {exc.__class__.__name__}; its rows are skipped)")
        yield None
        return
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def fresh(database_url: str | None) -> str | None:
    """Empty the bench database between measurements (each starts from no tables)."""
    if database_url is None:
        return None
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return database_url


def dovecot(mailboxes: int) -> Any:
    """A local Dovecot with the bench users and their Sent folders, or None when not
    installed."""
    import trustme
    from falcana_sent_copy.testing.imapd import DovecotTestServer, available

    if not available():
        return None
    ca = trustme.CA()
    users = {address(i): PASSWORD for i in range(mailboxes)}
    server = DovecotTestServer(ca, users).start()
    for user in users:
        server.create(user, "Sent")
    ca_file = Path(tempfile.mkdtemp()) / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server.ca_file = ca_file
    return server


# -- the report -------------------------------------------------------------------------------

def table(title: str, rows: list[tuple[str, float, float]]) -> None:
    print(f"\n{title}")
    print(f"{'':44} {'msg/s':>8} {'ratio':>7}")
    for name, rate, ratio in rows:
        print(f"{name:44} {rate:8.1f} {ratio:7.2f}")


def instant(n: int, pg: str | None, rounds: int) -> None:
    """Each sender once per round, the rounds one after the other (interleaved: a noisy
    moment of the machine hits every sender alike); the median of the rounds counts."""
    got: dict[str, list[float]] = {}
    handover: dict[str, list[float]] = {}

    def note(name: str, rate: float, handed: float | None = None) -> None:
        got.setdefault(name, []).append(rate)
        if handed is not None:
            handover.setdefault(name, []).append(handed)

    with sink() as port, tempfile.TemporaryDirectory() as data:
        django_setup(port, Path(data))
        for _round in range(rounds):
            note("plain", plain_loop(port, n))
            note("django", django_backend(port, n))
            office = post_office(n)
            note("post_office", office["rate"], office["handover"])
            sqlite = worker(port, n, None)
            note("sqlite", sqlite["rate"], sqlite["handover"])
            if pg:
                postgres = worker(port, n, fresh(pg))
                note("postgres", postgres["rate"], postgres["handover"])
    rate = {name: statistics.median(values) for name, values in got.items()}
    handed = {name: statistics.median(values) for name, values in handover.items()}
    base = rate["plain"]
    names = [("plain", "plain smtplib loop, 1 connection (baseline)"),
             ("django", "Django SMTP backend"), ("post_office", "django-post-office (SQLite)"),
             ("sqlite", "falcana worker, SQLite"), ("postgres", "falcana worker, PostgreSQL")]
    table(f"1. {n} messages, 1 mailbox, instant sink (median of {rounds} interleaved rounds, "
          "ratio to the plain loop)",
          [(label, rate[name], rate[name] / base) for name, label in names if name in rate])
    print(f"(baseline per round: {', '.join(f'{r:.0f}' for r in got['plain'])} msg/s)")
    office = handed["post_office"]
    table(f"1b. Hand-over of {n} messages (enqueue_many; median of {rounds} rounds, ratio to "
          "django-post-office's send_many)",
          [(label, handed[name], handed[name] / office) for name, label in (
              ("post_office", "django-post-office send_many (baseline)"),
              ("sqlite", "falcana enqueue_many, SQLite"),
              ("postgres", "falcana enqueue_many, PostgreSQL")) if name in handed])


def latency(n: int, mailboxes: int, delay: float, connections: int, pg: str | None,
            quick: bool) -> None:
    with sink(delay) as port:
        reference = asyncio_reference(port, mailboxes, n, connections)
        rows = [(f"aiosmtplib, {connections} connections (reference)", reference, 1.0)]
        for concurrency in ([1, connections] if quick else
                            [1, 5, 10, connections, 2 * connections]):
            got = worker(port, n, None, mailboxes=mailboxes, concurrency=concurrency)
            rows.append((f"falcana worker, SQLite, {concurrency} connections", got["rate"],
                         got["rate"] / reference))
        if pg:
            one = worker(port, n, fresh(pg), mailboxes=mailboxes, concurrency=10)
            rows.append(("falcana worker, PostgreSQL, 1 process x 10", one["rate"],
                         one["rate"] / reference))
            four = worker_processes(port, 2 * n, fresh(pg), mailboxes=mailboxes,
                                    processes=4, concurrency=10)
            rows.append(("falcana worker, PostgreSQL, 4 processes x 10", four,
                         four / reference))
            print_shared = one["per_commit"]
        reference2 = asyncio_reference(port, mailboxes, n, connections)
    table(f"2. {n} messages, {mailboxes} mailboxes, every reply {delay * 1000:.0f} ms late "
          f"(ratio to aiosmtplib at {connections} connections)", rows)
    print(f"(reference first/last: {reference:.1f}/{reference2:.1f} msg/s"
          + (f"; PostgreSQL, 10 connections: {print_shared:.1f} results per commit)"
             if pg else ")"))


def history(size: int, pg: str | None) -> None:
    print(f"\n3. One mailbox's claim (50 due messages) and the counts per status, "
          f"with 0 and {size:,} delivered messages in the table (median, ms)")
    print(f"{'':24} {'claim 0':>9} {'claim N':>9} {'counts 0':>9} {'counts N':>9}")
    for name, url in (("SQLite", None), ("PostgreSQL", pg)):
        if name == "PostgreSQL" and not url:
            continue
        empty = claim_times(fresh(url), 0)
        full = claim_times(fresh(url), size)
        print(f"{name:24} {empty['claim']:9.2f} {full['claim']:9.2f} "
              f"{empty['counts']:9.2f} {full['counts']:9.2f}")


def memory(n: int) -> None:
    with sink() as port:
        small, large = peak_rss(port, n // 5), peak_rss(port, n)
    print(f"\n4. Peak memory of a worker process: {n // 5:,} messages {small:.0f} MiB, "
          f"{n:,} messages {large:.0f} MiB ({large / small:.2f})")


def copies(n: int, rounds: int) -> None:
    """The worker's rate with the copy in Sent on against off, at 1 and 20 mailboxes
    (interleaved rounds, median): the copies of a pass are filed after its sending."""
    imap = dovecot(20)
    if imap is None:
        print("\n5. (Dovecot not installed: the cost of the copy in Sent is not measured)")
        return
    rows = []
    try:
        with sink() as port:
            for mailboxes in (1, 20):
                off, on = [], []
                for _round in range(rounds):
                    off.append(worker(port, n, None, mailboxes=mailboxes)["rate"])
                    on.append(worker(port, n, None, mailboxes=mailboxes, imap=imap)["rate"])
                rows.append((mailboxes, statistics.median(on), statistics.median(off)))
    finally:
        imap.stop()
    print(f"\n5. Copy in Sent (IMAP APPEND to a local Dovecot), SQLite, {n} messages, "
          f"median of {rounds} rounds: rate with the copy on / off")
    for mailboxes, on, off in rows:
        print(f"   {mailboxes:3} mailbox{'es' if mailboxes > 1 else '  '}: {on:7.0f} / "
              f"{off:7.0f} msg/s = {on / off:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--latency-messages", type=int, default=600)
    parser.add_argument("--mailboxes", type=int, default=100)
    parser.add_argument("--delay", type=float, default=0.03)
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--history", type=int, default=100_000)
    parser.add_argument("--rss-messages", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (part 1)")
    parser.add_argument("--quick", action="store_true", help="fewer rows, smaller sizes")
    parser.add_argument("--only", choices=["instant", "latency", "history", "memory",
                                           "copies"], action="append")
    parser.add_argument("--rss-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        rss_child(args.port, args.rss_child)
        return
    if args.quick:
        args.messages, args.history, args.rss_messages, args.rounds = 500, 20_000, 2_500, 1
    parts = set(args.only or ["instant", "latency", "history", "memory", "copies"])
    with postgres_database() as pg:
        if "instant" in parts:
            instant(args.messages, pg, args.rounds)
        if "latency" in parts:
            latency(args.latency_messages, args.mailboxes, args.delay, args.connections, pg,
                    args.quick)
        if "history" in parts:
            history(args.history, pg)
    if "memory" in parts:
        memory(args.rss_messages)
    if "copies" in parts:
        copies(min(args.messages, 600), args.rounds)


if __name__ == "__main__":
    main()
