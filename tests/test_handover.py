"""Handing a mailing over, on SQLite and PostgreSQL: every message stored as it will go
on the wire, ids in the order given, all or nothing, and the fast header path writing
exactly what the ``email`` package writes."""

from __future__ import annotations

import email
import email.policy
import random
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from falcana_core.host import Host
from falcana_core.messages import SMTP, SMTPUTF8, envelope
from falcana_core.models import Mailbox
from falcana_core.outbox import HandOverRefused
from falcana_core.testing import make_config


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def host(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Host]:
    url = (f"sqlite:///{tmp_path / 'falcana.db'}" if request.param == "sqlite"
           else request.getfixturevalue("postgres_url"))
    h = Host.start(make_config(tmp_path / "data", database_url=url))
    yield h
    h.close()


def mailbox(host: Host, name: str, address: str) -> Mailbox:
    first, _space, last = name.partition(" ")
    user = host.users.add(address.split("@")[0], first_name=first, last_name=last,
                          email=address)
    return host.mailboxes.personal(user)


def message(i: int, to: str | None = None, **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["To"] = to or f"Kunde {i} <kunde{i}@example.org>"
    msg["Subject"] = f"Angebot Nr. {i} – Büromöbel"
    for key, value in headers.items():
        msg[key.replace("_", "-")] = value
    msg.set_content(f"Guten Tag,\n\nanbei unser Angebot Nr. {i}.\n")
    return msg


def test_a_mailing_is_stored_in_order_as_it_will_go_out(host: Host) -> None:
    anna = mailbox(host, "Anna Groß", "anna@firma.example")
    jurgen = mailbox(host, "Jürgen Müßig", "juergen@firma.example")
    items = [(anna if i % 3 else jurgen, message(i)) for i in range(250)]
    items.append((anna, message(250, to="kunde@straße.example", Cc="chef@firma.example",
                                Bcc="Verdeckt <geheim@firma.example>")))
    items.append((jurgen, message(251, to="jörg@bücher.example")))  # needs SMTPUTF8
    ids = host.outbox.enqueue_many(items)
    assert len(ids) == len(items) == len(set(ids))
    for outbox_id, (box, msg) in zip(ids, items, strict=True):
        row = host.outbox.get(outbox_id)
        assert row is not None and row.mailbox_id == box.id and row.status == "queued"
        assert row.sender == box.address
        stored = email.message_from_bytes(row.content, policy=email.policy.SMTP)
        assert stored["Subject"] == msg["Subject"]  # the message given at this place
        assert stored["Message-ID"] == row.message_id == msg["Message-ID"]
        assert stored["From"].addresses[0].addr_spec.startswith(box.address.split("@")[0])
        assert stored.get_content().replace("\r\n", "\n") == msg.get_content()
    last = host.outbox.get(ids[-2])
    assert last is not None
    assert list(last.recipients) == ["kunde@straße.example", "chef@firma.example",
                                     "geheim@firma.example"]
    assert b"geheim" not in last.content and b"Bcc" not in last.content
    assert b"xn--strae-oqa.example" not in last.content  # the header keeps what was given
    assert items[-2][1]["Bcc"] == "Verdeckt <geheim@firma.example>"  # the caller's intact
    first = email.message_from_bytes(host.outbox.get(ids[1]).content,  # type: ignore[union-attr]
                                     policy=email.policy.SMTP)
    assert str(first["From"]) == "Anna Groß <anna@firma.example>"
    utf8 = host.outbox.get(ids[-1])
    assert utf8 is not None and utf8.smtputf8 and not host.outbox.get(ids[-2]).smtputf8  # type: ignore[union-attr]


@pytest.mark.parametrize(("to", "reason"), [
    (None, "no recipient"),
    ("kunde", "not an e-mail address: 'kunde'"),
    ("Kunde <kunde>", "not an e-mail address"),
    ("kunde at firma.example", "not an e-mail address"),
    ("<>", "no recipient"),
])
def test_a_bad_message_refuses_its_batch_with_its_place_and_nothing_is_queued(
        host: Host, to: str | None, reason: str) -> None:
    box = mailbox(host, "Anna Groß", "anna@firma.example")
    bad = message(0, to=to) if to else EmailMessage()
    items = [(box, message(i)) for i in range(40)]
    items.insert(17, (box, bad))
    with pytest.raises(HandOverRefused) as refused:
        host.outbox.enqueue_many(items)
    assert refused.value.index == 17
    assert reason in refused.value.reason
    assert str(refused.value).startswith("message 17 of the hand-over: ")
    assert sum(host.outbox.counts().values()) == 0
    assert host.outbox.enqueue_many(items[:17] + items[18:])  # the good ones, once fixed
    assert host.outbox.counts()["queued"] == 40


def test_a_handover_in_the_callers_transaction_is_undone_with_it(host: Host) -> None:
    box = mailbox(host, "Anna Groß", "anna@firma.example")

    def callers_work() -> None:
        with host.transaction() as s:
            host.outbox.enqueue_many([(box, message(i)) for i in range(30)], session=s)
            raise RuntimeError("the caller's own work failed")

    with pytest.raises(RuntimeError):
        callers_work()
    assert sum(host.outbox.counts().values()) == 0
    with host.transaction() as s:
        ids = host.outbox.enqueue_many([(box, message(i)) for i in range(30)], session=s)
    assert [host.outbox.get(i).subject for i in ids] == [  # type: ignore[union-attr]
        f"Angebot Nr. {i} – Büromöbel" for i in range(30)]


# -- the fast header path -------------------------------------------------------------

_ALPHABET = "abcXYZ019 \t\"(),.:;<>@[]\\=?-_/'!#äöüß€"
_SEEDS = ['"Doe, John" <j@x.org>', "j@x.org (Kommentar)", "a@b, c@d", "=?utf-8?q?x?=",
          'text/plain; charset="utf-8"', "a  b", "Mon, 1 Jan 2024 00:00:00 +0000",
          "<abc@x>", "Jürgen Müßig <j@x>", "undisclosed-recipients:;", "G: a@b, c@d;",
          'attachment; filename="a b.txt"', "x ", " x", "a\tb", "Müller, Hans <h@x>",
          "Angebot " * 12, "kunde" + "@example.org" * 8]
_NAMES = ["To", "Cc", "From", "Subject", "Reply-To", "Content-Type", "X-Tag", "Date",
          "Message-ID", "In-Reply-To", "References", "Content-Disposition", "Keywords"]


def _headers(count: int) -> Iterator[tuple[str, str]]:
    rng = random.Random(20261204)
    for _ in range(count):
        value = rng.choice(_SEEDS)
        if rng.random() < 0.6:
            at = rng.randrange(len(value) + 1)
            value = value[:at] + "".join(rng.choice(_ALPHABET)
                                         for _ in range(rng.randrange(1, 12))) + value[at:]
        yield rng.choice(_NAMES), value


@pytest.mark.parametrize(("ours", "theirs"), [(SMTP, email.policy.SMTP),
                                              (SMTPUTF8, email.policy.SMTPUTF8)])
def test_headers_are_written_byte_for_byte_as_the_email_package_writes_them(
        ours: email.policy.EmailPolicy, theirs: email.policy.EmailPolicy) -> None:
    compared = 0
    for name, value in _headers(6000):
        msg = EmailMessage()
        try:
            msg[name] = value
        except (ValueError, TypeError, IndexError, AttributeError):
            continue  # the package refuses it when it is set: nothing to write
        msg.set_content("x\n")
        try:
            expected = msg.as_bytes(policy=theirs)
        except Exception as exc:  # the same failure is expected of ours
            with pytest.raises(type(exc)):
                msg.as_bytes(policy=ours)
            continue
        assert msg.as_bytes(policy=ours) == expected, (name, value)
        compared += 1
    assert compared > 5000


def test_the_envelope_of_a_message_keeps_it_intact_and_leaves_bcc_out() -> None:
    msg = message(1, Bcc="geheim@firma.example")
    ready = envelope(msg, "anna@firma.example", "Anna Groß")
    assert list(ready.recipients) == ["kunde1@example.org", "geheim@firma.example"]
    assert b"geheim" not in ready.content
    assert msg["Bcc"] == "geheim@firma.example"
    assert ready.message_id == msg["Message-ID"]
    again = envelope(msg, "anna@firma.example", "Anna Groß")
    assert again.message_id == ready.message_id  # stamped once


def test_messages_found_by_what_was_learned_of_a_recipient(host: Host) -> None:
    """`outbox list --bounced` on both databases: the JSON narrows it down in the
    database, each row is checked; a word in a subject or an address finds nothing."""
    box = mailbox(host, "Jürgen Müßig", "vertrieb@firma.example")
    ids = host.outbox.enqueue_many([(box, m) for m in (
        message(1), message(2, to="bounced_hard@example.org"), message(3), message(4))])
    assert host.outbox.recipient_learned(ids[0], "kunde1@example.org", "bounced_hard",
                                         {"status_code": "5.1.1"})
    assert host.outbox.recipient_learned(ids[2], "kunde3@example.org", "auto_reply", {})
    assert host.outbox.recipient_learned(ids[3], "kunde4@example.org", "bounced_soft",
                                         {"status_code": "4.2.2"})
    found = host.outbox.list(recipient_status="bounced")
    assert [m.id for m in found] == [ids[3], ids[0]]
    assert [m.id for m in host.outbox.list(recipient_status="bounced", limit=1)] == [ids[3]]
    assert [m.id for m in host.outbox.list(recipient_status="auto_reply")] == [ids[2]]
