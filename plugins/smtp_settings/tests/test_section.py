"""The e-mail-Einstellungen section: fields, validation, saving, the write-only password."""

from __future__ import annotations

from typing import Any

import pytest
from falcana_smtp_settings.models import SmtpAccount
from falcana_smtp_settings.settings import load_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from falcana_core.host import Host
from falcana_core.i18n import language
from falcana_core.models import Mailbox

ADDRESS = "juergen@example.com"
GOOD: dict[str, Any] = {"email": ADDRESS, "display_name": "", "username": "",
                        "password": "pw-1", "port": "587", "security": "tls",
                        "host": "mail.example.com", "auth_method": "password"}


def messages(result: Any, severity: str = "error") -> dict[str | None, str]:
    return {m.field: str(m.text) for m in result.validation.messages
            if m.severity.value == severity}


def test_fields_in_the_seed_order_with_german_labels(falcana_host: Host,
                                                     mailbox: Mailbox) -> None:
    section = falcana_host.section("smtp")
    fields = section.fields(falcana_host.context(mailbox, "t"))
    assert [f.id for f in fields] == ["email", "display_name", "username", "password",
                                      "port", "security", "host"]
    with language("de"):
        assert [str(f.label) for f in fields] == [
            "e-mail", "Angezeigter Name", "e-mail-Benutzername", "e-mail Passwort",
            "e-mail Port", "e-mail Verbindungstyp", "Postausgangsserver (SMTP)"]
        assert str(section.title) == "e-mail-Einstellungen"
    with language("en"):
        assert str(fields[2].label) == "E-mail username"
    assert str(fields[1].placeholder) == "Jürgen Müßig"  # the default display name
    assert all(f.help for f in fields)
    assert [c.value for c in fields[5].choices] == ["normal", "tls", "ssl"]
    assert list(fields[4].suggestions) == ["587", "465", "25"]
    ctx = falcana_host.context(mailbox, "admin")
    actions = [a for a in falcana_host.actions("smtp") if a.is_available(ctx)]
    with language("de"):  # the discovery plugin's button sits beside the e-mail field
        assert [(str(a.label), a.beside) for a in actions] == [
            ("Einstellungen ermitteln", "email"), ("Test-e-mail senden", None)]


def test_save_and_load_round_trip_password_write_only(falcana_host: Host,
                                                      mailbox: Mailbox) -> None:
    result = falcana_host.save_section(mailbox, "smtp", GOOD, actor="admin")
    assert result.saved
    values = falcana_host.section_values(mailbox, "smtp")
    assert values == {"email": ADDRESS, "display_name": "", "username": ADDRESS,
                      "password": None, "port": 587, "security": "tls",
                      "host": "mail.example.com", "auth_method": "password",
                      "transport": "smtp"}
    section = falcana_host.section("smtp")
    ctx = falcana_host.context(mailbox, "t")
    assert section.is_set(ctx, "password")

    # empty password on save keeps the stored one
    again = falcana_host.save_section(mailbox, "smtp", {**GOOD, "password": "",
                                                        "display_name": "Jürgen M."},
                                      actor="admin")
    assert again.saved and "password" not in again.changes
    assert section.is_set(ctx, "password")
    # explicit removal
    removed = falcana_host.save_section(mailbox, "smtp", {**GOOD, "password": None,
                                                          "clear_password": True},
                                        actor="admin")
    assert removed.changes["password"] == "removed"
    assert not section.is_set(ctx, "password")


@pytest.mark.parametrize("change", [{"host": "smtp.elsewhere.example"}, {"port": 465},
                                    {"username": "other@example.com"},
                                    {"security": "normal"}, {"security": "ssl"}])
def test_a_stored_password_is_not_moved_to_another_server_without_typing_it(
        falcana_host: Host, mailbox: Mailbox, change: dict[str, Any]) -> None:
    assert falcana_host.save_section(mailbox, "smtp", GOOD, actor="admin").saved
    for actor in ("admin", "juergen"):  # the rule holds for everyone
        moved = falcana_host.save_section(mailbox, "smtp", {**GOOD, "password": "", **change},
                                          actor=actor)
        assert not moved.saved
        assert [m.code for m in moved.validation.errors] == ["rebind"]
        assert moved.validation.errors[0].field == "password"
    with_password = falcana_host.save_section(mailbox, "smtp", {**GOOD, **change},
                                              actor="admin")
    assert with_password.saved and with_password.changes["password"] == "changed"
    settings = load_settings(falcana_host, mailbox)
    assert settings.password is not None and settings.password.reveal() == GOOD["password"]


def test_a_password_bound_elsewhere_is_not_handed_out(falcana_host: Host,
                                                      mailbox: Mailbox) -> None:
    """Even if the server changes behind the section's back (a direct database write, an
    older version's row), the password stays with the settings it was saved for."""
    assert falcana_host.save_section(mailbox, "smtp", GOOD, actor="admin").saved
    with falcana_host.transaction() as s:
        s.execute(update(SmtpAccount).where(SmtpAccount.mailbox_id == mailbox.id)
                  .values(host="listener.attacker.example"))
    assert load_settings(falcana_host, mailbox).password is None


def test_changes_are_audited_with_the_password_only_as_changed(falcana_host: Host,
                                                               mailbox: Mailbox) -> None:
    falcana_host.save_section(mailbox, "smtp", GOOD, actor="admin")
    falcana_host.save_section(mailbox, "smtp", {**GOOD, "port": "465", "security": "ssl",
                                                "password": "pw-2"}, actor="other-admin")
    entries = falcana_host.audit.entries("mailbox", str(mailbox.id))
    latest = entries[0]
    assert latest.actor == "other-admin" and latest.action == "section.smtp.save"
    assert latest.details == {"port": [587, 465], "security": ["tls", "ssl"],
                              "password": "changed"}
    assert "pw-1" not in str([e.details for e in entries])
    assert "pw-2" not in str([e.details for e in entries])


@pytest.mark.parametrize(("field", "value", "code_de"), [
    ("email", "not-an-address", "Das ist keine gültige e-mail-Adresse."),
    ("email", "", "Geben Sie die e-mail-Adresse ein."),
    ("host", "bad host name!", "Das ist kein gültiger Servername und keine gültige IP-Adresse."),
    ("port", "99999", "Der Port muss zwischen 1 und 65535 liegen."),
    ("port", "0", "Der Port muss zwischen 1 und 65535 liegen."),
    ("port", "abc", "Geben Sie eine Portnummer von 1 bis 65535 ein."),
    ("security", "starttls", "Wählen Sie normal, TLS oder SSL."),
    ("display_name", "Jürgen\r\nBcc: victim@example.com",
     "Steuerzeichen wie Zeilenumbrüche sind nicht erlaubt."),
    ("username", "user\nname", "Steuerzeichen wie Zeilenumbrüche sind nicht erlaubt."),
    ("password", "pass\rword", "Steuerzeichen wie Zeilenumbrüche sind nicht erlaubt."),
])
def test_field_errors_name_the_field_in_german_and_save_nothing(
        falcana_host: Host, mailbox: Mailbox, field: str, value: str, code_de: str) -> None:
    falcana_host.save_section(mailbox, "smtp", GOOD, actor="admin")
    before = falcana_host.section_values(mailbox, "smtp")
    audit_before = len(falcana_host.audit.entries())
    with language("de"):
        result = falcana_host.save_section(mailbox, "smtp", {**GOOD, "password": "new-one",
                                                             field: value}, actor="admin")
        assert not result.saved
        assert messages(result)[field] == code_de
    assert falcana_host.section_values(mailbox, "smtp") == before
    assert len(falcana_host.audit.entries()) == audit_before
    ctx = falcana_host.context(mailbox, "t")
    from falcana_smtp_settings.settings import load_settings

    assert load_settings(falcana_host, mailbox).password.reveal() == "pw-1"  # type: ignore[union-attr]
    assert ctx.mailbox is not None


def test_errors_in_english(falcana_host: Host, mailbox: Mailbox) -> None:
    with language("en"):
        result = falcana_host.save_section(mailbox, "smtp", {**GOOD, "port": "99999"},
                                           actor="admin")
        assert messages(result)["port"] == "The port must be between 1 and 65535."


@pytest.mark.parametrize(("port", "security", "field", "text"), [
    ("465", "tls", "port", "Port 465 erwartet meist SSL, nicht TLS."),
    ("587", "ssl", "port", "Port 587 erwartet meist TLS, nicht SSL."),
    ("25", "normal", "security", "Mit Verbindungstyp „normal“ wird das Passwort "
                                 "unverschlüsselt übertragen."),
])
def test_warnings_allow_saving(falcana_host: Host, mailbox: Mailbox, port: str,
                               security: str, field: str, text: str) -> None:
    with language("de"):
        result = falcana_host.save_section(mailbox, "smtp", {**GOOD, "port": port,
                                                             "security": security},
                                           actor="admin")
        assert result.saved
        assert messages(result, "warning")[field].startswith(text)


def test_no_plaintext_warning_without_a_password(falcana_host: Host,
                                                 mailbox: Mailbox) -> None:
    result = falcana_host.save_section(mailbox, "smtp", {**GOOD, "port": "25",
                                                         "security": "normal",
                                                         "password": ""}, actor="admin")
    warnings = messages(result, "warning")
    assert result.saved and "security" not in warnings  # no plaintext warning
    assert set(warnings) == {"password"}  # but: no password stored at all


@pytest.mark.parametrize(("security", "port"), [("ssl", 465), ("tls", 587), ("normal", 25)])
def test_port_left_empty_follows_the_connection_type(falcana_host: Host, mailbox: Mailbox,
                                                     security: str, port: int) -> None:
    result = falcana_host.save_section(mailbox, "smtp", {**GOOD, "port": "",
                                                         "security": security,
                                                         "password": ""}, actor="admin")
    assert result.saved
    assert falcana_host.section_values(mailbox, "smtp")["port"] == port


def test_username_is_suggested_as_the_address_and_may_differ(falcana_host: Host,
                                                            mailbox: Mailbox) -> None:
    falcana_host.save_section(mailbox, "smtp", GOOD, actor="admin")
    assert falcana_host.section_values(mailbox, "smtp")["username"] == ADDRESS
    falcana_host.save_section(mailbox, "smtp", {**GOOD, "username": "jm4711"}, actor="a")
    assert falcana_host.section_values(mailbox, "smtp")["username"] == "jm4711"


def test_idn_host_and_ip_addresses(falcana_host: Host, mailbox: Mailbox) -> None:
    for host, stored in [("Mail.Straße.de", "mail.straße.de"), ("192.0.2.7", "192.0.2.7"),
                         ("[2001:db8::1]", "2001:db8::1")]:
        result = falcana_host.save_section(mailbox, "smtp", {**GOOD, "host": host},
                                           actor="a")
        assert result.saved, messages(result)
        assert falcana_host.section_values(mailbox, "smtp")["host"] == stored


def test_renamed_user_changes_the_default_sender_name(falcana_host: Host,
                                                      mailbox: Mailbox) -> None:
    from falcana_smtp_settings.settings import load_settings

    falcana_host.save_section(mailbox, "smtp", GOOD, actor="a")
    assert load_settings(falcana_host, mailbox).sender_name == "Jürgen Müßig"
    falcana_host.users.rename("juergen", first_name="Jürgen", last_name="Groß", actor="a")
    assert load_settings(falcana_host, mailbox).sender_name == "Jürgen Groß"
    falcana_host.save_section(mailbox, "smtp", {**GOOD, "display_name": "Vertrieb"}, actor="a")
    assert load_settings(falcana_host, mailbox).sender_name == "Vertrieb"


def test_settings_repr_masks_the_password(falcana_host: Host, mailbox: Mailbox) -> None:
    from falcana_smtp_settings.settings import load_settings

    falcana_host.save_section(mailbox, "smtp", {**GOOD, "password": "Top-Secret-99"},
                              actor="a")
    settings_ = load_settings(falcana_host, mailbox)
    assert "Top-Secret-99" not in repr(settings_)
    assert settings_.password is not None and settings_.password.reveal() == "Top-Secret-99"


def test_shared_mailbox_uses_the_same_section(falcana_host: Host) -> None:
    shared = falcana_host.mailboxes.create_shared("info@example.com", "Info", actor="a")
    assert falcana_host.section_values(shared, "smtp")["display_name"] == "Info"
    result = falcana_host.save_section(shared, "smtp", {**GOOD, "email": "info@example.com",
                                                        "display_name": "Info-Team"},
                                       actor="a")
    assert result.saved
    from falcana_smtp_settings.settings import load_settings

    assert load_settings(falcana_host, shared).sender_name == "Info-Team"


anything = st.one_of(st.none(), st.text(max_size=80), st.integers(-10**6, 10**6),
                     st.booleans(), st.floats(allow_nan=True), st.lists(st.text(max_size=3),
                                                                          max_size=2))
port_like = st.one_of(anything, st.text(alphabet="0123456789 ", max_size=8),
                      st.sampled_from(["25", "465", "587", "99999", "٣٤٥", "1e3"]))


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.fixed_dictionaries({
    "email": st.one_of(anything, st.emails()),
    "display_name": anything, "username": anything, "password": anything,
    "port": port_like,
    "security": st.one_of(anything, st.sampled_from(["normal", "tls", "ssl", "TLS"])),
    "host": st.one_of(anything, st.from_regex(r"[a-z]{1,8}\.[a-z]{2,4}", fullmatch=True)),
    "clear_password": anything,
}))
def test_random_values_never_crash_and_never_half_save(falcana_host: Host, mailbox: Mailbox,
                                                       values: dict[str, Any]) -> None:
    before = falcana_host.section_values(mailbox, "smtp")
    had_password = falcana_host.section("smtp").is_set(falcana_host.context(mailbox, "t"),
                                                       "password")
    result = falcana_host.save_section(mailbox, "smtp", values, actor="fuzz")
    after = falcana_host.section_values(mailbox, "smtp")
    if not result.saved:
        assert result.validation.errors and all(m.field for m in result.validation.errors)
        assert after == before
        assert falcana_host.section("smtp").is_set(
            falcana_host.context(mailbox, "t"), "password") == had_password
    else:
        assert after["port"] is not None and 1 <= after["port"] <= 65535
        assert after["security"] in ("normal", "tls", "ssl")
        for text in (after["email"], after["host"], after["display_name"], after["username"]):
            assert "\n" not in text and "\r" not in text


def test_a_save_that_leaves_no_password_warns_and_still_saves(falcana_host: Host) -> None:
    user = falcana_host.users.add("lena", email="lena@example.com")
    box = falcana_host.mailboxes.personal(user)
    result = falcana_host.save_section(box, "smtp", {
        "email": "lena@example.com", "host": "smtp.example.com", "port": 587,
        "security": "tls"}, actor="admin")
    assert result.saved
    assert [m.code for m in result.validation.warnings] == ["no_password"]
    with_password = falcana_host.save_section(box, "smtp", {
        "email": "lena@example.com", "host": "smtp.example.com", "port": 587,
        "security": "tls", "password": "Lenas-Pw-1"}, actor="admin")
    assert "no_password" not in [m.code for m in with_password.validation.warnings]
