"""Servers that are not what they claim, and people who point a mailbox at them: the
destination policy, ports for users, greetings that are no SMTP, servers that trickle or
flood, control characters (docs/security.md)."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from falcana_core.host import Host
from falcana_core.models import Mailbox
from falcana_core.net.policy import NetPolicy
from falcana_core.testing import make_config
from falcana_core.testing.net import ScriptedServer

NATS = (b'INFO {"server_id":"NDXJ4ZQ","server_name":"internal-nats","version":"2.10.7",'
        b'"auth_required":false}\r\n')


@pytest.fixture
def scripted(loopback_server: Callable[..., Any]) -> Callable[..., ScriptedServer]:
    return functools.partial(loopback_server, ScriptedServer)


def point(host: Host, box: Mailbox, server_host: str, port: int, actor: str = "admin") -> Any:
    return host.save_section(box, "smtp", {
        "email": "juergen@example.com", "username": "", "password": "pw-1",
        "host": server_host, "port": str(port), "security": "normal"}, actor=actor)


def set_config(host: Host, **values: Any) -> None:
    for name, value in values.items():
        object.__setattr__(host.config, name, value)


@pytest.mark.parametrize("spelled", ["127.0.0.1", "0x7f000001", "2130706433", "127.1",
                                     "::1", "::ffff:127.0.0.1", "0.0.0.0", "localhost"])
def test_internal_addresses_are_refused_in_every_spelling(
        falcana_host: Host, mailbox: Mailbox, scripted: Callable[..., ScriptedServer],
        spelled: str) -> None:
    set_config(falcana_host, net_policy=NetPolicy())  # the default: no internal networks
    listener = scripted(b"220 internal ESMTP\r\n")
    saved = point(falcana_host, mailbox, spelled, listener.port)
    if saved.saved:  # refused at connect time, whatever the spelling resolves to
        result = falcana_host.run_action(mailbox, "smtp.test", {}, actor="admin")
        assert result.failed_step == "resolve"
        assert result.explanation.id == "smtp.destination_not_allowed"
        assert result.explanation.field == "host"
        if spelled == "localhost":  # a name: what it resolves to is not told
            assert "127.0.0.1" not in json.dumps(result.as_dict("en"))
    assert listener.connections == 0


def test_an_allowed_network_is_reached(falcana_host: Host, mailbox: Mailbox,
                                       smtp_server: Callable[..., Any]) -> None:
    """On-premises Exchange is real: the operator allows its network."""
    set_config(falcana_host, net_policy=NetPolicy.parse("127.0.0.0/8"))
    server = smtp_server("normal", users={"juergen@example.com": "pw-1"})
    assert point(falcana_host, mailbox, "127.0.0.1", server.port).saved
    assert falcana_host.run_action(mailbox, "smtp.test", {}, actor="admin").ok


def test_users_get_the_mail_ports_only(falcana_host: Host, mailbox: Mailbox,
                                       scripted: Callable[..., ScriptedServer]) -> None:
    set_config(falcana_host, net_policy=NetPolicy.parse("loopback"))
    redis = scripted(b"-NOAUTH Authentication required.\r\n")
    refused = point(falcana_host, mailbox, "127.0.0.1", redis.port, actor="juergen")
    assert not refused.saved
    assert [(m.field, m.code) for m in refused.validation.errors] == [
        ("port", "port_not_allowed")]
    # an admin may save another port; a user's test still does not reach it
    assert point(falcana_host, mailbox, "127.0.0.1", redis.port).saved
    result = falcana_host.run_action(mailbox, "smtp.test", {}, actor="juergen")
    assert result.failed_step == "resolve"
    assert result.explanation.id == "smtp.port_not_allowed"
    assert redis.connections == 0


@pytest.mark.parametrize("banner", [NATS, b"-NOAUTH Authentication required.\r\n",
                                    b"\x00\x00\x00\x4aJ\x00\x00\x00\n8.0.35\x00",
                                    b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"])
def test_a_greeting_that_is_not_smtp_is_not_echoed(
        falcana_host: Host, mailbox: Mailbox, scripted: Callable[..., ScriptedServer],
        banner: bytes) -> None:
    service = scripted(banner)
    assert point(falcana_host, mailbox, "127.0.0.1", service.port).saved
    result = falcana_host.run_action(mailbox, "smtp.test", {}, actor="admin")
    assert result.failed_step == "greeting"
    assert result.explanation.id == "smtp.not_smtp"
    shown = json.dumps(result.as_dict("en"))
    for word in (b"server_id", b"NOAUTH", b"8.0.35", b"OpenSSH"):
        if word in banner:
            assert word.decode() not in shown


def test_a_trickling_server_is_cut_off_at_the_deadline(
        falcana_host: Host, mailbox: Mailbox, scripted: Callable[..., ScriptedServer]) -> None:
    """One byte every 0.5 s never trips a read time-out; the deadline closes the socket."""
    set_config(falcana_host, net_timeout=5.0, test_deadline=2.0)
    slow = scripted(trickle=b"220-still greeting you\r\n", interval=0.5)
    assert point(falcana_host, mailbox, "127.0.0.1", slow.port).saved
    started = time.monotonic()
    result = falcana_host.run_action(mailbox, "smtp.test", {}, actor="admin")
    assert time.monotonic() - started < 4.0
    assert result.failed_step == "greeting"
    assert result.explanation.id == "smtp.deadline"


def test_a_flood_of_greeting_is_cut_and_not_returned(
        falcana_host: Host, mailbox: Mailbox, scripted: Callable[..., ScriptedServer]) -> None:
    flood = scripted(b"220-" + b"x" * 1000 + b"\r\n" + (b"220-" + b"y" * 1000 + b"\r\n") * 20_000)
    assert point(falcana_host, mailbox, "127.0.0.1", flood.port).saved
    result = falcana_host.run_action(mailbox, "smtp.test", {}, actor="admin")
    assert result.failed_step == "greeting"
    assert result.explanation.id == "smtp.not_smtp"
    assert len(json.dumps(result.as_dict("en"))) < 20_000


def test_control_characters_never_reach_the_page_or_the_terminal(
        falcana_host: Host, mailbox: Mailbox, scripted: Callable[..., ScriptedServer],
        falcana_cli: Callable[..., Any]) -> None:
    evil = scripted(b"554 5.7.1 \x1b[2J\x1b]0;owned\x07no\x00 service \xe2\x80\xae here\r\n")
    assert point(falcana_host, mailbox, "127.0.0.1", evil.port).saved
    result = falcana_host.run_action(mailbox, "smtp.test", {}, actor="admin")
    assert result.failed_step == "greeting"
    text = json.dumps(result.as_dict("en"), ensure_ascii=False)
    assert "no service" in text  # the words stay, the control characters go
    for bad in ("\x1b", "\x07", "\x00", "\u202e"):
        assert bad not in text
    shown = falcana_cli("mail", "test", "juergen")
    assert "\x1b" not in shown.stdout + shown.stderr and "\x00" not in shown.stdout


def test_sigterm_stops_a_worker_held_by_a_trickling_server_within_seconds(
        tmp_path: Path, test_ca_bundle: Path, dns_server: Any,
        scripted: Callable[..., ScriptedServer]) -> None:
    config = make_config(tmp_path / "data", ca_bundle=test_ca_bundle)
    host = Host.start(config)
    slow = scripted(trickle=b"220-hold on\r\n", interval=1.0)
    user = host.users.add("juergen", email="juergen@example.com")
    box = host.mailboxes.personal(user)
    assert point(host, box, "127.0.0.1", slow.port).saved
    msg = EmailMessage()
    msg["To"] = "kunde@example.org"
    msg["Subject"] = "Angebot"
    msg.set_content("Hallo\n")
    host.outbox.enqueue(box, msg)
    env = {**os.environ, "FALCANA_DATA_DIR": str(config.data_dir),
           "FALCANA_DATABASE_URL": config.database_url, "FALCANA_CA_BUNDLE": str(test_ca_bundle),
           "FALCANA_DNS_SERVERS": dns_server.address, "FALCANA_ALLOW_NETWORKS": "loopback",
           "FALCANA_NET_TIMEOUT": "30", "FALCANA_LANG": "en"}
    proc = subprocess.Popen([sys.executable, "-m", "falcana_core", "worker", "--once",
                             "--quiet"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    for _ in range(100):
        if slow.connections:
            break
        time.sleep(0.1)
    time.sleep(1.0)  # the worker is now reading the endless greeting
    proc.send_signal(signal.SIGTERM)
    stopped = time.monotonic()
    proc.wait(timeout=15)
    assert time.monotonic() - stopped < 5.0
    [row] = host.outbox.list(limit=5)
    assert row.status == "queued" and row.attempts == 0  # given back, not counted
    host.close()


def test_slow_tests_never_take_every_request_thread_and_users_are_rate_limited(
        falcana_host: Host, scripted: Callable[..., ScriptedServer]) -> None:
    import threading

    from falcana_core.web import create_app
    from falcana_core.web.auth import throttle

    throttle._failures.clear()
    set_config(falcana_host, net_timeout=10.0, test_deadline=3.0)
    slow = scripted(trickle=b"220-wait\r\n", interval=0.5)
    boxes = {}
    for login in ("anna", "bert", "carl"):
        user = falcana_host.users.add(login, email=f"{login}@example.com", password="pw-1")
        boxes[login] = falcana_host.mailboxes.personal(user)
        assert point(falcana_host, boxes[login], "127.0.0.1", slow.port).saved
    app = create_app(falcana_host, WTF_CSRF_ENABLED=False, FALCANA_ACTION_SLOTS=2,
                     FALCANA_ACTIONS_PER_MINUTE=2)
    clients = {}
    for login in boxes:
        clients[login] = app.test_client()
        clients[login].post("/login", data={"login": login, "password": "pw-1"})

    def test(login: str) -> Any:
        return clients[login].post(f"/mailboxes/{boxes[login].id}/actions/smtp.test")

    answers: dict[str, int] = {}
    running = [threading.Thread(target=lambda n=n: answers.__setitem__(n, test(n).status_code))
               for n in ("anna", "bert")]
    for thread in running:
        thread.start()
    time.sleep(0.5)  # both tests now wait on the trickling server
    started = time.monotonic()
    third = test("carl")
    assert third.status_code == 503 and "Retry-After" in third.headers
    again = test("anna")
    assert again.status_code == 429  # one at a time per user
    assert app.test_client().get("/login").status_code == 200
    assert time.monotonic() - started < 1.0  # answered at once, not after the slow tests
    for thread in running:
        thread.join(10)
    assert answers == {"anna": 200, "bert": 200}
    assert test("anna").status_code == 200  # the second in this minute
    assert test("anna").status_code == 429  # the third is one too many
