from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from falcana_smtp_settings.testing.smtpd import SmtpTestServer

from falcana_core.host import Host
from falcana_core.models import Mailbox

PASSWORD = "Geheim-Passwort-2026!"
ADDRESS = "juergen@example.com"


@pytest.fixture
def mailbox(falcana_host: Host) -> Mailbox:
    user = falcana_host.users.add("juergen", first_name="Jürgen", last_name="Müßig",
                                  email=ADDRESS)
    return falcana_host.mailboxes.personal(user)


@pytest.fixture
def configure(falcana_host: Host, mailbox: Mailbox) -> Callable[..., Any]:
    """Save the section for ``mailbox`` pointing at a test server; returns the result."""

    def save(server: SmtpTestServer | None = None, **values: Any) -> Any:
        security = {"normal": "normal", "starttls": "tls", "ssl": "ssl"}[
            server.mode if server else "normal"]
        base: dict[str, Any] = {"email": ADDRESS, "display_name": "", "username": ADDRESS,
                                "password": PASSWORD, "security": security,
                                "host": "127.0.0.1", "port": server.port if server else 25}
        base.update(values)
        result = falcana_host.save_section(mailbox, "smtp", base, actor="admin")
        assert result.saved, [(m.field, str(m.text)) for m in result.validation.errors]
        return result

    return save


@pytest.fixture
def test_mail(falcana_host: Host, mailbox: Mailbox) -> Callable[..., Any]:
    def run(**params: Any) -> Any:
        return falcana_host.run_action(mailbox, "smtp.test", params, actor="admin")

    return run
