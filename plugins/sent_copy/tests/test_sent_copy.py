"""The copy in Gesendet, against a real Dovecot (the test kit's ``imap_server``) and a real
SMTP server: filed after sending, in whichever folder the mailbox has, never twice, and
never at the cost of sending."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

import pytest
from falcana_sent_copy import utf7
from falcana_sent_copy.testing.imapd import DovecotTestServer
from falcana_smtp_settings.testing.smtpd import SmtpTestServer
from sqlalchemy import update

from falcana_core.host import Host
from falcana_core.i18n import text_in
from falcana_core.models import AfterDelivery, Mailbox, OutboxMessage, utcnow
from falcana_core.worker import Worker

ADDRESS = "anna@firma.example"
PASSWORD = "Postfach-Pw-1"


@pytest.fixture
def smtp(smtp_server: Callable[..., SmtpTestServer]) -> SmtpTestServer:
    return smtp_server("normal", users={ADDRESS: PASSWORD})


@pytest.fixture
def imap(imap_server: Callable[..., DovecotTestServer]) -> DovecotTestServer:
    return imap_server({ADDRESS: PASSWORD})


def mailbox(app: Host, smtp: SmtpTestServer, imap: DovecotTestServer | None,
            address: str = ADDRESS, mode: str = "on", **copy: Any) -> Mailbox:
    user = app.users.add(address.split("@")[0], email=address)
    box = app.mailboxes.personal(user)
    saved = app.save_section(box, "smtp", {
        "email": address, "username": address, "password": PASSWORD, "host": "127.0.0.1",
        "port": str(smtp.port), "security": "normal"}, actor="admin")
    assert saved.saved, saved.validation.errors
    values = {"mode": mode, "host": "127.0.0.1" if imap else "",
              "port": str(imap.ssl_port if imap else 993), "security": "ssl",
              "username": "", "password": "", "use_smtp_password": True, "folder": ""}
    values.update(copy)
    values = {k: v for k, v in values.items() if v is not None}
    result = app.save_section(box, "sent_copy", values, actor="admin")
    assert result.saved, [(m.field, str(m.text)) for m in result.validation.errors]
    return box


def message(to: str = "kunde@example.org") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = ADDRESS
    msg["To"] = to
    msg["Bcc"] = "chefin@firma.example"
    msg["Subject"] = "Angebot Nr. 4711 – Büromöbel"
    msg.set_content("Guten Tag,\nanbei das Angebot.\n")
    return msg


def copy_of(row: OutboxMessage) -> str | None:
    """The state of the message's copy in Sent (a step after delivery), None for none."""
    step = row.after_delivery("sent_copy")
    return step.status if step is not None else None


def test_a_sent_mail_is_filed_in_sent_exactly_as_it_went_out(
        falcana_host: Host, smtp: SmtpTestServer, imap: DovecotTestServer) -> None:
    imap.create(ADDRESS, "Sent")
    box = mailbox(falcana_host, smtp, imap)
    falcana_host.outbox.enqueue(box, message())
    Worker(falcana_host).run(once=True)
    [row] = falcana_host.outbox.list(limit=5)
    assert (row.status, copy_of(row)) == ("sent", "done")
    [(flags, filed)] = imap.messages(ADDRESS, "Sent")
    assert b"\\Seen" in flags
    assert filed == smtp.messages[0].content  # the bytes the SMTP server received
    assert b"Bcc" not in filed and b"chefin@" not in filed
    assert sorted(smtp.messages[0].rcpt_tos) == ["chefin@firma.example", "kunde@example.org"]
    # the popup's recent mail says where the copy went
    from falcana_core.web import create_app

    falcana_host.users.add("admin", email="admin@firma.example", role="admin", password="a-1")
    client = create_app(falcana_host, WTF_CSRF_ENABLED=False).test_client()
    client.post("/login", data={"login": "admin", "password": "a-1"})
    popup = client.get(f"/mailboxes/{box.id}/popup").get_data(as_text=True)
    assert "gesendet, in Gesendet abgelegt" in popup


@pytest.mark.parametrize(("folder", "special_use"), [
    ("Sent", True), ("Gesendete Elemente", False), ("Gesendete Objekte – Büro", True)])
def test_the_test_mail_files_its_copy_in_the_folder_the_mailbox_has(
        falcana_host: Host, smtp: SmtpTestServer, imap: DovecotTestServer, folder: str,
        special_use: bool) -> None:
    imap.create(ADDRESS, "Archiv")
    imap.create(ADDRESS, folder)
    box = mailbox(falcana_host, smtp, imap)
    result = falcana_host.run_action(box, "smtp.test", {}, actor="admin")
    assert result.ok
    [part] = result.parts
    assert part.ok, part.explanation
    steps = {s.id: s for s in part.steps}
    assert steps["imap.folder"].detail["folder"] == folder
    assert [s.id for s in part.steps] == ["imap.resolve", "imap.connect", "imap.tls",
                                          "imap.greeting", "imap.login", "imap.folder",
                                          "imap.search", "imap.append"]
    assert len(imap.messages(ADDRESS, folder)) == 1
    assert falcana_host.section_values(box, "sent_copy")["folder"] == folder  # remembered


@pytest.mark.parametrize("others", [(), ("INBOX.Sent",), ("INBOX.Sent", "INBOX.Archiv")])
def test_a_server_with_folders_under_inbox_gets_its_copy_in_the_usual_folder(
        falcana_host: Host, smtp: SmtpTestServer,
        imap_server: Callable[..., DovecotTestServer], others: tuple[str, ...]) -> None:
    """Courier- and cPanel-style: personal namespace ``INBOX.``, separator ``.``, no
    SPECIAL-USE. The names are matched below the namespace, in the documented order
    (Gesendete Objekte before Sent), by the test mail and by the worker alike."""
    imap = imap_server({ADDRESS: PASSWORD}, layout="courier")
    for folder in ("INBOX.Gesendete Objekte", *others):
        imap.create(ADDRESS, folder)
    box = mailbox(falcana_host, smtp, imap)
    result = falcana_host.run_action(box, "smtp.test", {}, actor="admin")
    [part] = result.parts
    assert part.ok, part.explanation
    assert {s.id: s for s in part.steps}["imap.folder"].detail["folder"] == \
        "INBOX.Gesendete Objekte"
    falcana_host.outbox.enqueue(box, message())
    Worker(falcana_host).run(once=True)
    row = falcana_host.outbox.list(limit=5)[0]
    assert (row.status, copy_of(row)) == ("sent", "done")
    assert len(imap.messages(ADDRESS, "INBOX.Gesendete Objekte")) == 2  # test mail + mail
    for folder in others:
        assert imap.messages(ADDRESS, folder) == []


def test_a_folder_chosen_without_the_namespace_is_found_under_it(
        falcana_host: Host, smtp: SmtpTestServer,
        imap_server: Callable[..., DovecotTestServer]) -> None:
    imap = imap_server({ADDRESS: PASSWORD}, layout="courier")
    imap.create(ADDRESS, "INBOX.Sent")
    imap.create(ADDRESS, "INBOX.Ausgang")
    box = mailbox(falcana_host, smtp, imap, folder="Ausgang")
    [part] = falcana_host.run_action(box, "smtp.test", {}, actor="admin").parts
    assert part.ok, part.explanation
    assert len(imap.messages(ADDRESS, "INBOX.Ausgang")) == 1
    assert imap.messages(ADDRESS, "INBOX.Sent") == []


def test_no_sent_folder_is_explained_and_sending_is_not_affected(
        falcana_host: Host, smtp: SmtpTestServer, imap: DovecotTestServer) -> None:
    box = mailbox(falcana_host, smtp, imap)
    result = falcana_host.run_action(box, "smtp.test", {}, actor="admin")
    assert result.ok and len(smtp.messages) == 1
    [part] = result.parts
    assert not part.ok and part.failed_step == "imap.folder"
    assert part.explanation.id == "sent_copy.no_folder"
    assert part.explanation.field == "folder"


def test_a_wrong_imap_password_is_explained_and_mail_still_goes_out(
        falcana_host: Host, smtp: SmtpTestServer, imap: DovecotTestServer) -> None:
    imap.create(ADDRESS, "Sent")
    box = mailbox(falcana_host, smtp, imap, password="falsch")
    result = falcana_host.run_action(box, "smtp.test", {}, actor="admin")
    assert result.ok
    [part] = result.parts
    assert part.failed_step == "imap.login"
    assert part.explanation.id == "sent_copy.login_failed"
    # through the outbox: sent, the copy waits (with its explanation), nothing re-sent
    falcana_host.outbox.enqueue(box, message())
    Worker(falcana_host).run(once=True)
    row = falcana_host.outbox.list(limit=5)[0]
    assert (row.status, copy_of(row)) == ("sent", "pending")
    assert row.after_delivery("sent_copy").error["explanation"]["id"] == "sent_copy.login_failed"
    Worker(falcana_host).run(once=True)
    assert len(smtp.messages) == 2  # the test mail and the one message, each once
    assert imap.messages(ADDRESS, "Sent") == []


def test_a_crash_between_append_and_commit_files_one_copy(
        falcana_host: Host, smtp: SmtpTestServer, imap: DovecotTestServer) -> None:
    """The worker filed the copy and died before recording it: the next attempt looks
    first (SEARCH HEADER Message-ID) and files nothing more."""
    imap.create(ADDRESS, "Sent")
    box = mailbox(falcana_host, smtp, imap)
    oid = falcana_host.outbox.enqueue(box, message())
    Worker(falcana_host).run(once=True)
    assert len(imap.messages(ADDRESS, "Sent")) == 1
    with falcana_host.transaction() as s:  # as if "done" had never been committed
        s.execute(update(AfterDelivery).where(AfterDelivery.outbox_id == oid).values(
            status="pending", next_at=utcnow() - dt.timedelta(seconds=1)))
    Worker(falcana_host).run(once=True)
    assert copy_of(falcana_host.outbox.list(limit=5)[0]) == "done"
    assert len(imap.messages(ADDRESS, "Sent")) == 1
    assert len(smtp.messages) == 1


def test_providers_that_file_themselves_get_no_copy_in_automatic_mode(
        falcana_host: Host, smtp: SmtpTestServer, imap: DovecotTestServer) -> None:
    address = "anna@gmail.com"
    smtp.users[address] = PASSWORD
    box = mailbox(falcana_host, smtp, imap, address=address, mode="auto")
    falcana_host.outbox.enqueue(box, message())
    Worker(falcana_host).run(once=True)
    row = falcana_host.outbox.list(limit=5)[0]
    assert (row.status, copy_of(row)) == ("sent", None)
    result = falcana_host.run_action(box, "smtp.test", {}, actor="admin")
    [part] = result.parts
    assert part.ok and part.steps == [] and "itself" in text_in(part.note, "en")


def test_modified_utf7_folder_names_both_ways() -> None:
    for name, wire in (("Gesendete Objekte – Büro", "Gesendete Objekte &IBM- B&APw-ro"),
                       ("Entwürfe", "Entw&APw-rfe"), ("A&B", "A&-B"), ("Sent", "Sent"),
                       ("日本語", "&ZeVnLIqe-")):
        assert utf7.encode(name) == wire
        assert utf7.decode(wire) == name


def test_a_worker_killed_while_filing_files_exactly_one_copy_after_restart(
        tmp_path: Any, test_ca_bundle: Any, dns_server: Any, smtp: SmtpTestServer,
        imap: DovecotTestServer) -> None:
    """SIGKILL while the copy is being filed (the IMAP server stalls): the mail went out
    once; after the restart the copy is filed once."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from falcana_core.testing import make_config
    from falcana_core.testing.net import ScriptedServer

    imap.create(ADDRESS, "Sent")
    config = make_config(tmp_path / "data", ca_bundle=test_ca_bundle)
    host = Host.start(config)
    stalling = ScriptedServer(trickle=b"*", interval=1.0)  # an IMAP greeting that never ends
    box = mailbox(host, smtp, None, mode="on", host="127.0.0.1", port=str(stalling.port),
                  security="normal")
    oid = host.outbox.enqueue(box, message())
    env = {**os.environ, "FALCANA_DATA_DIR": str(config.data_dir),
           "FALCANA_CA_BUNDLE": str(test_ca_bundle), "FALCANA_ALLOW_NETWORKS": "loopback",
           "FALCANA_USER_PORTS": "1-65535", "FALCANA_OUTBOX_LEASE": "2",
           "FALCANA_DNS_SERVERS": dns_server.address, "FALCANA_LANG": "en"}
    worker = subprocess.Popen([sys.executable, "-m", "falcana_core", "worker", "--quiet",
                               "--poll", "0.1"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        for _ in range(150):
            if stalling.connections:
                break
            time.sleep(0.1)
        assert stalling.connections, "the worker should be filing by now"
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        stalling.close()
    assert len(smtp.messages) == 1
    row = host.outbox.list(limit=5)[0]
    assert (row.id, row.status, copy_of(row)) == (oid, "sent", "pending")
    assert host.save_section(box, "sent_copy", {
        "mode": "on", "host": "127.0.0.1", "port": str(imap.ssl_port), "security": "ssl",
        "username": "", "password": "", "use_smtp_password": True, "folder": ""},
        actor="admin").saved
    time.sleep(2.5)  # the dead worker's claim on the copy runs out
    again = subprocess.run([sys.executable, "-m", "falcana_core", "worker", "--once",
                            "--quiet"], env=env, capture_output=True, timeout=120)
    assert again.returncode == 0, again.stderr.decode()
    assert copy_of(host.outbox.list(limit=5)[0]) == "done"
    assert len(imap.messages(ADDRESS, "Sent")) == 1
    assert len(smtp.messages) == 1  # never sent again
    host.close()


def test_the_email_password_goes_to_an_imap_server_only_where_an_admin_allowed_it(
        falcana_host: Host, smtp: SmtpTestServer, imap: DovecotTestServer) -> None:
    """Reusing the e-mail password for a second host is an explicit permission, bound to
    that IMAP server: not by default, not for a server filled in later."""
    from falcana_sent_copy.testing.hostile import HostileImap

    imap.create(ADDRESS, "Sent")
    box = mailbox(falcana_host, smtp, imap, use_smtp_password=None)
    result = falcana_host.run_action(box, "smtp.test", {}, actor="admin")
    [part] = result.parts
    assert result.ok and not part.ok and part.failed_step == "imap.login"
    assert part.explanation.id == "sent_copy.no_password"
    assert part.explanation.field == "password"
    assert falcana_host.section_values(box, "sent_copy")["use_smtp_password"] is False
    # the admin allows it for this server: the copy is filed
    assert falcana_host.save_section(box, "sent_copy", {"use_smtp_password": True},
                                     actor="admin").saved
    assert falcana_host.section_values(box, "sent_copy")["use_smtp_password"] is True
    assert falcana_host.run_action(box, "smtp.test", {}, actor="admin").parts[0].ok
    # another IMAP server saved later (a discovered one, say) does not inherit it
    with HostileImap("trickle") as elsewhere:
        assert falcana_host.save_section(box, "sent_copy", {
            "host": "127.0.0.1", "port": str(elsewhere.port), "security": "normal"},
            actor="admin").saved
        assert falcana_host.section_values(box, "sent_copy")["use_smtp_password"] is False
        [part] = falcana_host.run_action(box, "smtp.test", {}, actor="admin").parts
        assert part.explanation.id == "sent_copy.no_password"
        assert not any(PASSWORD.encode() in c for c in elsewhere.commands)
    # a user may not give the permission
    falcana_host.users.add("admin", email="admin@firma.example", role="admin", password="a-1")
    refused = falcana_host.save_section(box, "sent_copy", {"use_smtp_password": True},
                                        actor="anna")
    assert not refused.saved
    assert refused.validation.errors[0].field == "use_smtp_password"
    audit = [e for e in falcana_host.audit.entries("mailbox", str(box.id))
             if e.action == "section.sent_copy.save"]
    assert any("use_smtp_password" in e.details for e in audit)  # who allowed it, and when


def test_mailboxes_set_up_before_keep_their_copy_after_the_upgrade(
        falcana_host: Host, smtp: SmtpTestServer, imap: DovecotTestServer) -> None:
    """sent_0002 gives the IMAP settings an admin saved before it the permission they had
    implicitly, so upgrading stops no copy."""
    from pathlib import Path

    import falcana_sent_copy
    from alembic import command
    from alembic.config import Config

    from falcana_core.migrate import version_table

    imap.create(ADDRESS, "Sent")
    box = mailbox(falcana_host, smtp, imap, use_smtp_password=None)
    cfg = Config()
    cfg.set_main_option("script_location",
                       str(Path(falcana_sent_copy.__file__).parent / "migrations"))
    with falcana_host.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        cfg.attributes["version_table"] = version_table("sent_copy")
        command.downgrade(cfg, "sent_0001")
        command.upgrade(cfg, "head")
    assert falcana_host.section_values(box, "sent_copy")["use_smtp_password"] is True
    assert falcana_host.run_action(box, "smtp.test", {}, actor="admin").parts[0].ok


def test_the_command_line_shows_the_copy_and_fails_with_it(
        falcana_host: Host, smtp: SmtpTestServer, imap: DovecotTestServer,
        falcana_cli: Callable[..., Any]) -> None:
    """docs/outbox.md promises that a wrong IMAP setting shows at once: in the terminal
    too, and a failed copy is a failed test unless the admin says otherwise."""
    mailbox(falcana_host, smtp, imap)  # no Sent folder on the server
    shown = falcana_cli("mail", "test", "anna")
    assert shown.exit_code == 1, shown.stdout
    assert "Copy in Sent (IMAP):" in shown.stdout
    assert "no Sent folder" in shown.stdout  # the explanation's cause
    assert falcana_cli("mail", "test", "anna", "--ignore-parts").exit_code == 0
    imap.create(ADDRESS, "Sent")
    filed = falcana_cli("mail", "test", "anna")
    assert filed.exit_code == 0 and "Filed in Sent." in filed.stdout


def test_the_personal_namespace_is_read_from_namespace_answers_servers_give() -> None:
    from falcana_sent_copy.imap import _below, _first_group

    courier = _first_group(b'(("INBOX." ".")) NIL NIL')
    several = _first_group(b'(("" "/")("Priv\\"at/" "/")) (("~" "/")) NIL')
    assert courier == b'(("INBOX." "."))'
    assert several == b'(("" "/")("Priv\\"at/" "/"))'
    assert _first_group(b"NIL NIL NIL") == b""
    assert _below("INBOX.Gesendet", ("INBOX.",)) == "Gesendet"
    assert _below("INBOX.", ("INBOX.",)) == "INBOX."  # the namespace itself is no folder
    assert _below("Sent", ("INBOX.",)) == "Sent"


def test_a_pass_files_its_copies_over_one_connection_many_per_append(
        falcana_host: Host, smtp: SmtpTestServer, imap: DovecotTestServer) -> None:
    """Dovecot offers MULTIAPPEND and LITERAL+: the copies of a pass go in one APPEND
    each batch, over one login; each exactly once, with its own send time and \\Seen."""
    imap.create(ADDRESS, "Sent")
    box = mailbox(falcana_host, smtp, imap)
    ids = falcana_host.outbox.enqueue_many([(box, message(f"kunde{i}@example.org"))
                                            for i in range(12)])
    logins = imap.log_count("imap-login: Info: Login: user=")
    Worker(falcana_host).run(once=True)
    assert imap.log_count("imap-login: Info: Login: user=") - logins == 1
    rows = [falcana_host.outbox.get(i) for i in ids]
    assert [(r.status, copy_of(r)) for r in rows if r] == [("sent", "done")] * 12
    filed = imap.messages(ADDRESS, "Sent")
    assert sorted(f.split(b"Message-ID: ")[1].split(b"\r\n")[0].decode() for _fl, f in filed) \
        == sorted(r.message_id for r in rows if r)
    assert all(b"\\Seen" in flags for flags, _f in filed)


@pytest.mark.parametrize("without", [(), ("LITERAL+",), ("MULTIAPPEND",)])
def test_several_copies_append_alike_with_and_without_the_extensions(
        falcana_host: Host, smtp: SmtpTestServer, imap: DovecotTestServer,
        without: tuple[str, ...]) -> None:
    from falcana_sent_copy.copier import open_folder, session_for
    from falcana_sent_copy.settings import imap_settings

    imap.create(ADDRESS, "Sent")
    box = mailbox(falcana_host, smtp, imap)
    settings = imap_settings(falcana_host, box)
    assert settings is not None
    session = session_for(falcana_host, settings, 0.0)
    session.deadline = None
    open_folder(falcana_host, box, session)
    assert session.imap is not None
    session.imap.capabilities = tuple(c for c in session.imap.capabilities if c not in without)
    contents = [f"Subject: Nr. {i}\r\nMessage-ID: <{i}@firma.example>\r\n\r\nText {i}\n"
                .encode() for i in range(5)]
    for count in session.batches([len(c) for c in contents]):
        session.append_many([(c, 1_700_000_000.0) for c in contents[:count]])
        contents = contents[count:]
    session.close()
    appends = [s for s in session.steps if s.id == "imap.append"]
    assert len(appends) == (5 if "MULTIAPPEND" in without else 1)
    filed = imap.messages(ADDRESS, "Sent")
    assert [f.split(b"\r\n")[0] for _fl, f in filed] == [f"Subject: Nr. {i}".encode()
                                                         for i in range(5)]
    assert all(f.endswith(f"Text {i}\r\n".encode()) for i, (_fl, f) in enumerate(filed))


def test_a_batch_whose_filing_was_not_recorded_is_looked_for_and_filed_once(
        falcana_host: Host, smtp: SmtpTestServer, imap: DovecotTestServer) -> None:
    """The worker died after a MULTIAPPEND and before recording it, and 3 of the copies
    were deleted since: the next pass files those 3 and no other twice."""
    imap.create(ADDRESS, "Sent")
    box = mailbox(falcana_host, smtp, imap)
    ids = falcana_host.outbox.enqueue_many([(box, message(f"kunde{i}@example.org"))
                                            for i in range(10)])
    Worker(falcana_host).run(once=True)
    assert len(imap.messages(ADDRESS, "Sent")) == 10
    imap.delete(ADDRESS, "Sent", [1, 4, 7])
    with falcana_host.transaction() as s:  # as if "done" had never been committed
        s.execute(update(AfterDelivery).where(AfterDelivery.outbox_id.in_(ids)).values(
            status="pending", next_at=utcnow() - dt.timedelta(seconds=1)))
    Worker(falcana_host).run(once=True)
    filed = imap.messages(ADDRESS, "Sent")
    ids_filed = [f.split(b"Message-ID: ")[1].split(b"\r\n")[0] for _fl, f in filed]
    assert len(ids_filed) == len(set(ids_filed)) == 10
    assert len(smtp.messages) == 10
