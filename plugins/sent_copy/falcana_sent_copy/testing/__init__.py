"""The copy in Sent's test kit: a pytest plugin (``pytest -p falcana_sent_copy.testing``).

* ``imap_server``: a real Dovecot on loopback with certificates from the core kit's
  ``test_ca`` (``imapd.DovecotTestServer``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from falcana_core.testing import require_service

if TYPE_CHECKING:
    import trustme

    from falcana_sent_copy.testing.imapd import DovecotTestServer


@pytest.fixture
def imap_server(test_ca: trustme.CA) -> Iterator[Callable[..., DovecotTestServer]]:
    """``server = imap_server({"anna@firma.example": "pw"})``: a real Dovecot on loopback
    (STARTTLS on ``server.port``, implicit TLS on ``server.ssl_port``), stopped after the
    test. Dovecot must be installed (Debian's dovecot-imapd)."""
    from falcana_sent_copy.testing.imapd import DovecotTestServer, available

    if not available():
        require_service("Dovecot", "install dovecot-imapd")
    started: list[DovecotTestServer] = []

    def start(users: dict[str, str], **kwargs: Any) -> DovecotTestServer:
        server = DovecotTestServer(test_ca, users, **kwargs).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
