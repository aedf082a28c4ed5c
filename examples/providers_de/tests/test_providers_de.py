"""The example plugin's own tests, with falcana's test kit (``-p falcana_core.testing``)
and the SMTP plugin's (``-p falcana_smtp_settings.testing``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from falcana_smtp_settings.api import detect_provider

from falcana_core.host import Host
from falcana_core.i18n import language


@pytest.mark.parametrize(("address", "host", "provider"), [
    ("max@gmx.de", "", "gmx"),
    ("max@example.com", "mail.gmx.net", "gmx"),
    ("max@web.de", "", "webde"),
    ("max@t-online.de", "", "tonline"),
    ("info@meine-firma.de", "smtp.ionos.de", "ionos"),
    ("info@meine-firma.de", "smtp.strato.de", "strato"),
])
def test_detection(falcana_host: Host, address: str, host: str, provider: str) -> None:
    found = detect_provider(falcana_host, address, host)
    assert found is not None and found.provider == provider


def test_presets_and_help_for_webde(falcana_host: Host) -> None:
    user = falcana_host.users.add("max", email="max@web.de")
    box = falcana_host.mailboxes.personal(user)
    found = detect_provider(falcana_host, "max@web.de", "")
    preset = found.presets[0]  # type: ignore[union-attr]
    values = {"email": "max@web.de", "username": "max@web.de", "password": "pw",
              "host": preset.host, "port": preset.port, "security": preset.security}
    with language("de"):
        result = falcana_host.save_section(box, "smtp", values, actor="admin")
        assert result.saved
        hint = next(m for m in result.validation.messages if m.field == "username")
        assert "max" in str(hint.text) and "vor dem @" in str(hint.text)
        helps = falcana_host.section_help(box, "smtp")
        assert "POP3/IMAP" in str(helps[0].body)


def test_ionos_from_domain_rule(falcana_host: Host) -> None:
    user = falcana_host.users.add("eva", email="eva@meine-firma.de")
    box = falcana_host.mailboxes.personal(user)
    result = falcana_host.save_section(box, "smtp", {
        "email": "eva@andere-firma.de", "username": "eva@meine-firma.de", "password": "pw",
        "host": "smtp.ionos.de", "port": 465, "security": "ssl"}, actor="admin")
    assert result.saved
    assert any(m.code == "ionos_from_domain" for m in result.validation.warnings)


def test_test_mail_through_the_test_kit_server(falcana_host: Host,
                                               smtp_server: Callable[..., Any]) -> None:
    server = smtp_server("ssl", users={"max": "pw-1"})
    user = falcana_host.users.add("max", first_name="Max", last_name="Weber",
                                  email="max@web.de")
    box = falcana_host.mailboxes.personal(user)
    falcana_host.save_section(box, "smtp", {
        "email": "max@web.de", "username": "max", "password": "pw-1", "host": "127.0.0.1",
        "port": server.port, "security": "ssl"}, actor="admin")
    assert falcana_host.run_action(box, "smtp.test", {}, actor="admin").ok
    assert server.logins == ["max"]
