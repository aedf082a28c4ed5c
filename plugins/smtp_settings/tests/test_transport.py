"""The "smtp" transport as host code uses it: Host.send and connections that send many."""

from __future__ import annotations

from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

import pytest

from falcana_core.host import Host
from falcana_core.models import Mailbox
from falcana_core.transports import DeliveryError

ADDRESS = "juergen@example.com"
PASSWORD = "Geheim-Passwort-2026!"
USERS = {ADDRESS: PASSWORD}


def message(to: str = "kunde@example.org", **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["To"] = to
    msg["Subject"] = "Angebot"
    for key, value in headers.items():
        msg[key] = value
    msg.set_content("Guten Tag,\nanbei unser Angebot.\n")
    return msg


def test_host_send_sets_from_date_and_message_id(smtp_server: Callable[..., Any],
                                                 configure: Any, falcana_host: Host,
                                                 mailbox: Mailbox) -> None:
    server = smtp_server("ssl", users=USERS)
    configure(server)
    result = falcana_host.send(mailbox, message())
    assert result.accepted == ["kunde@example.org"] and result.refused == {}
    received = server.messages[0]
    assert received.mail_from == ADDRESS
    msg = received.message
    assert msg["Message-ID"] == result.message_id and result.message_id.endswith(
        "@example.com>")
    assert msg["Date"] and str(msg["From"]) == f"Jürgen Müßig <{ADDRESS}>"


def test_one_connection_for_many_messages(smtp_server: Callable[..., Any], configure: Any,
                                          falcana_host: Host, mailbox: Mailbox) -> None:
    server = smtp_server("starttls", users=USERS)
    configure(server)
    connection = falcana_host.transport(mailbox).open()
    try:
        for i in range(5):
            connection.send(message(to=f"k{i}@example.org"))
    finally:
        connection.close()
    assert len(server.messages) == 5
    assert server.logins == [ADDRESS]  # one login: one connection


def test_dead_connection_before_mail_from_is_reopened_once(
        smtp_server: Callable[..., Any], configure: Any, falcana_host: Host,
        mailbox: Mailbox) -> None:
    server = smtp_server("starttls", users=USERS)
    configure(server)
    connection = falcana_host.transport(mailbox).open()
    connection.send(message())
    server.stop()  # the server goes away (idle time-out, restart)
    replacement = smtp_server("starttls", users=USERS, port=server.port)
    connection.send(message(to="second@example.org"))
    connection.close()
    assert [m.rcpt_tos for m in replacement.messages] == [["second@example.org"]]
    assert replacement.logins == [ADDRESS]


def test_drop_during_data_is_reported_and_not_resent(smtp_server: Callable[..., Any],
                                                     configure: Any, falcana_host: Host,
                                                     mailbox: Mailbox) -> None:
    server = smtp_server("starttls", users=USERS)
    configure(server)
    server.drop_during_data(times=1)
    with pytest.raises(DeliveryError) as info:
        falcana_host.send(mailbox, message())
    error = info.value
    assert error.outcome_unknown and error.failure.step == "data"
    assert error.explanation is not None
    assert error.explanation.id == "smtp.connection_lost_in_data"
    assert server.messages == []  # and no second attempt happened
    assert server.logins == [ADDRESS]


def test_partial_recipient_refusal_is_reported_per_recipient(
        smtp_server: Callable[..., Any], configure: Any, falcana_host: Host,
        mailbox: Mailbox) -> None:
    server = smtp_server("starttls", users=USERS)
    server.fail("rcpt", "550 5.1.1 User unknown", match=lambda a: a.startswith("gone"))
    configure(server)
    result = falcana_host.send(mailbox, message(to="ok@example.org, gone@example.org"))
    assert result.accepted == ["ok@example.org"]
    assert result.refused == {"gone@example.org": "550 5.1.1 User unknown"}
    assert server.messages[0].rcpt_tos == ["ok@example.org"]


def test_bcc_goes_to_the_envelope_not_the_content(smtp_server: Callable[..., Any],
                                                  configure: Any, falcana_host: Host,
                                                  mailbox: Mailbox) -> None:
    server = smtp_server("starttls", users=USERS)
    configure(server)
    falcana_host.send(mailbox, message(Bcc="chef@example.com"))
    received = server.messages[0]
    assert sorted(received.rcpt_tos) == ["chef@example.com", "kunde@example.org"]
    assert b"chef@example.com" not in received.content


def test_wrong_password_raises_a_delivery_error_with_mailbox_scope(
        smtp_server: Callable[..., Any], configure: Any, falcana_host: Host,
        mailbox: Mailbox) -> None:
    server = smtp_server("starttls", users={ADDRESS: "other"})
    configure(server)
    with pytest.raises(DeliveryError) as info:
        falcana_host.send(mailbox, message())
    assert info.value.failure.step == "auth"
    assert info.value.explanation.scope.value == "mailbox"  # type: ignore[union-attr]
    assert PASSWORD not in str(info.value) and PASSWORD not in repr(info.value.failure)


def test_header_injection_is_refused(smtp_server: Callable[..., Any], configure: Any,
                                     falcana_host: Host, mailbox: Mailbox) -> None:
    server = smtp_server("starttls", users=USERS)
    configure(server)
    msg = EmailMessage()
    with pytest.raises(ValueError, match=r"linefeed|carriage"):
        msg["Subject"] = "Hallo\r\nBcc: victim@example.org"
    assert server.messages == []
