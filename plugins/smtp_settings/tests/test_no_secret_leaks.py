"""The mailbox password, and its base64 forms, appear nowhere they could be read back."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from falcana_core.host import Host
from falcana_core.i18n import language
from falcana_core.models import Mailbox
from falcana_core.rendering import render_section

ADDRESS = "juergen@example.com"
SECRET = "Sëcret-Pässwort-0815"


def forms(secret: str, user: str = ADDRESS) -> list[str]:
    """The secret and what AUTH PLAIN / LOGIN would put on the wire."""
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return [secret, b64(secret.encode()), b64(f"\0{user}\0{secret}".encode()),
            secret.encode("unicode_escape").decode()]


def assert_absent(text: str, where: str) -> None:
    for form in forms(SECRET):
        assert form not in text, f"password form {form!r} found in {where}"


def test_password_never_leaks(smtp_server: Callable[..., Any], configure: Any,
                              falcana_host: Host, mailbox: Mailbox,
                              caplog: pytest.LogCaptureFixture, falcana_config: Any) -> None:
    server = smtp_server("starttls", users={ADDRESS: "the-real-one"})
    with caplog.at_level(logging.DEBUG):
        configure(server, password=SECRET)
        result = falcana_host.run_action(mailbox, "smtp.test", {}, actor="admin")
        assert result.failed_step == "auth"  # a failed login, logged at DEBUG
        section = falcana_host.section("smtp")
        for lang in ("de", "en"):
            with language(lang):
                html = render_section(falcana_host, mailbox, section)
                assert 'data-set="true"' in html  # "gesetzt" is shown, never the value
                assert_absent(html, f"the rendered section ({lang})")
                assert_absent(json.dumps(result.as_dict(), ensure_ascii=False), "step log")
    ours = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("mail.log"))
    assert_absent(ours, "logs")
    assert_absent(repr(result), "the result's repr")
    assert_absent(str([e.details for e in falcana_host.audit.entries()]), "audit log")
    falcana_host.close()
    data: Path = falcana_config.data_dir
    for path in data.iterdir():
        if path.name.startswith("falcana.db"):
            raw = path.read_bytes()
            for form in forms(SECRET):
                assert form.encode() not in raw, f"{form!r} in {path.name}"
                assert form.encode("utf-16-le") not in raw


def test_test_mail_body_never_has_the_password(smtp_server: Callable[..., Any],
                                               configure: Any, falcana_host: Host,
                                               mailbox: Mailbox) -> None:
    server = smtp_server("starttls", users={ADDRESS: SECRET})
    configure(server, password=SECRET)
    assert falcana_host.run_action(mailbox, "smtp.test", {}, actor="admin").ok
    assert_absent(server.messages[0].content.decode("utf-8", "replace"), "the test mail")


def test_smtplib_debug_output_stays_off(smtp_server: Callable[..., Any], configure: Any,
                                        falcana_host: Host, mailbox: Mailbox,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    server = smtp_server("starttls", users={ADDRESS: SECRET})
    configure(server, password=SECRET)
    assert falcana_host.run_action(mailbox, "smtp.test", {}, actor="admin").ok
    out = capsys.readouterr()
    assert_absent(out.out + out.err, "stdout/stderr")
    assert "send:" not in out.err and "reply:" not in out.err
