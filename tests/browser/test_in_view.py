"""The answer is where the admin looks: after every test (passed, failed at a step, a
provider with long help) and after saving, at 1280x720 and 1366x768, what matters is in
view without scrolling and keyboard focus is on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from falcana_core.host import Host
from falcana_core.testing.net import ScriptedServer

from .conftest import in_view, open_popup

SCREENSHOTS = Path(__file__).parent.parent.parent / "docs" / "screenshots"
SMTP_PW = "Jürgens-Postfach-1"


def fill(popup: Any, web: Any, password: str) -> None:
    popup.locator("#smtp-host").fill("127.0.0.1")
    popup.locator("#smtp-port").fill(str(web.smtp.port))
    popup.locator("#smtp-security").select_option("tls")
    popup.locator("#smtp-password").fill(password)


def run_test(popup: Any) -> Any:
    popup.locator("button.action[data-action='smtp.test']").click()
    result = popup.locator(".test-result")
    result.wait_for()
    return result


def focused_inside(page: Any, selector: str) -> bool:
    return bool(page.evaluate(
        f"() => !!document.activeElement && !!document.activeElement.closest('{selector}')"))


def test_a_passed_test_is_in_view_with_focus(sized: Any, web: Any) -> None:
    popup = open_popup(sized, "Müßig")
    fill(popup, web, SMTP_PW)
    result = run_test(popup)
    assert "ok" in (result.get_attribute("class") or "")
    assert in_view(sized, result.locator("h4"))
    assert focused_inside(sized, ".test-result")
    assert popup.locator(".action-result[aria-live]").count() >= 1


def test_a_wrong_password_shows_step_cause_and_fix_in_view(sized: Any, web: Any) -> None:
    popup = open_popup(sized, "Müßig")
    fill(popup, web, "falsch")
    result = run_test(popup)
    for part in (result.locator("h4"), popup.locator("tr.step.failed"),
                 popup.locator(".explanation .cause"), popup.locator(".explanation .fix")):
        assert in_view(sized, part), part
    assert focused_inside(sized, ".test-result")
    if sized.height == 720:
        sized.screenshot(path=str(SCREENSHOTS / "failed-test-in-view.png"))


def test_long_provider_help_does_not_push_the_answer_away(sized: Any, web: Any) -> None:
    host = Host.start(web.config)
    host.users.add("anna", first_name="Anna", last_name="Contoso",
                   email="anna@contoso.onmicrosoft.com")
    host.close()
    popup = open_popup(sized, "Contoso")
    assert popup.locator("[data-help='m365.special_cases']").count() == 1
    fill(popup, web, "falsch")
    result = run_test(popup)
    for part in (result.locator("h4"), popup.locator(".explanation .cause"),
                 popup.locator(".explanation .fix")):
        assert in_view(sized, part), part
    # the help folded away once the test ran; one click opens it again
    assert popup.locator("details.context-help[open]").count() == 0


def test_saved_is_in_view_and_each_save_button_has_a_name_of_its_own(sized: Any,
                                                                     web: Any) -> None:
    popup = open_popup(sized, "Müßig")
    names = popup.locator("form.section-form button[type=submit]").evaluate_all(
        "buttons => buttons.map(b => b.getAttribute('aria-label') || b.textContent)")
    assert len(names) == len(set(names)) >= 2, names
    fill(popup, web, SMTP_PW)
    popup.locator("form.section-form[data-section='smtp'] button[type=submit]").click()
    saved = popup.locator(".message.saved")
    saved.wait_for()
    assert saved.inner_text() == "Gespeichert."
    assert in_view(sized, saved)


def test_a_test_stopped_by_the_deadline_is_explained_in_view(sized: Any, web: Any) -> None:
    """A server that greets one byte a second never trips a read time-out; the test's
    deadline (8 s here) ends it, and the answer says so where the admin looks."""
    with ScriptedServer(b"220-", trickle=b"x", interval=1.0) as slow:
        popup = open_popup(sized, "Müßig")
        fill(popup, web, SMTP_PW)
        popup.locator("#smtp-port").fill(str(slow.port))
        result = run_test(popup)
    assert "failed" in (result.get_attribute("class") or "")
    for part in (result.locator("h4"), popup.locator("tr.step.failed"),
                 popup.locator(".explanation .cause"), popup.locator(".explanation .fix")):
        assert in_view(sized, part), part
    assert "zu lange gebraucht" in popup.locator(".explanation .cause").inner_text()
    assert focused_inside(sized, ".test-result")
