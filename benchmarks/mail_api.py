"""Sending through a mail API: the worker against a plain requests loop, in one run.

A local HTTPS Microsoft Graph (the test kit's, checking every token against the local
authorization server, in a process of its own: ``_graph.py``) receives the messages. The
baseline posts the same base64 MIME bodies with one bearer token over one keep-alive
connection, one after the other. The
worker sends them from the outbox through the ``graph`` transport (app-only tokens from
the authorization server, the step log, the claim and result commits): first for one
mailbox (one connection, comparable to the loop), then spread over several mailboxes at
once. Printed as messages per second and as a ratio to the loop measured in the same run
(these machines are shared and noisy: compare the ratios).

    uv run python benchmarks/mail_api.py [--messages 600] [--mailboxes 10] [--delay 0.1]
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

GRAPH_APP = "https://graph.microsoft.com/.default"
HERE = Path(__file__).parent


def message(i: int) -> EmailMessage:
    msg = EmailMessage()
    msg["To"] = f"kunde{i}@example.org"
    msg["Subject"] = f"Angebot Nr. {i}"
    msg.set_content("Guten Tag,\n\nanbei unser Angebot.\n\nMit freundlichen Grüßen\n" * 5)
    return msg


def mailbox_address(i: int) -> str:
    return f"vertrieb{i}@contoso-gmbh.de"


def plain_loop(graph_url: str, token: str, bodies: list[bytes], ca: Path,
               sender: str) -> float:
    """Messages per second of a requests loop on one connection."""
    import requests

    session = requests.Session()
    url = f"{graph_url}/v1.0/users/{sender}/sendMail"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/plain"}
    started = time.perf_counter()
    for body in bodies:
        answer = session.post(url, data=body, headers=headers, verify=str(ca), timeout=30)
        assert answer.status_code == 202, answer.text
    return len(bodies) / (time.perf_counter() - started)


def worker_run(host: Any, boxes: list[Any], n: int, concurrency: int) -> float:
    from falcana_core.worker import Worker

    items = [(boxes[i % len(boxes)], message(i)) for i in range(n)]
    host.outbox.enqueue_many(items)
    started = time.perf_counter()
    Worker(host, concurrency=concurrency).run_once()
    elapsed = time.perf_counter() - started
    counts = host.outbox.counts()
    assert counts.get("sent", 0) >= n and not counts.get("failed"), counts
    return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=600)
    parser.add_argument("--mailboxes", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--delay", type=float, default=0.0,
                        help="the server waits this long before each answer (real Graph: "
                             "0.1-0.5 s); 0: an instant server")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    import requests

    from falcana_core.host import Host
    from falcana_core.testing import make_config
    from falcana_core.testing.dnsd import DnsTestServer

    senders = [mailbox_address(i) for i in range(args.mailboxes)]
    dns = DnsTestServer().start()
    dns.set_mx("contoso-gmbh.de", ["contoso-gmbh-de.mail.protection.outlook.com"])
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "ca.pem"
        # the servers run in a process of their own, as a real API would: they take no
        # share of this process's interpreter lock
        servers = subprocess.Popen(
            [sys.executable, str(HERE / "_graph.py"), "--mailboxes", str(args.mailboxes),
             "--ca-file", str(bundle), "--delay", str(args.delay)],
            stdout=subprocess.PIPE, text=True)
        assert servers.stdout is not None
        urls = json.loads(servers.stdout.readline())
        host = Host.start(make_config(Path(tmp) / "data", ca_bundle=bundle,
                                      dns_servers=(dns.address,)))
        assert host.save_section(None, "oauth_microsoft", {
            "client_id": "bench", "client_secret": "bench-secret",
            "authority": urls["oauth"], "graph_url": urls["graph"]}, actor="admin").saved
        boxes = []
        for sender in senders:
            box = host.mailboxes.create_shared(sender, "Vertrieb", actor="admin")
            assert host.save_section(box, "smtp", {
                "email": sender, "transport": "graph", "auth_method": "oauth2_app"},
                actor="admin").saved
            boxes.append(host.mailboxes.get(box.id))
        # Microsoft 365 allows 30 messages a minute per mailbox, and the worker keeps to
        # that: the mailboxes forget their provider so the run measures sending, not the
        # limit (the MX record goes too, so the worker does not find it again)
        from falcana_smtp_settings.models import SmtpAccount
        from sqlalchemy import update

        with host.transaction() as s:
            s.execute(update(SmtpAccount).values(provider=None))
        dns.set_mx("contoso-gmbh.de", [])
        token = requests.post(f"{urls['oauth']}/token", data={
            "grant_type": "client_credentials", "client_id": "bench",
            "client_secret": "bench-secret", "scope": GRAPH_APP}, timeout=10).json()
        bodies = []
        for i in range(args.messages):
            msg = message(i)
            msg["From"] = senders[0]
            bodies.append(base64.b64encode(msg.as_bytes()))
        loop, one, many = [], [], []
        for _ in range(args.rounds):  # interleaved: the machine's noise hits all alike
            loop.append(plain_loop(urls["graph"], token["access_token"], bodies, bundle,
                                   senders[0]))
            one.append(worker_run(host, boxes[:1], args.messages, 1))
            many.append(worker_run(host, boxes, args.messages, args.mailboxes))
        host.close()
        servers.kill()
    dns.stop()
    base = statistics.median(loop)
    print(f"{args.messages} messages, median of {args.rounds} rounds, local HTTPS Graph "
          f"answering after {args.delay * 1000:.0f} ms")
    print(f"requests loop, 1 connection          {base:8.1f} msg/s   1.00")
    for label, runs in (("worker, 1 mailbox, 1 connection", one),
                        (f"worker, {args.mailboxes} mailboxes, {args.mailboxes} conns", many)):
        value = statistics.median(runs)
        print(f"{label:<36} {value:8.1f} msg/s   {value / base:4.2f}")


if __name__ == "__main__":
    main()
