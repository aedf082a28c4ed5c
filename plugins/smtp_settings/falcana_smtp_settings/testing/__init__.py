"""The SMTP plugin's test kit: a pytest plugin (``pytest -p falcana_smtp_settings.testing``).

* ``smtp_server``: ``smtp_server("starttls", users={"anna": "pw"})`` starts a real aiosmtpd
  server on loopback (normal, starttls or ssl), with certificates from the core kit's
  ``test_ca``; see ``smtpd.SmtpTestServer`` for faults and delays;
* ``smtp_mailboxes(host, server, count)``: mailboxes whose SMTP settings point at a server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from falcana_core.api import Host, Mailbox
    from falcana_smtp_settings.testing.smtpd import SmtpTestServer


@pytest.fixture
def smtp_server(server_ssl_context: Any) -> Iterator[Callable[..., SmtpTestServer]]:
    """Start real SMTP servers: ``smtp_server("ssl", users={"anna": "pw"})``."""
    from falcana_smtp_settings.testing.smtpd import SmtpTestServer

    started: list[SmtpTestServer] = []

    def start(mode: str = "normal", **kwargs: Any) -> SmtpTestServer:
        if mode != "normal":
            kwargs.setdefault("ssl_context", server_ssl_context)
        server = SmtpTestServer(mode, **kwargs)  # type: ignore[arg-type]
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()



def smtp_mailboxes(host: Host, server: SmtpTestServer, count: int, *,
                   password: str = "Worker-Pw-1") -> list[Mailbox]:  # noqa: S107 (test kit)
    """``count`` users (vertrieb0, vertrieb1, ...) whose personal mailboxes send through
    ``server`` (a ``normal`` test SMTP server), each signing in with its own address."""
    boxes = []
    for i in range(count):
        address = f"vertrieb{i}@example.com"
        server.users[address] = password
        user = host.users.add(f"vertrieb{i}", first_name="Vera", last_name=f"Trieb {i}",
                              email=address)
        box = host.mailboxes.personal(user)
        saved = host.save_section(box, "smtp", {
            "email": address, "password": password, "host": "127.0.0.1",
            "port": server.port, "security": "normal"}, actor="admin")
        assert saved.saved, [(m.field, str(m.text)) for m in saved.validation.errors]
        boxes.append(box)
    return boxes
