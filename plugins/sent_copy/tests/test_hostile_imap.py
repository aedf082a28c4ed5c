"""An IMAP server that trickles, floods or is no IMAP server at all cannot hold a test, a
worker or the memory: the copy in Sent runs under the core's connection guard (the work's
deadline, SIGTERM, a read budget), and a foreign banner is never shown."""

from __future__ import annotations

import functools
import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from falcana_sent_copy.testing.hostile import HostileImap
from falcana_smtp_settings.testing.smtpd import SmtpTestServer

from falcana_core.host import Host
from falcana_core.models import Mailbox
from falcana_core.testing import make_config

ADDRESS = "anna@firma.example"
PASSWORD = "Postfach-Pw-1"
SSH = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"


@pytest.fixture
def hostile(loopback_server: Callable[..., Any]) -> Callable[..., HostileImap]:
    return functools.partial(loopback_server, HostileImap)


def point(app: Host, smtp: SmtpTestServer, imap_port: int) -> Mailbox:
    user = app.users.add("anna", email=ADDRESS)
    box = app.mailboxes.personal(user)
    assert app.save_section(box, "smtp", {
        "email": ADDRESS, "username": ADDRESS, "password": PASSWORD, "host": "127.0.0.1",
        "port": str(smtp.port), "security": "normal"}, actor="admin").saved
    saved = app.save_section(box, "sent_copy", {
        "mode": "on", "host": "127.0.0.1", "port": str(imap_port), "security": "normal",
        "username": "", "password": "IMAP-Pw-1", "folder": ""}, actor="admin")
    assert saved.saved, saved.validation.errors
    return box


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize(("behaviour", "explanation"), [
    ("trickle", "sent_copy.out_of_time"),
    ("literal", "sent_copy.answer_too_large"),
    ("line", "sent_copy.answer_too_large"),
    ("banner", "sent_copy.not_imap"),
])
def test_a_hostile_imap_server_ends_the_test_mail_in_time_and_memory(
        falcana_host: Host, smtp_server: Callable[..., SmtpTestServer],
        hostile: Callable[..., HostileImap], behaviour: str, explanation: str) -> None:
    object.__setattr__(falcana_host.config, "test_deadline", 3.0)
    object.__setattr__(falcana_host.config, "net_timeout", 30.0)  # only the deadline cuts
    server = hostile(behaviour, interval=0.5, banner=SSH)
    box = point(falcana_host, smtp_server("normal", users={ADDRESS: PASSWORD}), server.port)
    before = peak_rss_mb()
    started = time.monotonic()
    result = falcana_host.run_action(box, "smtp.test", {}, actor="admin")
    took = time.monotonic() - started
    assert took < 3.0 + 5.0, took
    assert peak_rss_mb() - before < 200
    assert result.ok  # the mail itself went out
    [part] = result.parts
    assert not part.ok and part.explanation is not None
    assert part.explanation.id == explanation
    shown = json.dumps(result.as_dict("en"))
    assert "OpenSSH" not in shown and "xxxxxxxx" not in shown
    if behaviour in ("literal", "line"):
        assert server.streamed < 64 * 1024 * 1024  # refused long before the server's size


def test_sigterm_stops_a_worker_held_by_a_trickling_imap_server_within_seconds(
        tmp_path: Path, test_ca_bundle: Path, dns_server: Any,
        smtp_server: Callable[..., SmtpTestServer],
        hostile: Callable[..., HostileImap]) -> None:
    config = make_config(tmp_path / "data", ca_bundle=test_ca_bundle)
    app = Host.start(config)
    smtp = smtp_server("normal", users={ADDRESS: PASSWORD})
    slow = hostile("trickle", interval=1.0)
    box = point(app, smtp, slow.port)
    msg = EmailMessage()
    msg["To"] = "kunde@example.org"
    msg["Subject"] = "Angebot"
    msg.set_content("Hallo\n")
    app.outbox.enqueue(box, msg)
    env = {**os.environ, "FALCANA_DATA_DIR": str(config.data_dir),
           "FALCANA_DATABASE_URL": config.database_url, "FALCANA_CA_BUNDLE": str(test_ca_bundle),
           "FALCANA_DNS_SERVERS": dns_server.address, "FALCANA_ALLOW_NETWORKS": "loopback",
           "FALCANA_NET_TIMEOUT": "30", "FALCANA_SEND_DEADLINE": "120", "FALCANA_LANG": "en"}
    proc = subprocess.Popen([sys.executable, "-m", "falcana_core", "worker", "--once",
                             "--quiet"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    for _ in range(200):
        if slow.streamed:
            break
        time.sleep(0.1)
    assert slow.streamed, "the worker never reached LIST"
    proc.send_signal(signal.SIGTERM)
    stopped = time.monotonic()
    proc.wait(timeout=30)
    assert time.monotonic() - stopped < 5.0
    [row] = app.outbox.list(limit=5)
    assert row.status == "sent" and len(smtp.messages) == 1  # the mail went out once
    step = row.after_delivery("sent_copy")
    assert step is not None and step.status == "pending"  # the copy waits for the next run
    app.close()
