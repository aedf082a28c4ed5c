"""Einstellungen ermitteln in a real browser at 1280x720 and 1366x768: type the address, find the
settings, type the password, send the test e-mail; every answer in view."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import trustme
from playwright.sync_api import expect

from .conftest import in_view, open_popup

SCREENSHOTS = Path(__file__).parent.parent.parent / "docs" / "screenshots"
PASSWORD = "Firmen-Postfach-7"


def test_typing_an_address_with_no_server_yet_finds_the_settings_by_itself(
        sized: Any, web: Any) -> None:
    popup = open_popup(sized, "Muster07")
    assert popup.locator("#smtp-host").input_value() == ""
    popup.locator("#smtp-email").fill("erika@online.de")
    popup.locator("#smtp-email").press("Tab")  # the change: no button pressed
    popup.locator(".discovery .message.saved").wait_for()
    # run by itself, it does not pull the admin away from the fields they are typing in
    assert in_view(sized, popup.locator("#smtp-email"))
    assert not sized.evaluate("() => !!document.activeElement.closest('.action-result')")
    assert popup.locator(".action-result[aria-live] .discovery").count() == 1  # announced
    assert popup.locator("#smtp-host").input_value() == "smtp.1und1.de"
    assert "Thunderbird-Providerdatenbank (1&1)" in popup.locator(".discovery").inner_text()
    # the IMAP server for the copy in Sent is filled too, in its own (opened) part
    assert popup.locator("#sent_copy-host").input_value() == "imap.1und1.de"
    assert popup.locator("#sent_copy-port").input_value() == "993"
    assert popup.locator("#sent_copy-host").is_visible()


def test_finding_nothing_puts_back_what_was_there_before(sized: Any, web: Any) -> None:
    """No stale green fields: settings found for one address do not stay as if found for
    the next one, for which nothing is found."""
    popup = open_popup(sized, "Muster07")
    popup.locator("#smtp-email").fill("erika@online.de")
    popup.locator("#smtp-email").press("Tab")
    popup.locator(".discovery .message.saved").wait_for()
    assert popup.locator("#smtp-host").input_value() == "smtp.1und1.de"
    popup.locator("#smtp-email").fill("erika@nirgendwo-bekannt.de")
    popup.locator("button.action[data-action='discovery.detect']").click()
    popup.locator("[data-nothing-found]").wait_for()
    assert in_view(sized, popup.locator("[data-nothing-found]"))
    assert popup.locator("#smtp-host").input_value() == ""
    assert popup.locator("#sent_copy-host").input_value() == ""
    assert popup.locator(".field.filled").count() == 0


def test_find_settings_fill_them_and_the_test_mail_passes(
        sized: Any, dns_server: Any, test_ca: trustme.CA, smtp_server: Any) -> None:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    test_ca.issue_cert("mail.firma-test.example").configure_cert(ctx)
    server = smtp_server("starttls", users={"juergen@firma-test.example": PASSWORD},
                         ssl_context=ctx)
    dns_server.set_srv("_submission._tcp.firma-test.example",
                       [("mail.firma-test.example", server.port)])
    dns_server.set_address("mail.firma-test.example", ["127.0.0.1"])

    page = sized
    popup = open_popup(page, "Müßig")

    popup.locator("#smtp-email").fill("juergen@firma-test.example")
    button = popup.locator("button.action.beside[data-action='discovery.detect']")
    assert button.inner_text() == "Einstellungen ermitteln"
    button.click()
    found = popup.locator(".discovery .message.saved")
    found.wait_for()
    assert "Gefunden über: DNS-SRV-Eintrag von firma-test.example" in found.inner_text()
    assert popup.locator("#smtp-host").input_value() == "mail.firma-test.example"
    assert popup.locator("#smtp-port").input_value() == str(server.port)
    assert popup.locator("#smtp-security").input_value() == "tls"
    assert popup.locator("#smtp-username").input_value() == "juergen@firma-test.example"
    assert popup.locator(".field.filled").count() == 4
    assert in_view(page, found)
    if page.viewport_size["height"] == 720:
        page.screenshot(path=str(SCREENSHOTS / "discovery.png"))

    popup.locator("#smtp-password").fill(PASSWORD)
    popup.locator("form.section-form[data-section='smtp'] button[type=submit]").click()
    saved = popup.locator("form.section-form[data-section='smtp'] > p.message.saved")
    saved.wait_for()
    assert in_view(page, saved)
    popup.locator("button.action[data-action='smtp.test']").click()
    popup.locator(".test-result.ok").wait_for()
    assert in_view(page, popup.locator(".test-result h4"))
    assert len(server.messages) == 1


def test_provider_help_appears_as_soon_as_the_address_is_typed(sized: Any, web: Any) -> None:
    """Help where the choice is made: typing a Gmail address shows Gmail's presets and
    help (app passwords, the Gmail API) before anything is saved."""
    popup = open_popup(sized, "Muster07")
    assert popup.locator("[data-help='gmail.app_password']").count() == 0
    popup.locator("#smtp-email").fill("erika.muster@gmail.com")
    popup.locator("#smtp-email").press("Tab")
    popup.locator("[data-help='gmail.app_password']").wait_for()
    # the address's provider stays in view above the fields while the found settings
    # come in (the box is re-drawn for them: Playwright's expect waits for it)
    popup.locator(".discovery .message.saved").wait_for()
    expect(popup.locator(".provider")).to_be_in_viewport(ratio=1)
    assert popup.locator(".provider").get_attribute("data-provider") == "gmail"
    popup.locator("button.preset", has_text="587").click()  # the new presets work
    assert popup.locator("#smtp-port").input_value() == "587"
    host = web.host()
    box = host.mailboxes.personal(host.users.by_login("user07"))  # type: ignore[arg-type]
    assert host.section_values(box, "smtp")["email"] == "erika7@example.com"  # not saved
    host.close()
