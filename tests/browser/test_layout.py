"""What a person sees of the layout at 1280x720 and 1366x768: markers on their headings, buttons no
wider than their text, a checkbox by its label, no close button where nothing closes, an
icon for the tab."""

from __future__ import annotations

from typing import Any

from .conftest import in_view, open_popup


def box(locator: Any) -> dict[str, float]:
    found = locator.bounding_box()
    assert found is not None, locator
    return found  # type: ignore[no-any-return]


def test_the_collapsed_copy_section_shows_its_marker_on_its_heading_and_no_button(
        sized: Any) -> None:
    popup = open_popup(sized, "Müßig")
    find = popup.locator("button.action[data-action='discovery.detect']")
    assert box(find)["width"] < 260  # as wide as "Einstellungen ermitteln", not the row
    assert in_view(sized, find)  # beside the address, where the popup opens
    summary = popup.locator("#section-sent_copy details.collapsed-section > summary")
    heading = summary.locator("h3")
    assert abs(box(summary)["y"] - box(heading)["y"]) < 12  # one line: marker and heading
    assert box(summary)["height"] < 2 * box(heading)["height"]
    copy_form = popup.locator("form.section-form[data-section='sent_copy']")
    assert not copy_form.locator("button[type=submit]").is_visible()
    summary.click()
    assert copy_form.locator("button[type=submit]").is_visible()


def test_the_settings_checkbox_sits_by_its_label(sized: Any, web: Any) -> None:
    sized.goto(web.url + "/admin/settings")
    field = sized.locator("[data-field='users_edit_own']")
    checkbox, label = field.locator("input[type=checkbox]"), field.locator("label")
    assert abs(box(checkbox)["y"] - box(label)["y"]) < 16
    assert 0 < box(label)["x"] - (box(checkbox)["x"] + box(checkbox)["width"]) < 30


def test_my_settings_has_no_close_button_and_the_page_an_icon(sized: Any, web: Any) -> None:
    sized.goto(web.url + "/me")
    sized.locator("form.section-form").first.wait_for()
    assert sized.locator("[data-close]").count() == 0
    icon = sized.locator("link[rel=icon]").get_attribute("href")
    assert icon and sized.request.get(web.url + icon).status == 200
