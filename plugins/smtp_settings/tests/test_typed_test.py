"""'Test-e-mail senden' tests what is on the screen: the typed values, checked as a save
checks them, with the password a save would keep, and nothing is saved."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from falcana_core.host import Host
from falcana_core.i18n import language
from falcana_core.models import Mailbox

ADDRESS = "juergen@example.com"
PASSWORD = "Geheim-Passwort-2026!"


@pytest.fixture
def server(smtp_server: Callable[..., Any]) -> Any:
    return smtp_server("starttls", users={ADDRESS: PASSWORD})


def saved(host: Host, box: Mailbox) -> dict[str, Any]:
    return host.section_values(box, "smtp")


def test_a_typed_wrong_password_fails_and_the_stored_one_is_kept(
        falcana_host: Host, mailbox: Mailbox, server: Any, configure: Any,
        test_mail: Any) -> None:
    configure(server)
    before = saved(falcana_host, mailbox)
    result = test_mail(password="typed-but-wrong")
    assert not result.ok and result.failed_step == "auth" and result.unsaved
    assert saved(falcana_host, mailbox) == before
    assert test_mail().ok  # the stored password is still the one that works
    assert server.logins == [ADDRESS]


def test_typed_settings_are_tested_without_saving_and_the_result_says_so(
        falcana_host: Host, mailbox: Mailbox, smtp_server: Callable[..., Any],
        server: Any, configure: Any, test_mail: Any) -> None:
    configure(server)
    other = smtp_server("ssl", users={ADDRESS: "Neues-Passwort-1"})
    result = test_mail(port=str(other.port), security="ssl", password="Neues-Passwort-1")
    assert result.ok and result.unsaved
    assert [s.id for s in result.steps][:3] == ["resolve", "connect", "tls"]
    assert len(other.messages) == 1 and server.messages == []
    assert saved(falcana_host, mailbox)["port"] == server.port  # nothing saved
    # the same values as saved: not "unsaved"
    same = test_mail(port=str(server.port), security="tls", host="127.0.0.1")
    assert same.ok and not same.unsaved


def test_an_invalid_field_stops_the_test_before_any_connection(
        falcana_host: Host, mailbox: Mailbox, server: Any, configure: Any,
        test_mail: Any) -> None:
    configure(server)
    seen = server.connections
    with language("de"):
        result = test_mail(port="99999")
        assert not result.ok and result.steps == []
        [(field, label, message)] = result.invalid
        assert field == "port" and str(label) == "e-mail Port" and str(message)
        doc = result.as_dict()
    assert doc["invalid"][0]["field"] == "port" and doc["steps"] == []
    assert server.messages == [] and server.connections == seen


def test_a_moved_server_gets_no_stored_password(falcana_host: Host, mailbox: Mailbox,
                                                smtp_server: Callable[..., Any], server: Any,
                                                configure: Any, test_mail: Any) -> None:
    """The binding rule of a save: the stored password goes only where it was saved for."""
    configure(server)
    other = smtp_server("starttls", users={ADDRESS: PASSWORD})
    seen = other.connections
    result = test_mail(port=str(other.port))
    assert not result.ok and [f for f, _l, _m in result.invalid] == ["password"]
    assert other.connections == seen and other.logins == []


def test_a_non_admin_may_not_test_an_address_they_may_not_save(
        falcana_host: Host, mailbox: Mailbox, server: Any, configure: Any) -> None:
    configure(server)
    seen = server.connections
    result = falcana_host.run_action(mailbox, "smtp.test", {"email": "chef@example.com"},
                                     actor="juergen")
    assert not result.ok and [f for f, _l, _m in result.invalid] == ["email"]
    assert server.connections == seen


def test_the_cli_tests_given_settings_and_saves_nothing(
        falcana_host: Host, mailbox: Mailbox, smtp_server: Callable[..., Any], server: Any,
        configure: Any, falcana_cli: Callable[..., Any]) -> None:
    configure(server)
    other = smtp_server("ssl", users={ADDRESS: "Neues-Passwort-1"})
    out = falcana_cli("mail", "test", "juergen", "--port", str(other.port), "--security",
                      "ssl", "--password-stdin", input="Neues-Passwort-1\n", lang="de")
    assert out.exit_code == 0, out.output
    assert "Getestet wurden die eingegebenen, noch nicht gespeicherten Daten." in out.output
    assert "Neues-Passwort-1" not in out.output
    assert saved(falcana_host, mailbox)["port"] == server.port
    bad = falcana_cli("mail", "test", "juergen", "--port", "99999", lang="de")
    assert bad.exit_code == 1 and "Test nicht ausgeführt" in bad.output
    assert "e-mail Port" in bad.output


def test_the_popup_tests_the_form_as_typed_and_offers_to_save(
        falcana_host: Host, mailbox: Mailbox, smtp_server: Callable[..., Any], server: Any,
        configure: Any) -> None:
    from falcana_core.web import create_app

    configure(server)
    other = smtp_server("ssl", users={ADDRESS: "Neues-Passwort-1"})
    falcana_host.users.add("admin", email="admin@firma.example", role="admin",
                           password="Admin-Pw-1")
    client = create_app(falcana_host, WTF_CSRF_ENABLED=False).test_client()
    client.post("/login", data={"login": "admin", "password": "Admin-Pw-1"})
    form = {"email": ADDRESS, "username": ADDRESS, "host": "127.0.0.1",
            "port": str(other.port), "security": "ssl", "password": "Neues-Passwort-1"}
    page = client.post(f"/mailboxes/{mailbox.id}/actions/smtp.test", data=form,
                       headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert "Test bestanden" in page and "Jetzt speichern" in page
    assert "Getestet wurden die eingegebenen, noch nicht gespeicherten Daten." in page
    assert "Neues-Passwort-1" not in page
    assert len(other.messages) == 1 and saved(falcana_host, mailbox)["port"] == server.port
    wrong = client.post(f"/mailboxes/{mailbox.id}/actions/smtp.test",
                        data={**form, "password": "falsch"}).get_data(as_text=True)
    assert "Jetzt speichern" not in wrong and 'class="step failed" data-step="auth"' in wrong
    invalid = client.post(f"/mailboxes/{mailbox.id}/actions/smtp.test",
                          data={**form, "port": "99999"}).get_data(as_text=True)
    assert 'data-highlight-field="port"' in invalid and "e-mail Port" in invalid


def test_the_step_log_marks_what_the_system_said(falcana_host: Host, mailbox: Mailbox,
                                                 server: Any, configure: Any) -> None:
    """A socket error in the web's step log stays in the system's words, marked as such
    after the step's German name and status."""
    from falcana_core.web import create_app

    configure(server)
    falcana_host.users.add("admin", email="admin@firma.example", role="admin",
                           password="Admin-Pw-1")
    client = create_app(falcana_host, WTF_CSRF_ENABLED=False).test_client()
    client.post("/login", data={"login": "admin", "password": "Admin-Pw-1"})
    page = client.post(f"/mailboxes/{mailbox.id}/actions/smtp.test",
                       data={"host": "kein-server.example", "password": "x"},
                       headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert 'class="step failed" data-step="resolve"' in page
    assert '<span class="system-message">Systemmeldung: ' in page
