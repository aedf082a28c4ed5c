"""What the admin in the help page does: Admin-Bereich > User-Verwaltung > double-click a
user > e-mail-Einstellungen > Test-e-mail senden; in a real browser."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .conftest import in_view

SCREENSHOTS = Path(__file__).parent.parent.parent / "docs" / "screenshots"
SMTP_PW = "Jürgens-Postfach-1"  # the test SMTP server's password (conftest)
USER_PW = "User-Pw-1"
Web = Any

SEED_LABELS = ["e-mail", "Angezeigter Name", "e-mail-Benutzername", "e-mail Passwort",
               "e-mail Port", "e-mail Verbindungstyp", "Postausgangsserver (SMTP)"]


def open_user_popup(page: Any, last_name: str = "Müßig") -> Any:
    page.click("#open-users")
    page.fill("#user-search", last_name)
    row = page.locator("tr.opens-popup", has_text=last_name)
    row.first.dblclick()
    popup = page.locator("dialog#popup")
    popup.locator("form.section-form").first.wait_for()
    return popup


def fill_smtp(popup: Any, web: Web, *, password: str = SMTP_PW, port: str | None = None) -> None:
    popup.locator("#smtp-security").select_option("ssl")
    assert popup.locator("#smtp-port").input_value() == "465"  # the type moves the port
    popup.locator("#smtp-security").select_option("tls")
    assert popup.locator("#smtp-port").input_value() == "587"
    popup.locator("#smtp-port").fill(port or str(web.smtp.port))
    popup.locator("#smtp-security").select_option("normal")
    popup.locator("#smtp-security").select_option("tls")  # a typed port stays
    assert popup.locator("#smtp-port").input_value() == (port or str(web.smtp.port))
    popup.locator("#smtp-host").fill("127.0.0.1")
    popup.locator("#smtp-password").fill(password)


def save(popup: Any) -> None:
    popup.locator("form.section-form[data-section='smtp'] button[type=submit]").click()
    popup.locator(".message.saved, .message.error").first.wait_for()


def test_popup_shows_the_seven_fields_in_the_seed_order(page: Any, web: Web, login: Any) -> None:
    login()
    assert page.locator("h1").inner_text() == "Admin-Bereich"
    assert "User-Verwaltung" in page.locator(".start-here").inner_text()
    page.click("#open-users")
    page.locator("tr.opens-popup").first.wait_for()
    assert "34 User" in page.locator(".pager").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "panel.png"))
    page.fill("#user-search", "Müßig")
    page.locator("tr.opens-popup", has_text="Müßig").first.dblclick()
    popup = page.locator("dialog#popup")
    popup.locator("form.section-form").first.wait_for()
    labels = popup.locator("section#section-smtp .field > label").all_inner_texts()
    assert labels == SEED_LABELS
    assert popup.locator("h3").first.inner_text() == "e-mail-Einstellungen"
    assert popup.locator("#smtp-display_name").get_attribute("placeholder") == "Jürgen Müßig"
    test_button = popup.locator("button.action[data-action='smtp.test']")
    assert test_button.inner_text() == "Test-e-mail senden"
    # every label is bound to its input
    for field in ("email", "display_name", "username", "password", "port", "security", "host"):
        assert popup.locator(f"label[for=smtp-{field}]").count() == 1


def test_enter_on_a_focused_row_opens_the_popup(page: Any, web: Web, login: Any) -> None:
    login()
    page.click("#open-users")
    page.fill("#user-search", "Brandt")
    row = page.locator("tr.opens-popup", has_text="Brandt").first
    row.focus()
    page.keyboard.press("Enter")
    assert "Bert Brandt" in page.locator("#popup-title").inner_text()


def test_save_reopen_test_mail_and_the_sink_received_it(page: Any, web: Web, login: Any) -> None:
    login()
    popup = open_user_popup(page)
    fill_smtp(popup, web)
    # changing the connection type moves the suggested port unless one was typed
    save(popup)
    assert popup.locator(".message.saved").inner_text() == "Gespeichert."
    assert popup.is_visible()  # the popup stays open
    popup.locator("[data-close]").click()
    popup = open_user_popup(page)
    assert popup.locator("#smtp-port").input_value() == str(web.smtp.port)
    assert popup.locator("#smtp-host").input_value() == "127.0.0.1"
    assert popup.locator("#smtp-username").input_value() == "juergen@example.com"
    assert popup.locator("#smtp-password").input_value() == ""
    assert popup.locator("#section-smtp .secret-state").get_attribute("data-set") == "true"
    assert popup.locator("#section-smtp .secret-state").inner_text() == "gesetzt"
    assert SMTP_PW not in page.content()
    popup.locator("button.action[data-action='smtp.test']").click()
    result = popup.locator(".test-result")
    result.wait_for()
    assert "ok" in (result.get_attribute("class") or "")
    steps = popup.locator("tr.step").evaluate_all("rows => rows.map(r => r.dataset.step)")
    assert steps[:5] == ["resolve", "connect", "greeting", "ehlo", "starttls"]
    assert "TLSv1." in popup.locator(".tls").inner_text()
    popup.locator(".test-result").scroll_into_view_if_needed()
    popup.screenshot(path=str(SCREENSHOTS / "popup.png"))
    assert len(web.smtp.messages) == 1
    assert web.smtp.messages[0].rcpt_tos == ["juergen@example.com"]


def test_wrong_password_shows_the_failing_auth_step_and_explanation(page: Any, web: Web,
                                                                   login: Any) -> None:
    login()
    popup = open_user_popup(page)
    fill_smtp(popup, web, password="falsch")
    save(popup)
    popup.locator("button.action[data-action='smtp.test']").click()
    result = popup.locator(".test-result.failed")
    result.wait_for()
    failed = popup.locator("tr.step.failed")
    assert failed.get_attribute("data-step") == "auth"
    assert "535" in failed.inner_text()
    explanation = popup.locator(".explanation")
    assert "Anmeldung abgelehnt" in explanation.inner_text()
    assert popup.locator('[data-field="password"].highlight').count() == 1
    popup.locator(".explanation").scroll_into_view_if_needed()
    popup.screenshot(path=str(SCREENSHOTS / "failed-test.png"))
    assert web.smtp.messages == []


def test_a_provider_preset_fills_server_port_and_type(page: Any, web: Web, login: Any) -> None:
    login()
    popup = open_user_popup(page, "Gmailer")
    assert popup.locator(".provider").get_attribute("data-provider") == "gmail"
    popup.locator("button.preset", has_text="465").click()
    assert popup.locator("#smtp-host").input_value() == "smtp.gmail.com"
    assert popup.locator("#smtp-port").input_value() == "465"
    assert popup.locator("#smtp-security").input_value() == "ssl"
    popup.locator("button.preset", has_text="587").click()
    assert popup.locator("#smtp-port").input_value() == "587"
    assert popup.locator("#smtp-security").input_value() == "tls"


def test_port_99999_shows_a_field_error_and_saves_nothing(page: Any, web: Web, login: Any) -> None:
    login()
    popup = open_user_popup(page)
    fill_smtp(popup, web, port="99999")
    popup.locator("#smtp-display_name").fill("Jürgen aus dem Vertrieb")
    save(popup)
    error = popup.locator('[data-field="port"] .message.error')
    assert error.inner_text() == "Der Port muss zwischen 1 und 65535 liegen."
    # typed values stay (except the password), nothing is saved
    assert popup.locator("#smtp-display_name").input_value() == "Jürgen aus dem Vertrieb"
    assert popup.locator("#smtp-port").input_value() == "99999"
    assert popup.locator("#smtp-password").input_value() == ""
    host = web.host()
    box = host.mailboxes.personal(host.users.by_login("juergen"))  # type: ignore[arg-type]
    assert host.section_values(box, "smtp")["host"] == ""
    assert host.section_values(box, "smtp")["display_name"] == ""
    host.close()


def test_switching_to_english_changes_the_labels(page: Any, web: Web, login: Any) -> None:
    login()
    with page.expect_navigation():
        page.select_option("#lang-select", "en")
    assert page.locator("h1").inner_text() == "Admin area"
    popup = open_user_popup(page)
    labels = popup.locator("section#section-smtp .field > label").all_inner_texts()
    assert labels[0] == "E-mail" and labels[-1] == "Outgoing mail server (SMTP)"
    test_button = popup.locator("button.action[data-action='smtp.test']")
    assert test_button.inner_text() == "Send test e-mail"


def test_non_admin_opens_own_settings_but_not_anothers(page: Any, web: Web, login: Any) -> None:
    login("juergen", USER_PW)
    assert page.locator("h1").inner_text() == "Meine Einstellungen"
    assert page.locator("section#section-smtp").count() == 1
    host = web.host()
    other = host.mailboxes.personal(host.users.by_login("bert"))  # type: ignore[arg-type]
    host.close()
    response = page.goto(f"{web.url}/mailboxes/{other.id}/popup")
    assert response.status == 403
    assert "Kein Zugriff" in page.content()
    assert page.goto(web.url + "/admin").status == 403


def test_post_without_csrf_token_is_refused(page: Any, web: Web, login: Any) -> None:
    login()
    host = web.host()
    box = host.mailboxes.personal(host.users.by_login("juergen"))  # type: ignore[arg-type]
    host.close()
    response = page.request.post(f"{web.url}/mailboxes/{box.id}/sections/smtp",
                                 form={"email": "evil@example.com", "host": "evil.example",
                                       "port": "25", "security": "normal"})
    assert response.status == 400
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    ok = page.request.post(f"{web.url}/mailboxes/{box.id}/sections/smtp",
                           headers={"X-CSRFToken": token},
                           form={"email": "juergen@example.com", "host": "mail.example.com",
                                 "port": "587", "security": "tls"})
    assert ok.status == 200


def test_the_test_runs_on_what_is_typed_and_then_offers_to_save(sized: Any,
                                                               web: Web) -> None:
    """The seed: "Durch Klick auf den Button „Test-e-mail senden" können Sie sehr einfach
    überprüfen, ob die eingegebenen Daten richtig waren" - before saving them."""
    popup = open_user_popup(sized)
    fill_smtp(popup, web, password="falsch")
    popup.locator("button.action[data-action='smtp.test']").click()
    popup.locator(".test-result.failed").wait_for()
    assert popup.locator("tr.step.failed").get_attribute("data-step") == "auth"
    unsaved = popup.locator(".unsaved")
    assert "noch nicht gespeicherten Daten" in unsaved.inner_text()
    assert in_view(sized, unsaved)
    assert popup.locator("button.save-now").count() == 0
    popup.locator("#smtp-password").fill(SMTP_PW)
    popup.locator("button.action[data-action='smtp.test']").click()
    popup.locator(".test-result.ok").wait_for()
    assert len(web.smtp.messages) == 1
    host = web.host()
    box = host.mailboxes.personal(host.users.by_login("juergen"))  # type: ignore[arg-type]
    assert host.section_values(box, "smtp")["host"] == ""  # tested, not saved
    save_now = popup.locator("button.save-now")
    assert in_view(sized, save_now)
    assert "Jetzt speichern" in save_now.inner_text()
    save_now.click()
    popup.locator(".message.saved").wait_for()
    assert host.section_values(box, "smtp")["port"] == web.smtp.port
    host.close()
    popup.locator("button.action[data-action='smtp.test']").click()
    popup.locator(".test-result.ok").wait_for()
    assert popup.locator(".unsaved").count() == 0  # now it tests what is saved


def test_a_typed_port_99999_stops_the_test_at_the_field_before_any_connection(
        sized: Any, web: Web) -> None:
    popup = open_user_popup(sized)
    fill_smtp(popup, web, port="99999")
    before = web.smtp.connections
    popup.locator("button.action[data-action='smtp.test']").click()
    result = popup.locator(".test-result.failed")
    result.wait_for()
    assert "Test nicht ausgeführt" in result.locator("h4").inner_text()
    error = result.locator('.invalid [data-field="port"]')
    assert error.inner_text() == "e-mail Port: Der Port muss zwischen 1 und 65535 liegen."
    assert in_view(sized, error)
    field = popup.locator("form.section-form[data-section='smtp'] .field[data-field='port']")
    assert "highlight" in (field.get_attribute("class") or "")
    assert web.smtp.connections == before  # stopped before any connection
