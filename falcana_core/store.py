"""What the host's own services (users, mailboxes, the outbox) need of it: its settings,
its database and its audit log. They take this, not the host, which is built of them."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from falcana_core.audit import AuditLog
    from falcana_core.config import Config


class Store(Protocol):
    @property
    def config(self) -> Config: ...

    @property
    def sessions(self) -> sessionmaker[Session]: ...

    @property
    def audit(self) -> AuditLog: ...

    def transaction(self) -> AbstractContextManager[Session]:
        """A session that commits on success and rolls back on error."""
        ...
