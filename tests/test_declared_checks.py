"""The checks a field declares (length, control characters, pattern) are run by the core
for every section, before its own validation: the same error, in the user's language,
naming the field, and nothing saved."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest

from falcana_core.api import Field, FieldType, Host, SectionContext, Validation, hookimpl
from falcana_core.i18n import language

SAVED: dict[str, Any] = {}


class TicketSection:
    """A third party's deployment section that declares its checks and checks nothing
    itself."""

    id = "ticket"
    title = "Ticket system"
    order = 90
    template = None

    def fields(self, ctx: SectionContext) -> Sequence[Field]:
        return (Field("queue", "Queue", max_length=8, pattern=r"[A-Z]{2,8}",
                      pattern_message="Two to eight capital letters."),
                Field("key", "Key", FieldType.PASSWORD, multiline=True, max_length=200),
                Field("note", "Note"))

    def load(self, ctx: SectionContext) -> dict[str, Any]:
        return dict(SAVED)

    def is_set(self, ctx: SectionContext, field_id: str) -> bool:
        return field_id in SAVED

    def validate(self, ctx: SectionContext, values: Mapping[str, Any]) -> Validation:
        v = Validation()
        if values.get("queue") == "":
            v.error("queue", "Enter a queue.", "required")
        if isinstance(values.get("queue"), str) and "\n" in values["queue"]:
            v.error("queue", "the section's own message", "own")
        return v

    def save(self, ctx: SectionContext, values: Mapping[str, Any]) -> dict[str, Any]:
        SAVED.update(values)
        return dict(values)


class Plugin:
    @staticmethod
    @hookimpl
    def deployment_settings_sections(host: Host) -> list[Any]:
        return [TicketSection()]


@pytest.fixture
def ticket(falcana_host: Host, register_plugin: Callable[..., Any]) -> Any:
    SAVED.clear()
    with register_plugin(Plugin, "tickets"):
        yield falcana_host


def errors(result: Any) -> list[tuple[str | None, str]]:
    return [(m.field, m.code) for m in result.validation.errors]


def test_each_declared_check_names_its_field_and_nothing_is_saved(ticket: Host) -> None:
    cases = {
        "queue": ("TOOLONGQUEUE", "too_long"),
        "key": ("x" * 201, "too_long"),
    }
    for field, (value, code) in cases.items():
        result = ticket.save_section(None, "ticket", {"queue": "OPS", field: value},
                                     actor="admin")
        assert not result.saved and errors(result) == [(field, code)]
    assert ticket.save_section(None, "ticket", {"queue": "ops"}, actor="admin"
                               ).validation.errors[0].code == "pattern"
    assert ticket.save_section(None, "ticket", {"queue": "OPS", "note": 7}, actor="admin"
                               ).validation.errors[0].code == "type"
    assert SAVED == {}


def test_control_characters_are_refused_except_line_breaks_where_declared(ticket: Host
                                                                           ) -> None:
    refused = ticket.save_section(None, "ticket", {"queue": "OPS\r\nBcc: x"}, actor="admin")
    # the declared message, not also the section's own for the same field
    assert errors(refused) == [("queue", "control_chars")]
    assert errors(ticket.save_section(None, "ticket", {"queue": "OPS", "note": "a\x1b[2Jb"},
                                      actor="admin")) == [("note", "control_chars")]
    assert errors(ticket.save_section(None, "ticket", {"queue": "OPS", "key": "a\x00"},
                                      actor="admin")) == [("key", "control_chars")]
    key = "-----BEGIN KEY-----\nabc\n-----END KEY-----\n"
    assert ticket.save_section(None, "ticket", {"queue": "OPS", "key": key},
                               actor="admin").saved
    assert SAVED["key"] == key


def test_the_section_still_checks_what_the_fields_do_not_declare(ticket: Host) -> None:
    result = ticket.save_section(None, "ticket", {"queue": ""}, actor="admin")
    assert errors(result) == [("queue", "required")]


def test_the_declared_messages_speak_german(ticket: Host) -> None:
    with language("de"):
        result = ticket.save_section(None, "ticket", {"queue": "OPS", "note": "x\ny"},
                                     actor="admin")
        assert str(result.validation.errors[0].text) == \
            "Steuerzeichen wie Zeilenumbrüche sind nicht erlaubt."
        result = ticket.save_section(None, "ticket", {"queue": "O" * 9}, actor="admin")
        assert str(result.validation.errors[0].text) == "Höchstens 8 Zeichen."
