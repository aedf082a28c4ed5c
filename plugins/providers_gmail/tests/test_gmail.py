"""Gmail and Google Workspace: detection, app passwords, help and every reply of providers.md."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from falcana_smtp_settings.api import detect_provider, provider_limits

from falcana_core.host import Host
from falcana_core.i18n import language
from falcana_core.models import Mailbox
from falcana_core.testing.dnsd import DnsTestServer

ADDRESS = "max.mustermann@gmail.com"
APP_PASSWORD = "abcdefghijklmnop"
SHOWN = "abcd efgh ijkl mnop"  # as Google shows it
BASE: dict[str, Any] = {"email": ADDRESS, "display_name": "", "username": ADDRESS,
                        "password": SHOWN, "port": 465, "security": "ssl",
                        "host": "smtp.gmail.com"}


@pytest.fixture
def mailbox(falcana_host: Host) -> Mailbox:
    user = falcana_host.users.add("max", first_name="Max", last_name="Mustermann",
                                  email=ADDRESS)
    return falcana_host.mailboxes.personal(user)


@pytest.mark.parametrize(("address", "host", "provider", "via"), [
    ("x@example.com", "smtp.gmail.com", "google_workspace", "host"),
    ("x@gmail.com", "smtp.gmail.com", "gmail", "host"),
    ("x@example.com", "smtp-relay.gmail.com", "google_workspace", "host"),
    ("x@gmail.com", "", "gmail", "domain"),
    ("x@googlemail.com", "", "gmail", "domain"),
    ("x@agentur-nord.de", "", "google_workspace", "mx"),
    ("x@agentur-sued.de", "", "google_workspace", "mx"),
])
def test_detection_by_host_domain_and_mx(falcana_host: Host, dns_server: DnsTestServer,
                                         address: str, host: str, provider: str,
                                         via: str) -> None:
    dns_server.set_mx("agentur-nord.de", ["aspmx.l.google.com", "alt1.aspmx.l.google.com"])
    dns_server.set_mx("agentur-sued.de", ["smtp.google.com"])
    found = detect_provider(falcana_host, address, host)
    assert found is not None and (found.provider, found.via) == (provider, via)
    if via == "mx":
        with language("de"):
            assert str(found.reason).startswith("Der MX-Eintrag von agentur-")


def test_presets(falcana_host: Host) -> None:
    found = detect_provider(falcana_host, ADDRESS, "")
    assert [(p.host, p.port, p.security) for p in found.presets] == [  # type: ignore[union-attr]
        ("smtp.gmail.com", 465, "ssl"), ("smtp.gmail.com", 587, "tls")]


def test_spaces_are_removed_from_the_app_password_when_stored(falcana_host: Host,
                                                               mailbox: Mailbox) -> None:
    from falcana_smtp_settings.settings import load_settings

    result = falcana_host.save_section(mailbox, "smtp", BASE, actor="a")
    assert result.saved
    assert load_settings(falcana_host, mailbox).password.reveal() == APP_PASSWORD  # type: ignore[union-attr]
    hints = [m for m in result.validation.messages if m.severity.value == "hint"]
    assert hints == []


def test_a_password_that_is_no_app_password_gets_a_hint_not_an_error(
        falcana_host: Host, mailbox: Mailbox) -> None:
    with language("de"):
        result = falcana_host.save_section(mailbox, "smtp", {**BASE, "password": "Sommer2026!"},
                                           actor="a")
        assert result.saved
        hint = next(m for m in result.validation.messages if m.severity.value == "hint")
        assert hint.field == "password" and "App-Passwort" in str(hint.text)


def test_from_rewrite_warning_when_address_differs_from_account(falcana_host: Host,
                                                                mailbox: Mailbox) -> None:
    result = falcana_host.save_section(mailbox, "smtp", {**BASE, "email": "info@gmail.com"},
                                       actor="a")
    assert result.saved
    warning = next(m for m in result.validation.warnings if m.field == "email")
    with language("de"):
        assert "Senden als" in str(warning.text)


def test_help_describes_todays_page_and_the_older_dialog(falcana_host: Host,
                                                         mailbox: Mailbox) -> None:
    falcana_host.save_section(mailbox, "smtp", BASE, actor="a")
    with language("de"):
        helps = falcana_host.section_help(mailbox, "smtp")
        assert [h.id for h in helps] == ["gmail.app_password", "gmail.api",
                                         "gmail.no_oauth_client"]  # no client set up yet
        body = str(helps[0].body)
        assert "Bestätigung in zwei Schritten" in body and "App-Passwörter" in body
        assert "„falcana“" in body and "App auswählen" in body and "Andere" in body
    assert helps[0].last_checked == "2026-11-27"
    assert any("185833" in url for _label, url in helps[0].sources)


def test_spaces_are_removed_again_before_auth(smtp_server: Callable[..., Any],
                                              falcana_host: Host, mailbox: Mailbox) -> None:
    """A password stored before the plugin was installed still has its spaces."""
    from falcana_smtp_settings.settings import OWNER, PASSWORD, secret_ref

    server = smtp_server("ssl", users={ADDRESS: APP_PASSWORD})
    falcana_host.save_section(mailbox, "smtp", {**BASE, "host": "127.0.0.1",
                                                "port": server.port}, actor="a")
    falcana_host.secrets.put(OWNER, PASSWORD, secret_ref(mailbox.id), SHOWN)
    # the test server stands in for smtp.gmail.com: the address says Gmail
    result = falcana_host.run_action(mailbox, "smtp.test", {}, actor="a")
    assert result.ok, result.explanation
    assert server.logins == [ADDRESS]


def test_limits(falcana_host: Host) -> None:
    assert provider_limits(falcana_host, "google_workspace").messages_per_day == 2000  # type: ignore[union-attr]
    assert provider_limits(falcana_host, "gmail").recipients_per_message == 100  # type: ignore[union-attr]


# Replies as Gmail sends them: multi-line, with a trailing id and "- gsmtp".
WIRE = [
    ("auth", "534-5.7.9 Application-specific password required. For more information, go to\r\n"
     "534 5.7.9  https://support.google.com/mail/?p=InvalidSecondFactor "
     "a640c23a62f3a-ab7d4c1e2f3sm1234567a.12 - gsmtp", "gmail.app_password_required",
     "password"),
    ("auth", "535-5.7.8 Username and Password not accepted. For more information, go to\r\n"
     "535 5.7.8  https://support.google.com/mail/?p=BadCredentials "
     "a640c23a62f3a-ab7d4c1e2f3sm1234567a.13 - gsmtp", "gmail.bad_credentials", "password"),
    ("auth", "534-5.7.14 <https://accounts.google.com/signin/continue?sarp=1&scc=1&plt=AKgnsbs>\r\n"
     "534-5.7.14 Please log in via your web browser and then try again.\r\n"
     "534-5.7.14  Learn more at\r\n"
     "534 5.7.14  https://support.google.com/mail/answer/78754 "
     "a640c23a62f3a-ab7d4c1e2f3sm1234567a.14 - gsmtp", "gmail.web_login_required",
     "password"),
    ("mail", "530 5.7.0 Must issue a STARTTLS command first. "
     "a640c23a62f3a-ab7d4c1e2f3sm1234567a.15 - gsmtp", "gmail.starttls_first", "security"),
    ("data", "550-5.4.5 Daily user sending limit exceeded. For more information on Gmail\r\n"
     "550-5.4.5 sending limits go to\r\n"
     "550 5.4.5  https://support.google.com/a/answer/166852 "
     "a640c23a62f3a-ab7d4c1e2f3sm1234567a.16 - gsmtp", "gmail.daily_limit", None),
    ("mail", "421-4.7.0 Try again later, closing connection. (MAIL)\r\n"
     "421 4.7.0  https://support.google.com/a/answer/3221692 "
     "a640c23a62f3a-ab7d4c1e2f3sm1234567a.17 - gsmtp", "gmail.try_again_later", None),
    ("rcpt", "555-5.5.2 Syntax error, cannot decode response. For more information, go to\r\n"
     "555 5.5.2  https://support.google.com/a/answer/3221692 "
     "a640c23a62f3a-ab7d4c1e2f3sm1234567a.18 - gsmtp", "gmail.syntax_error", None),
]


@pytest.mark.parametrize(("command", "reply", "explanation", "field"), WIRE,
                         ids=[w[2] for w in WIRE])
def test_every_reply_gets_its_explanation(smtp_server: Callable[..., Any],
                                          falcana_host: Host, mailbox: Mailbox, command: str,
                                          reply: str, explanation: str,
                                          field: str | None) -> None:
    server = smtp_server("ssl", users={ADDRESS: APP_PASSWORD})
    server.fail(command, reply)
    falcana_host.save_section(mailbox, "smtp", {**BASE, "host": "127.0.0.1",
                                                "port": server.port}, actor="a")
    result = falcana_host.run_action(mailbox, "smtp.test", {}, actor="a")
    assert not result.ok
    step = result.steps[-1]
    assert step.reply is not None and str(step.reply.code) == reply[:3]
    assert step.reply.text.endswith("- gsmtp")  # both lines joined, codes stripped
    assert result.explanation is not None and result.explanation.id == explanation
    assert result.explanation.field == field
