"""Unzustellbare E-Mails: what a look at an inbox costs, and how fast reports are read.

1. A look with nothing new, against imaplib doing the least any look does on the same
   Dovecot (connect with TLS, LOGIN, EXAMINE INBOX, UID SEARCH, LOGOUT): ms per look.
2. The first look at an inbox of ``--messages`` messages (10,000; one in 200 a report),
   against imaplib fetching the same headers (the least a first look reads), then the
   next look (nothing new): seconds.
3. Reports read per second: ``read_report`` over the report samples of the tests against
   flufl.bounce's ``all_failures`` alone on the same messages (what reading the
   addresses without status, text and the returned Message-ID costs).

    uv run python benchmarks/bounces.py [--messages 10000] [--rounds 5]

Needs Debian's Dovecot (``.ci/run`` installs it) for parts 1 and 2.
"""

from __future__ import annotations

import argparse
import email
import imaplib
import logging
import os
import ssl
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
SAMPLES = HERE.parent / "plugins" / "bounces" / "tests" / "samples"
ADDRESS = "bench@example.com"
PASSWORD = "bench-pw"
NOBODY = 65534


def dovecot() -> Any:
    import trustme
    from falcana_sent_copy.testing.imapd import DovecotTestServer, available

    if not available():
        return None
    ca = trustme.CA()
    server = DovecotTestServer(ca, {ADDRESS: PASSWORD}).start()
    ca_file = Path(tempfile.mkdtemp()) / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server.ca_file = ca_file
    # Dovecot makes the Maildir (owned by its mail user) with the first message
    server.append(ADDRESS, "INBOX", b"From: kunde@example.org\r\nSubject: Hallo\r\n\r\nx\r\n")
    return server


def fill_inbox(server: Any, count: int, sent_ids: list[str]) -> int:
    """``count`` messages straight into the Maildir (as a delivery agent puts them), one
    in 200 a delivery report about a message we sent; returns how many reports."""
    new = server.folder / "mail" / ADDRESS / "Maildir" / "new"
    reports = 0
    for i in range(count):
        if i % 200 == 0:
            body = report(f"kunde{i}@example.org", sent_ids[reports % len(sent_ids)])
            reports += 1
        else:
            body = (f"From: kunde{i}@example.org\r\nTo: {ADDRESS}\r\nSubject: Re: Angebot {i}"
                    f"\r\nMessage-ID: <{uuid.uuid4()}@example.org>\r\n\r\n"
                    + "Danke, passt.\r\n" * 20).encode()
        path = new / f"{1_700_000_000 + i}.{i}.bench"
        path.write_bytes(body)
        os.chown(path, NOBODY, NOBODY)
    return reports


def report(recipient: str, message_id: str) -> bytes:
    return (f"From: MAILER-DAEMON@mx.example.org\r\nTo: {ADDRESS}\r\n"
            "Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n"
            "\r\n--B\r\nContent-Type: message/delivery-status\r\n\r\n"
            "Reporting-MTA: dns; mx.example.org\r\n\r\n"
            f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
            "Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n\r\n--B\r\n"
            f"Content-Type: text/rfc822-headers\r\n\r\nMessage-ID: {message_id}\r\n\r\n"
            "--B--\r\n").encode()


def imaplib_look(server: Any, fetch_headers: bool) -> float:
    ctx = ssl.create_default_context(cafile=str(server.ca_file))
    started = time.perf_counter()
    client = imaplib.IMAP4_SSL("127.0.0.1", server.ssl_port, ssl_context=ctx, timeout=60)
    client.login(ADDRESS, PASSWORD)
    client.select("INBOX", readonly=True)
    _typ, data = client.uid("SEARCH", "ALL" if fetch_headers else "UID 999999999:*")
    uids = (data[0] or b"").split()
    if fetch_headers:
        for start in range(0, len(uids), 250):
            client.uid("FETCH", b",".join(uids[start:start + 250]).decode(),
                       "(UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS (FROM SUBJECT CONTENT-TYPE "
                       "AUTO-SUBMITTED X-AUTOREPLY X-AUTORESPOND PRECEDENCE "
                       "X-FAILED-RECIPIENTS RETURN-PATH IN-REPLY-TO REFERENCES DATE "
                       "MESSAGE-ID)])")
    client.logout()
    return time.perf_counter() - started


def host_with_mailbox(data: Path, server: Any) -> tuple[Any, Any, list[str]]:
    from falcana_core.host import Host
    from falcana_core.testing import make_config

    host = Host.start(make_config(data, dns_servers=("127.0.0.1:9",),
                                  ca_bundle=server.ca_file, send_deadline=300.0))
    user = host.users.add("bench", email=ADDRESS)
    box = host.mailboxes.personal(user)
    assert host.save_section(box, "smtp", {
        "email": ADDRESS, "username": ADDRESS, "password": PASSWORD, "host": "127.0.0.1",
        "port": 2525, "security": "normal"}, actor="admin").saved
    saved = host.save_section(box, "sent_copy", {
        "mode": "off", "host": "127.0.0.1", "port": str(server.ssl_port), "security": "ssl",
        "username": "", "password": "", "use_smtp_password": True, "folder": ""},
        actor="admin")
    assert saved.saved, [(m.field, str(m.text)) for m in saved.validation.errors]
    sent_ids = [f"<sent-{i}@example.com>" for i in range(60)]
    return host, box, sent_ids


def looks(messages: int, rounds: int) -> None:
    from falcana_bounces.service import bounces

    server = dovecot()
    if server is None:
        print("1./2. (Dovecot not installed: the looks are not measured)")
        return
    try:
        with tempfile.TemporaryDirectory() as data:
            host, box, sent_ids = host_with_mailbox(Path(data), server)
            service = bounces(host)
            reports = fill_inbox(server, messages, sent_ids)
            imaplib_look(server, fetch_headers=False)  # Dovecot indexes the new mail once
            started = time.perf_counter()
            first = service.look(box)
            ours_first = time.perf_counter() - started
            assert first.ok, first.failure
            base_first = imaplib_look(server, fetch_headers=True)
            found = len(first.outcomes)
            ours, base = [], []
            for _ in range(rounds):
                base.append(imaplib_look(server, fetch_headers=False))
                started = time.perf_counter()
                again = service.look(box)
                ours.append(time.perf_counter() - started)
                assert again.ok and again.looked_at == 0
            host.close()
    finally:
        server.stop()
    mine, least = statistics.median(ours), statistics.median(base)
    print(f"1. a look with nothing new, {rounds} rounds (medians)")
    print(f"   imaplib: TLS, LOGIN, EXAMINE, UID SEARCH, LOGOUT  {least * 1000:7.1f} ms "
          "(baseline)")
    print(f"   falcana_bounces look (and its bookkeeping)      {mine * 1000:7.1f} ms "
          f"(ratio {mine / least:.2f})")
    print(f"2. the first look at an inbox of {messages} messages ({reports} reports, and "
          "the one that made the folder)")
    print(f"   imaplib fetching every message's deciding headers {base_first:7.2f} s "
          "(baseline)")
    print(f"   falcana_bounces first look                      {ours_first:7.2f} s "
          f"(ratio {ours_first / base_first:.2f}; {first.looked_at} looked at, "
          f"{found} reports read, at most 200 a look)")


def parsing(rounds: int) -> None:
    from falcana_bounces.reports import read_report
    from flufl.bounce import all_failures

    samples = [p.read_bytes() for p in sorted(SAMPLES.glob("*.txt"))]
    timings: dict[str, list[float]] = {"flufl": [], "ours": []}
    for _ in range(rounds):
        started = time.perf_counter()
        for raw in samples:
            all_failures(email.message_from_bytes(raw))
        timings["flufl"].append(time.perf_counter() - started)
        started = time.perf_counter()
        for raw in samples:
            read_report(raw)
        timings["ours"].append(time.perf_counter() - started)
    base, ours = (statistics.median(timings[k]) for k in ("flufl", "ours"))
    print(f"3. reports read, {len(samples)} samples x {rounds} rounds (medians)")
    print(f"   flufl.bounce all_failures alone    {len(samples) / base:8.0f} reports/s "
          "(baseline)")
    print(f"   read_report (status, text, ids)    {len(samples) / ours:8.0f} reports/s "
          f"(ratio {base / ours:.2f} of the baseline's speed)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    if os.geteuid() != 0:
        print("(the Maildir is filled as the mail user: run as root, as CI does)",
              file=sys.stderr)
    looks(args.messages, args.rounds)
    parsing(args.rounds)


if __name__ == "__main__":
    main()
