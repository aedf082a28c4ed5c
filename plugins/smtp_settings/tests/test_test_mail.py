"""'Test-e-mail senden' against a real aiosmtpd server: each step and explanation."""

from __future__ import annotations

import email.header
import ssl
import time
from collections.abc import Callable
from typing import Any

import pytest
import trustme

from falcana_core.host import Host
from falcana_core.i18n import language
from falcana_core.models import Mailbox
from falcana_core.testing.net import SilentServer, closed_port

# the mailbox the conftest's ``configure`` fixture sets up
ADDRESS = "juergen@example.com"
PASSWORD = "Geheim-Passwort-2026!"
USERS = {ADDRESS: PASSWORD}


def steps(result: Any) -> list[tuple[str, str]]:
    return [(s.id, s.status.value) for s in result.steps]


@pytest.mark.parametrize(("mode", "tls_step"), [("normal", None), ("starttls", "starttls"),
                                               ("ssl", "tls")])
def test_success_in_every_mode_with_auth(smtp_server: Callable[..., Any], configure: Any,
                                         test_mail: Any, mode: str, tls_step: str | None
                                         ) -> None:
    server = smtp_server(mode, users=USERS)
    configure(server)
    result = test_mail()
    assert result.ok, result.explanation
    ids = [s for s, status in steps(result) if status == "ok"]
    expected = {"normal": ["resolve", "connect", "greeting", "ehlo", "auth", "mail_from",
                           "rcpt_to", "data", "quit"],
                "starttls": ["resolve", "connect", "greeting", "ehlo", "starttls", "ehlo_tls",
                             "auth", "mail_from", "rcpt_to", "data", "quit"],
                "ssl": ["resolve", "connect", "tls", "greeting", "ehlo", "auth", "mail_from",
                        "rcpt_to", "data", "quit"]}[mode]
    assert ids == expected
    assert all(s.duration_ms >= 0 for s in result.steps)
    assert server.logins == [ADDRESS]
    assert [m.rcpt_tos for m in server.messages] == [[ADDRESS]]
    assert result.auth_mechanism == "PLAIN"
    if tls_step:
        tls = result.tls
        assert tls["tls_version"] in ("TLSv1.2", "TLSv1.3")
        assert tls["cipher"]
        assert "falcana test CA" in tls["certificate"]["issuer"]
        assert len(tls["certificate"]["sha256"]) == 64 and tls["certificate"]["not_after"]
    ehlo = next(s for s in result.steps if s.id == ("ehlo_tls" if mode == "starttls"
                                                     else "ehlo"))
    assert "AUTH" in ehlo.detail["extensions"]


def test_the_test_mail_says_which_settings_were_used_but_not_the_password(
        smtp_server: Callable[..., Any], configure: Any, test_mail: Any) -> None:
    server = smtp_server("starttls", users=USERS)
    configure(server)
    assert test_mail().ok
    msg = server.messages[0].message
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    for body in (text, html):
        assert "127.0.0.1" in body and str(server.port) in body and "TLS" in body
        assert ADDRESS in body
        assert PASSWORD not in body
    assert "Test-e-mail" in str(msg["Subject"])  # German by default, as the seed spells it


def test_wrong_password_fails_at_auth_with_explanation(
        smtp_server: Callable[..., Any], configure: Any, test_mail: Any) -> None:
    server = smtp_server("starttls", users={ADDRESS: "the-right-one"})
    configure(server)
    result = test_mail()
    assert not result.ok and result.failed_step == "auth"
    auth = result.steps[-1]
    assert auth.id == "auth" and auth.status.value == "failed"
    assert auth.reply.code == 535 and auth.reply.enhanced == "5.7.8"
    e = result.explanation
    assert e.id == "smtp.auth_failed" and e.field == "password"
    assert e.scope.value == "mailbox" and e.retry.value == "after_fix"
    assert "Passwort" in str(e.fix)
    assert server.messages == []


def test_tls_chosen_but_server_offers_no_starttls(smtp_server: Callable[..., Any],
                                                  configure: Any, test_mail: Any) -> None:
    server = smtp_server("normal", users=USERS)
    configure(server, security="tls")
    result = test_mail()
    assert result.failed_step == "starttls"
    assert result.explanation.id == "smtp.starttls_not_offered"
    assert result.explanation.field == "security"
    assert "auth" not in [s.id for s in result.steps]  # nothing travelled in plaintext
    assert server.messages == []


def test_ssl_spoken_to_a_starttls_port(smtp_server: Callable[..., Any], configure: Any,
                                       test_mail: Any) -> None:
    server = smtp_server("starttls", users=USERS)
    configure(server, security="ssl")
    result = test_mail()
    assert result.failed_step == "tls"
    assert result.explanation.id == "smtp.ssl_on_plain_port"
    assert result.explanation.field == "security"


def test_tls_spoken_to_an_ssl_port_is_bounded_in_time(
        smtp_server: Callable[..., Any], configure: Any, falcana_host: Host,
        mailbox: Mailbox) -> None:
    server = smtp_server("ssl", users=USERS)
    configure(server, security="tls")
    object.__setattr__(falcana_host.config, "net_timeout", 1.0)
    started = time.monotonic()
    result = falcana_host.run_action(mailbox, "smtp.test", {}, actor="admin")
    assert time.monotonic() - started < 5
    assert result.failed_step == "greeting"
    assert result.explanation.id in ("smtp.no_greeting", "smtp.tls_on_ssl_port")
    assert result.explanation.field == "security"


def test_tls_on_port_465_gets_the_specific_explanation(
        falcana_host: Host, mailbox: Mailbox, configure: Any) -> None:
    from falcana_core.delivery import DeliveryFailure, FailureKind

    failure = DeliveryFailure("greeting", FailureKind.TIMEOUT, host="h", port=465,
                              security="tls")
    explanation = falcana_host.explain(failure)
    assert explanation is not None and explanation.id == "smtp.tls_on_ssl_port"


@pytest.fixture
def untrusted_server(smtp_server: Callable[..., Any]) -> Callable[..., Any]:
    """A STARTTLS server whose certificate comes from a CA nobody trusts."""

    def start(**kwargs: Any) -> Any:
        rogue = trustme.CA(organization_name="rogue CA")
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        rogue.issue_cert("127.0.0.1").configure_cert(ctx)
        return smtp_server("starttls", users=USERS, ssl_context=ctx, **kwargs)

    return start


def test_self_signed_refused_then_pinned_then_other_refused_then_unpinned(
        untrusted_server: Callable[..., Any], configure: Any, test_mail: Any,
        falcana_host: Host, mailbox: Mailbox) -> None:
    from falcana_smtp_settings.settings import pin_offered, unpin

    server = untrusted_server()
    configure(server)
    refused = test_mail()
    assert refused.failed_step == "starttls"
    assert refused.explanation.id == "smtp.certificate_untrusted"
    offer = refused.offer_pin
    assert offer is not None and len(offer["sha256"]) == 64
    assert "rogue CA" in offer["issuer"]
    assert server.messages == [] and server.logins == []

    pin_offered(falcana_host, mailbox, actor="cli")
    assert test_mail().ok
    assert len(server.messages) == 1

    server.stop()
    other = untrusted_server(port=server.port)  # same host and port, another certificate
    mismatch = test_mail()
    assert mismatch.failed_step == "starttls"
    assert mismatch.explanation.id == "smtp.pin_mismatch"
    assert other.logins == [] and other.messages == []

    unpin(falcana_host, mailbox, actor="cli")
    unpinned = test_mail()
    assert unpinned.explanation.id == "smtp.certificate_untrusted"


def test_certificate_for_another_name(smtp_server: Callable[..., Any], test_ca: trustme.CA,
                                      configure: Any, test_mail: Any) -> None:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    test_ca.issue_cert("mail.elsewhere.example").configure_cert(ctx)
    server = smtp_server("ssl", users=USERS, ssl_context=ctx)
    configure(server)
    result = test_mail()
    assert result.failed_step == "tls"
    assert result.explanation.id == "smtp.certificate_wrong_host"
    assert result.explanation.field == "host"


def test_expired_certificate(smtp_server: Callable[..., Any], test_ca: trustme.CA,
                             configure: Any, test_mail: Any) -> None:
    import datetime as dt

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    test_ca.issue_cert("127.0.0.1", not_before=past - dt.timedelta(days=60),
                       not_after=past).configure_cert(ctx)
    server = smtp_server("ssl", users=USERS, ssl_context=ctx)
    configure(server)
    result = test_mail()
    assert result.explanation.id == "smtp.certificate_expired"


def test_connection_refused(configure: Any, test_mail: Any) -> None:
    configure(None, port=closed_port(), password="")
    result = test_mail()
    assert result.failed_step == "connect"
    assert result.explanation.id == "smtp.connection_refused"
    assert result.explanation.field == "port"


def test_unknown_host_name(configure: Any, test_mail: Any) -> None:
    configure(None, host="no-such-host.invalid", password="")
    result = test_mail()
    assert result.failed_step == "resolve"
    assert result.explanation.id == "smtp.host_not_found"
    assert result.explanation.field == "host"


@pytest.mark.parametrize("server", ["smtp.office365.com", "smtp.gmail.com", "smtp.1und1.de"])
def test_a_known_server_that_does_not_resolve_means_no_dns_not_a_typo(
        configure: Any, test_mail: Any, server: str) -> None:
    """The test kit's DNS server knows none of these names, as a falcana server without
    DNS: the name of a provider's (or the ISP database's) server is not misspelled."""
    configure(None, host=server, port=587, security="tls", password="")
    result = test_mail()
    assert result.failed_step == "resolve"
    assert result.explanation.id == "smtp.no_dns"
    assert result.explanation.field is None
    with language("de"):
        assert "Schreibweise" not in str(result.explanation.fix)
        assert "DNS" in str(result.explanation.cause)


def test_a_known_server_that_refuses_the_port_means_a_blocked_network(
        configure: Any, test_mail: Any, dns_server: Any) -> None:
    dns_server.set_address("smtp.office365.com", ["127.0.0.1"])
    configure(None, host="smtp.office365.com", port=closed_port(), security="tls",
              password="")
    result = test_mail()
    assert result.failed_step == "connect"
    assert result.explanation.id == "smtp.port_blocked"
    assert "Microsoft 365" in str(result.explanation.cause)


def test_a_server_that_never_answers_is_bounded(
        silent_server: SilentServer, configure: Any, falcana_host: Host,
        mailbox: Mailbox) -> None:
    configure(None, port=silent_server.port, password="")
    object.__setattr__(falcana_host.config, "net_timeout", 1.0)
    started = time.monotonic()
    result = falcana_host.run_action(mailbox, "smtp.test", {}, actor="admin")
    assert time.monotonic() - started < 5
    assert result.failed_step == "greeting"
    assert result.explanation.id == "smtp.no_greeting"


def test_overall_deadline_stops_a_slow_exchange(silent_server: SilentServer,
                                                configure: Any, falcana_host: Host,
                                                mailbox: Mailbox) -> None:
    configure(None, port=silent_server.port, password="")
    object.__setattr__(falcana_host.config, "net_timeout", 30.0)
    object.__setattr__(falcana_host.config, "test_deadline", 1.5)
    started = time.monotonic()
    result = falcana_host.run_action(mailbox, "smtp.test", {}, actor="admin")
    assert time.monotonic() - started < 5
    assert result.failed_step == "greeting"


def test_dropped_connection_during_data_is_reported_not_resent(
        smtp_server: Callable[..., Any], configure: Any, test_mail: Any) -> None:
    server = smtp_server("normal", users=USERS)
    server.drop_during_data(times=1)
    configure(server)
    result = test_mail()
    assert result.failed_step == "data"
    assert result.explanation.id == "smtp.connection_lost_in_data"
    assert result.explanation.retry.value == "later"
    assert [s.id for s in result.steps].count("data") == 1
    assert [s.id for s in result.steps].count("mail_from") == 1


def test_550_on_rcpt(smtp_server: Callable[..., Any], configure: Any, test_mail: Any) -> None:
    server = smtp_server("starttls", users=USERS)
    server.fail("rcpt", "550 5.1.1 <nobody@example.com>: Recipient address rejected")
    configure(server)
    result = test_mail(to="nobody@example.com")
    assert result.failed_step == "rcpt_to"
    step = result.steps[-1]
    assert step.reply.code == 550 and step.reply.enhanced == "5.1.1"
    assert "Recipient address rejected" in step.reply.text
    assert result.explanation.id == "smtp.recipient_refused"
    assert result.explanation.scope.value == "recipient"


def test_message_too_large(smtp_server: Callable[..., Any], configure: Any,
                           test_mail: Any) -> None:
    server = smtp_server("starttls", users=USERS)
    server.fail("data", "552 5.3.4 Message size exceeds fixed limit")
    configure(server)
    result = test_mail()
    assert result.failed_step == "data"
    assert result.explanation.id == "smtp.message_too_large"


def test_sender_refused(smtp_server: Callable[..., Any], configure: Any,
                        test_mail: Any) -> None:
    server = smtp_server("starttls", users=USERS)
    server.fail("mail", "553 5.7.1 Sender address rejected: not owned by user")
    configure(server)
    result = test_mail()
    assert result.failed_step == "mail_from"
    assert result.explanation.id == "smtp.sender_refused"
    assert result.explanation.field == "email"


def test_auth_not_offered_on_plaintext(smtp_server: Callable[..., Any], configure: Any,
                                       test_mail: Any) -> None:
    server = smtp_server("normal", auth=False)
    configure(server)
    result = test_mail()
    assert result.failed_step == "auth"
    assert result.explanation.id == "smtp.auth_not_offered"


def test_display_name_with_umlauts_arrives_encoded_and_decodes_back(
        smtp_server: Callable[..., Any], configure: Any, test_mail: Any) -> None:
    server = smtp_server("starttls", users=USERS)
    configure(server)  # display name empty: "<Vorname> <Nachname>" = "Jürgen Müßig"
    assert test_mail().ok
    raw_from = next(line for line in server.messages[0].content.split(b"\r\n")
                    if line.startswith(b"From:"))
    assert raw_from.isascii() and b"=?utf-8?" in raw_from  # RFC 2047 on the wire
    decoded = str(email.header.make_header(email.header.decode_header(
        raw_from.decode()[len("From: "):])))
    assert decoded == f"Jürgen Müßig <{ADDRESS}>"
    assert server.messages[0].mail_from == ADDRESS  # envelope sender = the address


def test_idn_address_with_sharp_s(smtp_server: Callable[..., Any], configure: Any,
                                  test_mail: Any) -> None:
    server = smtp_server("starttls", users={"info@straße.de": PASSWORD})
    configure(server, email="info@straße.de", username="info@straße.de")
    result = test_mail()
    assert result.ok, result.explanation
    received = server.messages[0]
    # IDNA 2008 keeps the ß (xn--strae-oqa); IDNA 2003 would have made it "strasse"
    assert received.mail_from == "info@xn--strae-oqa.de"
    assert received.rcpt_tos == ["info@xn--strae-oqa.de"]
    assert "strasse" not in received.content.decode()
    assert received.message["Message-ID"].endswith("@xn--strae-oqa.de>")


def test_non_ascii_local_part_uses_smtputf8_or_fails_clearly(
        smtp_server: Callable[..., Any], configure: Any, test_mail: Any) -> None:
    server = smtp_server("starttls", users={"jürgen@example.com": PASSWORD})
    configure(server, email="jürgen@example.com", username="jürgen@example.com")
    result = test_mail()
    assert result.ok, result.explanation
    assert server.messages[0].mail_from == "jürgen@example.com"
    assert "SMTPUTF8" in server.messages[0].mail_options

    plain = smtp_server("starttls", users={"jürgen@example.com": PASSWORD}, smtputf8=False)
    configure(plain, email="jürgen@example.com", username="jürgen@example.com")
    refused = test_mail()
    assert refused.failed_step == "mail_from"
    assert refused.explanation.id == "smtp.smtputf8_not_offered"


def test_verify_only_stops_after_rcpt_to_and_says_what_it_cannot_see(
        smtp_server: Callable[..., Any], configure: Any, test_mail: Any) -> None:
    server = smtp_server("starttls", users=USERS)
    configure(server)
    result = test_mail(verify_only=True)
    assert result.ok and server.messages == []
    assert ("data", "skipped") in steps(result)
    assert "DATA" in str(result.note) and "Senden als" in str(result.note)
    from falcana_core.i18n import language

    with language("en"):
        assert "Send As" in str(result.note)


def test_no_password_stored(smtp_server: Callable[..., Any], configure: Any,
                            test_mail: Any) -> None:
    server = smtp_server("starttls", users=USERS)
    configure(server, password="")
    result = test_mail()
    assert ("auth", "skipped") in steps(result)
    assert result.failed_step is None or result.failed_step == "mail_from"


def test_test_is_audited_without_secrets(smtp_server: Callable[..., Any], configure: Any,
                                         test_mail: Any, falcana_host: Host,
                                         mailbox: Mailbox) -> None:
    server = smtp_server("starttls", users=USERS)
    configure(server)
    test_mail()
    entries = falcana_host.audit.entries("mailbox", str(mailbox.id))
    assert entries[0].action == "smtp.test" and entries[0].details["ok"] is True
    assert entries[1].details["password"] == "changed"
    assert PASSWORD not in str([e.details for e in entries])


def test_english_explanations(smtp_server: Callable[..., Any], configure: Any,
                              test_mail: Any) -> None:
    from falcana_core.i18n import language

    server = smtp_server("starttls", users={ADDRESS: "other"})
    configure(server)
    result = test_mail()
    with language("en"):
        assert "password" in str(result.explanation.fix).lower()
        en = result.as_dict()["explanation"]["cause"]
    with language("de"):
        de = result.as_dict()["explanation"]["cause"]
    assert en != de and "Anmeldung" in de
