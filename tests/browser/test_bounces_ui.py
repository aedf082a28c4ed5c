"""The popup's "Unzustellbare E-Mails" in a real browser: after a real send and a delivery
report found in the sender's inbox (Dovecot), the admin scrolls to the section and sees,
at 1280x720 and 1366x768, how many came back, the recipient, what the class means and
what to do, and the server's text, in German; an auto-reply is not counted. The
"Postausgang" says the same beside the message."""

from __future__ import annotations

from typing import Any

from falcana_bounces.service import bounces
from falcana_bounces.testing import absence_notice, delivery_report, send_through_outbox

from .conftest import SCREENSHOTS, SMTP_PW, Web, in_view, open_popup

JUERGEN = "juergen@example.com"


def test_the_popup_shows_what_came_back_in_view(sized: Any, web: Web,
                                                imap_server: Any) -> None:
    imap = imap_server({JUERGEN: SMTP_PW})
    host = web.host()
    try:
        user = host.users.by_login("juergen")
        assert user is not None
        box = host.mailboxes.personal(user)
        assert host.save_section(box, "smtp", {
            "email": JUERGEN, "username": JUERGEN, "password": SMTP_PW,
            "host": "127.0.0.1", "port": web.smtp.port, "security": "tls"},
            actor="admin").saved
        assert host.save_section(box, "sent_copy", {
            "mode": "off", "host": "127.0.0.1", "port": str(imap.ssl_port),
            "security": "ssl", "username": "", "password": "", "use_smtp_password": True,
            "folder": ""}, actor="admin").saved
        ids = [send_through_outbox(host, box, to)
               for to in ("kunde1@example.org", "kunde2@example.org")]
        imap.append(JUERGEN, "INBOX", delivery_report(JUERGEN, "kunde1@example.org", ids[0]))
        imap.append(JUERGEN, "INBOX", absence_notice("kunde2@example.org", JUERGEN, ids[1]))
        assert bounces(host).look(box).ok
    finally:
        host.close()

    popup = open_popup(sized, "Müßig")
    section = popup.locator("section[data-section='bounces']")
    section.locator("h3").scroll_into_view_if_needed()  # the admin scrolls down to it
    assert section.locator("h3").inner_text() == "Unzustellbare E-Mails"
    count = section.locator(".bounce-count")
    assert count.get_attribute("data-count") == "1"  # the auto-reply is no bounce
    assert "1 Unzustellbare in den letzten 7 Tagen" in count.inner_text()
    row = section.locator("tr.bounce-hard")
    row.scroll_into_view_if_needed()
    assert in_view(sized, row) and in_view(sized, count)
    text = row.inner_text()
    assert "kunde1@example.org" in text
    assert "unzustellbar" in text.lower() and "5.1.1" in text and "User unknown" in text
    assert "nicht erneut" in text or "prüfen" in text.lower()  # what to do, in German
    assert section.locator("tr.bounce-auto_reply").count() == 1
    if sized.viewport_size["height"] == 720:
        sized.screenshot(path=str(SCREENSHOTS / "bounces.png"))

    # the message's own row in "Postausgang": sent, and what became of its recipient
    learned = popup.locator("section[data-section='outbox'] .learned[data-status='bounced_hard']")
    learned.scroll_into_view_if_needed()
    assert in_view(sized, learned)
    assert learned.inner_text() == "unzustellbar: kunde1@example.org"
    sent_row = popup.locator("section[data-section='outbox'] tr",
                             has=sized.locator(".learned[data-status='bounced_hard']"))
    assert "gesendet" in sent_row.inner_text()
