"""The health view and the notice at login in a real browser: at 1280x720 and 1366x768 the
admin sees the counts and every mailbox that needs attention with its cause and fix
without scrolling, opens its settings by double-click, exports the list; a user whose
mailbox cannot send is told at login, in view, with the way to the fix."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from falcana_core.health import HealthState
from falcana_core.host import Host

from .conftest import SCREENSHOTS, SMTP_PW, USER_PW, Web, in_view

CLARA = "clara@contoso-gmbh.de"


@pytest.fixture
def troubled(web: Web, dns_server: Any) -> Web:
    """Jürgen's password was changed at his server (broken); Clara's Microsoft 365
    mailbox still signs in with a password (warned of the switch-off); both verified."""
    dns_server.set_mx("contoso-gmbh.de", ["contoso-gmbh-de.mail.protection.outlook.com"])
    web.smtp.users[CLARA] = "Clara-App-Pw"
    host = Host.start(web.config)
    try:
        clara = host.users.add("clara", first_name="Clara", last_name="Contoso", email=CLARA)
        for user, password in ((host.users.by_login("juergen"), SMTP_PW),
                               (clara, "Clara-App-Pw")):
            assert user is not None
            box = host.mailboxes.personal(user)
            assert host.save_section(box, "smtp", {
                "email": user.email, "username": user.email, "password": password,
                "host": "127.0.0.1", "port": web.smtp.port, "security": "tls"},
                actor="admin").saved
        web.smtp.users["juergen@example.com"] = "changed-at-the-provider"
        states = [host.health.verify(b) for b in (
            host.mailboxes.personal(host.users.by_login("juergen")),  # type: ignore[arg-type]
            host.mailboxes.personal(clara))]
        assert [s.state if s else None for s in states] == [HealthState.BROKEN,
                                                           HealthState.WARNING]
    finally:
        host.close()
    return web


def test_the_admin_sees_what_needs_attention_in_view_and_opens_it(
        sized: Any, troubled: Web, tmp_path: Path) -> None:
    sized.click("text=Postfach-Zustand")
    sized.locator("table.health-list").wait_for()
    assert sized.locator("[data-count=broken]").inner_text() == "1"
    assert sized.locator("[data-count=warning]").inner_text() == "1"
    broken = sized.locator("tr.health-broken", has_text="juergen@example.com")
    warned = sized.locator("tr.health-warning", has_text=CLARA)
    for row in (broken, warned):
        assert in_view(sized, row), row
    assert "defekt" in broken.inner_text() and "Passwort" in broken.inner_text()
    assert "Tage" in warned.inner_text() and "OAuth2" in warned.inner_text()
    ahead = sized.locator(".health-ahead[data-notice='m365.basic_auth_off']")
    assert "Betroffene Postfächer: 1." in ahead.inner_text()  # the way to move them all
    assert ahead.locator("code").inner_text() == "falcana mail migrate m365 --dry-run"
    if sized.height == 720:
        sized.screenshot(path=str(SCREENSHOTS / "health.png"))
    with sized.expect_download() as download:
        sized.click("text=Als CSV exportieren")
    saved = tmp_path / "health.csv"
    download.value.save_as(saved)
    rows = list(csv.DictReader(saved.open(encoding="utf-8-sig")))
    assert {r["address"]: r["state"] for r in rows} == {"juergen@example.com": "broken",
                                                        CLARA: "warning"}
    assert SMTP_PW not in saved.read_text(encoding="utf-8-sig")
    broken.dblclick()
    popup = sized.locator("dialog#popup")
    popup.locator(".health-broken").wait_for()
    assert "kann nicht mehr senden" in popup.locator(".health-broken").inner_text()


def test_a_user_whose_mailbox_cannot_send_is_told_at_login_in_view(
        page: Any, login: Any, troubled: Web) -> None:
    page.set_viewport_size({"width": 1280, "height": 720})
    login("juergen", USER_PW)
    banner = page.locator(".health-banner")
    assert in_view(page, banner)
    assert "Ihr Postfach kann nicht mehr senden" in banner.inner_text()
    assert "Passwort" in banner.inner_text()
    with page.expect_navigation():
        banner.locator("a", has_text="Meine Einstellungen").click()
    assert page.locator(".health-broken").count() == 1
    assert page.locator("#smtp-password").count() == 1  # where the fix is typed
