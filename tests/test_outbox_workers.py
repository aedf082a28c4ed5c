"""Workers as separate processes: killed at random moments, and several at once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from falcana_smtp_settings.testing import smtp_mailboxes
from falcana_smtp_settings.testing.smtpd import SmtpTestServer

from falcana_core.config import Config
from falcana_core.host import Host
from falcana_core.models import Mailbox
from falcana_core.testing import make_config


def enqueue(host: Host, boxes: list[Mailbox], total: int) -> set[str]:
    items = []
    for i in range(total):
        msg = EmailMessage()
        msg["To"] = f"kunde{i}@example.org"
        msg["Subject"] = f"Nachricht {i}"
        msg.set_content(f"Nachricht Nummer {i}\n")
        items.append((boxes[i % len(boxes)], msg))
    host.outbox.enqueue_many(items)
    return {m.message_id for m in host.outbox.list(limit=total + 1)}


def worker_env(config: Config, ca_bundle: Path, dns: str) -> dict[str, str]:
    return {**os.environ, "FALCANA_DATA_DIR": str(config.data_dir),
            "FALCANA_DATABASE_URL": config.database_url, "FALCANA_CA_BUNDLE": str(ca_bundle),
            "FALCANA_DNS_SERVERS": dns, "FALCANA_OUTBOX_LEASE": "3",
            "FALCANA_NET_TIMEOUT": "2", "FALCANA_LANG": "en", "FALCANA_ALLOW_NETWORKS": "loopback"}


def start_worker(env: dict[str, str], *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "falcana_core", "worker", "--quiet",
                             "--poll", "0.1", *extra], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def received_ids(server: SmtpTestServer) -> Counter[str]:
    return Counter(str(m.message["Message-ID"]) for m in server.messages)


@pytest.mark.parametrize("concurrency", [1, 8])
def test_workers_killed_at_random_moments_lose_nothing(
        tmp_path: Path, smtp_server: Callable[..., SmtpTestServer], test_ca_bundle: Path,
        dns_server: Any, concurrency: int) -> None:
    config = make_config(tmp_path / "data", ca_bundle=test_ca_bundle)
    host = Host.start(config)
    server = smtp_server("normal")
    boxes = smtp_mailboxes(host, server, 3)
    expected = enqueue(host, boxes, 1000)
    env = worker_env(config, test_ca_bundle, dns_server.address)
    rng = random.Random(4711)
    kills = 0
    while kills < 4 and len(server.messages) < 700:
        proc = start_worker(env, "--concurrency", str(concurrency))
        # kill after the worker made some progress, at a random message: by count, not by
        # time, so a fast machine cannot finish the whole queue before the kill
        target = len(server.messages) + rng.randint(20, 60)
        deadline = time.monotonic() + 60
        while len(server.messages) < target and time.monotonic() < deadline:
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
    assert 0 < len(server.messages) < 1000, "the kills should fall mid-way"
    time.sleep(3.5)  # the killed workers' leases run out
    final = subprocess.run([sys.executable, "-m", "falcana_core", "worker", "--once",
                            "--quiet"], env=env, capture_output=True, timeout=300)
    assert final.returncode == 0, final.stderr.decode()
    counts = host.outbox.counts()
    assert counts["sent"] == 1000, counts
    ids = received_ids(server)
    assert set(ids) == expected  # every message arrived
    duplicates = sum(n - 1 for n in ids.values())
    # a kill duplicates at most the message in hand on each open connection (accepted by
    # the server, its result not yet committed), with the same Message-ID: 3 mailboxes
    # with at most 2 connections each
    open_connections = min(concurrency, 3 * 2)
    assert duplicates <= kills * open_connections
    host.close()


@pytest.mark.postgres
@pytest.mark.parametrize("workers", [2, 4])
def test_several_workers_on_postgresql_deliver_exactly_once(
        tmp_path: Path, postgres_url: str, smtp_server: Callable[..., SmtpTestServer],
        test_ca_bundle: Path, dns_server: Any, workers: int) -> None:
    config = make_config(tmp_path / "data", ca_bundle=test_ca_bundle,
                         database_url=postgres_url)
    host = Host.start(config)
    server = smtp_server("normal")
    boxes = smtp_mailboxes(host, server, 8)
    expected = enqueue(host, boxes, 2000)
    env = worker_env(config, test_ca_bundle, dns_server.address)
    env["FALCANA_OUTBOX_LEASE"] = "120"
    procs = [start_worker(env) for _ in range(workers)]
    deadline = time.monotonic() + 240
    while host.outbox.counts()["sent"] < 2000 and time.monotonic() < deadline:
        time.sleep(0.5)
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        assert proc.wait(30) == 0, proc.stderr.read().decode() if proc.stderr else ""
    assert host.outbox.counts()["sent"] == 2000
    ids = received_ids(server)
    assert set(ids) == expected
    assert max(ids.values()) == 1, "a message was delivered twice"
    host.close()
